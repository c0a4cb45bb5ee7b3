"""`supervisor.metrics.Metrics` on its own: the failover bookkeeping and the
membership counters, read back through prometheus_client's parser. (The
live endpoint: tests/lab/daemon/test_metrics.py.)"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.metrics import Metrics


def _failovers(m: Metrics) -> dict[str, float]:
    text = generate_latest(m.registry).decode()
    return {s.labels["group"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "hbeat_failovers" for s in f.samples if s.name.endswith("_total")}


def test_only_a_takeover_after_a_death_is_a_failover() -> None:
    m = Metrics(("otter", "weasel"), ("a", "b"), lambda: {"lost_packets": 3})
    m.on_group("a", "running", 0)        # start-up: not a failover
    m.on_node_dead(1000)                 # weasel dies; b was not running here
    m.on_group("b", "starting", 1100)
    m.on_group("b", "running", 1600)
    assert _failovers(m) == {"a": 0, "b": 1}
    m.on_node_back()
    m.on_group("b", "stopped", 2000)
    m.on_group("b", "running", 3000)     # handed back and forth without a death
    assert _failovers(m) == {"a": 0, "b": 1}
    text = generate_latest(m.registry).decode()
    assert "hbeat_failover_seconds_sum{group=\"b\"} 0.6" in text
    assert "hbeat_packets_lost_total 3.0" in text


def test_script_calls_are_timed_and_failures_counted() -> None:
    m = Metrics(("otter", "weasel"), ("a",), dict)
    m.on_script_start(1, "apache", "start", 1000)
    m.on_script_done(1, False, 1250)
    m.on_script_start(2, "apache", "stop", 2000)
    m.on_script_done(2, True, 2100)
    m.on_script_done(99, True, 3000)  # a result for no call we know: ignored
    text = generate_latest(m.registry).decode()
    assert 'hbeat_resource_script_seconds_sum{action="start",script="apache"} 0.25' in text
    assert 'hbeat_resource_script_failures_total{action="stop",script="apache"} 1.0' in text
    assert 'hbeat_resource_script_failures_total{action="start"' not in text


def test_monitor_events_are_counted_per_group() -> None:
    m = Metrics(("otter", "weasel"), ("a", "b"), dict)
    for event in ("failed", "restart", "restarted", "failed", "restart-here", "failed",
                  "handover", "ignored", "restart-failed"):
        m.on_monitor("a", event)
    text = generate_latest(m.registry).decode()
    values = {(f.name, s.labels["group"]): s.value
              for f in text_string_to_metric_families(text)
              if f.name.startswith("hbeat_monitor_") for s in f.samples
              if s.name.endswith("_total")}
    assert values == {
        ("hbeat_monitor_failures", "a"): 3, ("hbeat_monitor_failures", "b"): 0,
        ("hbeat_monitor_restarts", "a"): 2, ("hbeat_monitor_restarts", "b"): 0,
        ("hbeat_monitor_handovers", "a"): 1, ("hbeat_monitor_handovers", "b"): 0,
    }
