"""The membership state machine, driven with a synthetic clock (integer ms)."""

from __future__ import annotations

import random

import pytest

from supervisor import membership as mb
from supervisor import messages as m

from .helpers import (
    ETH,
    SEED,
    SER,
    WALL0,
    Peer,
    bring_up,
    logs,
    make,
    of,
    sent_types,
    uuid_of,
    value,
)


def test_startup_to_active_two_nodes() -> None:
    ms = make(start=False)
    acts = ms.start(0)
    statuses = of(acts, mb.SendMessage)
    assert [value(s.fields, b"st") for s in statuses] == [b"init", b"up"]
    assert [value(s.fields, b"dt") for s in statuses] == [b"2ee0", b"2ee0"]
    assert [value(s.fields, b"seq") for s in statuses] == [b"1", b"2"]
    assert ("info", "Local status now set to: 'up'") in logs(acts)
    assert ms.local_status == "up" and not ms.comm_up
    assert of(acts, mb.NodeStateChanged) == [mb.NodeStateChanged("alpha", "init", "up")]

    peer = Peer("beta")
    acts = ms.receive(peer.status("up", now=500), ETH, 500)
    assert ("info", "Link beta:eth1 up.") in logs(acts)
    assert ("info", "Status update for node beta: status up") in logs(acts)
    assert of(acts, mb.LinkStateChanged) == [mb.LinkStateChanged("beta", ETH, "dead", "up")]
    req = [s for s in of(acts, mb.SendMessage) if value(s.fields, b"t") == b"reqnodes"]
    assert len(req) == 1 and req[0].dest == "beta"
    assert [f[0] for f in req[0].fields] == [
        b"t",
        b"dest",
        b"destuuid",
        b"src",
        b"srcuuid",
        b"seq",
        b"hg",
        b"ts",
        b"ld",
        b"ttl",
    ]
    assert value(req[0].fields, b"destuuid") == uuid_of("beta")
    assert not ms.comm_up

    acts = ms.receive(peer.msg(*m.repnodes_fields("alpha", ["alpha", "beta"]), now=510), ETH, 510)
    assert of(acts, mb.CommUp) == [mb.CommUp()]
    assert logs(acts)[:2] == [
        ("info", "Comm_now_up(): updating status to active"),
        ("info", "Local status now set to: 'active'"),
    ]
    active = [s for s in of(acts, mb.SendMessage) if value(s.fields, b"t") == b"status"]
    assert value(active[0].fields, b"st") == b"active"
    assert ms.local_status == "active" and ms.node_status("beta") == "up"
    assert ms.next_deadline(510) == 5000  # the end of our dt boost comes first
    ms.receive(peer.status("active", now=900), ETH, 900)
    assert ms.node_status("beta") == "active"
    assert ms.link_status("beta", ETH) == "up" and ms.link_status("beta", SER) == "dead"


def test_startup_three_nodes_waits_for_everyone_and_asks_the_first_live_peer() -> None:
    ms = make(nodes=("alpha", "beta", "gamma"))
    beta, gamma = Peer("beta", nodes=3), Peer("gamma", nodes=3)
    acts = ms.receive(gamma.status("up", now=100), ETH, 100)
    assert b"reqnodes" not in sent_types(acts)
    acts = ms.receive(beta.status("up", now=200), ETH, 200)
    req = [s for s in of(acts, mb.SendMessage) if value(s.fields, b"t") == b"reqnodes"]
    assert [r.dest for r in req] == ["beta"]
    # No answer: asked again after 1 s.
    assert ms.next_deadline(200) == 1200
    acts = ms.tick(1200)
    assert [s.dest for s in of(acts, mb.SendMessage)] == ["beta"]
    acts = ms.receive(gamma.msg(*m.repnodes_fields("alpha", ms.config.nodes), now=1300), ETH, 1300)
    assert of(acts, mb.CommUp) and ms.local_status == "active"
    assert ms.next_deadline(1300) == 5000


def test_repnodes_listing_other_nodes_is_reported_but_table_kept() -> None:
    ms = make()
    peer = Peer("beta")
    ms.receive(peer.status("up", now=100), ETH, 100)
    acts = ms.receive(peer.msg(*m.repnodes_fields("alpha", ["alpha", "zeta"]), now=150), ETH, 150)
    assert any(lv == "WARN" and "keeping ha.cf" in tx for lv, tx in logs(acts))
    assert set(ms.nodes) == {"alpha", "beta"} and ms.comm_up


