"""`workers/locktrim.py`: which pages a locked link worker keeps locked.

The plan is checked on made-up pagemap entries (present, exclusive, file
pages, the stack); `trim` in a real process forked from an interpreter that
has imported the daemon, as the supervisor forks its link workers: after
`mlockall(MCL_ONFAULT)` and a trim, the pages the child wrote are still
locked, the pages it never touched are not, and its locked address space
(VmLck) is a fraction of what mlockall gave it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from tests.harness.requirements import require_root
from workers.locktrim import (
    PAGE,
    PM_FILE,
    PM_MMAP_EXCLUSIVE,
    PM_PRESENT,
    Mapping,
    _Trimmer,
    page_runs,
    parse_maps,
    plan,
)

MAPS = "".join(f"{line}\n" for line in (
    "55d0c0000000-55d0c0003000 rw-p 00000000 00:00 0                          [heap]",
    "7f0000000000-7f0000004000 r-xp 00001000 fe:01 1234   /usr/lib/libpython3.11.so.1.0",
    "7f0000010000-7f0000012000 rw-p 00000000 00:00 0 ",  # anonymous: the kernel pads
    "7ffd00000000-7ffd00002000 rw-p 00000000 00:00 0                          [stack]",
    "7ffd10000000-7ffd10002000 r--p 00000000 00:00 0                          [vvar]",
))

WRITTEN = PM_PRESENT | PM_MMAP_EXCLUSIVE  # a page this process wrote (or allocated)
SHARED = PM_PRESENT  # an anonymous page still shared with the parent
FILE = PM_PRESENT | PM_FILE  # a file page this process faulted in
ABSENT = 0


def entries(*flags: int) -> bytes:
    return struct.pack(f"<{len(flags)}Q", *flags)


def test_parse_maps_reads_ranges_and_names() -> None:
    maps = parse_maps(MAPS)
    assert [(m.start, m.end, m.perms, m.name) for m in maps] == [
        (0x55D0C0000000, 0x55D0C0003000, "rw-p", "[heap]"),
        (0x7F0000000000, 0x7F0000004000, "r-xp", "/usr/lib/libpython3.11.so.1.0"),
        (0x7F0000010000, 0x7F0000012000, "rw-p", ""),
        (0x7FFD00000000, 0x7FFD00002000, "rw-p", "[stack]"),
        (0x7FFD10000000, 0x7FFD10002000, "r--p", "[vvar]"),
    ]
    assert maps[0].pages == 3


def test_page_runs_keep_written_and_file_pages_only() -> None:
    tops = [e >> 56 for e in (WRITTEN, WRITTEN, SHARED, ABSENT, FILE, PM_MMAP_EXCLUSIVE)]
    # PM_MMAP_EXCLUSIVE without PM_PRESENT (a swapped-out page) is not kept.
    assert list(page_runs(tops)) == [(True, 0, 2), (False, 2, 4), (True, 4, 5), (False, 5, 6)]
    assert list(page_runs(tops, stack=True)) == [(True, 0, 6)]
    assert list(page_runs([])) == []


def test_plan_locks_the_process_own_pages_and_unlocks_the_rest() -> None:
    heap, lib, anon, stack, vvar = parse_maps(MAPS)
    got = plan([heap, lib, anon, stack, vvar], [
        entries(SHARED, WRITTEN, SHARED),
        entries(FILE, ABSENT, ABSENT, FILE),
        entries(WRITTEN),  # shorter than the mapping: the rest is absent
        entries(ABSENT, ABSENT),
        entries(FILE, FILE),
    ])
    assert got.lock == [
        (heap.start + PAGE, heap.start + 2 * PAGE),
        (lib.start, lib.start + PAGE),
        (lib.start + 3 * PAGE, lib.end),
        (anon.start, anon.start + PAGE),
        (stack.start, stack.end),  # the main stack is kept whole
    ]
    assert got.unlock == [
        (heap.start, heap.start + PAGE),
        (heap.start + 2 * PAGE, heap.end),
        (lib.start + PAGE, lib.start + 3 * PAGE),
        (anon.start + PAGE, anon.end),
    ]  # [vvar] is never locked by the kernel: left alone
    assert got.locked_bytes == 6 * PAGE
    assert plan([Mapping(0, 2 * PAGE, "rw-p", "")], [b""]).lock == []


CHILD = r"""
import gc, json, mmap, os, sys
import supervisor.daemon, workers.link, workers.executor  # what the supervisor holds
from workers.link import lock_memory, locked_kb
from workers import locktrim

def flags(address):
    # VmFlags of the mapping holding `address` (after the trim, its own VMA)
    current = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                low, high = (int(x, 16) for x in head[0].split("-"))
                current = low <= address < high
            elif head[0] == "VmFlags:" and current:
                return head[1:]
    return None

gc.freeze()
pid = os.fork()
if pid:
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
assert lock_memory() == 0
buf = mmap.mmap(-1, 64 * mmap.PAGESIZE)  # new: only the pages written are its own
for page in range(0, 8):
    buf[page * mmap.PAGESIZE] = 1
import ctypes
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
before = locked_kb()
problem = locktrim.trim()
after = locked_kb()
# A later page written after the trim: a new page of a locked-on-fault
# range stays unlocked (its range was unlocked), and a second trim takes it.
buf[40 * mmap.PAGESIZE] = 1
late_before = "lo" in (flags(base + 40 * mmap.PAGESIZE) or [])
second = locktrim.trim()
print(json.dumps({
    "problem": problem, "second": second, "before": before, "after": after,
    "written": "lo" in (flags(base) or []),
    "untouched": "lo" in (flags(base + 20 * mmap.PAGESIZE) or []),
    "late_before": late_before, "late_after": "lo" in (flags(base + 40 * mmap.PAGESIZE) or []),
}))
sys.stdout.flush()
os._exit(0)
"""


def test_trim_in_a_forked_child_keeps_its_written_pages_locked() -> None:
    require_root()  # mlockall beyond RLIMIT_MEMLOCK needs CAP_IPC_LOCK
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=60, check=True)
    seen = json.loads(out.stdout)
    assert seen["problem"] is None and seen["second"] is None, seen
    assert seen["written"] and not seen["untouched"], seen
    assert not seen["late_before"] and seen["late_after"], seen
    # mlockall locked every inherited mapping; the trim leaves what the child
    # made its own: far less (the figures are in bench/README.md).
    assert seen["before"] > 30 * 1024, seen
    assert seen["after"] < seen["before"] / 2, seen


def test_an_unreadable_pagemap_is_an_error_not_absent_pages() -> None:
    # Read as "absent", every page of the mapping would have been unlocked.
    r, w = os.pipe()
    os.close(w)
    try:
        with pytest.raises(OSError):
            list(_Trimmer().tops(r, 0x400000, 0x400000 + 4 * PAGE))
    finally:
        os.close(r)
