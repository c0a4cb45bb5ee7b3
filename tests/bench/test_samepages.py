"""bench/cluster/samepages.py: private pages are found, read and counted by content."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.cluster import samepages

PAGES = 64
# A child that fills PAGES private pages with the same content as its sibling
# (page i holds byte i) and one page of its own, then prints their addresses.
FILL = """
import mmap, ctypes, sys
own = int(sys.argv[1])
buf = mmap.mmap(-1, (PAGES + 1) * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(PAGES):
    buf[i * 4096:(i + 1) * 4096] = bytes([i]) * 4096
buf[PAGES * 4096:] = own.to_bytes(8, "little") * 512
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
print(base, flush=True)
sys.stdin.read()
""".replace("PAGES", str(PAGES))


@contextmanager
def filled(own: int) -> Iterator[tuple[int, int]]:
    child = subprocess.Popen([sys.executable, "-c", FILL, str(own)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.pid, int(child.stdout.readline())
    finally:
        child.communicate("")


def test_private_pages_lists_a_written_anonymous_mapping() -> None:
    with filled(1) as (pid, base):
        pages = set(samepages.private_pages(pid))
        assert {base + i * samepages.PAGE for i in range(PAGES + 1)} <= pages


def test_page_hashes_reads_the_pages_content() -> None:
    with filled(7) as (pid, base):
        last = base + PAGES * samepages.PAGE
        got = samepages.page_hashes(pid, [base + 3 * samepages.PAGE, last])
        assert got == [hashlib.sha1(bytes([3]) * 4096).digest(),
                       hashlib.sha1((7).to_bytes(8, "little") * 512).digest()]


def test_duplicates_counts_identical_pages_across_processes_once() -> None:
    with filled(1) as (a, _), filled(2) as (b, _):
        d = samepages.duplicates([a, b])
        assert d.total_kib == d.private_kib[a] + d.private_kib[b]
        # the sibling's PAGES pages could be merged; the two own pages could not
        assert d.merge_saves_kib >= PAGES * 4
        assert d.shared_content_kib[a] >= PAGES * 4 and d.shared_content_kib[b] >= PAGES * 4
        assert d.distinct_kib <= d.total_kib - PAGES * 4
