"""`hbeat/addrspace.py`'s `release_free_heap`: the whole free pages inside
malloc's heap go back to the kernel (the supervisor calls it before each
fork, so its workers do not inherit them resident). Checked in a real
process whose heap has large free holes between objects still in use."""

from __future__ import annotations

import json
import subprocess
import sys

HOLES = r"""
import json
from hbeat.addrspace import release_free_heap

def heap_rss_kb():
    rss, in_heap = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                in_heap = head[-1] == "[heap]"
            elif in_heap and head[0] == "Rss:":
                rss += int(head[1])
    return rss

blocks = [bytes(2000) for _ in range(20000)]  # ~40 MB from malloc's heap
kept = blocks[::50]  # one in fifty stays: the heap cannot shrink from its top
del blocks
before = heap_rss_kb()
release_free_heap()
print(json.dumps({"before": before, "after": heap_rss_kb(), "kept": len(kept)}))
"""


def test_free_pages_inside_the_heap_are_given_back() -> None:
    out = subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True,
                         timeout=60, check=True)
    seen = json.loads(out.stdout)
    assert seen["before"] > 30_000, seen  # the holes were resident
    assert seen["after"] < seen["before"] / 2, seen
