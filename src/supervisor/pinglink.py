"""The supervisor's side of the ping worker and of ipfail's decision.

It answers the ping worker's hello with its setup (hbeat/ipc/ping.py),
turns its `ping-state` reports into ping node states (`pingnodes`: log
lines, feed events, metrics), counts the nodes that answer for ipfail
(`ipfail`: the pure decision), sends our count to the peer and hands our
groups to it through the resource machine's standby, the path `hb_standby`
takes. It holds no socket and reads no clock: the daemon hands it the time
and a `Host` to act through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hbeat.config.model import ClusterConfig
from hbeat.ipc.bus import Fatal, Hello, Warn
from hbeat.ipc.ping import PING_WORKER, PingSetup, PingState, PingTarget, decode_ping_report
from hbeat.logfmt import Level
from linklayer.message import Field

from . import ipfail as ipf
from .messages import Envelope
from .pingnodes import PingNodes
from .rscactions import TRANSITION

# A ping node has one link, named as the node, as in heartbeat ("Link NAME:NAME up.").
_LINK = {"ping": "up", "dead": "dead"}

__all__ = ["PING_WORKER", "Host", "PingLink", "settle_ms"]


class Host(Protocol):
    """What the ping link needs of the supervisor."""

    def log(self, level: Level, text: str) -> None: ...
    def send_to_worker(self, name: str, parts: list[bytes]) -> None: ...
    def send_cluster(self, fields: tuple[Field, ...]) -> None: ...
    def ping_changed(self, node: str, old: str, new: str) -> None: ...
    def standby(self, which: str) -> None: ...
    def resources_state(self) -> tuple[bool, str] | None: ...


def settle_ms(keepalive_ms: int) -> int:
    """How long both counts must stay the same before ipfail acts: three
    keepalives (two nodes see a ping node die up to one echo interval
    apart, and the count then travels to the peer), at least one second.
    The deaths themselves have already waited deadping."""
    return max(1000, 3 * keepalive_ms)


class PingLink:
    def __init__(self, config: ClusterConfig, host: Host) -> None:
        self.config = config
        self.host = host
        hacf = config.hacf
        self.nodes = PingNodes(hacf.ping_nodes)
        self.setup = PingSetup(
            tuple(PingTarget(n.name, n.addresses) for n in hacf.ping_nodes),
            config.timers.keepalive_ms, config.timers.deadping_ms)
        self.pid = 0
        pair = config.resource_nodes
        self.ipfail: ipf.IpFail | None = None
        if hacf.ipfail_enabled and config.node_name in pair and len(pair) == 2:
            peer = next(n for n in pair if n != config.node_name)
            self.ipfail = ipf.IpFail(peer.lower(), len(hacf.ping_nodes),
                                     settle_ms(config.timers.keepalive_ms),
                                     hacf.auto_failback.value == "on")
        elif hacf.ipfail_enabled:
            host.log(Level.INFO, "ipfail: this node runs no resource groups of a pair: "
                                 "ping node counts are not compared here")

    def retime(self, keepalive_ms: int, deadping_ms: int) -> None:
        """New keepalive/deadping (a reload): the worker gets a new setup."""
        if (keepalive_ms, deadping_ms) == (self.setup.interval_ms, self.setup.deadping_ms):
            return
        self.setup = PingSetup(self.setup.targets, keepalive_ms, deadping_ms)
        if self.ipfail is not None:
            self.ipfail.settle_ms = settle_ms(keepalive_ms)
        if self.pid:
            self.host.send_to_worker(PING_WORKER, self.setup.encode())

    @property
    def enabled(self) -> bool:
        return bool(self.nodes.names)

    def on_message(self, parts: Sequence[bytes], now: int) -> None:
        """A message from the ping worker (BusError when malformed)."""
        report = decode_ping_report(parts)
        if isinstance(report, Hello):
            self.pid = report.pid
            self.host.send_to_worker(PING_WORKER, self.setup.encode())
        elif isinstance(report, PingState):
            change = self.nodes.update(report.node, report.up)
            if change is None:
                return
            for level, text in change.logs:
                self.host.log(level, text)
            if change.old != change.new:
                self.host.ping_changed(change.node, change.old, change.new)
            if self.ipfail is not None and self.nodes.decided():
                self._apply(self.ipfail.local_count(self.nodes.count(), now))
        else:
            level = Level.WARN if isinstance(report, Warn) else Level.ERROR
            self.host.log(level, report.error)
            if isinstance(report, Fatal):
                self.host.log(Level.ERROR, "ping: ping nodes keep their last state until "
                                           "the ping worker works again")

    def message(self, env: Envelope, now: int) -> None:
        """A cluster message from a peer (MessageError when ours and malformed)."""
        msg = ipf.parse(env)
        if msg is None or self.ipfail is None:
            return
        self._apply(self.ipfail.peer_count(msg, now))

    def peer_up(self, node: str) -> None:
        if self.ipfail is not None and node.lower() == self.ipfail.peer:
            self._apply(self.ipfail.peer_up())

    def peer_dead(self, node: str) -> None:
        if self.ipfail is not None and node.lower() == self.ipfail.peer:
            self.ipfail.peer_lost()

    def next_deadline(self) -> int | None:
        return self.ipfail.next_deadline() if self.ipfail is not None else None

    def tick(self, now: int) -> None:
        if self.ipfail is None:
            return
        due = self.ipfail.next_deadline()
        if due is None or now < due:
            return
        state = self.host.resources_state()
        if state is None:
            return
        stable, held = state
        self._apply(self.ipfail.tick(now, stable and held != TRANSITION, held))

    def _apply(self, actions: list[ipf.Action]) -> None:
        for action in actions:
            if isinstance(action, ipf.SendCount):
                self.host.send_cluster(action.fields)
            elif isinstance(action, ipf.GiveUp):
                self.host.standby(action.which)
            else:
                self.host.log(action.level, action.text)

    def snapshot_nodes(self) -> list[dict[str, Any]]:
        """Ping nodes as the snapshot lists them (docs/status-feed.md)."""
        return [{"name": name, "status": self.nodes.status[name], "type": "ping",
                 "weight": 100, "site": "",
                 "links": [{"name": name, "status": _LINK[self.nodes.status[name]]}]}
                for name in self.nodes.names]

    def snapshot_ipfail(self) -> dict[str, Any] | None:
        ipfail = self.ipfail
        if ipfail is None:
            return None
        return {"peer": ipfail.peer, "local_count": ipfail.local,
                "peer_count": ipfail.remote, "total": ipfail.total}

