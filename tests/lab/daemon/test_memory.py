"""What a running node's processes hold in memory (docs/processes.md, "Memory").

Two nodes of the seed configuration (serial + bcast, `realtime on`, the
default): each link worker's keepalive thread runs SCHED_FIFO, and the
worker has locked only what that thread's tick path touches
(linklayer.ticker, `lock_memory`): its locked address space (VmLck) stays
under 8 MiB, where mlockall over the mappings it inherited from the
supervisor gave it ~44 MiB. The supervisor has none of the command-line
subcommands' code mapped (the XML parser of `hbeat export`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab
from tests.lab.daemon.cluster import Cluster

# mlockall: 43.7 MiB per link worker; the tick path alone: ~6 MiB (libcrypto's
# and libc's code, the codec, the board, the thread's stack and buffers). The
# target the cost work set; locking the interpreter fails it.
VMLCK_BOUND_KB = 8 * 1024


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
            threads = {(t / "comm").read_text().strip(): int(t.name)
                       for t in Path(f"/proc/{pid}/task").iterdir()}
            assert os.sched_getscheduler(threads["hb-ticker"]) == os.SCHED_FIFO, (name, title(pid))
            assert os.sched_getscheduler(pid) != os.SCHED_FIFO, (name, title(pid))
            vmlck = status_kb(pid, "VmLck")
            assert 1024 < vmlck <= VMLCK_BOUND_KB, (name, title(pid), vmlck)
            assert rollup_kb(pid, "Locked") > 64, (name, title(pid))  # locked, and resident
        supervisor = pids["hbeat: supervisor"]
        maps = Path(f"/proc/{supervisor}/maps").read_text()
        assert "pyexpat" not in maps and "_elementtree" not in maps