def test_initdead_declares_unheard_node_dead_then_comm_up_alone() -> None:
    ms = make()
    assert ms.dead_interval("beta") == 20000
    assert ms.next_deadline(0) == 5000
    ms.tick(5000)
    assert ms.next_deadline(5000) == 20000
    assert ms.tick(19999) == []
    acts = ms.tick(20000)
    assert ("WARN", "node beta: is dead") in logs(acts)
    assert of(acts, mb.NodeDead) == [mb.NodeDead("beta")]
    assert of(acts, mb.NodeStateChanged)[0] == mb.NodeStateChanged("beta", "init", "dead")
    assert of(acts, mb.CommUp) and ms.local_status == "active"
    assert b"reqnodes" not in sent_types(acts)
    assert ms.dead_interval("beta") == 10000
    assert ms.next_deadline(20000) is None


def test_single_node_cluster_is_active_at_start() -> None:
    ms = make(nodes=("alpha",), start=False)
    acts = ms.start(0)
    assert of(acts, mb.CommUp) and ms.local_status == "active"


def test_reqnodes_is_answered_with_exactly_the_configured_nodes() -> None:
    ms = make(nodes=("alpha", "beta", "gamma"))
    beta = Peer("beta", nodes=3)
    ms.receive(beta.status("up", now=50), ETH, 50)  # a peer is heard by its status first
    acts = ms.receive(beta.msg(*m.reqnodes_fields("alpha"), now=100), ETH, 100)
    rep = [s for s in of(acts, mb.SendMessage) if value(s.fields, b"t") == b"repnodes"]
    assert len(rep) == 1
    f = rep[0].fields
    assert [x[0] for x in f][:4] == [b"dest", b"t", b"nodelist", b"delnodelist"]
    assert value(f, b"dest") == b"beta"
    assert value(f, b"nodelist") == b"alpha beta gamma "
    assert value(f, b"delnodelist") == b" "
    assert value(f, b"destuuid") == uuid_of("beta")
    assert value(f, b"ttl") == b"4"


def _up(ms: mb.Membership, peer: Peer) -> None:
    bring_up(ms, peer, 100)
    ms.tick(5000)


def test_death_exactly_at_the_deadline() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    assert ms.node_deadline("beta") == 16000
    assert ms.next_deadline(6000) == 16000
    assert not of(ms.tick(15999), mb.NodeDead)
    acts = ms.tick(16000)
    assert of(acts, mb.NodeDead) == [mb.NodeDead("beta")]
    assert ("WARN", "node beta: is dead") in logs(acts)
    assert ("info", "Link beta:eth1 dead.") in logs(acts)
    assert ms.node_status("beta") == "dead" and ms.link_status("beta", ETH) == "dead"
    assert ms.counters.deaths == 1
    assert ms.next_deadline(16000) is None


def test_late_heartbeat_warning() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    acts = ms.receive(peer.status(now=11001), ETH, 11001)
    assert logs(acts) == [("WARN", "Late heartbeat: Node beta: interval 5001 ms")]
    acts = ms.receive(peer.status(now=16001), ETH, 16001)
    assert logs(acts) == []  # exactly warntime is not late


def test_late_heartbeat_beyond_deadtime_is_crit_and_kills_then_revives() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    acts = ms.receive(peer.status(now=17500), ETH, 17500)  # the loop never ticked
    assert ("CRIT", "Late heartbeat: Node beta: interval 11500 ms (> deadtime)") in logs(acts)
    assert of(acts, mb.NodeDead) == [mb.NodeDead("beta")]
    assert of(acts, mb.NodeStateChanged) == [
        mb.NodeStateChanged("beta", "active", "dead"),
        mb.NodeStateChanged("beta", "dead", "active"),
    ]
    assert ms.node_status("beta") == "active"


@pytest.mark.parametrize(
    ("dt", "interval", "warned"),
    [(12000, 12000, False), (10000, 10000, False), (1000, 10000, True), (0x100000, 40000, True)],
)
def test_dead_interval_guard_on_advertised_dt(dt: int, interval: int, warned: bool) -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    acts = ms.receive(peer.status(dt=dt, now=6000), ETH, 6000)
    assert ms.dead_interval("beta") == interval
    assert ms.next_deadline(6000) == 6000 + interval
    assert any("advertises deadtime" in tx for _, tx in logs(acts)) == warned
    acts = ms.receive(peer.status(dt=dt, now=7000), ETH, 7000)
    assert not any("advertises deadtime" in tx for _, tx in logs(acts))  # once only


def test_node_dead_only_when_silent_on_every_link_and_links_die_alone() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=5500), SER, 5500)
    ms.receive(peer.status(now=6000), ETH, 6000)  # last frame over ethernet
    acts = []
    t = 6000
    for t in range(7000, 30001, 1000):  # only the serial cable carries frames now
        while (d := ms.next_deadline(t)) is not None and d <= t:
            acts += ms.tick(d)
        acts += ms.receive(peer.status(now=t), SER, t)
    assert of(acts, mb.NodeDead) == []
    assert of(acts, mb.LinkStateChanged) == [mb.LinkStateChanged("beta", ETH, "up", "dead")]
    assert ("info", "Link beta:eth1 dead.") in logs(acts)
    assert ms.node_status("beta") == "active" and ms.link_status("beta", SER) == "up"
    acts = ms.receive(peer.status(now=t + 500), ETH, t + 500)
    assert of(acts, mb.LinkStateChanged) == [mb.LinkStateChanged("beta", ETH, "dead", "up")]
    assert ("info", "Link beta:eth1 up.") in logs(acts)


