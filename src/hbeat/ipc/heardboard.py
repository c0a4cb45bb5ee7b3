"""The heard board: a link worker's quiet keepalives, read by the supervisor.

One small file per link worker under the private runtime directory. The
supervisor creates it (`HeardBoard.create`) before it starts the worker; the
worker's C wait (`hb_quiet_*` in linklayer/_frame.c, linklayer/quiet.py)
records there each keepalive that only repeats the peer's last status with
the next seq, instead of waking its Python thread and the supervisor for it;
the supervisor reads the runs on its own turns (`HeardBoard.runs`) and
feeds them to membership as the keepalives they stand for. docs/processes.md,
"Quiet keepalives", has the rules; `_frame.h` the same layout:

    magic "HBHEARD1", slot count, then per slot (HB_HEARD_SLOT bytes):
    seqlock, rx_before, first_seq, last_seq, last_ts, heard_ns, count,
    src length, src

A slot's `seqlock` is odd while the worker writes it: a reader retries until
it reads the same even value before and after the fields. A run is the
keepalives recorded since the worker last forwarded a frame of that peer:
`rx_before` is how many Rx messages the worker had posted when the run
began, so the supervisor never applies a run before the frames that came
before it.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"HBHEARD1"
SIZE = 4096
SLOT0 = 64
SLOT = 128
PEERS = 8
SRC_MAX = 64
_HEADER = struct.Struct("<8sQ")
_LOCK = struct.Struct("<Q")
_FIELDS = struct.Struct(f"<qqqqqqB{SRC_MAX}s")
READ_TRIES = 64
"""A reader gives up on a slot (reports it unchanged) after this many torn reads."""

assert SLOT0 + PEERS * SLOT <= SIZE
assert _LOCK.size + _FIELDS.size <= SLOT


class HeardBoardError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class QuietRun:
    """Keepalives first_seq..last_seq of `src`, each a repeat of the last
    status the worker forwarded from it; the last heard at heard_ns
    (CLOCK_MONOTONIC) carrying ts `last_ts`."""

    rx_before: int
    first_seq: int
    last_seq: int
    last_ts: int
    heard_ns: int
    count: int
    src: str = ""


class HeardBoard:
    def __init__(self, path: Path, mm: mmap.mmap) -> None:
        self.path = path
        self._mm = mm
        self.torn = 0
        """Slots the last `runs` could not read whole (the worker was writing
        them, or stopped while it did): what they hold is not known yet."""

    @classmethod
    def create(cls, path: Path) -> HeardBoard:
        """A fresh, empty board at `path` (mode 0600), replacing any old one."""
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, SIZE)
            os.pwrite(fd, _HEADER.pack(MAGIC, PEERS), 0)
            os.replace(tmp, path)
            mm = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        return cls(path, mm)

    @classmethod
    def attach(cls, path: Path) -> HeardBoard:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise HeardBoardError(f"{path}: {exc.strerror}") from exc
        try:
            if os.fstat(fd).st_size != SIZE:
                raise HeardBoardError(f"{path}: not a heard board (size)")
            mm = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        magic, slots = _HEADER.unpack_from(mm, 0)
        if magic != MAGIC or slots != PEERS:
            mm.close()
            raise HeardBoardError(f"{path}: not a heard board (magic {magic!r}, {slots} slots)")
        return cls(path, mm)

    def run(self, slot: int) -> QuietRun | None:
        """Slot `slot`'s current run (None: no run, or no consistent read
        within READ_TRIES, which is counted in `torn`: the worker is writing
        it; a later read gets it)."""
        at = SLOT0 + slot * SLOT
        mm = self._mm
        for _ in range(READ_TRIES):
            (before,) = _LOCK.unpack_from(mm, at)
            if before & 1:
                continue
            rx_before, first, last, ts, heard, count, n, src = _FIELDS.unpack_from(mm, at + 8)
            (after,) = _LOCK.unpack_from(mm, at)
            if after != before:
                continue
            if first == 0:
                return None
            return QuietRun(rx_before, first, last, ts, heard, count,
                            src[:min(n, SRC_MAX)].decode(errors="replace"))
        self.torn += 1
        return None

    def runs(self) -> list[tuple[int, QuietRun]]:
        """Every slot's current run, by slot (`torn`: how many slots could not
        be read)."""
        self.torn = 0
        out: list[tuple[int, QuietRun]] = []
        for slot in range(PEERS):
            r = self.run(slot)
            if r is not None:
                out.append((slot, r))
        return out

    def close(self) -> None:
        self._mm.close()
