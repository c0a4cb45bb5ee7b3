"""bench/cluster/gridlimit.c and .py: the machine's limit for a keepalive
sender (built with gcc, run for a few ticks), and the report's tables that
judge the daemons against it and time the operations."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.cluster import gridlimit, report

from tests.harness.requirements import require_commands


def test_gridlimit_keeps_an_absolute_grid() -> None:
    require_commands("gcc")
    exe = gridlimit.build(Path(tempfile.mkdtemp(prefix="hbeat-gridlimit-test-")))
    period = 20_000_000
    run = gridlimit.GridLimit(exe, realtime=False, interval_ns=period, ticks=12, skip=1)
    res = run.finish(timeout=30)
    assert res["sends"] == 11 and res["missed"] == 0
    assert abs(res["fitted_period_ms"] - period / 1e6) < 0.5
    # The stamps are taken after the spin: never before the tick (well within
    # a tick of it on any machine this runs on).
    assert res["grid_max_ms"] < period / 1e6


def _jitter(p99: float) -> dict[str, object]:
    return {"nodes": {"otter": {"grid_p99_ms": p99, "interval_p99_ms": p99}}}


def test_limit_table_gives_each_daemon_its_ratio_to_the_limit() -> None:
    jitter = {"realtime/hbeat": _jitter(0.06), "realtime/heartbeat": _jitter(9.0)}
    limit = {"realtime": {"grid_p99_ms": 0.05, "grid_max_ms": 0.1,
                          "wire": {"grid_p99_ms": 0.04, "grid_max_ms": 0.2}}}
    rows = report.limit_table(jitter, limit)[2:]
    assert len(rows) == 2
    assert "| hbeat | otter | 0.060 | 1.50x | ≤ 1.5x | yes |" in rows[0]
    assert "0.040 / 0.200 (0.050 / 0.100)" in rows[0]
    assert "| heartbeat | otter | 9.000 | 225.00x | ≤ 1.5x | - |" in rows[1]
    jitter["realtime/hbeat"] = _jitter(0.07)
    assert "**no**" in report.limit_table(jitter, limit)[2]


def test_ops_table_lists_every_operation_for_both_daemons() -> None:
    op = {"n": 2, "p50_ms": 61.6, "max_ms": 112.2}
    rows = report.ops_table({"hbeat": {"ops": {"handover": op}, "errors": []},
                             "heartbeat": {"ops": {}, "errors": ["boom"]}})
    handover = next(r for r in rows if r.startswith("| handover"))
    assert handover.endswith("| 62 / 112 | n/a | 2, 0 |")
    assert len([r for r in rows if r.startswith("| ")]) == 1 + len(report.OPS)
    assert rows[-1] == "\nheartbeat: boom"
