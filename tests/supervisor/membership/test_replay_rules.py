"""Membership's replay and forgery rules (docs/security.md): admission by
status, a dead peer's frames, the clock skew, the generation bound, the
record kept across a restart, and NS_* of the admitted generation only, at a
limited rate."""

from __future__ import annotations

import random

from supervisor import membership as mb
from supervisor import messages as m
from supervisor.replayguard import PeerRecord

from .helpers import ETH, WALL0, Peer, bring_up, logs, make, of, sent_types, uuid_of, value


def _dead(ms: mb.Membership, peer: Peer) -> None:
    bring_up(ms, peer, 100)
    ms.receive(peer.status(now=1000), ETH, 1000)
    ms.tick(11000)
    assert ms.node_status("beta") == "dead"


def test_a_dead_peers_frames_are_not_delivered_until_a_newer_status() -> None:
    ms = make()
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    recorded = peer.resource(now=500)  # captured while beta lived
    assert of(ms.receive(recorded, ETH, 500), mb.Deliver)
    _dead(ms, peer)
    acts = ms.receive(recorded, ETH, 12000)
    assert not of(acts, mb.Deliver)
    assert logs(acts) == [("info", "node beta: resource message of generation 200 not "
                                   "delivered: beta is dead, no status of it accepted yet "
                                   "(generation 200)")]
    assert ms.counters.refused_unadmitted == 1
    # Its newest (genuine) resource message is not delivered either: only a status
    # re-admits it ...
    sent_while_dead = peer.resource(now=12100)
    assert not of(ms.receive(sent_while_dead, ETH, 12100), mb.Deliver)
    # ... a newer one (the heal path), and what it sent before that status,
    # held meanwhile (newer than anything seen: not a replay), is delivered then.
    acts = ms.receive(peer.status(now=12200), ETH, 12200)
    assert of(acts, mb.PartitionHealed) and ms.node_status("beta") == "active"
    assert [d.message.seq for d in of(acts, mb.Deliver)] == [
        int(m.field_value(sent_while_dead, b"seq") or b"0", 16)]
    assert of(ms.receive(peer.resource(now=12300), ETH, 12300), mb.Deliver)
    assert not of(ms.tick(12200 + 300), mb.SendMessage)  # no hole left to ask for
    assert of(ms.receive(recorded, ETH, 12700), mb.Deliver) == []


def test_ns_messages_of_a_dead_peer_or_another_generation_are_refused() -> None:
    ms = make()
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    ms.send((m.s(b"t", b"resource"),), 200)
    old = Peer("beta", gen=199)
    acts = ms.receive(old.msg(*m.rexmit_fields("alpha", 1, 3), now=300), ETH, 300)
    assert not of(acts, mb.Resend) and ms.counters.ns_refused == 1
    assert ms.counters.rexmit_requests_received == 0
    acts = ms.receive(peer.msg(*m.rexmit_fields("alpha", 1, 3), now=400), ETH, 400)
    assert of(acts, mb.Resend)
    _dead(ms, peer)
    acts = ms.receive(peer.msg(*m.rexmit_fields("alpha", 1, 3), now=12000), ETH, 12000)
    assert not of(acts, mb.Resend) and ms.counters.ns_refused == 2


def test_ns_rexmit_is_rate_limited_and_its_log_lines_summarised() -> None:
    ms = make()
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    request = peer.msg(*m.rexmit_fields("alpha", 1, 200), now=300)
    answered, lines = 0, []
    for i in range(30):
        acts = ms.receive(request, ETH, 300 + i)
        answered += len(of(acts, mb.Resend)) + sent_types(acts).count(b"NS_nak_rexmit")
        lines += logs(acts)
    assert ms.counters.rexmit_requests_received == 4  # 200 tokens, 50 a request
    assert ms.counters.ns_limited == 26
    assert answered <= 4 * 50
    assert len(lines) <= 3, lines
    assert ("WARN", "node beta: too many NS_rexmit messages: dropped") in lines
    # Refilled with time: 100 tokens a second.
    ms.receive(peer.msg(*m.rexmit_fields("alpha", 1, 200), now=1300), ETH, 1300)
    assert ms.counters.rexmit_requests_received == 5


def test_a_ts_ahead_of_the_clock_is_refused() -> None:
    ms = make()
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    forged = peer.msg(*m.status_fields("active", 10000), now=100)
    forged = tuple((n, t, m.hexnum(2**62) if n in (b"ts", b"hg") else v) for n, t, v in forged)
    acts = ms.receive(forged, ETH, 200)
    assert ms.counters.refused_clock == 1 and not of(acts, mb.PeerRestarted)
    assert logs(acts)[0][0] == "WARN" and "ahead of our clock" in logs(acts)[0][1]
    assert ms.nodes["beta"].tracker.generation == 200
    # Genuine keepalives still count.
    ms.receive(peer.status(now=9000), ETH, 9000)
    ms.tick(15000)
    assert ms.node_status("beta") == "active"


