"""Filling the free slots of the supervisor's object pools before a fork.

CPython's small-object allocator hands out blocks from partially used
pools first: right after a fork, a worker's first few thousand objects go
into the free slots scattered over every pool the supervisor has, one or
two to a pool, and each one copies the 4 KiB page it lands in (and the
pool's header page) out of what the worker shares with the supervisor. The
supervisor takes those slots itself just before it forks (`fill`): one
small object per free slot, kept for the life of the process, so the worker
allocates from empty pools instead, its objects packed together, and copies
a few pages where it copied hundreds. The slots are memory the supervisor
holds anyway; it allocates its own later objects from fresh pools too.

How many slots are free comes from `sys._debugmallocstats()` (CPython's own
table, `avail blocks` per size class), which writes to file descriptor 2:
it is pointed at a memory file for that call, and anything else written to
stderr meanwhile (a log line of another thread) is copied back to it. Not
CPython, or a table it cannot read: nothing is filled.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable

_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
_BYTES_HEADER = sys.getsizeof(b"")  # a bytes object of length n takes this + n bytes
_held: list[object] = []
# What the fillers may hold in all, over every fork: a restart fills the
# slots the supervisor's own churn freed since the last fork, and a worker
# restarting without end must not grow the supervisor without end.
HELD_LIMIT_BYTES = 4 * 1024 * 1024
_held_bytes = 0


def free_slots(stats: str) -> dict[int, int]:
    """Block size -> free blocks in partially used pools, from the text of
    `sys._debugmallocstats()` (the rows of its per-class table)."""
    out: dict[int, int] = {}
    for line in stats.splitlines():
        row = _ROW.match(line)
        if row:
            out[int(row[2])] = int(row[5])
    return out


def filler(size: int) -> Callable[[], object] | None:
    """A maker of new objects that take a block of exactly `size` bytes, or
    None. 16: a bare object; 32: an int above the cached small ones (28
    bytes); larger: a bytes object."""
    if size == 16:
        return object
    if size == 32:
        return lambda: len(_held) + 1000  # a new int each time
    length = size - _BYTES_HEADER
    if length < 0:
        return None
    return lambda: bytes(length)


def _stats_text() -> str:
    memfd = os.memfd_create("mallocstats", os.MFD_CLOEXEC)
    saved = os.dup(2)
    try:
        sys.stderr.flush()
        os.dup2(memfd, 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
        size = os.lseek(memfd, 0, os.SEEK_END)
        text = os.pread(memfd, size, 0).decode(errors="replace")
    finally:
        os.close(saved)
        os.close(memfd)
    table = [line for line in text.splitlines() if _ROW.match(line)]
    others = "".join(f"{line}\n" for line in text.splitlines()
                     if not _ROW.match(line) and _is_foreign(line))
    if others:  # another thread's stderr output, caught in the middle
        with contextlib.suppress(OSError):
            os.write(2, others.encode())
    return "\n".join(table)


_OWN = re.compile(r"^(\s*$|Small block threshold|class\s+size|-{3,}|arena map counts"
                  r"|.*\s=\s+[\d,]+$)")


def _is_foreign(line: str) -> bool:
    """A line `sys._debugmallocstats()` does not write."""
    return not _OWN.match(line)


def fill() -> int:
    """Take every free slot of the partially used pools (the module
    docstring) and keep it, within HELD_LIMIT_BYTES over the life of the
    process; returns how many objects that took."""
    global _held_bytes
    if not hasattr(sys, "_debugmallocstats") or _held_bytes >= HELD_LIMIT_BYTES:
        return 0
    try:
        slots = free_slots(_stats_text())
    except OSError:
        return 0
    taken = 0
    for size, free in sorted(slots.items()):
        make = filler(size)
        count = min(free, (HELD_LIMIT_BYTES - _held_bytes) // size)
        if make is None or count <= 0:
            continue
        _held.extend(make() for _ in range(count))
        _held_bytes += count * size
        taken += count
    return taken