def test_link_dead_exactly_at_its_deadline() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), SER, 6000)
    ms.receive(peer.status(now=6100), ETH, 6100)
    assert ms.link_deadline("beta", SER) == 16000
    ms.receive(peer.status(now=15000), ETH, 15000)
    assert ms.next_deadline(15000) == 16000
    acts = ms.tick(16000)
    assert of(acts, mb.LinkStateChanged) == [mb.LinkStateChanged("beta", SER, "up", "dead")]
    assert not of(acts, mb.NodeDead)


def test_partition_heal_is_reported_loudly_and_node_revives() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    old = peer.status(now=6000)
    ms.receive(old, ETH, 6000)
    ms.tick(16000)
    assert ms.node_status("beta") == "dead"
    # A replayed old status of the dead node is stale, not a heal.
    acts = ms.receive(old, ETH, 16100)
    assert of(acts, mb.PartitionHealed) == [] and ms.counters.stale == 1
    acts = ms.receive(peer.status(now=17000), ETH, 17000)
    assert of(acts, mb.PartitionHealed) == [mb.PartitionHealed("beta")]
    texts = logs(acts)
    assert texts[:5] == [
        ("CRIT", "Cluster node beta returning after partition."),
        (
            "info",
            "For information on cluster partitions, See URL: http://linux-ha.org/wiki/Split_Brain",
        ),
        ("WARN", "Deadtime value may be too small."),
        ("info", "See FAQ for information on tuning deadtime."),
        ("info", "URL: http://linux-ha.org/wiki/FAQ#Heavy_Load"),
    ]
    assert ("info", "Status update for node beta: status active") in texts
    assert ms.node_status("beta") == "active" and ms.link_status("beta", ETH) == "up"
    assert ms.counters.partitions_healed == 1
    assert ms.node_deadline("beta") == 27000


def test_restarted_peer_higher_generation() -> None:
    ms = make()
    peer = Peer("beta", gen=200)
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    reborn = Peer("beta", gen=201)
    acts = ms.receive(reborn.status("init", now=7000), ETH, 7000)
    assert ("info", "Heartbeat restart on node beta") in logs(acts)
    assert of(acts, mb.PeerRestarted) == [mb.PeerRestarted("beta", 200, 201)]
    assert of(acts, mb.NodeStateChanged) == [mb.NodeStateChanged("beta", "active", "init")]
    assert not any("lost packet" in tx for _, tx in logs(acts))
    acts = ms.receive(reborn.status("up", now=7001), ETH, 7001)
    assert ms.node_status("beta") == "up" and ms.counters.restarts == 1
    assert not any("lost" in tx for _, tx in logs(acts))


def test_replay_of_a_lower_generation_is_dropped_and_counted() -> None:
    ms = make()
    peer = Peer("beta", gen=200)
    _up(ms, peer)
    ghost = Peer("beta", gen=150)
    recorded = [ghost.status(now=0), ghost.resource(now=0)]  # captured from an old incarnation
    ms.tick(10100)  # links time out (last frame at 100)
    acts = ms.receive(recorded[0], SER, 10200)
    assert logs(acts) == [
        ("ERROR", "should_drop_message: attempted replay attack [beta]? [gen = 150, curgen = 200]")
    ]
    assert ms.counters.replays == 1
    assert ms.link_status("beta", SER) == "dead"
    acts = ms.receive(recorded[1], SER, 10300)
    assert not of(acts, mb.Deliver) and ms.counters.replays == 2
    # Only a status can announce a restart: newer non-status messages of a
    # lower generation are dropped too.
    acts = ms.receive(ghost.resource(now=10400), SER, 10400)
    assert not of(acts, mb.Deliver) and ms.counters.replays == 3


