"""The supervisor's view of ha.cf's ping nodes (pure: no I/O, no clock).

A ping node (`ping HOST`, named by its address) or ping group (`ping_group
NAME HOST...`, named NAME) is a pseudo-member as in heartbeat 3.0.6
(docs/heartbeat-protocol.md §7): type `ping`, status `ping` while it
answers and `dead` otherwise, also before its first answer (heartbeat 3.0.6
shows an unanswered ping node `dead` from the start). `decided` tells
whether the worker has given every node a verdict yet, which ipfail waits
for. `update` takes the worker's report and returns the log lines heartbeat
writes for the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.config.model import PingNode
from hbeat.logfmt import Level

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
        self.status = dict.fromkeys(self.hosts, DEAD)
        self.reported: set[str] = set()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.hosts)

    def count(self) -> int:
        """How many ping nodes answer now (what ipfail counts)."""
        return sum(1 for st in self.status.values() if st == UP)

    def decided(self) -> bool:
        """The worker has given every ping node a verdict."""
        return self.reported >= set(self.hosts)

    def update(self, node: str, up: bool) -> Change | None:
        """The worker's report; None when it names no ping node or tells
        nothing new (a first verdict `dead` is news: the node never answered)."""
        old = self.status.get(node)
        new = UP if up else DEAD
        first = node not in self.reported
        if old is None or (old == new and not first):
            return None
        self.reported.add(node)
        self.status[node] = new
        logs: tuple[tuple[Level, str], ...]
        if up:
            logs = ((Level.INFO, f"Link {node}:{node} up."),
                    (Level.INFO, f"Status update for node {node}: status ping"))
        elif old == new:
            logs = ((Level.WARN, f"node {node}: has not answered a ping since hbeat "
                                 "started: dead"),)
        else:
            logs = ((Level.WARN, f"node {node}: is dead"),
                    (Level.INFO, f"Link {node}:{node} dead."))
        return Change(node, old, new, logs)
