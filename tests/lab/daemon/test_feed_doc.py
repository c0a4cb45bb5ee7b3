"""docs/status-feed.md describes exactly what a live daemon emits.

A two-node cluster with one stand-in group (`apache::www`, home otter) whose
stop is slowed to 3 s: `hb_standby` on otter (asked while weasel's
supervisor is stopped for a moment, so the request waits) makes the resource manager's
standby exchange and running operation visible in otter's snapshot, and
`hbeat status` must show them in words; then weasel crashes, and otter's feed
says why weasel is dead. Every snapshot and feed message must follow the
page's field tables (tests/lab/daemon/schema.py reads them from the page), and
every documented field must have been seen (objects that may be null: seen
non-null at least once).
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from tests.harness import Lab, wait_for
from tests.harness.hbeatnode import HBEAT
from tests.lab.daemon.schema import check_event, check_snapshot, event_path, load_schema
from tests.lab.failover.cluster import HB_STANDBY, FailoverCluster
from tests.lab.failover.standins import steer

GROUP = "apache::www"
NODES = ("otter", "weasel")


def seen_fields(path: str, obj: Any, into: set[tuple[str, str]]) -> None:
    """Every (documented path, field) with a non-null value in `obj`."""
    objects = load_schema().objects
    if not isinstance(obj, dict) or path not in objects:
        return
    for name, value in obj.items():
        if value is None:
            continue
        into.add((path, name))
        if isinstance(value, dict):
            seen_fields(f"{path}.{name}", value, into)
        elif isinstance(value, list):
            for item in value:
                seen_fields(f"{path}.{name}[]", item, into)


def test_every_documented_field_is_emitted_and_nothing_else(lab: Lab) -> None:
    c = FailoverCluster(lab, f"otter {GROUP}\n", scripts=["apache"])
    c.start()
    c.wait_holders({GROUP: "otter"})
    seen: set[tuple[str, str]] = set()

    def snap_ok(name: str) -> dict[str, Any]:
        snap = c[name].snapshot()
        problems = check_snapshot(snap, nodes=NODES, media=["eth1"])
        assert problems == [], (name, problems)
        seen_fields("snapshot", snap, seen)
        return snap

    for name in NODES:
        snap_ok(name)

    # hb_standby while weasel's supervisor is frozen for a moment (its link
    # workers keep its keepalives going): otter waits for the go-ahead, with
    # a deadline. Then a slow stop: the exchange and the stop are visible.
    steer(c.control, "otter", GROUP, "stop", "sleep 3")
    os.kill(c["weasel"].pid, signal.SIGSTOP)
    try:
        assert c.run_on("otter", [HB_STANDBY, "all"]).returncode == 0
        asking = wait_for(lambda: (s := snap_ok("otter")["resources"]["standby"]) and s, 5,
                          what="otter's standby exchange")
        assert asking["stage"] == "wait_other" and asking["deadline_in_ms"] > 0, asking
    finally:
        os.kill(c["weasel"].pid, signal.SIGCONT)

    def stopping() -> dict[str, Any] | None:
        snap = snap_ok("otter")
        res = snap["resources"]
        return snap if res["operation"] is not None and res["standby"] is not None else None

    snap = wait_for(stopping, 10, what="otter's snapshot with the standby stop running")
    res = snap["resources"]
    assert res["standby"]["role"] == "asker" and res["standby"]["stage"] == "releasing", res
    op = res["operation"]
    assert (op["group"], op["resource"], op["action"]) == (GROUP, GROUP, "stop"), op
    assert op["job"] == "standby release" and res["peer"]["name"] == "weasel", res
    shown = subprocess.run([HBEAT, "status", "--runtime-dir", str(c["otter"].runtime_dir)],
                           capture_output=True, text=True, timeout=15)
    assert shown.returncode == 0, shown
    assert "standby: going standby (giving) all resources; stage releasing" in shown.stdout
    assert f"running: stop {GROUP} (group {GROUP}, job standby release) for " in shown.stdout
    snap_ok("weasel")
    c.wait_holders({GROUP: "weasel"})

    # A crash: otter's feed says weasel is dead, and why.
    feed = c.feeds["otter"]
    c.crash("weasel")
    dead = feed.wait_topic("node.weasel", 15, lambda b: b["new"] == "dead")
    assert dead["reason"].startswith("no keepalive on any link for "), dead
    feed.wait_topic("cluster.node-dead", 5)
    snap_ok("otter")

    for name in NODES:
        c.feeds[name].drain()
        for topic, body in c.feeds[name].events:
            if topic == "snapshot":
                assert check_snapshot(body, nodes=NODES, media=["eth1"]) == [], topic
                seen_fields("snapshot", body, seen)
                continue
            problems = check_event(topic, body)
            assert problems == [], (name, topic, body, problems)
            path = event_path(topic)
            assert path is not None
            seen_fields(path, body, seen)

    # STONITH needs a fencing device: tests/lab/fencing/test_stonith_lab.py emits
    # and checks those (fence.<node> events, snapshot.resources.fencing). A group
    # that cannot run on a node (`cannot_run`) needs an agent exiting 5: checked
    # against the page by tests/lab/exitcodes/test_cannot_run.py. Resource
    # monitoring needs `monitor` in ha.cf: tests/lab/monitor/ emits and checks those.
    documented = {(path, name) for path, fields in load_schema().objects.items()
                  for name in fields
                  if not path.startswith(("fence.", "snapshot.resources.fencing", "monitor.",
                                          "snapshot.resources.monitor",
                                          "snapshot.resources.groups[].monitor"))
                  and (path, name) not in {("snapshot.resources", "fencing"),
                                           ("snapshot.resources.groups[]", "cannot_run"),
                                           ("snapshot.resources", "monitor"),
                                           ("snapshot.resources.groups[]", "monitor")}}
    assert documented - seen == set(), "documented but never emitted"


def test_the_page_is_read_as_the_schema() -> None:
    schema = load_schema()
    assert schema.snapshot_schema == "hbeat.status/1.3"
    assert schema.event_schema == "hbeat.event/1.3"
    assert schema.objects["node.<name>"]["reason"] == "string"
    assert schema.cluster_events["peer-restarted"] == ("node", "old_generation", "new_generation")
    # a field the page does not list, a listed one missing, a wrong type: all reported
    body = {"schema": "hbeat.event/1.3", "at": 1.0, "node": "weasel", "old": "active",
            "new": "dead", "reason": "x", "extra": 1}
    assert check_event("node.weasel", body) == [
        "node.weasel: field 'extra' is not documented in status-feed.md"]
    del body["extra"], body["reason"]
    assert check_event("node.weasel", body) == [
        "node.weasel: documented field 'reason' is missing"]
    assert check_event("cluster.held", {"schema": "hbeat.event/1.3", "at": 1.0,
                                        "event": "held"}) == [
        "cluster.held: documented field 'held' of this event is missing"]
    assert check_event("link.weasel.eth1", {"schema": "hbeat.event/1.3", "at": "now",
                                            "node": "weasel", "link": "eth1", "old": "up",
                                            "new": "dead"}) == [
        "link.weasel.eth1.at = 'now' is not number"]