def test_restart_with_a_stale_generation_is_a_restart_and_retires_the_newer_one() -> None:
    ms = make()
    peer = Peer("beta", gen=200)
    _up(ms, peer)
    late = peer.status(now=6000)  # the old incarnation's last status, still on the serial line
    ms.receive(peer.status(now=6000), ETH, 6000)
    reborn = Peer("beta", gen=150)  # its hb_generation was restored from an old backup
    overtaking = reborn.msg(*m.reqnodes_fields("alpha"), now=8900)
    for when in (8900, 8950):  # overtakes its first status (and is retransmitted)
        acts = ms.receive(overtaking, ETH, when)
        assert logs(acts) == ([] if when == 8950 else [
            ("WARN", "beta: dropping messages of a lower generation (150 < 200) newer than its "
             "last status until a status shows whether it restarted")])
        assert not of(acts, mb.SendMessage) and ms.node_status("beta") == "active"
    acts = ms.receive(reborn.status("init", now=9000), ETH, 9000)
    assert ("WARN", "Heartbeat restart on node beta with a lower generation (150 < 200): its "
            "hb_generation was lost or restored from an older copy; generation 200 is "
            "retired") in logs(acts)
    assert of(acts, mb.PeerRestarted) == [mb.PeerRestarted("beta", 200, 150)]
    assert ms.node_status("beta") == "init"
    assert ms.counters.restarts == 1 and ms.counters.replays == 2
    acts = ms.receive(reborn.status("up", now=9100), ETH, 9100)
    assert ms.node_status("beta") == "up"
    assert not any("lost" in tx for _, tx in logs(acts))
    acts = ms.receive(reborn.resource(now=9200), ETH, 9200)
    assert of(acts, mb.Deliver)

    # The retired generation is a replay now, however new its frames look.
    acts = ms.receive(late, SER, 9300)
    assert logs(acts) == [
        ("ERROR", "should_drop_message: attempted replay attack [beta]? [gen = 200, curgen = 150]")
    ]
    assert ms.node_status("beta") == "up" and ms.counters.replays == 3
    acts = ms.receive(peer.status(now=9400), SER, 9400)
    assert of(acts, mb.PeerRestarted) == [] and ms.counters.replays == 4
    assert ms.link_status("beta", SER) == "dead"

    # The next ordinary restart (a higher generation) is an ordinary restart.
    again = Peer("beta", gen=151)
    acts = ms.receive(again.status("init", now=12000), ETH, 12000)
    assert ("info", "Heartbeat restart on node beta") in logs(acts)
    assert of(acts, mb.PeerRestarted) == [mb.PeerRestarted("beta", 150, 151)]


def test_a_lower_generation_no_newer_than_the_last_status_is_still_a_replay() -> None:
    ms = make()
    peer = Peer("beta", gen=200)
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    ghost = Peer("beta", gen=150)
    acts = ms.receive(ghost.status(now=6000), ETH, 6100)  # same wall second: not provably newer
    assert ("ERROR", "should_drop_message: attempted replay attack [beta]? "
            "[gen = 150, curgen = 200]") in logs(acts)
    assert not of(acts, mb.PeerRestarted) and ms.node_status("beta") == "active"


def test_same_message_on_two_media_is_delivered_once_and_counted_once() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    msg = peer.resource(now=6000)
    acts = ms.receive(msg, ETH, 6000)
    assert len(of(acts, mb.Deliver)) == 1
    acts = ms.receive(msg, SER, 6050)
    assert of(acts, mb.Deliver) == []
    assert ms.counters.duplicates == 1
    assert ms.link_status("beta", SER) == "up"
    # Interleaved: n and n+1 by ethernet, then n by serial (slower): still one copy,
    # and the serial link is credited because n is new on the serial link.
    n, n1 = peer.resource(now=7000), peer.resource(now=7001)
    ms.receive(n, ETH, 7000)
    ms.receive(n1, ETH, 7001)
    acts = ms.receive(n, SER, 7300)
    assert of(acts, mb.Deliver) == [] and ms.counters.duplicates == 2
    assert ms.link_deadline("beta", SER) == 17300
    # An old frame replayed on serial does not refresh the serial link.
    ms.receive(msg, SER, 8000)
    assert ms.link_deadline("beta", SER) == 17300 and ms.counters.duplicates == 3
    assert ms.counters.delivered == 3


def _fresh_rng_after_triggers(nodes: int) -> random.Random:
    rng = random.Random(SEED)
    for _ in range(nodes):
        rng.randrange(10)
    return rng


def test_gap_schedules_rexmit_requests_with_the_seeded_rng_and_filling_stops_them() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    t = 5001
    while peer.sender.hiseq < 15:
        ms.receive(peer.status(now=t), ETH, t)
        t += 1
    lost = peer.resource(now=t)  # seq 16 (0x10) never arrives
    acts = ms.receive(peer.resource(now=t), ETH, t)  # seq 17
    assert ("WARN", "1 lost packet(s) for [beta] [15:17]") in logs(acts)
    assert ms.counters.lost_packets == 1
    delay = _fresh_rng_after_triggers(2).randint(50, 250)
    assert ms.next_deadline(t) == t + delay
    assert ms.tick(t + delay - 1) == []
    acts = ms.tick(t + delay)
    (req,) = of(acts, mb.SendMessage)
    assert value(req.fields, b"t") == b"NS_rexmit" and req.dest == "beta"
    assert value(req.fields, b"firstseq") == b"16" and value(req.fields, b"lastseq") == b"16"
    assert value(req.fields, b"seq") is None and value(req.fields, b"ld") is None
    assert ms.next_deadline(t + delay) == t + delay + 250
    acts = ms.tick(t + delay + 250)
    assert value(of(acts, mb.SendMessage)[0].fields, b"firstseq") == b"16"
    assert ms.counters.rexmit_requests_sent == 2
    acts = ms.receive(lost, SER, t + delay + 300)
    assert ("info", "No pkts missing from beta!") in logs(acts)
    assert len(of(acts, mb.Deliver)) == 1
    assert ms.nodes["beta"].tracker.next_request() is None


