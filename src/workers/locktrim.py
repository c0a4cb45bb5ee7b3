"""Which pages a locked link worker keeps locked (docs/processes.md, "Memory").

A link worker with `realtime on` locks every page it touches
(`mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`). Forked from the
supervisor, it inherits the supervisor's whole address space, and the
kernel accounts every byte of every locked mapping as locked (VmLck), most
of it pages the worker never uses. Once the worker has run its first
ticks, `trim` keeps locked only the pages that are its own and munlocks
the rest of each mapping:

* a page of an anonymous or private mapping is kept when the worker has
  written it (it is mapped by this process only: `PM_MMAP_EXCLUSIVE` in
  /proc/self/pagemap): the copy the worker made of a page it shares with
  the supervisor (CPython writes a reference count in every object it
  touches), or a page it allocated itself;
* a page of a file (code, read-only data) is kept when it is mapped in the
  worker (`PM_PRESENT`): the kernel does not copy a file mapping's page
  table entries at fork, so those are the pages the worker faulted in;
* the process's main stack is kept whole.

Mappings made from now on are still locked as their pages are touched
(MCL_FUTURE stays). This module is pure (the plan from /proc/self/maps text
and pagemap entries) plus `trim`, the thin shell that reads them and calls
mlock2/munlock.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

PAGE = os.sysconf("SC_PAGE_SIZE")
PM_PRESENT = 1 << 63
PM_FILE = 1 << 61  # file page or shared anonymous
PM_MMAP_EXCLUSIVE = 1 << 56
MLOCK_ONFAULT = 1
# Mappings the kernel never locks (special or gate mappings): left alone.
_SPECIAL = ("[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]")

_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Mapping:
    """One line of /proc/<pid>/maps."""

    start: int
    end: int
    perms: str
    name: str  # path, [heap], [stack], ... or "" for anonymous memory

    @property
    def pages(self) -> int:
        return (self.end - self.start) // PAGE


def parse_maps(text: str) -> list[Mapping]:
    """The mappings of a /proc/<pid>/maps text."""
    out = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        low, _, high = fields[0].partition("-")
        out.append(Mapping(int(low, 16), int(high, 16), fields[1],
                           fields[5].strip() if len(fields) > 5 else ""))
    return out


# The top byte of a little-endian pagemap entry holds bits 56-63.
_TOP_PRESENT, _TOP_FILE, _TOP_EXCLUSIVE = PM_PRESENT >> 56, PM_FILE >> 56, PM_MMAP_EXCLUSIVE >> 56
# Top byte -> 1 (keep locked: present, and exclusive or a file page) or 0.
KEEP_TOP = bytes(1 if top & _TOP_PRESENT and top & (_TOP_FILE | _TOP_EXCLUSIVE) else 0
                 for top in range(256))
_CHUNK_PAGES = 4096  # pagemap entries read at once (32 KiB)
_MAPS_CHUNK = 16 * 1024


def page_runs(tops: bytes | Sequence[int], stack: bool = False
              ) -> Iterator[tuple[bool, int, int]]:
    """(keep, first page, end page) runs of a mapping's pages, from the top
    byte of each page's pagemap entry (the module docstring; a `stack`
    mapping is kept whole). Found with bytes operations, not a Python loop
    per page: a worker's address space is ~50,000 pages."""
    keep = b"\1" * len(tops) if stack else bytes(tops).translate(KEEP_TOP)
    at, count = 0, len(keep)
    while at < count:
        kept = keep[at] == 1
        end = keep.find(b"\0" if kept else b"\1", at)
        end = count if end < 0 else end
        yield kept, at, end
        at = end


@dataclass(frozen=True)
class Plan:
    lock: list[tuple[int, int]]
    unlock: list[tuple[int, int]]

    @property
    def locked_bytes(self) -> int:
        return sum(end - start for start, end in self.lock)


def plan(mappings: Sequence[Mapping], pagemaps: Sequence[bytes]) -> Plan:
    """What to lock and unlock (address ranges), from each mapping's raw
    pagemap entries (8 bytes per page, little endian; missing entries are
    absent pages)."""
    whole = Plan([], [])
    for mapping, raw in zip(mappings, pagemaps, strict=True):
        if mapping.name in _SPECIAL:
            continue
        tops = raw[7::8].ljust(mapping.pages, b"\0")[:mapping.pages]
        for keep, first, end in page_runs(tops, mapping.name == "[stack]"):
            (whole.lock if keep else whole.unlock).append(
                (mapping.start + first * PAGE, mapping.start + end * PAGE))
    return whole


