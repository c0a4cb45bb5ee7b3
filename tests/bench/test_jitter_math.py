"""The pure measurement code of the cluster benchmarks (bench/cluster/stats.py,
report.py, the probe-record reader): grid fit, percentiles, extra sends."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from bench.cluster import report, stats
from bench.cluster.daemons import read_probe_events

SEC = 1_000_000_000


def test_percentile_interpolates_like_numpy_linear() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 100) == 4.0
    assert stats.percentile(values, 50) == 2.5
    assert stats.percentile(values, 99) == pytest.approx(3.97)
    assert stats.percentile(list(range(101)), 99) == 99.0
    with pytest.raises(stats.StatsError, match="no values"):
        stats.percentile([], 50)
    with pytest.raises(stats.StatsError, match=r"0\.\.100"):
        stats.percentile([1.0], 101)


def test_grid_fit_recovers_offset_and_period_of_a_drifting_clock() -> None:
    period = 1_000_050_000  # the sender's second, seen by the capture's clock
    base = 1_700_000_000 * SEC + 123_456_789
    times = [base + 7_000 + k * period for k in range(300)]
    fit = stats.grid_fit(times, SEC)
    assert fit.period_ns == pytest.approx(period, abs=1e-3)
    assert max(fit.deviations_ns) < 1e-3
    assert fit.missed == 0


def test_grid_fit_measures_known_deviations_and_skips_missed_ticks() -> None:
    rng = random.Random(6)
    offsets = [rng.choice((-1, 1)) * rng.randrange(0, 200_000) for _ in range(200)]
    offsets[0] = offsets[-1] = 0  # keep the fitted line on the true grid...
    offsets = [o - round(sum(offsets) / len(offsets)) for o in offsets]
    ks = [k for k in range(205) if k not in (50, 51, 120, 121, 122)]
    times = [10 * SEC + k * SEC + off for k, off in zip(ks, offsets, strict=True)]
    fit = stats.grid_fit(times, SEC)
    assert fit.missed == 5
    assert list(fit.ticks) == ks
    # Deviations from the fitted grid are the injected offsets, up to the fit's own
    # tiny slope/offset error (well under a microsecond here).
    for dev, off in zip(fit.deviations_ns, offsets, strict=True):
        assert dev == pytest.approx(abs(off), abs=20_000)
    summary = stats.summarize_jitter(times, SEC)
    assert summary.missed == 5
    assert summary.grid_max_ms == pytest.approx(max(map(abs, offsets)) / 1e6, abs=0.02)
    assert summary.mean_interval_ms == pytest.approx(1000.0, abs=0.05)


def test_interval_deviation_is_what_a_relative_timer_accumulates() -> None:
    # heartbeat-style: each send 2 ms after the previous interval ends.
    times = [k * (SEC + 2_000_000) for k in range(50)]
    summary = stats.summarize_jitter(times, SEC)
    assert summary.interval_p99_ms == pytest.approx(2.0)
    assert summary.mean_interval_ms == pytest.approx(1002.0)
    assert summary.fitted_period_ms == pytest.approx(1002.0)  # the fit absorbs a steady drift
    assert summary.grid_max_ms == pytest.approx(0.0, abs=1e-6)


def test_same_tick_twice_is_an_error_unless_extras_are_dropped() -> None:
    times = [0, SEC, SEC + 7_000_000, 2 * SEC, 3 * SEC]
    with pytest.raises(stats.StatsError, match="sends 2 and 3 fall on the same tick"):
        stats.tick_numbers(times, SEC)
    kept, dropped = stats.drop_extra_sends(times, SEC)
    assert (kept, dropped) == ([0, SEC, 2 * SEC, 3 * SEC], 1)
    # An extra send just *before* the tick is the one dropped, too.
    early = [0, SEC, 2 * SEC - 5_000_000, 2 * SEC + 100, 3 * SEC]
    assert stats.drop_extra_sends(early, SEC) == ([0, SEC, 2 * SEC + 100, 3 * SEC], 1)


def test_latency_summary_and_ratio() -> None:
    summary = stats.summarize_latencies([10.0, 30.0, 20.0])
    assert (summary.n, summary.min_ms, summary.p50_ms, summary.max_ms) == (3, 10.0, 20.0, 30.0)
    assert stats.ratio(2.0, 10.0) == 5.0
    assert stats.ratio(0.0, 1.0) is None


def test_replace_section_keeps_the_rest_of_the_readme() -> None:
    readme = "# Benchmarks\n\ncodec text\n"
    once = report.replace_section(readme, "first")
    assert once.startswith(readme.rstrip()) and "first" in once
    twice = report.replace_section(once + "\ntrailer\n", "second")
    assert "first" not in twice and "second" in twice and twice.endswith("trailer\n")
    assert twice.count(report.BEGIN) == 1


def test_probe_records_parse_and_bad_lines_are_named(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.write_text("1700000000.000000123 otter svc1 start\n1700000001.5 weasel svc1 stop\n")
    parsed = read_probe_events(events)
    assert [(e.time_ns, e.node, e.action) for e in parsed] == [
        (1_700_000_000_000_000_123, "otter", "start"),
        (1_700_000_001_500_000_000, "weasel", "stop"),
    ]
    events.write_text("1700000000.1 otter svc1 start\ngarbage\n")
    with pytest.raises(ValueError, match=r"events:2: not '<s.ns> <node> <name> <action>'"):
        read_probe_events(events)
    assert read_probe_events(tmp_path / "missing") == []
