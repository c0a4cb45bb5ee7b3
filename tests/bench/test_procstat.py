"""bench/cluster/procstat.py: a process's CPU time counts all its threads."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.cluster import procstat

# A child whose main thread waits while a second thread burns the CPU for
# BURN_S and stays alive: the CPU a ZeroMQ I/O thread uses is the process's too.
BURN_S = 0.3
LIVE = f"""
import sys, threading, time
def burn():
    while time.thread_time() < {BURN_S}:  # its own CPU time, whatever the load
        pass
    sys.stdout.write("burnt\\n")
    sys.stdout.flush()
    sys.stdin.read()
threading.Thread(target=burn).start()
"""


def test_cpu_ns_includes_a_live_threads_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", LIVE], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "burnt\n"
        time.sleep(0.05)
        main_only = int(Path(f"/proc/{child.pid}/schedstat").read_text().split()[0])
        total = procstat.cpu_ns(child.pid)
        assert total - main_only >= 0.9 * BURN_S * 1e9  # the busy thread's share
    finally:
        child.communicate("")
