"""The supervisor's view of ha.cf's ping nodes (pure: no I/O, no clock).

A ping node (`ping HOST`, named by its address) or ping group (`ping_group
NAME HOST...`, named NAME) is a pseudo-member as in heartbeat 3.0.6
(docs/heartbeat-protocol.md §7): type `ping`, status `init` until the ping
worker has a verdict, then `ping` while it answers and `dead` once it has
not for `deadping`. `update` takes the worker's report and returns the log
lines heartbeat writes for the change and whether the status changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.config.model import PingNode
from hbeat.logfmt import Level

INIT = "init"
UP = "ping"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Change:
    node: str
    old: str
    new: str
    logs: tuple[tuple[Level, str], ...]


class PingNodes:
    def __init__(self, nodes: tuple[PingNode, ...]) -> None:
        self.hosts = {n.name: n.addresses for n in nodes}
        self.kind = {n.name: n.kind for n in nodes}
        self.status = dict.fromkeys(self.hosts, INIT)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.hosts)

    def count(self) -> int:
        """How many ping nodes answer now (what ipfail counts)."""
        return sum(1 for st in self.status.values() if st == UP)

    def decided(self) -> bool:
        """Every ping node has a verdict (none is still `init`)."""
        return all(st != INIT for st in self.status.values())

    def update(self, node: str, up: bool) -> Change | None:
        """The worker's report; None when it names no ping node or changes nothing."""
        old = self.status.get(node)
        new = UP if up else DEAD
        if old is None or old == new:
            return None
        self.status[node] = new
        logs: tuple[tuple[Level, str], ...]
        if up:
            logs = ((Level.INFO, f"Link {node}:{node} up."),
                    (Level.INFO, f"Status update for node {node}: status ping"))
        elif old == INIT:
            logs = ((Level.WARN, f"node {node}: has not answered a ping since hbeat "
                                 "started: dead"),)
        else:
            logs = ((Level.WARN, f"node {node}: is dead"),
                    (Level.INFO, f"Link {node}:{node} dead."))
        return Change(node, old, new, logs)
