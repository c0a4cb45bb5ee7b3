"""Machine load for the "loaded" conditions: one busy loop per core plus a
process that keeps allocating, touching and freeing memory.

Started and stopped by the runner (`Load().start()` / `stop()`, or as a
context manager); the processes run at normal priority in their own session
and are killed by pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import TracebackType

BUSY = "while True:\n    pass\n"
CHURN = """
import time
page = 4096
while True:
    blocks = []
    for _ in range(16):
        b = bytearray(16 * 1024 * 1024)
        for i in range(0, len(b), page):
            b[i] = 1
        blocks.append(b)
    del blocks
"""


class Load:
    def __init__(self, cores: int | None = None, churn: bool = True) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.churn = churn
        self.procs: list[subprocess.Popen[bytes]] = []

    def describe(self) -> str:
        return (f"{self.cores} busy loop(s) (python `while True: pass`)"
                + (" + 1 memory churner (allocates and touches 256 MiB in 16 MiB blocks, "
                   "frees, repeats)" if self.churn else ""))

    def start(self) -> Load:
        scripts = [BUSY] * self.cores + ([CHURN] if self.churn else [])
        for script in scripts:
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", script], start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.procs.clear()

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