def test_no_rexmit_requests_to_a_dead_peer() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    peer.resource(now=6001)
    ms.receive(peer.status(now=6002), ETH, 6002)
    ms.tick(16002)
    assert ms.node_status("beta") == "dead"
    assert ms.nodes["beta"].tracker.next_request() is None


def test_gap_over_250_restarts_tracking() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)  # seq 3
    for _ in range(251):
        peer.resource(now=6001)
    acts = ms.receive(peer.status(now=6002), ETH, 6002)  # seq 255: 251 lost
    assert logs(acts)[:2] == [
        ("WARN", "251 lost packet(s) for [beta] [3:255]"),
        ("ERROR", "lost a lot of packets!"),
    ]
    assert ms.nodes["beta"].tracker.next_request() is None
    assert ms.counters.lost_a_lot == 1


def _rexmit_request(peer: Peer, first: int, last: int, now: int) -> tuple:
    return peer.msg(*m.rexmit_fields("alpha", first, last), now=now)


def test_rexmit_requests_are_answered_from_history() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    sent = {}
    for i in range(5):
        for a in ms.send((m.s(b"t", b"resource"), m.s(b"n", str(i))), 6000 + i):
            if isinstance(a, mb.SendMessage):
                assert a.seq is not None
                sent[a.seq] = a.fields
    seq = max(sent)
    acts = ms.receive(_rexmit_request(peer, seq, seq, 7000), ETH, 7000)
    assert of(acts, mb.Resend) == [mb.Resend(seq, sent[seq], "beta")]
    assert ms.receive(_rexmit_request(peer, seq, seq, 7100), ETH, 7100) == []  # < 240 ms
    acts = ms.receive(_rexmit_request(peer, seq, seq, 7240), ETH, 7240)
    assert [r.seq for r in of(acts, mb.Resend)] == [seq]
    acts = ms.receive(_rexmit_request(peer, seq + 5, seq + 5, 7300), ETH, 7300)
    assert logs(acts) == [("WARN", f"Rexmit of seq {seq + 5} requested. {seq} is max.")]


def test_rexmit_of_a_forgotten_message_is_nakked() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    for i in range(600):
        ms.send((m.s(b"t", b"resource"),), 6000 + i)
    acts = ms.receive(_rexmit_request(peer, 26, 26, 7000), ETH, 7000)
    (nak,) = of(acts, mb.SendMessage)
    assert [f[0] for f in nak.fields][:4] == [b"t", b"firstseq", b"dest", b"info"]
    assert value(nak.fields, b"t") == b"NS_nak_rexmit"
    assert value(nak.fields, b"firstseq") == b"1a"
    assert value(nak.fields, b"info") == b"seqno too low"
    assert ("ERROR", "Cannot rexmit pkt 26 for beta: seqno too low") in logs(acts)
    assert ms.counters.naks_sent == 1


def test_rexmit_of_a_seq_we_did_not_keep_is_not_found_and_batches_cap_at_50() -> None:
    numbers = iter(range(1, 10**6, 2))  # a shared counter: every other seq is a worker's
    cfg = make(start=False).config
    ms = mb.Membership(
        cfg,
        generation=100,
        uuid=uuid_of("alpha"),
        now=0,
        wall_s=WALL0,
        rng=random.Random(1),
        allocate_seq=lambda status: next(numbers),
    )
    ms.start(0)
    peer = Peer("beta")
    bring_up(ms, peer, 100)
    for i in range(120):
        ms.send((m.s(b"t", b"resource"),), 1000 + i)
    acts = ms.receive(_rexmit_request(peer, 10, 10, 2000), ETH, 2000)
    assert ("ERROR", "Cannot rexmit pkt 10 for beta: seqno not found") in logs(acts)
    assert value(of(acts, mb.SendMessage)[0].fields, b"info") == b"seqno not found"
    acts = ms.receive(_rexmit_request(peer, 20, 240, 3000), ETH, 3000)
    assert len(of(acts, mb.Resend)) == 50


