"""What a link worker asks of the kernel to meet its ticks (`tighten_timing`),
checked in a real process against what the kernel then reports: refused
`realtime on` is logged in heartbeat's words and the worker still gets the
short fair-scheduler slice and the 1 ns timer slack. Where the kernel has no
settable slice (Linux before 6.12, e.g. Debian 12's 6.1) the slice alone is
not checked and the test says so as its skip reason."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from tests.harness.requirements import require_kernel_sched_slice
from workers.link import SLICE_NS

PROBE = r"""
import json, os
from pathlib import Path
from workers.link import tighten_timing
problems = tighten_timing("bcast eth1", True, None)
sched = {k.strip(): v.strip() for k, _, v in
         (line.partition(":") for line in Path("/proc/self/sched").read_text().splitlines())}
print(json.dumps({"problems": [[p.VERB.decode(), p.error] for p in problems],
                  "policy": os.sched_getscheduler(0),
                  "slice": int(sched["se.slice"].split(".")[0]) if "se.slice" in sched else None,
                  "slack": int(Path("/proc/self/timerslack_ns").read_text())}))
"""


def no_realtime_allowed() -> None:
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))


def test_refused_realtime_falls_back_to_a_short_slice() -> None:
    # As root, drop every capability so the limits above are what the kernel goes by.
    drop = (["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
            if os.geteuid() == 0 else [])
    out = subprocess.run([*drop, sys.executable, "-c", PROBE], capture_output=True, text=True,
                         preexec_fn=no_realtime_allowed, env=os.environ, timeout=30, check=True)
    seen = json.loads(out.stdout)
    assert seen["problems"] == [
        ["error", "Unable to set realtime scheduling (SCHED_FIFO priority 1): "
                  "Operation not permitted"],
        ["error", "Cannot lock ourselves into memory: System limits on locked-in memory "
                  "are too small."],
    ], out.stderr
    assert seen["policy"] == os.SCHED_OTHER
    assert seen["slack"] == 1
    require_kernel_sched_slice()
    assert seen["slice"] == SLICE_NS  # the fallback: a short slice instead of priority
