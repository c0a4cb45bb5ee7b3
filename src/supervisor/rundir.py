"""The daemon's own directories and its single-instance lock.

`prepare_dir` creates the runtime directory (sockets, sequence board) or
the state directory (generation, UUID) with the given mode, and refuses one
that is a symbolic link, not a directory, or owned by another user: a local
user who could plant a link there would make the daemon create its sockets,
or rewrite its generation, where that user chooses.

`InstanceLock` is heartbeat's pid file done with a lock: `hbeat.pid` in the
runtime directory, locked with flock(2) for the daemon's lifetime and
holding its pid. A second `hbeat run` finds it locked and stops before it
touches the first one's sockets. The lock goes with the process (kill -9
included), so a stale file never blocks a start.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

__all__ = ["AlreadyRunning", "DirectoryError", "InstanceLock", "prepare_dir"]

PID_FILE = "hbeat.pid"


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