def test_acks_follow_the_per_peer_trigger() -> None:
    ms = make()
    peer = Peer("beta")
    trigger = ms.nodes["beta"].tracker.ack_trigger
    acts = bring_up(ms, peer, 100)
    for t in range(1000, 1030):
        acts += ms.receive(peer.status(now=t), ETH, t)
    acks = [a for a in of(acts, mb.SendMessage) if value(a.fields, b"t") == b"NS_ackmsg"]
    seqs = [int(value(a.fields, b"ackseq") or b"", 16) for a in acks]
    expected = [s for s in range(1, 33) if s % 10 == trigger]
    assert seqs == expected
    assert all(a.dest == "beta" and value(a.fields, b"dest") == b"beta" for a in acks)
    assert all(value(a.fields, b"seq") is None for a in acks)
    assert ms.counters.acks_sent == len(expected)


def test_no_ack_past_an_open_hole() -> None:
    ms = make()
    peer = Peer("beta")
    trigger = ms.nodes["beta"].tracker.ack_trigger
    _up(ms, peer)
    while peer.sender.hiseq < 10 + trigger - 2:
        ms.receive(peer.status(now=6000), ETH, 6000)
    peer.resource(now=6001)  # seq 10 + trigger - 1 lost
    acts = ms.receive(peer.status(now=6002), ETH, 6002)  # seq 10 + trigger
    assert not [a for a in of(acts, mb.SendMessage) if value(a.fields, b"t") == b"NS_ackmsg"]


def test_dt_is_boosted_for_the_first_five_seconds() -> None:
    ms = make(start=False)
    acts = ms.start(1000)
    last_status = of(acts, mb.SendMessage)[-1].seq
    assert of(acts, mb.KeepaliveChanged)[-1] == mb.KeepaliveChanged("up", 12000, True,
                                                                     last_status)
    assert ms.next_deadline(1000) == 6000
    assert ms.tick(5999) == []
    acts = ms.tick(6000)
    (status,) = of(acts, mb.SendMessage)
    assert value(status.fields, b"dt") == b"2710"
    # the content names the status message it follows: workers may not go back past it
    assert status.seq is not None and last_status is not None and status.seq > last_status
    assert of(acts, mb.KeepaliveChanged) == [mb.KeepaliveChanged("up", 10000, True, status.seq)]


def test_periodic_keepalives_when_asked() -> None:
    ms = make(send_keepalives=True)
    acts = []
    for t in (1000, 2000, 3500):
        acts += ms.tick(t)
    assert [value(s.fields, b"t") for s in of(acts, mb.SendMessage)] == [b"status"] * 3
    assert ms.next_deadline(3500) == 4000


def test_peer_without_protocol_turns_flow_control_off() -> None:
    ms = make()
    peer = Peer("beta")
    acts = ms.receive(peer.status("up", now=100, protocol=False), ETH, 100)
    assert ("info", "flow control disabled due to different version heartbeat") in logs(acts)
    assert b"reqnodes" not in sent_types(acts)
    assert of(acts, mb.CommUp) and ms.local_status == "active"
    status = [s for s in of(acts, mb.SendMessage) if value(s.fields, b"t") == b"status"][-1]
    assert value(status.fields, b"protocol") is None


def test_bad_messages_are_logged_and_counted() -> None:
    ms = make()
    acts = ms.receive((m.s(b"t", b"status"), m.s(b"src", b"beta"), m.s(b"seq", b"1")), ETH, 10)
    assert logs(acts) == [
        ("ERROR", "process_clustermsg: missing from/ts/type: iface eth1, from beta (no ts)")
    ]
    zeta = Peer("zeta")
    acts = ms.receive(zeta.status(now=20), ETH, 20)
    assert logs(acts) == [("ERROR", "process_status_message: bad node [zeta] in message")]
    beta = Peer("beta")
    bad = beta.msg(m.s(b"t", b"status"), m.s(b"dt", b"2710"), now=30)
    acts = ms.receive(bad, ETH, 30)
    assert any("status update without st field" in tx for _, tx in logs(acts))
    assert ms.counters.malformed == 2 and ms.counters.unknown_node == 1
    with pytest.raises(KeyError, match="no medium"):
        ms.receive(beta.status(now=40), "eth9", 40)


def test_own_frames_mark_own_links_up_and_nothing_else() -> None:
    ms = make()
    own = [a for a in ms.send((m.s(b"t", b"resource"),), 100) if isinstance(a, mb.SendMessage)]
    acts = ms.receive(own[0].fields, ETH, 101)
    assert of(acts, mb.LinkStateChanged) == [mb.LinkStateChanged("alpha", ETH, "dead", "up")]
    assert ms.counters.own_messages == 1 and not of(acts, mb.Deliver)


