"""The executor's liveness lease: a 16-byte file both processes map.

The supervisor creates it (`LeaseFile.create`, under the runtime directory's
private part, next to the bus) and names it in the executor's `setup`; the
executor opens it (`LeaseFile.open`) and renews it from the turns of the
loop that reads its bus, so a lease in the future proves that loop turns.
The supervisor reads it on its own turns and kills an executor whose lease
has run out (supervisor/executorlink.py; docs/processes.md, "The
executor"). The executor's health thus never wakes the supervisor.

Layout, little-endian: the magic `HBLEASE1`, then int64 `until_ns`, the
CLOCK_MONOTONIC time (ns) the lease runs to; 0: not renewed since the file
was made or reset. Every write holds an exclusive `lockf` lock on the file
and every read a shared one, as on the sequence board (hbeat/ipc/seqboard.py),
so a read never sees half a write.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
from pathlib import Path

MAGIC = b"HBLEASE1"
_LAYOUT = struct.Struct("<8sq")
SIZE = _LAYOUT.size
_UNTIL = struct.Struct("<q")
UNTIL_AT = len(MAGIC)


class LeaseFileError(RuntimeError):
    """A lease file that cannot be used; the message names the file and why."""


class LeaseFile:
    """A mapped lease file. The supervisor makes it with `create`, the executor
    joins it with `open`."""

    def __init__(self, path: Path, fd: int, mem: mmap.mmap) -> None:
        self.path = path
        self._fd = fd
        self._mem = mem

    @classmethod
    def create(cls, path: Path) -> LeaseFile:
        """A new file at `path` (mode 0600) with `until_ns` 0. An existing file
        is replaced whole (a new inode), never truncated under whoever still
        maps it."""
        tmp = path.with_name(path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # left by a supervisor that died here
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, _LAYOUT.pack(MAGIC, 0))
            os.replace(tmp, path)
            return cls(path, fd, mmap.mmap(fd, SIZE))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    @classmethod
    def open(cls, path: Path) -> LeaseFile:
        """The supervisor's file at `path`; LeaseFileError if it is missing,
        has the wrong size or is not a lease file."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise LeaseFileError(f"cannot open lease file {path}: {exc.strerror}") from exc
        try:
            size = os.fstat(fd).st_size
            if size != SIZE:
                raise LeaseFileError(f"lease file {path} has {size} bytes, not {SIZE}")
            mem = mmap.mmap(fd, SIZE)
        except BaseException:
            os.close(fd)
            raise
        lease = cls(path, fd, mem)
        magic = bytes(mem[:UNTIL_AT])
        if magic != MAGIC:
            lease.close()
            raise LeaseFileError(f"lease file {path} starts with {magic!r}, not {MAGIC!r}: "
                                 "not an hbeat executor lease")
        return lease

    def renew(self, until_ns: int) -> None:
        """Let the lease run to `until_ns` (CLOCK_MONOTONIC; 0: reset)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            _UNTIL.pack_into(self._mem, UNTIL_AT, until_ns)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def until_ns(self) -> int:
        """The CLOCK_MONOTONIC time (ns) the lease runs to; 0: not renewed."""
        fcntl.lockf(self._fd, fcntl.LOCK_SH)
        try:
            return int(_UNTIL.unpack_from(self._mem, UNTIL_AT)[0])
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._mem.close()
        os.close(self._fd)
