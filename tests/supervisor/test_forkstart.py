"""`supervisor/forkstart.py`: a worker forked from the supervisor looks, to
its `main(argv)`, like the fresh interpreter it replaces: it gets its
arguments, keeps only descriptors 0-2 and those passed (the others, like the
supervisor's sockets and watchdog, are closed), has a fresh interpreter's
signal handlers and an empty signal mask, and its exit code or the signal
that killed it is what the pool sees (so restarts report as before)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.forkstart import ForkedProcess

STANDIN = r'''
import json, os, signal, sys, time
def main(argv):
    out, mode = argv[0], argv[1]
    facts = {
        "argv": argv,
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "term": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
        "hup": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL,
        "int": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        "pipe": signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
        "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "ppid": os.getppid(),
    }
    with open(out, "w") as f:
        json.dump(facts, f)
    if mode == "sleep":
        time.sleep(60)
    if mode == "raise":
        raise RuntimeError("boom")
    return 7
'''


@pytest.fixture()
def standin(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "forkstart_standin.py").write_text(STANDIN)
    sys.path.insert(0, str(tmp_path))
    try:
        yield "forkstart_standin"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("forkstart_standin", None)


def test_child_runs_main_with_only_its_descriptors(tmp_path: Path, standin: str) -> None:
    out = tmp_path / "facts.json"
    keep_r, keep_w = os.pipe()
    other_r, other_w = os.pipe()  # the supervisor's: not for the child
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        proc = ForkedProcess(standin, [str(out), "exit", str(keep_r)], pass_fds=(keep_r,))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGHUP, old_hup)
    assert proc.wait(30) == 7
    facts = json.loads(out.read_text())
    assert facts["argv"] == [str(out), "exit", str(keep_r)]
    assert keep_r in facts["fds"]
    assert other_r not in facts["fds"] and other_w not in facts["fds"]
    assert keep_w not in facts["fds"]
    assert facts["term"] and facts["hup"] and facts["int"] and facts["pipe"]
    assert facts["mask"] == []
    assert facts["ppid"] == os.getpid()
    for fd in (keep_r, keep_w, other_r, other_w):
        os.close(fd)


def test_exit_status_and_death_by_signal(tmp_path: Path, standin: str) -> None:
    raised = ForkedProcess(standin, [str(tmp_path / "a.json"), "raise"])
    assert raised.wait(30) == 1  # an exception: exit code 1, as `python -m` gives
    sleeper = ForkedProcess(standin, [str(tmp_path / "b.json"), "sleep"])
    deadline = time.monotonic() + 30
    while not (tmp_path / "b.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sleeper.poll() is None
    sleeper.kill()
    assert sleeper.wait(30) == -signal.SIGKILL
    assert sleeper.poll() == -signal.SIGKILL


COLLECT_AFTER_FORK = r"""
import gc, json, os, sys, time
sys.path.insert(0, sys.argv[1])
import supervisor.daemon, workers.link, workers.executor  # the supervisor's heap
from supervisor.forkstart import ForkedProcess

def private_dirty_kb():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])

child = ForkedProcess("forkstart_standin", [sys.argv[2], "sleep"])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
before = private_dirty_kb()
gc.collect()  # a full collection, as the supervisor's collector runs now and then
after = private_dirty_kb()
child.kill()
child.wait(30)
print(json.dumps({"before": before, "after": after, "frozen": gc.get_freeze_count()}))
"""


def test_a_full_collection_in_the_supervisor_copies_no_shared_page(
        tmp_path: Path, standin: str) -> None:
    # Before: the supervisor unfroze its objects after each fork, and its next
    # full collection wrote into every object's header: ~8 MiB of pages
    # shared with the workers copied. Its start-up objects now stay frozen.
    out = subprocess.run([sys.executable, "-c", COLLECT_AFTER_FORK, str(tmp_path),
                          str(tmp_path / "up.json")], capture_output=True, text=True,
                         timeout=60, check=True)
    seen = json.loads(out.stdout)
    assert seen["frozen"] > 10_000, seen  # the imported modules' objects
    assert seen["after"] - seen["before"] < 2 * 1024, seen