def test_send_loops_local_messages_back_and_keeps_history() -> None:
    ms = make()
    acts = ms.send((m.s(b"t", b"starting"),), 100)
    assert isinstance(acts[0], mb.SendMessage) and acts[0].seq == 3
    (d,) = of(acts, mb.Deliver)
    assert d.local and d.node == "alpha" and d.message.type == b"starting"
    acts = ms.send((m.s(b"t", b"ip-request-resp"), m.s(b"dest", b"beta")), 110)
    assert of(acts, mb.Deliver) == []
    assert ms.sender.history_seqs() == [1, 2, 3, 4]


def test_keepalives_sent_by_workers_join_the_history() -> None:
    board = iter(range(1, 100))
    cfg = make(start=False).config
    ms = mb.Membership(
        cfg,
        generation=100,
        uuid=uuid_of("alpha"),
        now=0,
        wall_s=WALL0,
        rng=random.Random(1),
        allocate_seq=lambda status: next(board),
    )
    ms.start(0)
    worker = Peer("alpha")
    worker.sender.generation = 100
    ka = worker.msg(*m.status_fields("up", 12000), now=500)  # seq 1 of its own counter
    ka = tuple((n, t, b"9" if n == b"seq" else v) for n, t, v in ka)
    ms.keepalive_sent(ka, 500)
    assert 9 in ms.sender.history_seqs()


def test_config_checks_mirror_heartbeat() -> None:
    with pytest.raises(ValueError, match="too small compared to keeplive"):
        mb.MembershipConfig("a", ("a", "b"), (ETH,), keepalive_ms=1000, deadtime_ms=2000)
    with pytest.raises(ValueError, match="Initial dead time"):
        mb.MembershipConfig("a", ("a", "b"), (ETH,), deadtime_ms=10000, initdead_ms=5000)
    with pytest.raises(ValueError, match="not among the nodes"):
        mb.MembershipConfig("c", ("a", "b"), (ETH,))
    cfg = mb.MembershipConfig("a", ("a", "b"), (ETH,), deadtime_ms=10000)
    assert (cfg.warntime, cfg.initdead, cfg.ttl) == (5000, 20000, 3)
    assert mb.MembershipConfig("a", ("a",), (ETH,), deadtime_ms=5000).initdead == 12000
    assert mb.MembershipConfig("a", ("a",), (ETH,), deadtime_ms=30000).initdead == 30000


def test_snapshot_is_json_ready() -> None:
    import json

    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    snap = mb.snapshot(ms, 5000)
    text = json.dumps(snap)
    assert '"local_status": "active"' in text
    assert snap["nodes"]["beta"]["links"] == {ETH: "up", SER: "dead"}  # type: ignore[index]


def test_an_older_status_arriving_late_on_another_medium_does_not_set_the_node_back() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    up = peer.status("up", now=6000)
    active = peer.status("active", now=6100)  # same wall-clock second as "up"
    assert value(up, b"ts") == value(active, b"ts")
    ms.receive(active, SER, 6100)
    assert ms.node_status("beta") == "active"
    stale_before = ms.counters.stale
    acts = ms.receive(up, ETH, 6150)  # the eth1 worker opened late and sent its queue
    assert ms.node_status("beta") == "active"
    assert not of(acts, mb.NodeStateChanged)
    assert ms.counters.stale == stale_before + 1
    assert ms.link_status("beta", ETH) == "up"  # still proof of life on that link


def test_node_changes_carry_the_reason_an_operator_needs() -> None:
    ms = make()
    acts = ms.tick(20000)  # beta never heard within initdead
    dead, local = of(acts, mb.NodeStateChanged)
    assert dead.reason == "not heard within initdead (20000 ms)"
    assert (local.node, local.new, local.reason) == ("alpha", "active", "comm up")

    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    acts = ms.tick(16000)  # silent for deadtime
    assert [c.reason for c in of(acts, mb.NodeStateChanged)] == [
        "no keepalive on any link for 10000 ms (deadtime)"]
    acts = ms.receive(peer.status(now=17000), ETH, 17000)
    assert [c.reason for c in of(acts, mb.NodeStateChanged)] == ["status message from beta"]
    acts = ms.receive(peer.status("dead", now=17500), ETH, 17500)
    assert [c.reason for c in of(acts, mb.NodeStateChanged)] == [
        "it announced status dead itself (graceful shutdown)"]

    ms = make()
    _up(ms, peer := Peer("beta"))
    ms.receive(peer.status(now=6000), ETH, 6000)
    acts = ms.receive(peer.status(now=17500), ETH, 17500)
    assert [c.reason for c in of(acts, mb.NodeStateChanged)] == [
        "Late heartbeat: interval 11500 ms (> deadtime)", "status message from beta"]


