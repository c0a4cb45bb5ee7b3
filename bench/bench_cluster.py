"""Cluster benchmarks as pytest-benchmark entry points: hbeat and heartbeat
3.0.6 side by side (keepalive jitter idle / loaded / `realtime on`, failover of
the fast profile, false deaths under 20% loss, steady-state cost).

Each entry point runs one short scenario once (`benchmark.pedantic`, one
round: the wall time pytest-benchmark shows is the scenario's, the figures are
in `extra_info` and printed). Lengths: $HBEAT_BENCH_SECONDS (default 30 s per
jitter/false-death run, 20 s cost window) and $HBEAT_BENCH_REPS (default 3
kills). The full-length tables in bench/README.md come from bench/run_all.py.

    .venv/bin/python -m pytest bench/bench_cluster.py --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cluster import report, scenarios  # noqa: E402
from bench.cluster.daemons import FAST, KINDS  # noqa: E402
from bench.cluster.load import Load  # noqa: E402

SECONDS = float(os.environ.get("HBEAT_BENCH_SECONDS", "30"))
REPS = int(os.environ.get("HBEAT_BENCH_REPS", "3"))


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("cluster benchmarks need root (network namespaces)")


def once(benchmark: Any, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = benchmark.pedantic(fn, rounds=1, iterations=1)
    return result


def wait(seconds: float) -> None:
    import time

    from tests.harness import wait_for

    end = time.monotonic() + seconds
    wait_for(lambda: time.monotonic() >= end, seconds + 5, interval=0.5, what="the run")


@pytest.mark.parametrize("condition", ["idle", "loaded", "realtime"])
@pytest.mark.parametrize("kind", KINDS)
def test_keepalive_jitter(benchmark: Any, kind: str, condition: str) -> None:
    def run() -> dict[str, Any]:
        load = Load() if condition != "idle" else None
        scen = scenarios.JitterScenario(f"{condition}/{kind}", kind,
                                        realtime=condition == "realtime")
        try:
            if load:
                load.start()
            scen.begin()
            wait(SECONDS)
            return scen.finish()
        finally:
            if load:
                load.stop()
            scen.close()

    res = once(benchmark, run)
    for node, figures in res["nodes"].items():
        benchmark.extra_info[f"{node}_p99_own_schedule_ms"] = report.schedule_p99(kind, figures)
        benchmark.extra_info[f"{node}_grid_p99_ms"] = figures["grid_p99_ms"]
        benchmark.extra_info[f"{node}_stdev_ms"] = figures["stdev_interval_ms"]
    print("\n" + "\n".join(report.jitter_table({f"{condition}/{kind}": res})))
    assert all(n["sends"] >= SECONDS * 0.8 for n in res["nodes"].values()), res["nodes"]


@pytest.mark.parametrize("kind", KINDS)
def test_failover_fast_profile(benchmark: Any, kind: str) -> None:
    def run() -> dict[str, Any]:
        scen = scenarios.FailoverScenario(f"fast/{kind}", kind, FAST, REPS)
        try:
            scen.run()
            return scen.finish()
        finally:
            scen.close()

    res = once(benchmark, run)
    benchmark.extra_info.update({f"detect_{k}": v for k, v in (res["detect"] or {}).items()})
    benchmark.extra_info.update({f"start_{k}": v for k, v in (res["start"] or {}).items()})
    print("\n" + "\n".join(report.failover_table({f"fast/{kind}": res})))
    assert res["reps"] >= 1, res["errors"]


@pytest.mark.parametrize("kind", KINDS)
def test_false_deaths_under_loss(benchmark: Any, kind: str) -> None:
    def run() -> dict[str, Any]:
        scen = scenarios.FalseDeathScenario(f"false-deaths/{kind}", kind, FAST)
        try:
            with Load():
                scen.begin()
                wait(SECONDS)
                return scen.finish()
        finally:
            scen.close()

    res = once(benchmark, run)
    benchmark.extra_info.update({k: res[k] for k in ("node_dead", "link_dead", "stonith_frames")})
    print("\n" + "\n".join(report.false_death_table({kind: res})))


@pytest.mark.parametrize("kind", KINDS)
def test_steady_state_cost(benchmark: Any, kind: str) -> None:
    def run() -> dict[str, Any]:
        scen = scenarios.JitterScenario(f"cost/{kind}", kind)
        try:
            scen.begin()
            return scen.measure_cost(min(SECONDS, 20.0))
        finally:
            scen.close()

    res = once(benchmark, run)
    total = sum(p["cpu_pct_ns"] for procs in res["nodes"].values() for p in procs)
    benchmark.extra_info["cpu_pct_both_nodes"] = total
    benchmark.extra_info["pss_mib_both_nodes"] = sum(
        p["pss_kb"] for procs in res["nodes"].values() for p in procs) / 1024
    print("\n" + "\n".join(report.cost_table({kind: res})))
    print(json.dumps(benchmark.extra_info))
