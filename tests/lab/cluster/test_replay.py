"""Replayed and forged frames (docs/security.md), sent from a third host.

Two hbeat nodes (otter, weasel) and the lab client, which captures their
traffic with tcpdump and re-sends captured frames with a raw UDP socket
(or frames re-signed with the cluster key: a holder of the key, or anyone
when the cluster signs with crc). Each test is one attack that worked on
the code before the replay rules: a dead peer's resource frame replayed
after the takeover, a forged generation, an old recording replayed to a
restarted node, and replayed NS_rexmit requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import linklayer
from linklayer.message import Decoded
from linklayer.pcap import PcapError
from tests.harness import Lab, authkeys_text, require_commands, udp_datagrams, wait_for
from tests.harness.capture import Capture
from tests.harness.hbeatnode import HbeatNode
from tests.hbeat.config.seed import SEED_SECRET
from tests.lab.failover.cluster import FailoverCluster

from .attack import as_classic, fields_of, forge, keyring, replace, send_udp
from .clusters import DEADTIME_MS, fast_hacf, start_hbeat

pytestmark = [pytest.mark.root]

NODES = ("otter", "weasel")
SECRET = "replay-secret"
NS_TYPES = (b"NS_ackmsg", b"NS_rexmit", b"NS_nak_rexmit")


def captured(capture: Capture, secret: str, src: str,
             keep: Callable[[Decoded], bool]) -> list[bytes]:
    """The payloads `src` sent that `keep` selects, in order."""
    keys = keyring("sha1", secret)
    out = []
    for d in udp_datagrams(capture.path, port=694):
        msg = linklayer.decode(d.payload, keys)
        if msg.get(b"src") == src.encode() and keep(msg):
            out.append(d.payload)
    return out


def is_status(msg: Decoded) -> bool:
    return msg.get(b"t") == b"status"


def node_events(node: HbeatNode, feed: Any, peer: str) -> list[str]:
    return [b["new"] for t, b in feed.changes() if t == f"node.{peer}"]


def settle(lab: Lab) -> dict[str, HbeatNode]:
    nodes = start_hbeat(lab, fast_hacf(NODES, ["bcast eth1"]), authkeys_text("sha1", SECRET),
                        names=NODES)
    for node in nodes.values():
        node.wait_active(NODES, timeout=20)
    return nodes


def counter(node: HbeatNode, name: str) -> int:
    return int(node.counters().get(name, 0))


def test_a_dead_peers_replayed_resource_frame_changes_nothing(
    lab_factory: Callable[..., Lab],
) -> None:
    """otter dies, weasel takes its group over; otter's resource messages,
    captured earlier, are replayed to weasel: weasel keeps the group and
    otter stays dead (the tracker of a dead peer starts over, so before the
    replay rules the first replayed frame was in order and delivered). The
    frames are re-sent in classic form, signed by their own inner `auth`
    field: no key needed, and other bytes than the link workers saw."""
    require_commands("tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    capture = lab.capture("client", bpf="udp port 694")
    c = FailoverCluster(lab, "otter drbddisk::r0 apache\n", scripts=("drbddisk", "apache"))
    c.start()
    c.wait_holders({"drbddisk::r0": "otter"})

    def resource_frames() -> list[bytes]:
        return captured(capture, SEED_SECRET, "otter",
                        lambda m: not is_status(m) and m.get(b"t") not in NS_TYPES)

    frames = wait_for(lambda: resource_frames() or None, 15,
                      what="otter's resource messages captured", ignore=(PcapError,))
    capture.stop()
    frames = resource_frames()
    crashed = c.crash("otter")
    c.wait_holders({"drbddisk::r0": "weasel"}, timeout=30)
    weasel = c["weasel"]
    took_over = time.time()
    base = counter(weasel, "refused_unadmitted")
    feed = weasel.feed()
    send_udp(lab.client, lab["weasel"].ip, [as_classic(f) for f in frames])

    def stops() -> list[Any]:
        return [r for r in c.records.find(node="weasel", after=crashed)
                if r.action == "stop"]

    # Until weasel has dropped every replayed frame, or (the bug) reacted.
    wait_for(lambda: stops() or counter(weasel, "refused_unadmitted") - base >= len(frames)
             or weasel.group_states()["drbddisk::r0"] != "running", 10,
             what="weasel to drop the replayed frames")
    wait_for(lambda: time.time() - took_over > 2, 5, what="a few keepalives more")
    assert not stops(), f"weasel stopped resources after the replay: {stops()}"
    assert weasel.group_states() == {"drbddisk::r0": "running"}
    assert weasel.node_states()["otter"] == "dead"
    assert node_events(weasel, feed, "otter") == []
    assert counter(weasel, "refused_unadmitted") - base == len(frames)
    c.audit({"drbddisk::r0": "weasel"})


def test_b_a_forged_generation_does_not_take_the_peer_away(
    lab_factory: Callable[..., Lab],
) -> None:
    """A validly signed status announcing hg and ts near 2^62 (or an
    implausible generation jump with a plausible ts) is refused: otter's
    genuine keepalives keep it active on weasel."""
    require_commands("tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    capture = lab.capture("client", bpf="udp port 694")
    nodes = settle(lab)
    keys = keyring("sha1", SECRET)
    frames = wait_for(lambda: captured(capture, SECRET, "otter", is_status)[3:] or None, 15,
                      what="4 keepalives of otter captured", ignore=(PcapError,))
    capture.stop()
    latest = fields_of(frames[-1], keys)
    msg = linklayer.decode(frames[-1], keys)
    gen, seq = int(msg[b"hg"], 16), int(msg[b"seq"], 16)
    weasel = nodes["weasel"]
    feed = weasel.feed()
    feed.drain()
    huge = b"%x" % (2**62)
    forged = [
        forge(replace(latest, hg=huge, ts=huge, seq=b"%x" % (seq + 1000)), keys),
        forge(replace(latest, hg=b"%x" % (gen + 10**9), seq=b"%x" % (seq + 1000)), keys),
    ]
    send_udp(lab.client, lab["weasel"].ip, forged)
    sent = time.monotonic()
    wait_for(lambda: time.monotonic() - sent > DEADTIME_MS / 1000 + 2, 10,
             what="a deadtime and more after the forgery")
    assert weasel.node_states()["otter"] == "active", weasel.log()[-3000:]
    assert node_events(weasel, feed, "otter") == []
    assert not [t for t, _ in feed.events if t == "cluster.peer-restarted"]
    assert counter(weasel, "refused_clock") == 1
    assert counter(weasel, "refused_generation") == 1
    log = weasel.log()
    assert "ahead of our clock (max_clock_skew 60 s)" in log
    assert f"generation {gen + 10**9} is implausible" in log


def test_c_an_old_recording_is_not_believed_after_a_restart(
    lab_factory: Callable[..., Lab],
) -> None:
    """otter dies; weasel restarts; otter's recorded keepalives are replayed to
    it: weasel does not take otter for alive (the last generation and ts of
    otter are kept in weasel's state directory)."""
    require_commands("tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    capture = lab.capture("client", bpf="udp port 694")
    nodes = settle(lab)
    frames = wait_for(lambda: captured(capture, SECRET, "otter", lambda m: True)[9:] or None,
                      15, what="10 frames of otter captured", ignore=(PcapError,))
    capture.stop()
    frames = captured(capture, SECRET, "otter", lambda m: True)
    otter, weasel = nodes["otter"], nodes["weasel"]
    otter.kill()
    wait_for(lambda: weasel.node_states()["otter"] == "dead", 15, what="weasel to see otter dead")
    weasel.stop()
    weasel.start()
    feed = weasel.feed()
    weasel.wait_links({("weasel", "eth1"): "up"}, timeout=10)  # its link worker listens
    send_udp(lab.client, lab["weasel"].ip, frames)
    wait_for(lambda: counter(weasel, "refused_old") >= 1
             or weasel.node_states()["otter"] not in ("init", "dead"), 10,
             what="weasel to handle the replayed frames")
    wait_for(lambda: weasel.snapshot()["local_status"] == "active", 20,
             what="weasel active (otter declared dead at initdead)")
    assert node_events(weasel, feed, "otter") in ([], ["dead"]), weasel.log()[-3000:]
    assert weasel.node_states()["otter"] == "dead"
    assert counter(weasel, "refused_old") >= 1


def test_d_replayed_ns_rexmit_is_rate_limited_and_an_old_generation_refused(
    lab_factory: Callable[..., Lab],
) -> None:
    """30 NS_rexmit requests (each asking for 200 messages) from otter's current
    generation are answered a bounded number of times with a bounded number
    of log lines; 10 stamped with otter's previous generation are not
    answered at all. (Signed with the key, each a little different, as a
    key holder or, with crc, anyone can: byte-identical copies are already
    dropped by the link workers.)"""
    require_commands("tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    capture = lab.capture("client", bpf="udp port 694")
    nodes = settle(lab)
    keys = keyring("sha1", SECRET)
    frames = wait_for(lambda: captured(capture, SECRET, "otter", is_status) or None, 15,
                      what="a keepalive of otter captured", ignore=(PcapError,))
    capture.stop()
    msg = linklayer.decode(frames[-1], keys)
    gen = int(msg[b"hg"], 16)

    def rexmit(hg: int, first: int) -> bytes:
        fields = [(b"t", 0, b"NS_rexmit"), (b"dest", 0, b"weasel"),
                  (b"firstseq", 0, b"%d" % first), (b"lastseq", 0, b"%d" % (first + 199)),
                  (b"src", 0, b"otter"),
                  (b"srcuuid", 1, msg[b"srcuuid"]), (b"hg", 0, b"%x" % hg),
                  (b"ts", 0, msg[b"ts"]), (b"ttl", 0, b"3")]
        return forge(fields, keys)

    weasel = nodes["weasel"]
    before = weasel.counters()
    lines = len(weasel.log().splitlines())
    send_udp(lab.client, lab["weasel"].ip,
             [rexmit(gen, 1 + i) for i in range(30)] + [rexmit(gen - 1, 1 + i) for i in range(10)])
    wait_for(lambda: weasel.counters()["received"] - before["received"] >= 40, 10,
             what="weasel to handle the 40 requests")
    def handled() -> int:  # forwarded frames and quiet keepalives (docs/processes.md)
        now = weasel.counters()
        return now["rx_frames"] + now["rx_quiet"]

    frames_seen = handled()
    wait_for(lambda: handled() >= frames_seen + 4, 10, what="weasel to handle 4 more frames")
    new_lines = weasel.log().splitlines()[lines:]
    rexmit_lines = [ln for ln in new_lines if "rexmit" in ln.lower()]
    assert len(rexmit_lines) <= 6, "\n".join(rexmit_lines[:20])
    after = weasel.counters()
    answered = (after["resent"] - before["resent"]) + (after["naks_sent"] - before["naks_sent"])
    assert answered <= 4 * 200, answered
    assert after["rexmit_requests_received"] - before["rexmit_requests_received"] < 30
    assert after.get("ns_refused", 0) - before.get("ns_refused", 0) == 10
    assert after.get("ns_limited", 0) - before.get("ns_limited", 0) >= 1
    assert weasel.node_states() == dict.fromkeys(NODES, "active")
