"""What a running node's processes hold in memory (docs/processes.md, "Memory").

Two nodes of the seed configuration (serial + bcast, `realtime on`, the
default): once their link workers have sent their first keepalives, each
link worker runs SCHED_FIFO and still has memory locked, but only its own
pages (workers/locktrim.py): its locked address space (VmLck) is a fraction
of the ~44 MiB that mlockall gave it over the mappings it inherited from the
supervisor. The supervisor has none of the command-line subcommands' code
mapped (the XML parser of `hbeat export`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab, wait_for
from tests.lab.daemon.cluster import KEEPALIVE_S, Cluster

# Before: 43.7 MiB per link worker; after the trims at its 3rd and 10th
# keepalive: ~13 MiB (bench/README.md). A bound with room for another Python
# or libc, low enough that locking the inherited mappings fails it.
VMLCK_BOUND_KB = 24 * 1024


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def rollup_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/smaps_rollup")


def title(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_link_workers_lock_only_their_own_pages(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    cluster = Cluster(lab).start()
    cluster.wait_all_active()
    for name, node in cluster.nodes.items():
        pids = {title(p): p for p in node.pids()}
        links = [p for t, p in pids.items() if t.startswith(("hbeat: bcast", "hbeat: serial"))]
        assert len(links) == 2, pids
        for pid in links:
            assert os.sched_getscheduler(pid) == os.SCHED_FIFO, (name, title(pid))
            # The last trim of the first ones falls on the 10th keepalive.
            wait_for(lambda pid=pid: status_kb(pid, "VmLck") <= VMLCK_BOUND_KB,
                     20 * KEEPALIVE_S + 10, interval=0.5,
                     what=f"{name}: {title(pid)} to keep only its own pages locked",
                     describe=lambda pid=pid: f"VmLck {status_kb(pid, 'VmLck')} kB")
            assert rollup_kb(pid, "Locked") > 1024, (name, title(pid))  # still locked
        supervisor = pids["hbeat: supervisor"]
        maps = Path(f"/proc/{supervisor}/maps").read_text()
        assert "pyexpat" not in maps and "_elementtree" not in maps
