"""How much of a node's private memory is duplicate content: the bound on any page sharing.

Each process's private pages (present and mapped by that process alone,
/proc/<pid>/pagemap's exclusive bit) are read whole from /proc/<pid>/mem and
hashed. A page whose content another private page of the node also has could
in principle be one page (the kernel's KSM merges such pages; a process
forked at a better moment would have shared it): the sum over the node of
(copies - 1) is what merging every identical private page would save, the
most any change of when or from what the processes are forked could gain on
the private part. Needs root (pagemap and mem of other processes).

    .venv/bin/python -m bench.cluster.samepages [--realtime on|off] [--settle S]

starts the cost lab's hbeat pair (seed configuration, `scenarios.CostScenario`),
waits, and prints otter's figures in KiB.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from dataclasses import dataclass

PAGE = 4096
_PRESENT = 1 << 63
_EXCLUSIVE = 1 << 56


def private_pages(pid: int) -> list[int]:
    """Addresses of the present pages of `pid`'s private writable mappings that
    no other process maps."""
    found: list[int] = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            span, perms = line.split()[:2]
            if "w" not in perms or "p" not in perms:
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            pagemap.seek(lo // PAGE * 8)
            entries = pagemap.read((hi - lo) // PAGE * 8)
            for i in range(len(entries) // 8):
                e = int.from_bytes(entries[i * 8:i * 8 + 8], "little")
                if e & _PRESENT and e & _EXCLUSIVE:
                    found.append(lo + i * PAGE)
    return found


def page_hashes(pid: int, addrs: list[int]) -> list[bytes]:
    """The sha1 of each page of `pid` at `addrs` (pages that vanished are left out)."""
    out: list[bytes] = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for a in addrs:
            try:
                mem.seek(a)
                out.append(hashlib.sha1(mem.read(PAGE)).digest())
            except OSError:
                continue
    return out


@dataclass(frozen=True)
class Duplicates:
    private_kib: dict[int, int]  # per pid
    shared_content_kib: dict[int, int]  # per pid: pages whose content another private page has
    total_kib: int
    distinct_kib: int

    @property
    def merge_saves_kib(self) -> int:
        return self.total_kib - self.distinct_kib


def duplicates(pids: list[int]) -> Duplicates:
    hashes = {pid: page_hashes(pid, private_pages(pid)) for pid in pids}
    count: Counter[bytes] = Counter()
    for hs in hashes.values():
        count.update(hs)
    return Duplicates(
        private_kib={pid: len(hs) * 4 for pid, hs in hashes.items()},
        shared_content_kib={pid: sum(4 for h in hs if count[h] > 1) for pid, hs in hashes.items()},
        total_kib=sum(count.values()) * 4,
        distinct_kib=len(count) * 4,
    )


def main() -> None:
    from bench.cluster import procstat, scenarios

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realtime", choices=("on", "off"), default="on")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to wait after start-up")
    args = ap.parse_args()
    run = scenarios.CostScenario("samepages", "hbeat", scenarios.CLASSIC,
                                 realtime=args.realtime == "on")
    try:
        run.begin()
        time.sleep(args.settle)
        pids = run.cluster.pids("otter")
        d = duplicates(pids)
        for pid in pids:
            print(f"{procstat.title(pid):40} private {d.private_kib[pid]:6} KiB, "
                  f"content also in another private page {d.shared_content_kib[pid]:6} KiB")
        print(f"node: private {d.total_kib} KiB, distinct contents {d.distinct_kib} KiB, "
              f"merging identical pages would save {d.merge_saves_kib} KiB")
    finally:
        run.close()


if __name__ == "__main__":
    main()