def test_retime_moves_the_deadline_and_the_advertised_dt() -> None:
    ms = make()
    peer = Peer("beta")
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    assert ms.node_deadline("beta") == 16000
    acts = ms.retime(1000, 4000, 2000, 20000, 7000)  # a reread ha.cf: deadtime 4 s
    assert of(acts, mb.KeepaliveChanged)[0].dt_ms == 4000
    # beta still advertises 10 s: a peer's longer dt is honoured (no false death
    # while the other node has not reloaded yet) ...
    assert ms.node_deadline("beta") == 16000
    ms.receive(peer.status(dt=4000, now=8000), ETH, 8000)  # ... until it reloads too
    assert ms.node_deadline("beta") == 12000
    assert not of(ms.tick(11999), mb.NodeDead)
    assert of(ms.tick(12000), mb.NodeDead) == [mb.NodeDead("beta")]


def test_retime_refuses_timers_membership_cannot_run_and_keeps_the_old() -> None:
    ms = make()
    with pytest.raises(ValueError, match="Dead time"):
        ms.retime(2000, 3000, 1000, 20000, 0)
    assert ms.config.keepalive_ms == 1000 and ms.config.deadtime_ms == 10000


def _statuses(acts: list[mb.Action]) -> list[bytes | None]:
    return [value(s.fields, b"st") for s in of(acts, mb.SendMessage)
            if value(s.fields, b"t") == b"status"]


def test_a_peer_heard_for_the_first_time_gets_our_status_at_once() -> None:
    """Not at our next tick: the starting peer's comm-up waits for it."""
    ms = make()
    peer = Peer("beta", gen=200)
    acts = ms.receive(peer.status("init", now=300), ETH, 300)
    assert _statuses(acts) == [b"up"]
    assert [value(c.fields, b"seq") for c in of(acts, mb.SendMessage)
            if value(c.fields, b"t") == b"status"] == [b"3"]  # after init (1), up (2)
    # Once per admission: its next statuses get only our ticks.
    assert _statuses(ms.receive(peer.status("up", now=400), ETH, 400)) == []
    assert _statuses(ms.receive(peer.status("active", now=500), ETH, 500)) == []


def test_a_restarted_peer_gets_our_status_at_once_again() -> None:
    ms = make()
    peer = Peer("beta", gen=200)
    _up(ms, peer)
    ms.receive(peer.status(now=6000), ETH, 6000)
    reborn = Peer("beta", gen=201)
    acts = ms.receive(reborn.status("init", now=7000), ETH, 7000)
    assert of(acts, mb.PeerRestarted) == [mb.PeerRestarted("beta", 200, 201)]
    assert _statuses(acts) == [ms.local_status.encode()]
    assert _statuses(ms.receive(reborn.status("up", now=7001), ETH, 7001)) == []


def _deadline_by_parts(ms: mb.Membership) -> int | None:
    """`next_deadline` as its docstring defines it, from the per-node queries."""
    times = []
    for name, info in ms.nodes.items():
        times.append(ms.node_deadline(name))
        times += [ms.link_deadline(name, md) for md in info.links]
        times.append(info.tracker.next_request())
    times += [ms._dt_boost_until, ms._reqnodes_due, ms._next_keepalive]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def test_next_deadline_is_the_earliest_node_link_and_request_deadline() -> None:
    """Through start-up, links coming and going, gaps (retransmission
    requests), advertised deadtimes and deaths, the loop's deadline is the
    earliest of what each node and link says."""
    rng = random.Random(3)
    ms = make(nodes=("alpha", "beta", "gamma"))
    peers = {"beta": Peer("beta", nodes=3), "gamma": Peer("gamma", nodes=3)}
    now = 0
    seen = set()
    for _ in range(400):
        assert ms.next_deadline(now) == _deadline_by_parts(ms)
        now += rng.choice((50, 300, 1000, 4000))
        name = rng.choice(list(peers))
        roll = rng.random()
        if roll < 0.5:
            medium = rng.choice((ETH, SER))
            dt = rng.choice((10000, 12000, 30000))
            ms.receive(peers[name].status(rng.choice(("up", "active")), dt, now=now), medium, now)
        elif roll < 0.6:
            peers[name].status("active", now=now)  # lost: the next one leaves a gap
        elif roll < 0.7:
            peers[name] = Peer(name, gen=200 + now, nodes=3)  # restarted
        else:
            due = ms.next_deadline(now)
            if due is not None:
                now = max(now, due)
                ms.tick(now)
        seen.add((ms.comm_up, ms.node_status(name), ms.link_status(name, SER),
                  bool(ms.nodes[name].tracker.missing)))
    # The walk went through the states the deadline depends on.
    assert any(not up for up, *_ in seen) and any(up for up, *_ in seen)
    assert {st for _, st, _, _ in seen} >= {"dead", "active"}
    assert {ls for *_, ls, _ in seen} == {"up", "dead"}
    assert any(missing for *_, missing in seen)
