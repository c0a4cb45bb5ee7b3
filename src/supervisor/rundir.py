"""The daemon's own directories and its single-instance lock.

`prepare_dir` creates the runtime directory (sockets, sequence board) or
the state directory (generation, UUID) with the given mode, and refuses one
that is a symbolic link, not a directory, or owned by another user: a local
user who could plant a link there would make the daemon create its sockets,
or rewrite its generation, where that user chooses.

`bind_restricted` binds a ZeroMQ socket that only the given users (and
members of the given group) may connect to: the file mode keeps others out
of the socket, and the kernel's peer credentials (SO_PEERCRED, through
libzmq's IPC accept filters) are checked on every connection. The layout:
`<runtime>/control` (root), `<runtime>/query` and `<runtime>/status` (root
and haclient), `<runtime>/private/` (mode 0700: the worker bus and the
sequence board).

`InstanceLock` is heartbeat's pid file done with a lock: `hbeat.pid` in the
runtime directory, locked with flock(2) for the daemon's lifetime and
holding its pid. A second `hbeat run` finds it locked and stops before it
touches the first one's sockets. The lock goes with the process (kill -9
included), so a stale file never blocks a start.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import zmq

__all__ = [
    "CLIENT_GROUP",
    "PRIVATE",
    "AlreadyRunning",
    "DirectoryError",
    "InstanceLock",
    "bind_restricted",
    "client_gid",
    "prepare_dir",
]

PID_FILE = "hbeat.pid"
PRIVATE = "private"
CLIENT_GROUP = "haclient"


def client_gid() -> int | None:
    """The haclient group's id (heartbeat's group for its API clients), or None."""
    try:
        return grp.getgrnam(CLIENT_GROUP).gr_gid
    except KeyError:
        return None


def bind_restricted(sock: zmq.Socket[bytes], path: Path, *, uids: Iterable[int],
                    gid: int | None = None) -> None:
    """Bind `sock` at ipc://`path` for `uids` (and group `gid`) only: mode 0600
    (0660 and that group with `gid`), and peer credentials checked per
    connection. A stale socket file at `path` is replaced."""
    for uid in sorted(set(uids)):
        sock.setsockopt(zmq.IPC_FILTER_UID, uid)
    if gid is not None:
        sock.setsockopt(zmq.IPC_FILTER_GID, gid)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    old = os.umask(0o077 if gid is None else 0o007)
    try:
        sock.bind(f"ipc://{path}")
    finally:
        os.umask(old)
    if gid is not None:
        with contextlib.suppress(OSError):  # not mapped in a user namespace: root only
            os.chown(path, -1, gid)


class DirectoryError(Exception):
    """A runtime or state directory that must not be used; the text says why."""


class AlreadyRunning(Exception):
    """Another hbeat holds the instance lock; `pid` is its pid (0: unknown)."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = path
        super().__init__(f"already running [pid {pid}] (lock {path})")


def prepare_dir(path: Path, mode: int, *, euid: int | None = None) -> None:
    """Create `path` (and missing parents) and check it is ours; chmod to `mode`."""
    owner = os.geteuid() if euid is None else euid
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a dangling link or a file: reported below
    except OSError as exc:
        raise DirectoryError(f"cannot create directory {path}: {exc.strerror}") from None
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise DirectoryError(f"cannot use directory {path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise DirectoryError(
            f"{path} is a symbolic link: refusing to use it (remove it; hbeat creates"
            f" the directory itself)")
    if not stat.S_ISDIR(info.st_mode):
        raise DirectoryError(f"{path} exists and is not a directory")
    if info.st_uid != owner:
        raise DirectoryError(
            f"{path} belongs to uid {info.st_uid}, not to uid {owner} that runs hbeat:"
            f" refusing to use it (remove it, or chown it to uid {owner})")
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except NotImplementedError:
        os.chmod(path, mode)
    except OSError as exc:
        raise DirectoryError(f"cannot set mode {mode:04o} on {path}: {exc.strerror}") from None


class InstanceLock:
    """The single-instance lock; `acquire()` raises AlreadyRunning."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise DirectoryError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(pid, self.path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (at exit; the kernel does it anyway when we die).
        The file stays: unlinking it would let a starter that opened the old
        file and one that creates a new one both hold "the" lock."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0
