"""systemd notifications (sd_notify protocol) without libsystemd.

Sends `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` datagrams to
$NOTIFY_SOCKET (a path, or an abstract socket when it starts with `@`).
Without $NOTIFY_SOCKET every call is a no-op, so the daemon runs the same
in a terminal.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self._addr: str | None = None
        self._sock: socket.socket | None = None
        if addr:
            self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_usec = 0
        if usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog_usec = int(usec)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> None:
        if self._sock is None or self._addr is None:
            return
        # systemd gone or its socket full: nothing useful to do about it.
        with contextlib.suppress(OSError):
            self._sock.sendto("\n".join(lines).encode(), self._addr)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self, status: str = "Heartbeat shutdown in progress.") -> None:
        self.notify("STOPPING=1", f"STATUS={status}")
