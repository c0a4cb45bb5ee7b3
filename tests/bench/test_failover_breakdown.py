"""The failover breakdown of the cluster benchmarks (bench/cluster/scenarios.py
`takeover_steps` and `breakdown`, report.py `hops_table`): the survivor's
journal stamps and the wire times turned into the hops after the deadline."""

from __future__ import annotations

from typing import Any

import pytest
from bench.cluster import report
from bench.cluster.scenarios import BREAKDOWN, breakdown, takeover_steps

MS = 1_000_000
T = 1_796_446_136_000_000_000


def journal() -> list[dict[str, Any]]:
    return [
        {"seq": 3, "kind": "node-dead", "node": "weasel", "decision": 3,
         "detail": {"decided_ns": T - 20_000 * MS}},  # an earlier death, before the kill
        {"seq": 7, "kind": "node-dead", "node": "weasel", "decision": 7,
         "detail": {"decided_ns": T + 1 * MS}},
        {"seq": 8, "kind": "script", "decision": 6,  # another decision's call
         "detail": {"action": "status", "spawn_ns": T, "exit_ns": T + MS}},
        {"seq": 9, "kind": "script", "decision": 7,
         "detail": {"action": "status", "spawn_ns": T + 4 * MS, "exit_ns": T + 7 * MS}},
        {"seq": 10, "kind": "script", "decision": 7,
         "detail": {"action": "start", "spawn_ns": T + 8 * MS, "exit_ns": T + 12 * MS}},
        {"seq": 11, "kind": "script", "decision": 7,  # a second status: the first counts
         "detail": {"action": "status", "spawn_ns": T + 20 * MS, "exit_ns": T + 21 * MS}},
    ]


def test_the_steps_are_the_first_takeover_after_the_kill() -> None:
    assert takeover_steps(journal(), "weasel", T - 10_000 * MS) == {
        "decided": T + MS, "status_spawn": T + 4 * MS, "status_exit": T + 7 * MS,
        "start_spawn": T + 8 * MS, "start_exit": T + 12 * MS}
    assert takeover_steps(journal(), "otter", T - 10_000 * MS) == {}
    assert takeover_steps([], "weasel", 0) == {}


def test_a_status_left_out_of_the_journal_comes_with_its_start() -> None:
    """hbeat records a status call that finds the group stopped only through
    the start after it (docs/journal.md)."""
    entries = [e for e in journal() if e["seq"] not in (9, 11)]
    entries[-1]["detail"].update(status_spawn_ns=T + 4 * MS, status_exit_ns=T + 7 * MS)
    assert takeover_steps(entries, "weasel", T - 10_000 * MS) == {
        "decided": T + MS, "status_spawn": T + 4 * MS, "status_exit": T + 7 * MS,
        "start_spawn": T + 8 * MS, "start_exit": T + 12 * MS}


def test_breakdown_of_one_kill() -> None:
    steps = takeover_steps(journal(), "weasel", T - 10_000 * MS)
    got = breakdown(T, T + 3 * MS, T + 10 * MS, steps)
    assert set(got) == set(BREAKDOWN)
    assert got == pytest.approx({
        "decision_ms": 1.0, "decision_to_wire_ms": 2.0, "decision_to_status_spawn_ms": 3.0,
        "status_own_ms": 3.0, "status_exit_to_start_spawn_ms": 1.0, "start_own_ms": 2.0,
        "scripts_own_ms": 5.0, "start_after_deadline_ms": 10.0, "start_net_ms": 5.0})


def test_missing_stamps_leave_their_hops_empty() -> None:
    got = breakdown(T, None, T + 10 * MS, {})
    assert got["start_after_deadline_ms"] == pytest.approx(10.0)
    assert all(got[k] is None for k in BREAKDOWN if k != "start_after_deadline_ms")


def summary(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99, "max_ms": p99}


def test_hops_table_judges_the_targets_on_p99() -> None:
    res = {"overshoot": summary(1.0, 1.9),
           "breakdown": {"start_net_ms": summary(5.0, 10.5), "decision_ms": summary(0.1, 0.2)}}
    lines = report.hops_table({"fast/hbeat": res, "fast/heartbeat": {"breakdown": {}}})
    assert lines[0] == "| hop | fast p50 / p99 / max ms |"
    assert "| deadline -> decision | 0.10 / 0.20 / 0.20 |" in lines
    assert lines[-1] == ("fast: detection p99 deadtime + 1.90 ms (target + 2: met), start p99 "
                         "deadtime + 10.50 ms + the scripts' own time (target + 10: "
                         "**not met**).")
    assert report.hops_table({}) == []


def test_failover_table_judges_the_current_targets() -> None:
    def res(detect_p99: float, net_p99: float | None) -> dict[str, Any]:
        return {"deadtime_ms": 500, "reps": 3, "detect": summary(501.0, 500 + detect_p99),
                "start": summary(510.0, 530.0),
                "breakdown": {} if net_p99 is None else {"start_net_ms": summary(5.0, net_p99)}}

    rows = report.failover_table({"fast/hbeat": res(1.9, 9.9)})
    assert "| ≤ 502 | yes |" in rows[2] and "| ≤ 510 + scripts | yes |" in rows[2]
    rows = report.failover_table({"fast/hbeat": res(2.1, 10.1)})
    assert "| ≤ 502 | **no** |" in rows[2] and "| ≤ 510 + scripts | **no** |" in rows[2]
    rows = report.failover_table({"fast/hbeat": res(1.0, None)})  # no journal stamps
    assert "| ≤ 510 + scripts | - |" in rows[2]
