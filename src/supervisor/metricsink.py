"""What the supervisor calls to count metrics, and the sink it uses when
ha.cf asks for none.

`MetricsSink` is the interface of `supervisor.metrics.Metrics` (the
prometheus_client registry, docs/metrics.md). When neither `metrics` nor
`metrics_textfile` is set nothing can ever read the counts, so the
supervisor uses `NoMetrics`, whose calls do nothing, and never imports
prometheus_client (a few MiB of memory in a process that lives for months).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol


class MetricsSink(Protocol):
    def serve(self, address: str, port: int) -> None: ...
    def write_textfile(self, path: str) -> None: ...
    def on_node(self, node: str, state: str) -> None: ...
    def on_ping_node(self, node: str, up: bool) -> None: ...
    def on_link(self, node: str, link: str, state: str) -> None: ...
    def on_keepalive_sent(self, medium: str, late_us: int) -> None: ...
    def on_rejected(self, medium: str, reason: str, count: int = 1) -> None: ...
    def on_node_dead(self, now_ms: int) -> None: ...
    def on_node_back(self) -> None: ...
    def on_group(self, group: str, new: str, now_ms: int) -> None: ...
    def on_monitor(self, group: str, event: str) -> None: ...
    def on_script_start(self, op_id: int, script: str, action: str, now_ms: int) -> None: ...
    def on_script_done(self, op_id: int, failed: bool, now_ms: int) -> None: ...


class NoMetrics:
    """Counts nothing: no metrics output is configured."""

    def serve(self, address: str, port: int) -> None:
        raise OSError("metrics are not configured")

    def write_textfile(self, path: str) -> None:
        raise OSError("metrics are not configured")

    def on_node(self, node: str, state: str) -> None:
        pass

    def on_ping_node(self, node: str, up: bool) -> None:
        pass

    def on_link(self, node: str, link: str, state: str) -> None:
        pass

    def on_keepalive_sent(self, medium: str, late_us: int) -> None:
        pass

    def on_rejected(self, medium: str, reason: str, count: int = 1) -> None:
        pass

    def on_node_dead(self, now_ms: int) -> None:
        pass

    def on_node_back(self) -> None:
        pass

    def on_group(self, group: str, new: str, now_ms: int) -> None:
        pass

    def on_monitor(self, group: str, event: str) -> None:
        pass

    def on_script_start(self, op_id: int, script: str, action: str, now_ms: int) -> None:
        pass

    def on_script_done(self, op_id: int, failed: bool, now_ms: int) -> None:
        pass


def make_metrics(wanted: bool, nodes: tuple[str, ...], groups: tuple[str, ...],
                 counters: Callable[[], Mapping[str, int]],
                 ping_nodes: tuple[str, ...] = ()) -> MetricsSink:
    """The prometheus_client registry when an output is configured (`wanted`),
    imported only then; `NoMetrics` otherwise."""
    if not wanted:
        return NoMetrics()
    from supervisor.metrics import Metrics

    return Metrics(nodes, groups, counters, ping_nodes)
