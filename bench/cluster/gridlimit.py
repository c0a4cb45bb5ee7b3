"""The machine's limit for a keepalive sender, measured beside the daemons.

bench/cluster/gridlimit.c (built with gcc at bench time) sleeps to an
absolute grid with clock_nanosleep(TIMER_ABSTIME), spins the link worker's
last 30 µs and stamps CLOCK_MONOTONIC, under the worker's scheduling policy
(SCHED_FIFO 1 + mlockall with `realtime on`, SCHED_OTHER with the 100 µs slice
otherwise). What it cannot do better, under the same load at the same time,
no daemon written for this kernel can: the loaded rows are judged as ratios
to it. `GridLimit(realtime, ...)` runs one instance in the background;
`finish()` returns its jitter summary (stats.summarize_jitter of its own
stamps: the same grid fit as the wire figures). Run in a lab node's
namespace (`netns_argv`) with `dest` the lab's capturing host, its datagrams
cross the same bridge as the daemons' keepalives and `wire_summary(pcap)`
judges them on the same capture, the figure the daemons' rows are compared
with.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from linklayer import pcap as pcapfile

from . import stats

PORT = 695  # next to the daemons' 694: the capture takes both, frames() reads 694 only

SOURCE = Path(__file__).with_name("gridlimit.c")


def build(out_dir: Path) -> Path:
    """gcc -O2 bench/cluster/gridlimit.c into `out_dir`/gridlimit."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "gridlimit"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(exe), str(SOURCE)],
                   check=True, capture_output=True, text=True)
    return exe


class GridLimit:
    """One gridlimit process for `ticks` ticks of `interval_ns`."""

    def __init__(self, exe: Path, *, realtime: bool, interval_ns: int, ticks: int,
                 skip: int = 2, dest: str | None = None,
                 wrap: Callable[[list[str]], list[str]] = list) -> None:
        self.realtime = realtime
        self.interval_ns = interval_ns
        self.skip = skip  # the first ticks, while the process settles
        argv = [str(exe), "1" if realtime else "0", str(interval_ns), str(ticks)]
        if dest is not None:
            argv += [dest, str(PORT)]
        self.proc = subprocess.Popen(wrap(argv), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"gridlimit exited {self.proc.returncode}: {err.strip()}")
        stamps = [int(line) for line in out.split()][self.skip:]
        summary = stats.summarize_jitter(stamps, self.interval_ns)
        return {"realtime": self.realtime, "warnings": err.strip().splitlines(),
                "duration_s": summary.span_s, **asdict(summary)}

    def wire_summary(self, path: Path) -> dict[str, Any]:
        """The same grid fit of its datagrams' capture times in `path`."""
        times = [d.timestamp_ns for d in pcapfile.read_udp(path)
                 if int(d.dst.rsplit(":", 1)[1]) == PORT][self.skip:]
        return asdict(stats.summarize_jitter(times, self.interval_ns))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
