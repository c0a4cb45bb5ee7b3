"""hbeat/journalview.py: decisions from entries, selection, --since, the text and JSON forms."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from hbeat.ipc.journal import Entry, Kind, make_entry
from hbeat.journalview import decisions, parse_since, render, select, to_json

T0 = 1_800_000_000.0


def failover() -> list[Entry]:
    """weasel dies; otter fences it and starts the group; one start failed earlier."""
    e = [
        make_entry(1, T0, Kind.STARTUP, 1, "generation 7"),
        make_entry(2, T0 + 1, Kind.SCRIPT, 1, detail={
            "resource": "LVM::vg0", "action": "start", "rc": 1, "verdict": "failed",
            "duration_ms": 120}),
        make_entry(3, T0 + 1.2, Kind.GROUP, 1, group="g", detail={
            "old": "starting", "new": "failed", "why": "startup"}),
        make_entry(4, T0 + 100, Kind.NODE_DEAD, 0, "no keepalive on any link for 4000 ms "
                   "(deadtime)", node="weasel", detail={
                       "links": {"eth1": {"ago_ms": 4010}, "/dev/ttyS0": {"ago_ms": None}}}),
        make_entry(5, T0 + 101.5, Kind.FENCE, 4, node="weasel", detail={
            "plugin": "external/ipmi", "rc": 0, "duration_ms": 1500}),
        make_entry(6, T0 + 101.8, Kind.SCRIPT, 4, detail={
            "resource": "drbddisk::r0", "action": "start", "rc": 0, "verdict": "ok",
            "duration_ms": 300}),
        make_entry(7, T0 + 101.9, Kind.GROUP, 4, group="g", detail={
            "old": "stopped", "new": "running", "why": "failover"}),
        make_entry(8, T0 + 200, Kind.REQUEST, 0, "hb_standby on otter (uid 0, pid 42)",
                   detail={"what": "standby", "which": "all", "by": "local"}),
        make_entry(9, T0 + 200.1, Kind.REFUSED, 8, "auto_failback legacy"),
    ]
    return e


def test_entries_group_into_decisions_in_order() -> None:
    found = decisions(failover())
    assert [(d.seq, len(d.steps)) for d in found] == [(1, 2), (4, 3), (8, 1)]


def test_a_decision_whose_cause_left_the_ring_is_still_shown() -> None:
    found = decisions(failover()[4:])
    assert found[0].cause is None and found[0].seq == 4
    assert "(the cause has left the journal)" in render(found)


def test_the_text_tells_the_cause_first_then_the_chain() -> None:
    text = render(decisions(failover())[1:2])
    lines = text.splitlines()
    clock = dt.datetime.fromtimestamp(T0 + 100).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert lines[0] == (f"{clock}  weasel declared dead: no keepalive on any link for "
                        "4000 ms (deadtime)")
    assert lines[1] == "    last keepalive: eth1 4.0 s before, /dev/ttyS0 never heard"
    assert lines[2] == "    +   1.5 s  fenced weasel with external/ipmi: ok in 1.5 s"
    assert lines[3] == "    +   1.8 s  drbddisk::r0 start: ok (exit 0, 0.3 s)"
    assert lines[4] == "    +   1.9 s  group g: running here (failover)"


def test_failed_starts_and_refusals_stand_out() -> None:
    text = render(decisions(failover()))
    assert "LVM::vg0 start: failed (exit 1, 0.1 s)" in text
    assert "group g: START FAILED (startup)" in text
    assert "standby [all] asked by hb_standby on otter (uid 0, pid 42)" in text
    assert "refused: auto_failback legacy" in text
    assert render([], node="otter") == "No decisions in the journal of otter.\n"


def test_a_fence_that_timed_out_and_a_script_that_timed_out() -> None:
    e = [make_entry(1, T0, Kind.NODE_DEAD, 1, "x", node="w"),
         make_entry(2, T0, Kind.FENCE, 1, node="w", detail={"plugin": "p", "rc": None,
                                                              "duration_ms": 30000}),
         make_entry(3, T0, Kind.SCRIPT, 1, detail={"resource": "r", "action": "stop",
                                                     "rc": None, "verdict": "failed",
                                                     "duration_ms": 90000})]
    text = render(decisions(e))
    assert "fenced w with p: FAILED (timed out or not run) in 30.0 s" in text
    assert "r stop: failed (timed out, 1.5 min)" in text


def test_json_is_stable_and_complete() -> None:
    doc = to_json(decisions(failover()), node="otter", source="daemon")
    assert json.loads(json.dumps(doc)) == doc
    assert doc["version"] == 1 and doc["node"] == "otter" and doc["source"] == "daemon"
    d = doc["decisions"][1]
    assert (d["seq"], d["kind"], d["why"]) == (4, "node-dead", "failover")
    assert d["cause"]["detail"]["links"]["eth1"]["ago_ms"] == 4010
    assert [s["kind"] for s in d["steps"]] == ["fence", "script", "group"]
    assert doc["decisions"][2]["why"] == "standby"


def test_select_by_time_and_count() -> None:
    found = decisions(failover())
    assert [d.seq for d in select(found, last=2)] == [4, 8]
    assert [d.seq for d in select(found, since=T0 + 50)] == [4, 8]
    assert [d.seq for d in select(found, since=T0 + 50, last=1)] == [8]
    assert select(found, last=0) == []


def test_since_forms() -> None:
    now = time.time()
    assert parse_since("30m", now) == pytest.approx(now - 1800)
    assert parse_since("2h", now) == pytest.approx(now - 7200)
    assert parse_since("1d", now) == pytest.approx(now - 86400)
    at = parse_since("03:12", now)
    assert 0 <= now - at < 86400
    assert dt.datetime.fromtimestamp(at).strftime("%H:%M:%S") == "03:12:00"
    day = parse_since("2026-01-02 03:04:05", now)
    assert dt.datetime.fromtimestamp(day).strftime("%Y-%m-%d %H:%M:%S") == "2026-01-02 03:04:05"
    assert parse_since("2026-01-02T03:04:05+00:00", now) == 1767323045.0
    with pytest.raises(ValueError, match="expected 30m, 2h"):
        parse_since("yesterday", now)


def test_monitoring_is_told() -> None:
    e = [make_entry(1, T0, Kind.MONITOR_FAILED, 1, "apache: not running", group="g"),
         make_entry(2, T0 + 0.1, Kind.MONITOR, 1, "restart 1 of 2", group="g",
                    detail={"event": "restart"})]
    text = render(decisions(e))
    assert "monitor of group g: apache: not running" in text
    assert "+   0.1 s  monitor restart: restart 1 of 2" in text
    assert to_json(decisions(e))["decisions"][0]["why"] == "monitor"
