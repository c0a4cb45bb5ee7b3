"""A null-modem cable between two nodes: a socat pty pair.

`socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` makes two pseudo
terminals joined back to back; A and B are symlinks to their /dev/pts slaves,
so a program given either path (real heartbeat included: it stat()s the path
and finds a character device) talks to the program on the other end. socat
also records the raw bytes each way (`-r`/`-R`), which tests decode.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

from .procs import HarnessError, Proc
from .waiting import wait_for


class SerialCable:
    """Two pty ends, named after the nodes they plug into.

    `launch` wraps socat's argv (the Lab runs it inside its switch namespace
    so cleanup finds it). Byte recordings accumulate across `reopen`.
    """

    def __init__(
        self,
        a: str,
        b: str,
        directory: Path,
        *,
        name: str = "ttyS0",
        launch: Callable[[list[str]], list[str]] = lambda argv: argv,
    ) -> None:
        if a == b:
            raise HarnessError(f"a serial cable needs two different nodes, got {a!r} twice")
        self.a, self.b, self.name = a, b, name
        self.dir = directory / f"serial-{name}-{a}-{b}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._launch = launch
        self._proc: Proc | None = None
        self._opened = 0

    def path(self, node: str) -> Path:
        """The symlink to `node`'s end of the cable."""
        if node not in (self.a, self.b):
            raise HarnessError(f"cable {self.name} joins {self.a} and {self.b}, not {node!r}")
        return self.dir / node

    def _other(self, node: str) -> str:
        self.path(node)
        return self.b if node == self.a else self.a

    @property
    def pid(self) -> int | None:
        """The pid of the socat joining the ends, while the cable is open."""
        return self._proc.pid if self.is_open and self._proc is not None else None

    @property
    def is_open(self) -> bool:
        return self._proc is not None and self._proc.alive()

    def _ends_ready(self) -> bool:
        for node in (self.a, self.b):
            try:
                if not stat.S_ISCHR(os.stat(self.path(node)).st_mode):
                    return False
            except OSError:
                return False
        return True

    def open(self, timeout: float = 10.0) -> SerialCable:
        """Start socat and wait until both ends exist as character devices."""
        if self.is_open:
            return self
        for node in (self.a, self.b):
            self.path(node).unlink(missing_ok=True)
        self._opened += 1
        n = self._opened
        argv = [
            "socat", "-d", "-d",
            "-r", str(self.dir / f"{self.a}-to-{self.b}.{n:03d}.raw"),
            "-R", str(self.dir / f"{self.b}-to-{self.a}.{n:03d}.raw"),
            f"pty,raw,echo=0,link={self.path(self.a)}",
            f"pty,raw,echo=0,link={self.path(self.b)}",
        ]  # fmt: skip
        proc = Proc(self._launch(argv), self.dir / "socat.log", name=f"socat {self.name}")
        self._proc = proc

        def ready() -> bool:
            proc.check_alive(f"opening serial cable {self.name}")
            return self._ends_ready()

        wait_for(
            ready,
            timeout,
            what=f"socat pty ends {self.path(self.a)} and {self.path(self.b)}",
            describe=lambda: proc.output()[-1500:],
        )
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Unplug: stop socat; both ends disappear (programs holding them get EIO/hangup)."""
        if self._proc is not None:
            self._proc.stop(signal.SIGTERM, timeout)
            self._proc = None
        for node in (self.a, self.b):
            self.path(node).unlink(missing_ok=True)

    def reopen(self, timeout: float = 10.0) -> SerialCable:
        """Plug a new cable in at the same paths (new /dev/pts devices)."""
        self.close(timeout)
        return self.open(timeout)

    def inject(self, data: bytes, *, to: str) -> None:
        """Put `data` on the wire so the program at `to`'s end reads it, as if
        the other end had sent it (written into the other end's pty)."""
        if not self.is_open:
            raise HarnessError(f"cable {self.name} is not open; cannot inject {len(data)} bytes")
        src = self.path(self._other(to))
        fd = os.open(src, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)

    def sent(self, by: str) -> bytes:
        """Every byte that went over the cable from `by`'s end, across reopens."""
        other = self._other(by)
        files = sorted(self.dir.glob(f"{by}-to-{other}.*.raw"))
        return b"".join(f.read_bytes() for f in files)

    def __repr__(self) -> str:
        return f"SerialCable({self.a}<->{self.b} {self.name}, open={self.is_open})"
