"""hbeat/schedslice.py: a short fair-scheduler slice for the calling process,
optionally not inherited by what it starts (the supervisor's use), and its
timer slack."""

from __future__ import annotations

import json
import subprocess
import sys

from hbeat.schedslice import SLICE_NS
from tests.harness.requirements import require_kernel_sched_slice

PROBE = r"""
import json, subprocess, sys
from hbeat.schedslice import shorten_slice

def slice_of(text):
    for line in text.splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1].split(".")[0])
    return None

problem = shorten_slice(reset_on_fork=sys.argv[1] == "1")
child = subprocess.run(["cat", "/proc/self/sched"], capture_output=True, text=True).stdout
print(json.dumps({"problem": problem, "own": slice_of(open("/proc/self/sched").read()),
                  "child": slice_of(child)}))
"""


def probe(reset_on_fork: bool) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, "1" if reset_on_fork else "0"],
                         capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_slice_is_taken_and_inherited_without_reset_on_fork() -> None:
    require_kernel_sched_slice()
    seen = probe(False)
    assert seen == {"problem": None, "own": SLICE_NS, "child": SLICE_NS}


def test_with_reset_on_fork_children_start_with_the_default_slice() -> None:
    """The supervisor's case: its workers, clients and (through the executor)
    resource scripts must not run with the supervisor's short slice."""
    require_kernel_sched_slice()
    seen = probe(True)
    assert seen["problem"] is None and seen["own"] == SLICE_NS
    assert isinstance(seen["child"], int) and seen["child"] != SLICE_NS


SLACK_PROBE = r"""
import json, subprocess
from hbeat.schedslice import set_timer_slack
problem = set_timer_slack(5000)
child = subprocess.run(["cat", "/proc/self/timerslack_ns"], capture_output=True, text=True)
print(json.dumps({"problem": problem, "own": int(open("/proc/self/timerslack_ns").read()),
                  "child": int(child.stdout)}))
"""


def test_the_timer_slack_is_set() -> None:
    out = subprocess.run([sys.executable, "-c", SLACK_PROBE], capture_output=True, text=True,
                         timeout=30, check=True)
    # Children start with the same slack (the kernel's rule; the link workers set their own).
    assert json.loads(out.stdout) == {"problem": None, "own": 5000, "child": 5000}
