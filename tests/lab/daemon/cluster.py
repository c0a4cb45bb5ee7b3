"""Two (or more) `hbeat run` nodes of the seed configuration in a harness lab.

`Cluster(lab)` configures each lab node with the seed configuration
(tests/hbeat/config/seed.py) and fast timers, a serial line at `/run/ttyS0` (a
symlink, in the node's private `/run`, to its end of the lab's socat cable)
and `bcast eth1`; the nodes are tests/harness/hbeatnode.py's `HbeatNode`, and
`cluster.feeds[name]` its `FeedLog`, subscribed before the daemons start.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hbeat.control import DaemonUnreachable
from tests.harness import Lab, wait_for
from tests.harness.hbeatnode import HBEAT, LOGFILE, FeedLog, HbeatConfig, HbeatNode
from tests.hbeat.config.seed import (
    SEED_AUTHKEYS,
    SEED_HARESOURCES,
    render_hacf,
    seed_hacf_lines,
    write_seed,
)

__all__ = ["HBEAT", "Cluster", "FeedLog", "HbeatNode", "exited", "proc_state"]

KEEPALIVE_S = 0.5
DEADTIME_S = 3.0
TIMERS = {"keepalive": "500ms", "deadtime": "3", "warntime": "2", "initdead": "12"}
SERIAL = "/run/ttyS0"
STARTUP_DT_WINDOW_S = 5.0  # a node advertises deadtime + 2 s for its first 5 s


def seed_node(lab: Lab, name: str, ttys: dict[str, Path],
              timers: dict[str, str] | None = None) -> HbeatNode:
    """An hbeat node of the seed configuration (with its stand-in scripts), not started."""
    hacf = render_hacf(seed_hacf_lines(nodes=tuple(lab.nodes), serial=SERIAL,
                                       interfaces=("eth1",)),
                       timers or TIMERS, [f"logfile {LOGFILE}"])
    node = HbeatNode(lab[name], HbeatConfig(hacf, SEED_AUTHKEYS, SEED_HARESOURCES), ttys=ttys)
    node.prepare()
    write_seed(node.config_dir, node_name=name, hacf=hacf)
    return node


class Cluster:
    """Two (or more) hbeat nodes in a lab, joined by bcast eth1 and one serial cable
    (the cable joins the first two nodes)."""

    def __init__(self, lab: Lab, timers: dict[str, str] | None = None) -> None:
        self.lab = lab
        names = list(lab.nodes)
        self.cable = lab.serial_cable(names[0], names[1])
        self.nodes = {n: seed_node(lab, n, {SERIAL: self.cable.path(n)}, timers) for n in names}
        self.feeds: dict[str, FeedLog] = {}

    def __getitem__(self, name: str) -> HbeatNode:
        return self.nodes[name]

    def start(self, env: dict[str, dict[str, str]] | None = None) -> Cluster:
        """Subscribe to every node's feed, then start every node."""
        for name, node in self.nodes.items():
            self.feeds[name] = node.feed()
        for name, node in self.nodes.items():
            node.start((env or {}).get(name), wait=False)
        return self

    def wait_all_active(self, timeout: float = 20.0) -> None:
        """Every node sees every node active with every link up (via its control API)."""
        for name, node in self.nodes.items():
            node.wait_answering()

            def all_up(node: HbeatNode = node) -> bool:
                snap = node.snapshot()
                return all(
                    n["status"] == "active"
                    and (n["name"] == node.name or all(lk["status"] == "up" for lk in n["links"]))
                    for n in snap["nodes"]
                )

            def nodes(node: HbeatNode = node) -> object:
                try:
                    return node.snapshot()["nodes"]
                except DaemonUnreachable as exc:
                    return exc

            wait_for(all_up, timeout, what=f"{name}: every node active, every link up",
                     describe=nodes,
                     ignore=(DaemonUnreachable,))


def proc_state(pid: int) -> str | None:
    """The state letter of a process (R, S, T, Z, ...), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def exited(pids: Iterable[int]) -> bool:
    """Every pid is gone or a zombie (it exited; nobody reaped it yet)."""
    return all(proc_state(p) in (None, "Z", "X") for p in pids)
