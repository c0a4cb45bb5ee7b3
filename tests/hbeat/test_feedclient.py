"""hbeat.feedclient against real ZeroMQ sockets in a temporary runtime directory.

A PUB socket at `<runtime>/status` plays the daemon's feed; for `sync`, a
ROUTER at `<runtime>/control` answers `snapshot` requests as the daemon does
(`publish: true` sends the snapshot on the feed).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from hbeat.control import ControlClient, DaemonUnreachable, make_reply, parse_request
from hbeat.feedclient import FeedClient, FeedTimeout
from hbeat.statusview import ViewError

EVENT = {"schema": "hbeat.event/1.1", "at": 1.0, "node": "weasel", "old": "active",
         "new": "dead", "reason": "no keepalive on any link for 3000 ms (deadtime)"}


@pytest.fixture
def pub(tmp_path: Path) -> Iterator[zmq.Socket[bytes]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(f"ipc://{tmp_path / 'status'}")
    yield sock
    sock.close()


def send(sock: zmq.Socket[bytes], topic: str, body: object) -> None:
    sock.send_multipart([topic.encode(), json.dumps(body).encode()])


def settle(feed: FeedClient, pub: zmq.Socket[bytes]) -> None:
    """Until the subscription reached the publisher (a probe message arrives)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        send(pub, "cluster.probe", {"schema": "hbeat.event/1.1", "at": 0, "event": "probe"})
        if feed.receive(0.05) is not None:
            while feed.receive(0.05) is not None:
                pass
            return
    raise AssertionError("the subscription never reached the publisher")


def test_receive_gives_typed_messages_skips_bad_ones_and_times_out(
        tmp_path: Path, pub: zmq.Socket[bytes]) -> None:
    bad: list[ViewError] = []
    with FeedClient(tmp_path, on_bad=bad.append) as feed:
        settle(feed, pub)
        pub.send_multipart([b"node.weasel", b"{not json"])
        pub.send_multipart([b"only one frame"])
        send(pub, "node.weasel", EVENT)
        msg = feed.receive(2)
        assert msg is not None and msg.topic == "node.weasel" and msg.body == EVENT
        assert msg.kind == "node" and msg.is_event("node", "weasel", "dead")
        assert not msg.is_event("node", "weasel", "active")
        assert len(bad) == 2, bad
        assert str(bad[0]).startswith("feed message 'node.weasel': body is not JSON: ")
        assert str(bad[1]) == "feed message has 1 frame(s), expected 2 (topic, JSON)"
        started = time.monotonic()
        assert feed.receive(0.2) is None
        assert time.monotonic() - started >= 0.2
        for n in range(3):
            send(pub, f"link.weasel.eth{n}", {**EVENT, "link": f"eth{n}"})
        got = [m.topic for m in feed.messages(1.0)]
        assert got == ["link.weasel.eth0", "link.weasel.eth1", "link.weasel.eth2"]


def test_prefix_subscription(tmp_path: Path, pub: zmq.Socket[bytes]) -> None:
    with FeedClient(tmp_path, prefixes=("node.", "cluster.probe")) as feed:
        settle(feed, pub)
        send(pub, "link.weasel.eth1", EVENT)
        send(pub, "node.weasel", EVENT)
        msg = feed.receive(2)
        assert msg is not None and msg.topic == "node.weasel"


@contextlib.contextmanager
def stand_in_daemon(runtime: Path, pub: zmq.Socket[bytes],
                    publish: bool) -> Iterator[list[dict[str, object]]]:
    """A ROUTER at `<runtime>/control` answering like the supervisor: a reply,
    an event on the feed, and (when `publish`) the snapshot on the feed when
    asked for it; yields the list of the requests' args."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(f"ipc://{runtime / 'control'}")
    asked: list[dict[str, object]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if not router.poll(50):
                continue
            ident, empty, raw = router.recv_multipart()
            rid, _command, args = parse_request(raw)
            asked.append(args)
            snap = {"schema": "hbeat.status/1.1", "local": "otter", "n": len(asked)}
            send(pub, "node.otter", EVENT)  # an event before the snapshot: skipped
            if publish and args.get("publish"):
                send(pub, "snapshot", snap)
            router.send_multipart([ident, empty, make_reply(rid, snap)])

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield asked
    finally:
        stop.set()
        thread.join()
        router.close()


def test_sync_asks_until_a_snapshot_arrives(tmp_path: Path, pub: zmq.Socket[bytes]) -> None:
    with stand_in_daemon(tmp_path, pub, publish=True) as asked, FeedClient(tmp_path) as feed:
        skipped: list[str] = []
        msg = feed.sync(ControlClient(tmp_path, timeout_ms=2000), timeout=10, retry=0.1,
                        skipped=lambda m: skipped.append(m.topic))
        assert msg.topic == "snapshot" and msg.body["local"] == "otter"
        assert asked and all(a == {"publish": True} for a in asked)
        assert set(skipped) <= {"node.otter"}


def test_sync_gives_up(tmp_path: Path, pub: zmq.Socket[bytes]) -> None:
    with stand_in_daemon(tmp_path, pub, publish=False) as asked, FeedClient(tmp_path) as feed:
        started = time.monotonic()
        with pytest.raises(FeedTimeout, match=r"no snapshot on ipc://.* after 0.5 s"):
            feed.sync(ControlClient(tmp_path, timeout_ms=2000), timeout=0.5, retry=0.1)
        assert time.monotonic() - started >= 0.5 and len(asked) >= 2
    with FeedClient(tmp_path) as feed, pytest.raises(DaemonUnreachable):
        feed.sync(ControlClient(tmp_path, timeout_ms=100), timeout=5)
