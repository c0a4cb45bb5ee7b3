"""hbeat.statusview: snapshots and feed messages rendered as text (pure, no daemon)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from hbeat.statusview import (
    ViewError,
    check_snapshot,
    event_text,
    format_duration,
    json_line,
    parse_feed_message,
    render_event,
    render_status,
)

AT = 1_795_582_874.25  # 2026-11-25 05:01:14.250 UTC


def snapshot(**changes: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "schema": "hbeat.status/1", "at": AT, "local": "otter", "version": "0.1.0",
        "hbversion": "3.0.6 (node: hbeat-0.1.0)", "managed_by": "haresources",
        "local_status": "active", "generation": 7, "pid": 1234, "started": AT - 3725,
        "nodes": [
            {"name": "otter", "status": "active", "type": "normal", "weight": 100, "site": "",
             "links": [{"name": "/dev/ttyS0", "status": "dead"},
                       {"name": "eth1", "status": "dead"}]},
            {"name": "weasel", "status": "dead", "type": "normal", "weight": 100, "site": "",
             "links": [{"name": "/dev/ttyS0", "status": "up"},
                       {"name": "eth1", "status": "dead"}]},
        ],
        "parameters": {"deadtime": "10"},
        "resources": {"held": "local"},
        "workers": [{"name": "bcast eth1", "pid": 1240, "state": "running", "restarts": 2}],
        "counters": {"rx_frames": 12, "rx_rejected": 1},
    }
    snap.update(changes)
    return snap


def event(**fields: Any) -> dict[str, Any]:
    return {"schema": "hbeat.event/1", "at": AT, **fields}


def test_render_status_summary() -> None:
    text = render_status(snapshot(), now=AT)
    assert text.splitlines() == [
        "hbeat 0.1.0 on otter: active   generation 7   pid 1234   up 1h 02m 05s",
        "  speaks heartbeat 3.0.6 (node: hbeat-0.1.0), haresources mode",
        "",
        "NODE           STATUS  TYPE    LINKS",
        "otter (local)  active  normal  /dev/ttyS0 dead, eth1 dead",
        "weasel         dead    normal  /dev/ttyS0 up, eth1 dead",
        "",
        "WORKER      PID   STATE    RESTARTS",
        "bcast eth1  1240  running  2",
        "",
        "counters: rx_frames 12, rx_rejected 1",
        "resources held: local",
    ]


def test_render_status_without_start_time_or_workers() -> None:
    snap = snapshot(workers=[], counters={})
    del snap["started"]
    text = render_status(snap, now=AT)
    assert "   up unknown" in text.splitlines()[0]
    assert "WORKERS: none" in text and "counters: none" in text


def test_counters_wrap_under_80_columns() -> None:
    counters = {f"counter_number_{i}": i * 1000 for i in range(12)}
    lines = render_status(snapshot(counters=counters), now=AT).splitlines()
    block = [ln for ln in lines if ln.startswith(("counters:", "          "))]
    assert len(block) > 1 and all(len(ln) <= 80 for ln in block), block
    assert " ".join(block).count("counter_number_") == 12


@pytest.mark.parametrize(("seconds", "text"), [
    (-3, "0s"), (45.9, "45s"), (187, "3m 07s"), (7387, "2h 03m 07s"), (353_000, "4d 02h 03m"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("snap", "message"), [
    ([], "expected a JSON object, got list"),
    (snapshot(schema="hbeat.status/2"), "schema is 'hbeat.status/2'"),
    ({k: v for k, v in snapshot().items() if k != "nodes"}, "field 'nodes' is missing"),
    (snapshot(nodes={}), "field 'nodes' must be a list"),
    (snapshot(nodes=[{"name": "otter"}]), "nodes[0] needs 'name' and 'status'"),
    (snapshot(counters=[]), "field 'counters' must be an object"),
])
def test_bad_snapshots_are_named(snap: Any, message: str) -> None:
    with pytest.raises(ViewError) as err:
        render_status(snap, now=AT)
    assert message in str(err.value)


def test_minor_schema_versions_are_read() -> None:
    assert check_snapshot(snapshot(schema="hbeat.status/1.3"))["local"] == "otter"


@pytest.mark.parametrize(("topic", "body", "text"), [
    ("node.weasel", event(node="weasel", old="active", new="dead", reason=""),
     "node weasel: is dead"),
    ("node.weasel", event(node="weasel", old="active", new="dead",
                          reason="no keepalive on any link for 3000 ms (deadtime)"),
     "node weasel: is dead (no keepalive on any link for 3000 ms (deadtime))"),
    ("node.weasel", event(node="weasel", old="up", new="active", reason=""),
     "Status update for node weasel: status active"),
    ("node.otter", event(node="otter", old="up", new="active", reason=""),
     "Local status now set to: 'active'"),
    ("link.weasel.eth1", event(node="weasel", link="eth1", old="dead", new="up"),
     "Link weasel:eth1 up."),
    ("link.weasel./dev/ttyS0", event(node="weasel", link="/dev/ttyS0", old="up", new="dead"),
     "Link weasel:/dev/ttyS0 dead."),
    ("cluster.comm-up", event(event="comm-up"), "Comm_now_up(): updating status to active"),
    ("cluster.partition", event(event="partition", node="weasel"),
     "Cluster node weasel returning after partition."),
    ("cluster.peer-restarted",
     event(event="peer-restarted", node="weasel", old_generation=3, new_generation=4),
     "Heartbeat restart on node weasel (generation 3 -> 4)"),
    ("cluster.rejected-packets",
     event(event="rejected-packets", medium="bcast eth1", total=9, lost=0,
           counts=[{"code": "BAD_AUTH", "peer": "10.0.0.9:694", "count": 7, "example": "x"},
                   {"code": "TRUNCATED", "peer": "10.0.0.8:694", "count": 2, "example": "y"}]),
     "rejected packets on bcast eth1: 7 BAD_AUTH from 10.0.0.9:694, 2 TRUNCATED from "
     "10.0.0.8:694 (total 9)"),
    ("cluster.node-dead", event(event="node-dead", node="weasel"),
     "Membership: node weasel left the cluster (dead)"),
    ("cluster.brand-new", event(event="brand-new", x=1), 'cluster brand-new: {"x": 1}'),
    ("resource.web", event(group="web", old="stopped", new="running", node="otter"),
     "resource group web: stopped -> running on otter"),
])
def test_event_text_in_heartbeats_words(topic: str, body: dict[str, Any], text: str) -> None:
    assert event_text(topic, body, local="otter") == text


def test_render_event_uses_the_event_time() -> None:
    line = render_event("link.weasel.eth1", event(node="weasel", link="eth1", old="up",
                                                  new="dead"), tz=dt.UTC)
    assert line == "05:01:14.250 Link weasel:eth1 dead."
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert render_event("cluster.comm-up", event(event="comm-up"), tz=plus2).startswith(
        "07:01:14.250 ")
    no_at = {"schema": "hbeat.event/1", "event": "comm-up"}
    assert render_event("cluster.comm-up", no_at, received=AT + 1, tz=dt.UTC).startswith(
        "05:01:15.250 ")


def test_snapshot_message_is_one_line() -> None:
    assert event_text("snapshot", snapshot()) == (
        "snapshot: otter active; nodes otter active, weasel dead")


@pytest.mark.parametrize(("topic", "body", "message"), [
    ("node.weasel", {"schema": "hbeat.event/2", "node": "weasel", "new": "dead"},
     "schema is 'hbeat.event/2'"),
    ("node.weasel", event(node="weasel"), "field 'new' is missing"),
    ("link.weasel.eth1", event(node="weasel", new="up"), "field 'link' is missing"),
    ("cluster.x", event(), "field 'event' is missing"),
])
def test_bad_events_are_named(topic: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewError) as err:
        event_text(topic, body)
    assert message in str(err.value) and topic in str(err.value)


def test_json_line_round_trips() -> None:
    body = event(node="weasel", old="active", new="dead", reason="")
    line = json_line("node.weasel", body)
    assert "\n" not in line
    assert json.loads(line) == {"topic": "node.weasel", "body": body}


def test_parse_feed_message() -> None:
    assert parse_feed_message([b"cluster.comm-up", b'{"event": "comm-up"}']) == (
        "cluster.comm-up", {"event": "comm-up"})
    for parts, message in [
        ([b"x"], "1 frame(s), expected 2"),
        ([b"\xff", b"{}"], "topic is not UTF-8"),
        ([b"node.a", b"{nope"], "'node.a': body is not JSON"),
        ([b"node.a", b"[1]"], "'node.a': body must be a JSON object"),
    ]:
        with pytest.raises(ViewError) as err:
            parse_feed_message(parts)
        assert message in str(err.value)


def test_render_status_lists_resource_groups() -> None:
    groups = [
        {"key": "drbddisk::r0", "node": "weasel", "state": "running",
         "resources": ["drbddisk::r0", "LVM::vg0", "10.0.0.100"]},
        {"key": "Probe::a", "node": "otter", "state": "stop-failed", "resources": ["Probe::a"]},
    ]
    lines = render_status(snapshot(resources={"held": "all", "groups": groups}), now=AT)
    assert lines.splitlines()[-4:] == [
        "resources held: all",
        "  GROUP         HOME    STATE HERE   RESOURCES",
        "  drbddisk::r0  weasel  running      drbddisk::r0 LVM::vg0 10.0.0.100",
        "  Probe::a      otter   stop-failed  Probe::a",
    ]


def test_render_status_shows_a_stuck_standby_and_shutdown() -> None:
    resources = {
        "held": "transition", "phase": "shutting-down", "shutdown_stuck": True,
        "peer": {"name": "weasel", "alive": True, "hold": "none", "stable": True},
        "standby": {"role": "asker", "which": "local", "stage": "wait_other",
                    "deadline_in_ms": 28_100},
        "job": "shutdown retry", "queued_jobs": ["audit"],
        "operation": {"job": "shutdown retry", "group": "IPaddr::10.0.0.9", "index": 1,
                      "resource": "apache::www", "action": "stop", "elapsed_ms": 125_000,
                      "deadline_in_ms": 0},
        "groups": [{"key": "IPaddr::10.0.0.9", "node": "otter", "state": "stop-failed",
                    "resources": ["IPaddr::10.0.0.9", "apache::www"],
                    "found": ["apache::www"]}],
    }
    lines = render_status(snapshot(resources=resources), now=AT).splitlines()
    tail = lines[lines.index("resources held: transition"):]
    assert tail == [
        "resources held: transition",
        "resources phase: shutting-down; job: shutdown retry; queued: audit",
        "  SHUTDOWN STUCK: a group failed to stop; retrying its stops "
        "(the peer cannot take it over safely)",
        "  standby: going standby (giving) local resources; stage wait_other "
        "(asked the peer, waiting for its go-ahead), gives up in 28.1 s",
        "  running: stop apache::www (group IPaddr::10.0.0.9, job shutdown retry) "
        "for 2m 05s of 2m 05s (PAST ITS DEADLINE)",
        "  peer weasel: alive, holds none, stable",
        "  GROUP             HOME   STATE HERE   RESOURCES                     PROBE FOUND",
        "  IPaddr::10.0.0.9  otter  stop-failed  IPaddr::10.0.0.9 apache::www  apache::www",
    ]


def test_render_status_quiet_resources_show_phase_only() -> None:
    resources = {"held": "local", "phase": "stable", "shutdown_stuck": False, "peer": None,
                 "standby": None, "job": None, "queued_jobs": [], "operation": None,
                 "groups": [{"key": "apache::www", "node": "otter", "state": "running",
                             "resources": ["apache::www"], "found": []}]}
    lines = render_status(snapshot(resources=resources), now=AT).splitlines()
    assert lines[lines.index("resources held: local"):] == [
        "resources held: local",
        "resources phase: stable",
        "  GROUP        HOME   STATE HERE  RESOURCES",
        "  apache::www  otter  running     apache::www",
    ]


def test_render_status_says_why_a_group_cannot_run_here() -> None:
    why = "Filesystem::/dev/sdb1::/srv::ext4 not installed (exit 5, OCF_ERR_INSTALLED)"
    groups = [{"key": "Filesystem::/dev/sdb1::/srv::ext4", "node": "otter", "state": "failed",
               "resources": ["Filesystem::/dev/sdb1::/srv::ext4"], "found": [],
               "cannot_run": why},
              {"key": "apache", "node": "otter", "state": "running", "resources": ["apache"],
               "found": [], "cannot_run": None}]
    lines = render_status(snapshot(resources={"held": "local", "groups": groups}), now=AT)
    assert lines.splitlines()[-1] == (
        f"  CANNOT RUN HERE: group Filesystem::/dev/sdb1::/srv::ext4: {why}")
    assert lines.count("CANNOT RUN HERE") == 1


def test_render_status_shows_resource_monitoring() -> None:
    watched = {"watched": True, "next_in_ms": 600, "failures": 0, "restarts": 0,
               "last_failure": None, "last_failure_elapsed_ms": None, "action": None}
    busy = {"watched": False, "next_in_ms": None, "failures": 2, "restarts": 2,
            "last_failure": "apache: not running", "last_failure_elapsed_ms": 1500,
            "action": "restarting"}
    groups = [
        {"key": "apache", "node": "otter", "state": "starting", "resources": ["apache"],
         "monitor": busy},
        {"key": "IPaddr::10.0.0.1", "node": "otter", "state": "running",
         "resources": ["IPaddr::10.0.0.1"], "monitor": watched},
    ]
    res = {"held": "transition", "groups": groups,
           "monitor": {"interval_ms": 1000, "restarts": 3, "window_ms": 600_000}}
    lines = render_status(snapshot(resources=res), now=AT).splitlines()
    assert "  monitor: every 1.0 s, up to 3 restart(s) within 10m 00s, then to the peer" in lines
    assert lines[-2].endswith("restarting; 2 failure(s), 2 restart(s) in window; last: "
                              "apache: not running, 1.5 s ago"), lines
    assert lines[-1].endswith("ok, next in 600 ms"), lines


def test_monitor_events_in_words() -> None:
    body = event(group="apache", event="restart", resource="apache", reason="restart 1 of 3",
                 restarts=1, node="otter")
    assert event_text("monitor.apache", body) == (
        "monitor of group apache: restart apache (restart 1 of 3); 1 restart(s) in window "
        "on otter")
