"""The status feed of a running two-node cluster, heard by a ZeroMQ subscriber.

Two hbeat nodes (otter, weasel) in their own network namespaces, joined by
`bcast eth1` on the lab bridge and a socat null-modem cable at /run/ttyS0.
The test subscribes to both feeds before the daemons start and waits on
the events themselves: comm up, links up, the ethernet cut inside weasel
(`ip link set eth1 down`) and its repair, and a snapshot on request that
must match docs/status-feed.md.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import Lab
from tests.lab.daemon.cluster import DEADTIME_S, KEEPALIVE_S, SERIAL, Cluster
from tests.lab.daemon.schema import check_event, check_snapshot

NODES = ("otter", "weasel")
MEDIA = (SERIAL, "eth1")


def test_feed_follows_membership_and_links(lab_factory: Callable[..., Lab]) -> None:
    cluster = Cluster(lab_factory(2)).start()
    otter, weasel = cluster.feeds["otter"], cluster.feeds["weasel"]

    # Both nodes reach active, and each sees the other and its two links come up.
    for me, feed in cluster.feeds.items():
        peer = "weasel" if me == "otter" else "otter"
        feed.seen_or_wait("node", me, "active", timeout=20)
        feed.seen_or_wait("node", peer, "active", timeout=10)
        for link in MEDIA:
            feed.seen_or_wait("link", f"{peer}.{link}", "up", timeout=10)
    for feed in cluster.feeds.values():
        # comm-up is published right after the local node turns active; the
        # subscriber may not have read it yet, so wait for it like any event.
        if not any(m.topic == "cluster.comm-up" for m in feed.messages):
            feed.wait(lambda m: m.topic == "cluster.comm-up", 10, "cluster.comm-up")
        for m in feed.messages:
            if m.topic != "snapshot":
                assert check_event(m.topic, m.body) == [], m

    # Cut the ethernet inside weasel: each side sees only the eth1 link die.
    cluster.lab.cut("weasel")
    cut_seen = otter.wait_event("link", "weasel.eth1", "dead", timeout=DEADTIME_S + 3)
    weasel.wait_event("link", "otter.eth1", "dead", timeout=DEADTIME_S + 3)
    assert check_event(cut_seen.topic, cut_seen.body) == []
    for name, feed in cluster.feeds.items():
        dead_nodes = [m for m in feed.messages if m.topic.startswith("node.")
                      and m.body.get("new") == "dead"]
        assert dead_nodes == [], f"{name} saw a node die over a single link cut: {dead_nodes}"
        snap = cluster[name].snapshot()
        assert all(n["status"] == "active" for n in snap["nodes"]), snap["nodes"]

    # While cut, the serial link alone carries the cluster.
    peer_view = {n["name"]: n for n in cluster["otter"].snapshot()["nodes"]}["weasel"]
    assert {lk["name"]: lk["status"] for lk in peer_view["links"]} == {
        SERIAL: "up", "eth1": "dead"}

    # Repair: the link comes back up on both sides within a few keepalives.
    cluster.lab.restore("weasel")
    otter.wait_event("link", "weasel.eth1", "up", timeout=10 * KEEPALIVE_S + 3)
    weasel.wait_event("link", "otter.eth1", "up", timeout=10 * KEEPALIVE_S + 3)

    # A snapshot on request arrives on the feed and follows the documented schema.
    snap_msg = otter.sync(cluster["otter"].client())
    problems = check_snapshot(snap_msg.body, nodes=NODES, media=MEDIA)
    assert problems == [], problems
    body = snap_msg.body
    assert body["local"] == "otter" and body["local_status"] == "active"
    assert [(n["name"], n["status"]) for n in body["nodes"]] == [
        ("otter", "active"), ("weasel", "active")]
    weasel_links = {lk["name"]: lk["status"] for lk in body["nodes"][1]["links"]}
    assert weasel_links == {SERIAL: "up", "eth1": "up"}
    assert {"bcast eth1", f"serial {SERIAL}"} <= {w["name"] for w in body["workers"]}
    assert all(w["state"] == "running" and w["restarts"] == 0 for w in body["workers"])
    assert body["counters"]["rx_frames"] > 0
    assert body["parameters"]["deadtime"] == "3"
