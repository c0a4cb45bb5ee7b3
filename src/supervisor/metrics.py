"""Prometheus metrics of one node: what the supervisor sees, counted.

`Metrics` owns a private prometheus_client registry. The supervisor calls
its small `on_*` methods from its loop (node and link state changes,
keepalives sent with their lateness, rejected packets, failovers, resource
script runs); membership's own counters (lost, dropped packets) are read
when scraped. `serve` starts prometheus_client's HTTP server in its own
thread (the loop never waits on a scraper); `write_textfile` writes the
same text for node_exporter's textfile collector (atomically, by rename).
Every metric is documented in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Histogram,
    disable_created_metrics,
    start_http_server,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from supervisor.membership import ACTIVE, DEAD, INIT, LINK_DEAD, LINK_UP, UP
from supervisor.rscactions import RUNNING

NODE_STATES = (INIT, UP, ACTIVE, DEAD)
PING_NODE_STATES = ("ping", "dead")
LINK_STATES = (LINK_UP, LINK_DEAD)
# Keepalive lateness: a well-behaved link sends within a fraction of a millisecond.
LATENESS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0)
FAILOVER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
SCRIPT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# membership's counters (supervisor.sequencing.Counters) exported as reasons
DROP_REASONS = ("duplicates", "replays", "stale", "not_for_us", "malformed", "unknown_node")


class _MembershipCollector(Collector):
    def __init__(self, counters: Callable[[], Mapping[str, int]]) -> None:
        self.counters = counters

    def describe(self) -> Iterator[Metric]:
        """The families without reading the counters (they may not exist yet)."""
        return self._families({})

    def collect(self) -> Iterator[Metric]:
        return self._families(dict(self.counters()))

    def _families(self, counts: Mapping[str, int]) -> Iterator[Metric]:
        lost = CounterMetricFamily(
            "hbeat_packets_lost", "Sequence numbers never received from peers "
            "(gaps in their numbering)")
        lost.add_metric([], counts.get("lost_packets", 0))
        yield lost
        dropped = CounterMetricFamily(
            "hbeat_packets_dropped", "Authentic messages membership dropped, by reason",
            labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], counts.get(reason, 0))
        yield dropped
        received = CounterMetricFamily("hbeat_messages_received",
                                       "Authentic messages received from the cluster")
        received.add_metric([], counts.get("received", 0))
        yield received
        late = CounterMetricFamily("hbeat_late_heartbeats",
                                   "Peer keepalives that came after warntime")
        late.add_metric([], counts.get("late_heartbeats", 0))
        yield late


class Metrics:
    def __init__(self, nodes: tuple[str, ...], groups: tuple[str, ...],
                 counters: Callable[[], Mapping[str, int]],
                 ping_nodes: tuple[str, ...] = ()) -> None:
        # no `_created` series: timestamps of label creation are noise here
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.node_state = Enum("hbeat_node_state", "Membership state of each node",
                               ["node"], states=list(NODE_STATES), registry=r)
        for node in nodes:
            self.node_state.labels(node).state("init")
        self.ping_node_state = Enum(
            "hbeat_ping_node_state", "State of each ping node (ping, ping_group) of ha.cf",
            ["node"], states=list(PING_NODE_STATES), registry=r)
        for node in ping_nodes:
            self.ping_node_state.labels(node).state("dead")  # as heartbeat: until it answers
        self.link_state = Enum("hbeat_link_state", "State of each (node, link) pair",
                               ["node", "link"], states=list(LINK_STATES), registry=r)
        self.lateness = Histogram(
            "hbeat_keepalive_lateness_seconds",
            "How long after its scheduled time each keepalive was written, per medium",
            ["medium"], buckets=LATENESS_BUCKETS, registry=r)
        self.rejected = Counter(
            "hbeat_packets_rejected", "Packets the link layer rejected, by medium and reason",
            ["medium", "reason"], registry=r)
        self.failovers = Counter(
            "hbeat_failovers", "Groups this node started because their holder died",
            ["group"], registry=r)
        self.failover_seconds = Histogram(
            "hbeat_failover_seconds",
            "From the peer declared dead to the group running here",
            ["group"], buckets=FAILOVER_BUCKETS, registry=r)
        self.script_seconds = Histogram(
            "hbeat_resource_script_seconds", "Resource script run times",
            ["script", "action"], buckets=SCRIPT_BUCKETS, registry=r)
        self.script_failures = Counter(
            "hbeat_resource_script_failures",
            "Resource script calls that failed (the executor's verdict), timed out "
            "or were killed", ["script", "action"], registry=r)
        self.monitor_failures = Counter(
            "hbeat_monitor_failures", "Monitor probes that found a resource of the group "
            "not running here (or got no answer)", ["group"], registry=r)
        self.monitor_restarts = Counter(
            "hbeat_monitor_restarts", "Restarts in place after a monitor failure", ["group"],
            registry=r)
        self.monitor_handovers = Counter(
            "hbeat_monitor_handovers", "Groups handed to the peer after too many monitor "
            "failures here", ["group"], registry=r)
        self.groups = groups
        for group in groups:
            self.failovers.labels(group)
            for counter in (self.monitor_failures, self.monitor_restarts,
                            self.monitor_handovers):
                counter.labels(group)
        r.register(_MembershipCollector(counters))
        self._running: set[str] = set()
        self._pending: dict[str, int] = {}  # group -> ms when its holder was declared dead
        self._scripts: dict[int, tuple[str, str, int]] = {}

    # --- outputs ------------------------------------------------------------

    def serve(self, address: str, port: int) -> None:
        """prometheus_client's HTTP server, in a daemon thread; raises OSError."""
        start_http_server(port, addr=address, registry=self.registry)

    def write_textfile(self, path: str) -> None:
        write_to_textfile(path, self.registry)

    # --- events -------------------------------------------------------------

    def on_node(self, node: str, state: str) -> None:
        if state in NODE_STATES:
            self.node_state.labels(node).state(state)

    def on_ping_node(self, node: str, up: bool) -> None:
        self.ping_node_state.labels(node).state("ping" if up else "dead")

    def on_link(self, node: str, link: str, state: str) -> None:
        if state in LINK_STATES:
            self.link_state.labels(node, link).state(state)

    def on_keepalive_sent(self, medium: str, late_us: int) -> None:
        self.lateness.labels(medium).observe(max(0, late_us) / 1e6)

    def on_rejected(self, medium: str, reason: str, count: int = 1) -> None:
        self.rejected.labels(medium, reason).inc(count)

    def on_node_dead(self, now_ms: int) -> None:
        """The peer died: every group not running here may now be failed over."""
        for group in self.groups:
            if group not in self._running:
                self._pending.setdefault(group, now_ms)

    def on_node_back(self) -> None:
        self._pending.clear()

    def on_group(self, group: str, new: str, now_ms: int) -> None:
        if new == RUNNING:
            self._running.add(group)
            started = self._pending.pop(group, None)
            if started is not None:
                self.failovers.labels(group).inc()
                self.failover_seconds.labels(group).observe(max(0, now_ms - started) / 1000)
        else:
            self._running.discard(group)

    def on_monitor(self, group: str, event: str) -> None:
        """A `MonitorEvent` (docs/resources.md, "Monitoring")."""
        counter = {"failed": self.monitor_failures, "restart": self.monitor_restarts,
                   "restart-here": self.monitor_restarts,
                   "handover": self.monitor_handovers}.get(event)
        if counter is not None:
            counter.labels(group).inc()

    def on_script_start(self, op_id: int, script: str, action: str, now_ms: int) -> None:
        self._scripts[op_id] = (script, action, now_ms)

    def on_script_done(self, op_id: int, failed: bool, now_ms: int) -> None:
        """`failed`: the executor's verdict was `failed`, or the call timed out."""
        started = self._scripts.pop(op_id, None)
        if started is None:
            return
        script, action, at = started
        self.script_seconds.labels(script, action).observe(max(0, now_ms - at) / 1000)
        if failed:
            self.script_failures.labels(script, action).inc()
