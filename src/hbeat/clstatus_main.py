"""The `cl_status` command: fetch the daemon's snapshot, print what `hbeat.clstatus` renders.

Finds the node through its runtime directory (`HBEAT_RUNTIME_DIR`, default
`/run/hbeat`; cl_status has no option for it, as in heartbeat) and asks the
control API's read-only `query` socket for a `snapshot`. Like heartbeat's
cl_status, the whole run is bounded by a 5 s alarm that exits 12 without a
word. A missing socket, or one nobody listens on any more (left behind by a
killed daemon), is "Heartbeat is stopped". One this user may not open (not
root, not in the haclient group) is said as such, with exit 13: the daemon
may well be running, and "stopped" would be a lie an operator acts on.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from hbeat.clstatus import TIMEOUT, UNKNOWN_ERROR, SnapshotError, needs_daemon, render
from hbeat.control import (
    QUERY,
    AccessDenied,
    ControlClient,
    ControlError,
    DaemonUnreachable,
    check_access,
)
from hbeat.logfmt import Level, format_line

DEFAULT_RUNTIME_DIR = "/run/hbeat"
ALARM_S = 5


def runtime_dir() -> Path:
    return Path(os.environ.get("HBEAT_RUNTIME_DIR") or DEFAULT_RUNTIME_DIR)


def _listening(path: Path) -> bool:
    """Whether a process accepts connections on the unix socket at `path`;
    AccessDenied when we may not even try."""
    check_access_or_absent(path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AccessDenied(f"permission denied on {path}") from None
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            return False
        raise
    finally:
        probe.close()
    return True


def fetch(rundir: Path, timeout_ms: int) -> tuple[dict[str, Any] | None, str | None]:
    """(snapshot, None), (None, None) when no daemon, (None, reason) when it refused.

    Raises TimeoutError when a daemon is listening but does not answer in time.
    """
    control = rundir / QUERY
    if not _listening(control):
        return None, None
    try:
        return ControlClient(rundir, timeout_ms=timeout_ms, socket=QUERY).call("snapshot"), None
    except ControlError as exc:
        return None, exc.message
    except DaemonUnreachable as exc:
        if not control.exists():
            return None, None
        raise TimeoutError(str(exc)) from exc


def check_access_or_absent(path: Path) -> None:
    """AccessDenied if `path` is there but not for us; nothing if it is absent."""
    try:
        check_access(path)
    except DaemonUnreachable:
        return


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    os._exit(TIMEOUT)  # heartbeat's SIGALRM handler: exit 12, nothing printed


def _write(stream: Any, text: str) -> None:
    stream.buffer.write(text.encode("utf-8", "surrogateescape"))
    stream.buffer.flush()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(ALARM_S)
    now, pid, hostname = time.time(), os.getpid(), os.uname().nodename
    snapshot: dict[str, Any] | None = None
    refusal: str | None = None
    try:
        if needs_daemon(args):
            left_ms = max(1, int((ALARM_S - (time.monotonic() - started)) * 1000))
            try:
                snapshot, refusal = fetch(runtime_dir(), left_ms)
            except TimeoutError:
                return TIMEOUT
            except AccessDenied as exc:
                _write(sys.stderr, f"cl_status: {exc} (run it as root, or as a member of"
                                   f" the haclient group)\n")
                return UNKNOWN_ERROR
        try:
            out, err, rc = render(
                args, snapshot, now=now, pid=pid, hostname=hostname, refusal=refusal
            )
        except SnapshotError as exc:
            line = format_line(
                time.localtime(now),
                hostname,
                pid,
                Level.ERROR,
                f"bad status snapshot from the daemon: {exc}",
                entity="cl_status",
            )
            out, err, rc = "", line + "\n", UNKNOWN_ERROR
        try:
            _write(sys.stderr, err)
            _write(sys.stdout, out)
        except BrokenPipeError:
            pass
        return rc
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