def current_plan(pid: str = "self") -> Plan:
    """The plan for process `pid` as it is now (reads /proc; for tests and
    diagnostics: `trim` works mapping by mapping, allocating little)."""
    with open(f"/proc/{pid}/maps") as maps:
        mappings = [m for m in parse_maps(maps.read()) if m.name not in _SPECIAL]
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        pagemaps = []
        for m in mappings:
            try:
                pagemaps.append(os.pread(fd, m.pages * 8, m.start // PAGE * 8))
            except OSError:
                pagemaps.append(b"")
    finally:
        os.close(fd)
    return plan(mappings, pagemaps)


class _Trimmer:
    """`trim`'s state: one buffer for the pagemap entries, reused, and the
    mapping being walked (one run of pages may span several reads)."""

    def __init__(self) -> None:
        self.buffer = bytearray(_CHUNK_PAGES * 8)
        self.view = memoryview(self.buffer)
        self.chunk = bytearray(_MAPS_CHUNK)

    def maps_lines(self) -> Iterator[bytes]:
        """The lines of /proc/self/maps, read _MAPS_CHUNK bytes at a time into
        the same buffer (a file object's `read()` would allocate, and copy
        pages for, a few hundred KiB). The kernel carries on after the
        last mapping it returned, so splitting mappings behind it is safe."""
        fd = os.open("/proc/self/maps", os.O_RDONLY | os.O_CLOEXEC)
        try:
            rest = b""
            while got := os.readv(fd, [self.chunk]):
                data = rest + self.chunk[:got]
                at = 0
                while (eol := data.find(b"\n", at)) >= 0:
                    yield data[at:eol]
                    at = eol + 1
                rest = data[at:]
            if rest:
                yield rest
        finally:
            os.close(fd)

    def tops(self, fd: int, start: int, end: int) -> bytes:
        """The top byte of each page's pagemap entry in [start, end) (0 past
        what the kernel returns: the end of the mapping moved meanwhile)."""
        page, last = start // PAGE, end // PAGE
        parts = []
        while page < last:
            want = min(last - page, _CHUNK_PAGES)
            # An error is raised, not read as "absent": that would unlock all.
            got = os.preadv(fd, [self.view[:want * 8]], page * 8) // 8
            parts.append(bytes(self.view[7:got * 8:8]).ljust(want, b"\0"))
            page += want
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def mapping(self, fd: int, start: int, end: int, stack: bool) -> str | None:
        unlock: list[tuple[int, int]] = []
        for keep, first, stop in page_runs(self.tops(fd, start, end), stack):
            low, high = start + first * PAGE, start + stop * PAGE
            if not keep:
                unlock.append((low, high))  # after the locks: see `trim`
            elif _LIBC.mlock2(ctypes.c_void_p(low), ctypes.c_size_t(high - low),
                              MLOCK_ONFAULT) != 0:
                return f"mlock2: {os.strerror(ctypes.get_errno())}"
        for low, high in unlock:
            # Best effort: a range gone meanwhile (ENOMEM) is not locked.
            _LIBC.munlock(ctypes.c_void_p(low), ctypes.c_size_t(high - low))
        return None


_trimmer: _Trimmer | None = None


def trim() -> str | None:
    """Keep locked only this process's own pages (the module docstring),
    mapping by mapping: its own pages are locked first, then the rest
    unlocked, so a kept page is never unlocked on the way. It allocates
    little: every object it made would take a free slot in a page the
    worker shares with the supervisor and so copy that page. Returns None,
    or what failed (what is not done yet stays locked as it was)."""
    global _trimmer
    if not hasattr(_LIBC, "mlock2"):  # glibc before 2.27
        return "mlock2 is not in this C library"
    if _trimmer is None:
        _trimmer = _Trimmer()
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return f"reading /proc/self/pagemap: {exc.strerror}"
    try:
        for line in _trimmer.maps_lines():
            dash = line.find(b"-")
            space = line.find(b" ")
            name = line.rsplit(b" ", 1)[-1] if line.count(b" ") >= 5 else b""
            if dash < 0 or space < 0 or name.startswith((b"[vvar", b"[vdso", b"[vsyscall")):
                continue
            problem = _trimmer.mapping(fd, int(line[:dash], 16), int(line[dash + 1:space], 16),
                                       name == b"[stack]")
            if problem is not None:
                return problem
    except OSError as exc:  # what is done is done; the rest stays locked
        return f"reading /proc/self/maps or pagemap: {exc.strerror}"
    finally:
        os.close(fd)
    return None