def test_an_implausible_generation_is_refused_and_a_restart_accepted() -> None:
    ms = make()
    peer = Peer("beta", gen=int(WALL0))
    bring_up(ms, peer, 100)
    jump = Peer("beta", gen=int(WALL0) + 10**6)
    acts = ms.receive(jump.status(now=1000), ETH, 1000)
    assert ms.counters.refused_generation == 1 and not of(acts, mb.PeerRestarted)
    assert logs(acts)[0][0] == "ERROR"
    restarted = Peer("beta", gen=int(WALL0) + 1)
    acts = ms.receive(restarted.status(now=2000), ETH, 2000)
    assert of(acts, mb.PeerRestarted)
    assert ms.nodes["beta"].tracker.generation == int(WALL0) + 1


def test_a_higher_generations_other_messages_wait_for_its_status() -> None:
    ms = make()
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    reborn = Peer("beta", gen=201)
    assert not of(ms.receive(reborn.resource(now=1000), ETH, 1000), mb.Deliver)
    ms.receive(reborn.status(now=1100), ETH, 1100)
    assert of(ms.receive(reborn.resource(now=1200), ETH, 1200), mb.Deliver)


def _with_record(record: PeerRecord) -> mb.Membership:
    ms = mb.Membership(make(start=False).config, generation=100, uuid=uuid_of("alpha"), now=0,
                       wall_s=WALL0, rng=random.Random(1), records={"beta": record})
    ms.start(0)
    return ms


def test_after_a_restart_a_recording_older_than_the_record_is_refused() -> None:
    peer = Peer("beta")
    recording = [peer.status(now=0), peer.resource(now=0), peer.status(now=3000)]
    ms = _with_record(PeerRecord(200, int(WALL0) + 3))
    for frame in recording:
        acts = ms.receive(frame, ETH, 4000)
        assert not of(acts, mb.Deliver) and not of(acts, mb.NodeStateChanged)
    assert ms.counters.refused_old == 2 and ms.counters.refused_unadmitted == 1
    assert ms.node_status("beta") == "init"
    assert ms.peer_records() == {"beta": PeerRecord(200, int(WALL0) + 3)}
    # The live peer's next status is newer.
    acts = ms.receive(peer.status(now=4000), ETH, 4000)
    assert ms.node_status("beta") == "active"
    assert ms.peer_records() == {"beta": PeerRecord(200, int(WALL0) + 4)}


def test_after_a_restart_a_recording_older_than_the_skew_is_refused() -> None:
    peer = Peer("beta")
    recording = peer.status(now=0)
    ms = mb.Membership(make(start=False).config, generation=100, uuid=uuid_of("alpha"),
                       now=0, wall_s=WALL0 + 120, rng=random.Random(1))
    ms.start(0)
    acts = ms.receive(recording, ETH, 100)
    assert ms.counters.refused_clock == 1 and ms.node_status("beta") == "init"
    assert "120 s behind our clock" in logs(acts)[0][1]


def test_a_restarted_peers_message_that_overtakes_its_first_status_is_held_for_it() -> None:
    # After a restart, a message of the new generation can arrive before the
    # status that announces it (another link, the bus's order). Refused then,
    # it was lost, and the hole it left was asked for again and again: the
    # answer is the same bytes the link worker already forwarded, so its replay
    # filter refused it every time. It is held, and delivered after the status.
    ms = make()
    bring_up(ms, Peer("beta"), 100)
    restarted = Peer("beta", gen=201)
    first = restarted.status(now=1000)
    overtaking = restarted.resource(now=1001)
    acts = ms.receive(overtaking, ETH, 1001)
    assert not of(acts, mb.Deliver) and ms.counters.refused_unadmitted == 1
    acts = ms.receive(first, ETH, 1002)
    assert ("info", "Heartbeat restart on node beta") in logs(acts)
    assert [value(d.message.fields, b"seq") for d in of(acts, mb.Deliver)] == [
        value(overtaking, b"seq")]
    nxt = restarted.resource(now=1003)
    assert of(ms.receive(nxt, ETH, 1003), mb.Deliver)
    assert not [t for _lv, t in logs(ms.tick(1003 + 1000)) if "lost" in t]
    assert not of(ms.tick(1003 + 2000), mb.SendMessage)  # no hole to ask for
    # Held for that generation only: one of a generation no status admits is dropped.
    ms.receive(Peer("beta", gen=205).resource(now=1100), ETH, 1100)
    assert not of(ms.receive(restarted.status(now=1200), ETH, 1200), mb.Deliver)
