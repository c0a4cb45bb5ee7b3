"""Forged, replayed, truncated and garbage input changes nothing and is counted.

Two hbeat nodes (otter, weasel) and a third host (the lab client) that
captures their traffic and then attacks weasel: UDP datagrams to port 694
(unicast to weasel and broadcast to both), and bytes pushed into weasel's
serial line through the cable. Afterwards no node or link changed state on
either node (status feed and snapshots), each still sees the other active,
and the counters in `snapshot()["counters"]` moved by exactly the number of
bad inputs of each kind.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

import linklayer
from linklayer.pcap import PcapError
from tests.harness import Lab, authkeys_text, require_commands, udp_datagrams, wait_for
from tests.harness.hbeatnode import FeedLog, HbeatNode

from .attack import fields_of, forge, keyring, replace, send_udp
from .clusters import TTY, fast_hacf, start_hbeat

pytestmark = [pytest.mark.root]

NODES = ("otter", "weasel")
SECRET = "attack-secret"


def state(node: HbeatNode) -> tuple[str, list[Any]]:
    snap = node.snapshot()
    return snap["local_status"], snap["nodes"]


def assert_quiet(nodes: dict[str, HbeatNode], feeds: dict[str, FeedLog],
                 before: dict[str, tuple[str, list[Any]]]) -> None:
    for n, node in nodes.items():
        assert feeds[n].changes() == [], f"state changes on {n}: {feeds[n].changes()}"
        assert state(node) == before[n], f"{n} changed state"
        assert node.node_states() == dict.fromkeys(NODES, "active")


def wait_counters(node: HbeatNode, base: dict[str, int], expected: dict[str, int]) -> None:
    """Until each counter grew by its expected amount; then, once the node has
    handled a few more keepalives, check it grew by exactly that much."""

    def deltas() -> dict[str, int]:
        now = node.counters()
        return {k: now[k] - base[k] for k in expected}

    wait_for(lambda: all(v >= expected[k] for k, v in deltas().items()), 10,
             what=f"counters on {node.name} to grow by {expected}", describe=deltas)
    def handled() -> int:  # forwarded frames and quiet keepalives (docs/processes.md)
        now = node.counters()
        return now["rx_frames"] + now["rx_quiet"]

    frames = handled()
    wait_for(lambda: handled() >= frames + 4, 10, what=f"{node.name} to handle 4 more frames")
    assert deltas() == expected


def settle(lab: Lab, hacf: str, **kwargs: Any) -> dict[str, HbeatNode]:
    nodes = start_hbeat(lab, hacf, authkeys_text("sha1", SECRET), names=NODES, **kwargs)
    for node in nodes.values():
        node.wait_active(NODES, timeout=20)
    return nodes


def test_bad_udp_datagrams_change_nothing_and_are_counted(
    lab_factory: Callable[..., Lab],
) -> None:
    require_commands("tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    capture = lab.capture("client", bpf="udp port 694")
    nodes = settle(lab, fast_hacf(NODES, ["bcast eth1"]))
    for node in nodes.values():
        node.wait_links({(p, "eth1"): "up" for p in NODES}, timeout=10)
    keys = keyring("sha1", SECRET)

    def otter_status() -> list[bytes]:
        out = []
        for d in udp_datagrams(capture.path, port=694):
            msg = linklayer.decode(d.payload, keys)
            if msg.get(b"src") == b"otter" and msg.get(b"t") == b"status":
                out.append(d.payload)
        return out

    frames = wait_for(lambda: len(otter_status()) >= 4 and otter_status(), 15,
                      what="4 captured keepalives from otter", ignore=(PcapError,))
    capture.stop()
    latest = fields_of(frames[-1], keys)
    gen = int(linklayer.decode(frames[-1], keys)[b"hg"], 16)
    weasel_ip, broadcast = lab["weasel"].ip, f"10.{lab.subnet}.0.255"

    feeds = {n: node.feed() for n, node in nodes.items()}
    before = {n: state(node) for n, node in nodes.items()}
    base = {n: node.counters() for n, node in nodes.items()}
    for feed in feeds.values():
        feed.drain()

    garbage = os.urandom(300)
    while garbage[:3] in (b"###", b">>>"):
        garbage = os.urandom(300)
    rejected = [
        forge(latest, keyring("sha1", "not-the-secret")),  # wrong key
        forge(latest, keyring("sha1", SECRET, index=7)),  # key index authkeys lacks
        forge(latest, keyring("md5", SECRET)),  # right text, wrong method
        *(frames[-1][:cut] for cut in (3, 40, len(frames[-1]) // 2, -12, -1)),  # truncated
        garbage,
        b"###\n5:hello,%%%\n3:1 x,",  # the item without (T) that crashes 3.0.6
        b"###\n" + b"9" * 65000,  # oversized
        b"",  # empty datagram
    ]
    replayed = [frames[0], frames[1], frames[0]]  # authentic, old sequence numbers
    old_generation = forge(replace(latest, hg=b"%x" % (gen - 1)), keys)
    send_udp(lab.client, weasel_ip, [*rejected, *replayed, old_generation])
    send_udp(lab.client, broadcast, [garbage, b"###\n5:hello,%%%\n3:1 x,"])

    # A replayed frame whose exact bytes weasel's worker forwarded a moment
    # ago never reaches the supervisor (REPLAYED_FRAME, counted as rejected);
    # an older one (sent before weasel listened) is a duplicate to membership.
    # frames[0] comes twice: the second time it was surely seen before.
    dropped = "rx_rejected_replayed_frame"

    def replays_seen() -> tuple[int, int]:
        now = nodes["weasel"].counters()
        return (now.get(dropped, 0) - base["weasel"].get(dropped, 0),
                now["duplicates"] - base["weasel"]["duplicates"])

    wait_for(lambda: sum(replays_seen()) >= len(replayed), 10,
             what="weasel to drop or count every replayed frame", describe=replays_seen)
    early = replays_seen()[0]
    assert 1 <= early <= len(replayed), replays_seen()
    wait_counters(nodes["weasel"], {**base["weasel"], dropped: base["weasel"].get(dropped, 0)}, {
        "rx_rejected": len(rejected) + 2 + early, "duplicates": len(replayed) - early,
        "replays": 1, "rx_junk_bytes": 0, "malformed": 0, "unknown_node": 0, dropped: early,
    })
    wait_counters(nodes["otter"], base["otter"], {
        "rx_rejected": 2, "duplicates": 0, "replays": 0,
    })
    assert nodes["weasel"].log_watcher(from_start=True).poll(
        rf"ERROR: should_drop_message: attempted replay attack \[otter\]\? "
        rf"\[gen = {gen - 1}, curgen = {gen}\]"), nodes["weasel"].log()[-2000:]
    assert_quiet(nodes, feeds, before)


def test_garbage_on_the_serial_line_changes_nothing_and_is_counted(
    lab_factory: Callable[..., Lab],
) -> None:
    require_commands("socat")
    lab = lab_factory(2)
    cable = lab.serial_cable("otter", "weasel")
    nodes = settle(lab, fast_hacf(NODES, ["bcast eth1"], serial=True), cable=cable)
    nodes["weasel"].wait_links({("otter", TTY): "up", ("otter", "eth1"): "up"}, timeout=10)
    nodes["otter"].wait_links({("weasel", TTY): "up", ("weasel", "eth1"): "up"}, timeout=10)
    keys = keyring("sha1", SECRET)
    captured = wait_for(lambda: cable.sent("otter").split(b"<<<\n")[1:3], 10,
                        what="two classic frames from otter on the cable")
    frame = captured[-1].split(b">>>\n", 1)[1]  # one whole frame, without its markers
    classic = fields_of(b">>>\n" + frame + b"<<<\n", keys)

    feeds = {n: node.feed() for n, node in nodes.items()}
    before = {n: state(node) for n, node in nodes.items()}
    base = {n: node.counters() for n, node in nodes.items()}
    for feed in feeds.values():
        feed.drain()

    rng = random.Random(694)
    allowed = bytes(b for b in range(256) if (b & 0x7F) not in b"<>\r\n")
    junk_lines = b"".join(bytes(rng.choice(allowed) for _ in range(rng.randint(1, 120))) + b"\n"
                          for _ in range(5))
    cut_frame = b">>>\n" + frame[: len(frame) // 2].rsplit(b"\n", 1)[0] + b"\n"
    bad_frames = [
        forge(classic, keyring("sha1", "not-the-secret"), classic=True),
        forge(classic, keyring("sha1", SECRET, index=9), classic=True),
    ]
    # Each piece ends on a line break, so none runs into a frame otter sends.
    cable.inject(junk_lines, to="weasel")
    cable.inject(bad_frames[0] + bad_frames[1], to="weasel")
    cable.inject(cut_frame, to="weasel")  # thrown away when otter's next frame starts

    wait_counters(nodes["weasel"], base["weasel"], {
        "rx_rejected": len(bad_frames), "rx_junk_bytes": len(junk_lines) + len(cut_frame),
        "malformed": 0, "replays": 0,
    })
    wait_counters(nodes["otter"], base["otter"], {"rx_rejected": 0, "rx_junk_bytes": 0})
    assert_quiet(nodes, feeds, before)
