"""A stand-in watchdog device for lab nodes (this kernel has no softdog).

`WatchdogStandin(node, path, timeout_s, ...)` makes a FIFO at `path` and
starts `python -m tests.harness.watchdog` reading it, as a process of its
own outside the node (a hung node cannot stop it). It behaves as the
kernel's watchdog core does for a device opened by a daemon:

* the first byte arms it; every byte restarts the timer;
* a close after a last write holding 'V' (the magic close character)
  disarms it: the record says `magic-close`;
* a close without 'V' leaves it armed (`closed-without-V`): the timer runs on;
* no byte for `timeout_s` while armed: the node is reset. Every process in
  the node's mount namespace is killed (kill -9), the node's private /run is
  emptied but for the serial-port links (`wipe`, `keep`), and, when given,
  a `crash` line goes to the failover stand-ins' events file (what
  `tests/lab/failover/standins.py` Records read), all as a power cycle would.
  The record says `reset`.

Records: one line per event in `<path>.log`, `<epoch> <event> [detail]`
(`open`, `armed`, `magic-close`, `closed-without-V`, `reset`).
`events()` returns them as (time, event, detail).
The device ioctls (WDIOC_SETTIMEOUT) fail on a FIFO (ENOTTY): the daemon
logs so, and the timeout used here is the one hbeat derives from deadtime.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.harness.netns import Node
from tests.harness.procs import Proc, ns_inode, pids_in_ns


class WatchdogStandin:
    """The stand-in process for one node (started at once; closed with the lab)."""

    def __init__(self, node: Node, path: Path, timeout_s: float, *,
                 wipe: Path | None = None, keep: Sequence[str] = (),
                 events: Path | None = None) -> None:
        assert node.holder is not None, "the lab must be started"
        self.path = path
        self.log = Path(f"{path}.log")
        if path.exists():
            path.unlink()
        os.mkfifo(path, 0o600)
        self.log.write_text("")
        argv = [sys.executable, "-m", "tests.harness.watchdog", str(path), str(timeout_s),
                "--holder", str(node.holder.pid), "--node", node.name]
        if wipe is not None:
            argv += ["--wipe", str(wipe), *[a for k in keep for a in ("--keep", k)]]
        if events is not None:
            argv += ["--events", str(events)]
        self.proc = Proc(argv, node.dir / "logs" / "watchdog-standin.log",
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                         name="watchdog-standin")
        node.lab.add_closeable(self)
        deadline = time.monotonic() + 10
        while not any(e == "open" for _, e, _ in self.events()):
            self.proc.check_alive("waiting for the watchdog stand-in to open its FIFO")
            if time.monotonic() > deadline:
                raise TimeoutError("the watchdog stand-in did not open its FIFO")
            time.sleep(0.02)

    def events(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            t, _, rest = line.partition(" ")
            event, _, detail = rest.partition(" ")
            out.append((float(t), event, detail))
        return out

    def first(self, event: str) -> float | None:
        return next((t for t, e, _ in self.events() if e == event), None)

    def close(self) -> None:
        self.proc.stop(signal.SIGTERM, timeout=5)


# ------------------------------------------------------------------ the process
def _record(log: Path, event: str, detail: str = "") -> None:
    with log.open("a") as f:
        f.write(f"{time.time():.6f} {event} {detail}".rstrip() + "\n")


def _reset(args: argparse.Namespace, log: Path, silent_s: float) -> None:
    ident = ns_inode(args.holder, "mnt")
    killed = 0
    if ident is not None:
        for pid in pids_in_ns("mnt", ident):
            if pid != args.holder:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
    if args.events:
        with open(args.events, "a") as f:
            f.write(f"{time.time():.9f} {args.node} * crash ok\n")
    if args.wipe:
        for item in Path(args.wipe).iterdir():
            if item.name in args.keep:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
    _record(log, "reset", f"silent for {silent_s:.3f} s, killed {killed} processes")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fifo")
    parser.add_argument("timeout", type=float)
    parser.add_argument("--holder", type=int, required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--wipe")
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--events")
    args = parser.parse_args(argv)
    log = Path(f"{args.fifo}.log")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    armed = False
    last_pet = 0.0
    last_byte = b""
    fd = os.open(args.fifo, os.O_RDONLY | os.O_NONBLOCK)
    _record(log, "open")
    while True:
        wait = 0.5 if not armed else max(0.0, last_pet + args.timeout - time.monotonic())
        ready, _, _ = select.select([fd], [], [], min(wait, 0.5))
        if ready:
            data = os.read(fd, 4096)
            if data:
                if not armed:
                    _record(log, "armed")
                armed = True
                last_pet = time.monotonic()
                last_byte = data[-1:]
                continue
            # the writer closed its end
            if armed and last_byte == b"V":
                armed = False
                _record(log, "magic-close")
            elif armed:
                _record(log, "closed-without-V")
            os.close(fd)  # reopen: a fresh FIFO end reports no hang-up until a writer comes
            fd = os.open(args.fifo, os.O_RDONLY | os.O_NONBLOCK)
            last_byte = b""
        if armed and time.monotonic() - last_pet >= args.timeout:
            _reset(args, log, time.monotonic() - last_pet)
            armed = False


if __name__ == "__main__":
    sys.exit(main())
