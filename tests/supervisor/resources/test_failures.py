"""Start and stop failures, hung scripts, split brain
(docs/heartbeat-protocol.md §10 items 2, 4, 5, 6)."""

from __future__ import annotations

import itertools

from hbeat.config.model import AutoFailback, ResourceGroup
from supervisor import resources as rs
from supervisor import rscmessages as rm

from .sim import HANG, SEED_GROUPS, Sim, group

KEY = "drbddisk::r0"


def test_start_failure_mid_group_rolls_back_and_hands_the_group_over() -> None:
    sim = Sim(mode=AutoFailback.ON)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "start")] = 1  # LVM::vg0 fails to start on weasel
    sim.comm_up()
    sim.settle()
    calls = [(i, a) for _t, k, i, a in weasel.calls]
    assert calls == [
        (0, "status"),
        (0, "start"),
        (1, "status"),
        (1, "start"),  # fails
        (1, "stop"),
        (0, "stop"),  # right to left, failed one included, (2) never touched
    ]
    assert weasel.running == set()
    errs = [(lv, t) for _, lv, t in weasel.logs if lv in ("ERROR", "CRIT")]
    assert errs[:2] == [
        ("ERROR", "Return code 1 from LVM"),
        ("CRIT", "Giving up resources due to failure of LVM::vg0"),
    ]
    assert weasel.states[KEY] == rs.FAILED
    assert f"t=ip-request-resp dest=otter ipaddr={KEY} weown=yes ok=OK" in weasel.sent_summary()
    assert sim.holders(KEY) == ["otter"]
    assert otter.rscstatus == "all"
    # never held while down: weasel no longer counts it
    assert weasel.rscstatus == "none"
    # rscstatus never said "local" on weasel after the failure
    failed_at = next(t for t, _o, n, _k, _a, b in sim.timeline if n == "weasel" and b == rs.FAILED)
    assert all(h in (rs.TRANSITION, "none") for t, h in weasel.held if t >= failed_at)
    assert "Both machines own" not in " ".join(otter.log_texts() + weasel.log_texts())
    sim.assert_never_two_holders()
    # auto_failback does not bounce it back while weasel still has it marked failed
    sim.run_for(60_000)
    assert sim.holders(KEY) == ["otter"]


def test_start_failure_on_both_nodes_is_reported_and_not_bounced() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 2, "start")] = 1
    otter.behaviour[(KEY, 0, "start")] = None  # timed out in the executor
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == []
    assert "No return code from drbddisk (timed out, killed or not run)" in otter.log_texts()
    assert (
        f"Resource group {KEY} failed on both nodes: it is not running anywhere."
        in otter.log_texts()
    )
    assert otter.rscstatus == "local" and weasel.rscstatus == "none"
    assert otter.states[KEY] == weasel.states[KEY] == rs.FAILED


def test_start_failure_alone_is_reported() -> None:
    sim = Sim(mode=AutoFailback.OFF, boot_takeover="initdead")  # type: ignore[arg-type]
    weasel = sim.nodes["weasel"]
    weasel.behaviour[(KEY, 0, "start")] = 5
    sim.apply(weasel, weasel.res.node_dead("otter", 0))
    sim.comm_up("weasel")
    sim.settle()
    assert (
        f"Resource group {KEY} could not be started and no other node can take it: "
        "it is not running anywhere." in weasel.log_texts()
    )
    assert weasel.rscstatus == "foreign"  # otter has no groups; weasel's own one is down


TWO_HOMES = (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.7"))


def failed_on_weasel_then_fixed(mode: AutoFailback = AutoFailback.OFF,
                                groups: tuple[ResourceGroup, ...] = SEED_GROUPS) -> Sim:
    """weasel's start of its own group failed, otter runs it; then the cause
    is gone (weasel's next start works)."""
    sim = Sim(groups=groups, mode=mode)
    weasel = sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "start")] = 1
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    del weasel.behaviour[(KEY, 1, "start")]
    return sim


def test_explicit_takeover_clears_the_failed_mark() -> None:
    sim = failed_on_weasel_then_fixed()  # the admin fixed it
    weasel = sim.nodes["weasel"]
    sim.apply(weasel, weasel.res.takeover("local", sim.now))
    assert weasel.states[KEY] == rs.STOPPED
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    sim.assert_never_two_holders()


def test_stop_failure_is_retried_then_reported_without_reboot() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    weasel.behaviour[(KEY, 1, "stop")] = 1  # LVM::vg0 will not stop
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(30_000)
    stops = [t for t, k, i, a in weasel.calls if (i, a) == (1, "stop")]
    assert len(stops) == 11  # 1 + 10 retries
    assert [b - a for a, b in itertools.pairwise(stops)] == [1_100] * 10  # 1 s + 100 ms
    assert weasel.log_texts().count("Retrying failed stop operation [LVM::vg0]") == 10
    crit = weasel.log_texts("CRIT")
    assert crit[0].startswith("Resource STOP failure: LVM::vg0 of group")
    assert "Not rebooting" in crit[0]
    assert "reboot" not in " ".join(weasel.log_texts()).lower().replace("not rebooting", "")
    assert weasel.states[KEY] == rs.STOP_FAILED
    # resource 0 (left of the failed one) was left alone; 2 was stopped before
    assert (KEY, 0) in weasel.running and (KEY, 2) not in weasel.running
    # This test used to assert that otter took the group over ("standby for it, the
    # protocol goes on as if it had stopped"): that ran drbddisk and LVM on both nodes
    # (a live test showed it). Now weasel keeps holding the stop-failed group and otter
    # never starts it (tests/supervisor/resources/test_stop_failure.py covers every path).
    assert sim.holders(KEY) == ["weasel"]
    assert not [c for c in otter.calls if c[3] == "start"]
    assert weasel.rscstatus == "local"
    sim.run_for(60_000)
    assert weasel.states[KEY] == rs.STOP_FAILED
    sim.assert_never_run_twice()


def test_stop_failure_with_status_stopped_is_only_a_warning() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    weasel = sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    weasel.behaviour[(KEY, 2, "stop")] = 1
    weasel.running.discard((KEY, 2))  # status will say stopped
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.settle()
    assert "Resource script for Filesystem::/dev/vg0/data::/srv probably not LSB-compliant." in (
        weasel.log_texts("ERROR")
    )
    assert weasel.states[KEY] == rs.STOPPED
    assert sim.holders(KEY) == ["otter"]


def test_hung_script_with_lost_executor_result_does_not_hang_the_machine() -> None:
    sim = Sim(mode=AutoFailback.OFF, result_grace_ms=5_000)
    _otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 0, "start")] = HANG
    sim.comm_up()
    sim.run_for(10_004 + 100)  # weasel became stable and asked drbddisk's status
    sim.run_for(120_000 + 4_999)  # start was asked at 10_104: timeout 120 s + grace 5 s
    assert weasel.states[KEY] == rs.STARTING
    sim.run_for(2)
    assert any(
        "No result from the executor for drbddisk::r0 start" in t for t in weasel.log_texts()
    )
    sim.settle()
    assert weasel.states[KEY] == rs.FAILED
    assert sim.holders(KEY) == ["otter"]
    # a late result of the abandoned call is ignored
    late = weasel.res.script_done(1, 0, "ok", sim.now)
    assert late[0].text.startswith("Ignoring result of unknown or abandoned operation")  # type: ignore[union-attr]


def heal_partition(sim: Sim) -> None:
    """The partition between otter and weasel heals; both hear of it."""
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.cut = False
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    sim.apply(weasel, weasel.res.node_returned_after_partition("otter", sim.now))
    sim.settle()


def test_split_brain_heals_to_the_preferred_nodes() -> None:
    groups = (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.7"))
    sim = Sim(groups=groups, mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.cut = True  # partition: both declare the other dead and take everything
    sim.apply(otter, otter.res.node_dead("weasel", sim.now))
    sim.apply(weasel, weasel.res.node_dead("otter", sim.now))
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    assert sorted(sim.holders("IPaddr::10.0.0.7")) == ["otter", "weasel"]
    assert otter.rscstatus == weasel.rscstatus == "all"
    heal = sim.now
    heal_partition(sim)
    assert sim.holders(KEY) == ["weasel"]
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]
    assert otter.rscstatus == weasel.rscstatus == "local"
    for node in (otter, weasel):
        errs = node.log_texts("ERROR")
        assert "Both machines own foreign resources!" in errs
        assert "Both machines own our resources!" in errs
    # nobody dropped its own group: the preferred node kept it running throughout
    assert not any(
        t >= heal and n == "weasel" and k == KEY and b != rs.RUNNING
        for t, _o, n, k, _a, b in sim.timeline
    )
    sim.assert_never_two_holders(since=sim.now)


def test_legacy_split_brain_heal_gives_back_foreign_groups() -> None:
    sim = Sim(mode=AutoFailback.LEGACY)
    otter = sim.nodes["otter"]
    sim.comm_up()
    sim.settle()
    sim.cut = True
    sim.apply(otter, otter.res.node_dead("weasel", sim.now))
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    heal_partition(sim)
    assert sim.holders(KEY) == ["weasel"]


def test_legacy_heal_during_the_takeover_gives_back_every_group_it_started() -> None:
    """Found by a random exploration of the sim: a partition that heals while
    the takeover it caused still runs (a DRBD, LVM and filesystem start take
    seconds). Legacy gave back only the foreign groups already running; the
    one starting, and those still queued, came up afterwards and ran on both
    nodes for good. The give-back now waits until no job runs, as the audit
    of auto_failback on/off does (and weasel asks for its groups again at the
    heal, so otter releases them either way)."""
    groups = (*SEED_GROUPS, group(2, "weasel", "IPaddr::10.0.0.8"))
    sim = Sim(groups=groups, mode=AutoFailback.LEGACY)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == sim.holders("IPaddr::10.0.0.8") == ["weasel"]
    sim.split_brain()
    sim.run_for(150)  # otter is starting weasel's first group; the second waits
    assert otter.states[KEY] == rs.STARTING
    assert otter.states["IPaddr::10.0.0.8"] == rs.STOPPED
    heal_partition(sim)
    assert sim.holders(KEY) == sim.holders("IPaddr::10.0.0.8") == ["weasel"]
    assert not any((key, i) in otter.running for key, i in weasel.running)


def test_hb_standby_with_the_peer_dead_is_refused_and_a_split_brain_still_heals() -> None:
    """Found by a random exploration of the sim: split brain, then hb_standby
    on otter while the cut lasted. 3.0.6 sends the request to the dead peer
    and gives up after 10 s; here the peer's reports that came meanwhile were
    left unaudited and both nodes ran weasel's group for good (and a peer
    frozen rather than dead could answer late, and be handed groups while we
    fenced it). The request is refused; a report that comes during any
    exchange is audited when the exchange ends."""
    sim = Sim(mode=AutoFailback.OFF)
    otter = sim.nodes["otter"]
    sim.comm_up()
    sim.settle()
    sim.split_brain()
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    sent = len(otter.sent)
    sim.apply(otter, otter.res.standby("all", sim.now))
    assert otter.log_texts()[-2:] == [
        "Going standby [all].",
        "Standby [all] refused: weasel is dead; nobody would take the resources over.",
    ]
    assert len(otter.sent) == sent and otter.res.snapshot()["standby"] is None
    sim.run_for(50)
    heal_partition(sim)
    assert "Both machines own foreign resources!" in otter.log_texts("ERROR")
    assert sim.holders(KEY) == ["weasel"]


def test_the_peer_declaring_us_dead_ends_a_standby_exchange_we_joined_late() -> None:
    """Found by a random exploration of the sim: otter was frozen (SIGSTOP)
    just as weasel asked to go standby; weasel declared it dead, dropped the
    request and took everything. Resumed, otter read the old request, agreed
    and waited for a release that would never come: its exchange, and with it
    every standby request and the audit of weasel's reports, hung (3.0.6
    would have waited an hour). weasel's `stonith node=otter`, read next,
    ends it."""
    sim = Sim(groups=TWO_HOMES, mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.freeze("otter", declared_dead_after=10_000)
    sim.apply(weasel, weasel.res.standby("local", sim.now))  # waits in otter's queue
    sim.run_for(10_001)
    assert "otter" in weasel.seen_dead
    sim.settle()
    assert sim.holders("IPaddr::10.0.0.7") == ["otter", "weasel"]
    sim.thaw("otter")
    sim.settle()
    assert "Standby request cancelled: weasel declared us dead." in otter.log_texts("WARN")
    assert otter.res.snapshot()["standby"] is None
    assert sim.holders(KEY) == ["weasel"] and sim.holders("IPaddr::10.0.0.7") == ["otter"]
    assert otter.rscstatus == weasel.rscstatus == "local"


def test_one_sided_partition_converges() -> None:
    """weasel's supervisor was frozen past deadtime (SIGSTOP): only otter saw
    a partition and took weasel's group; weasel, resumed, still runs it and
    sees otter claim it. Found by the fault suite (tests/lab/faults): weasel must
    tell otter it holds its group, so otter releases its copy."""
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    sim.cut = True  # weasel frozen: nothing from it reaches otter, and it sees nothing
    sim.apply(otter, otter.res.node_dead("weasel", sim.now))
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    sim.cut = False  # weasel resumes; only otter noticed anything
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert "Both machines own our resources!" in weasel.log_texts("ERROR")
    assert "Both machines own foreign resources!" in otter.log_texts("ERROR")
    assert otter.rscstatus == weasel.rscstatus == "local"
    sim.assert_never_two_holders(since=sim.now)


def test_one_sided_partition_of_a_peer_that_holds_nothing_leaves_it_stable() -> None:
    """The fault suite's seed 1344415903: weasel crashed and otter took its group;
    weasel came back and, auto_failback off, left it on otter. Then weasel was
    frozen past deadtime: only otter declared it dead (there was nothing to take),
    then heard it again. Nothing is doubly held, so weasel's audit of otter's
    report asks for no answer, and otter held weasel "in flux" until weasel next
    changed state: hb_standby on otter was refused. Otter's report at the heal
    now asks for weasel's (isstable=0 then 1, a transition 3.0.6 answers too)."""
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.kill("weasel")
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    sim.restart("weasel")
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    assert otter.res.snapshot()["peer"]["stable"]
    sim.partition(only="otter")  # weasel frozen: it sees nothing
    sim.run_for(10_001)
    assert "weasel" in otter.seen_dead
    sim.settle()
    sim.cut = False  # weasel resumes; only otter noticed anything
    sent, asked = len(weasel.sent), len(otter.sent)
    sim.apply(otter, otter.res.node_up("weasel", sim.now))
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    sim.settle()
    # otter's two reports (once, though both events ask), weasel's one answer,
    # otter's answer to that turn to stable, and nothing more: a stable report
    # to a node that holds us stable is not answered
    assert otter.sent_summary()[asked:] == [
        "t=resource rsc_hold=all rtype=full isstable=0",
        "t=resource rsc_hold=all rtype=full isstable=1",
        "t=resource rsc_hold=all rtype=full isstable=1",
    ]
    assert weasel.sent_summary()[sent:] == ["t=resource rsc_hold=none rtype=full isstable=1"]
    assert otter.res.snapshot()["peer"]["stable"]
    assert "remote resource transition completed." in otter.log_texts("info")
    sim.apply(otter, otter.res.standby("all", sim.now))
    sim.settle()
    assert not any("in flux" in t for t in otter.log_texts() + weasel.log_texts())
    assert sim.holders(KEY) == ["weasel"]
    sim.assert_never_two_holders()


def test_a_frozen_node_declared_dead_gives_back_a_group_it_ran_for_a_failed_start() -> None:
    """The fault suite's seed 1959288464: weasel's start of its group failed and
    otter ran it (kept on weasel's claim: the claim may predate the failure).
    Then otter was frozen past deadtime: weasel declared it dead and started
    its group again. Only weasel saw a partition, so only weasel dropped the
    exception at the heal, and both ran the group for good ("Both machines own
    our resources!" on weasel, nothing on otter). weasel's `stonith node=otter`
    report, which otter reads when it resumes, voids the exception there too."""
    sim = failed_on_weasel_then_fixed()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.drop_from.add("otter")  # otter frozen: it sends nothing, weasel's frames wait for it
    sim.apply(weasel, weasel.res.node_dead("otter", sim.now))
    sim.settle()
    assert "weasel" in sim.holders(KEY)  # started again (otter, reading on, may stop its copy)
    assert "t=stonith node=otter result=n_stnth" in weasel.sent_summary()
    sim.drop_from.discard("otter")  # otter resumes; only weasel noticed anything
    sim.apply(weasel, weasel.res.node_up("otter", sim.now))
    sim.apply(weasel, weasel.res.node_returned_after_partition("otter", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert "Both machines own foreign resources!" in otter.log_texts("ERROR")
    sim.assert_never_two_holders(since=sim.now)


def test_legacy_frozen_node_declared_dead_gives_back_the_peers_group() -> None:
    """auto_failback legacy: weasel's start of its group failed and otter ran
    it. otter was then frozen past deadtime; weasel declared it dead and took
    everything. At the heal weasel gives back otter's groups (legacy's
    partition rule), but otter saw no partition and ran weasel's group on for
    good. weasel's `stonith node=otter` report is otter's partition: it gives
    back the groups it runs for weasel."""
    sim = failed_on_weasel_then_fixed(AutoFailback.LEGACY, TWO_HOMES)
    weasel = sim.nodes["weasel"]
    sim.drop_from.add("otter")  # otter frozen: it sends nothing, weasel's frames wait for it
    sim.apply(weasel, weasel.res.node_dead("otter", sim.now))
    sim.settle()
    assert "weasel" in sim.holders(KEY)
    sim.drop_from.discard("otter")
    sim.apply(weasel, weasel.res.node_up("otter", sim.now))
    sim.apply(weasel, weasel.res.node_returned_after_partition("otter", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]
    sim.assert_never_two_holders(since=sim.now)


def test_legacy_heal_asks_a_peer_that_saw_no_partition_for_our_groups() -> None:
    """Found by the sim's random explorer (seed 907653 of 25 events):
    auto_failback legacy, otter ran weasel's group (weasel's start had
    failed); otter was frozen while a partition cut the link, so weasel's
    `stonith node=otter` report was lost, and weasel declared otter dead and
    started its group again. At the heal weasel gave back otter's group, but
    otter, which saw nothing, ran weasel's for good. weasel now asks for its
    groups again at a heal, as at comm-up."""
    sim = failed_on_weasel_then_fixed(AutoFailback.LEGACY, TWO_HOMES)
    weasel = sim.nodes["weasel"]
    sim.freeze("otter")
    sim.cut = True
    weasel.seen_dead.add("otter")
    sim.apply(weasel, weasel.res.node_dead("otter", sim.now))
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    sim.cut = False
    sim.thaw("otter")  # weasel hears it back: node_up, then the heal
    sim.settle()
    assert "t=ip-request ipaddr=drbddisk::r0" in weasel.sent_summary()
    assert sim.holders(KEY) == ["weasel"]
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]


def test_a_split_brain_that_cannot_converge_does_not_loop_reports() -> None:
    """Found by the sim's random explorer (seed 1105638 of 25 events): after a
    split brain neither node could stop its copy of the other's group (both
    stops failed), so each kept running its own group while the peer held it
    too. Each answered the other's report with its own ("Both machines own our
    resources!"), and each answer was answered: reports without end, a round
    trip apart. A node now tells the peer once per pair of holdings."""
    sim = Sim(groups=TWO_HOMES, mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.split_brain()
    sim.settle()
    otter.behaviour[(KEY, 0, "stop")] = 1  # weasel's group will not stop on otter
    weasel.behaviour[("IPaddr::10.0.0.7", 0, "stop")] = 1  # nor otter's on weasel
    sent = len(otter.sent) + len(weasel.sent)
    heal_partition(sim)  # settles: it would raise "simulation did not settle"
    assert len(otter.sent) + len(weasel.sent) - sent < 30
    assert "Both machines own our resources!" in otter.log_texts("ERROR")
    assert otter.states[KEY] == weasel.states["IPaddr::10.0.0.7"] == rs.STOP_FAILED


def test_a_failed_fence_of_us_reported_by_the_peer_changes_nothing() -> None:
    """`stonith node=<us> result=bad`: the peer could not fence us and takes
    nothing over yet, so we keep what we run (legacy)."""
    sim = failed_on_weasel_then_fixed(AutoFailback.LEGACY, TWO_HOMES)
    weasel = sim.nodes["weasel"]
    sim.apply(weasel, [rs.SendMessage(rm.stonith_fields("otter", "bad"))])
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]


def test_split_brain_after_a_failed_start_still_heals_to_one_copy() -> None:
    # weasel's start of its own group failed: otter runs it, and does not give
    # it back on weasel's claim (the claim may predate the failure). A split
    # brain then makes weasel start it again; once healed, that reason is
    # void and the partition rules leave one copy (the fault suite's seed
    # 453220386 ran it on both nodes for good).
    sim = failed_on_weasel_then_fixed()
    sim.split_brain()
    sim.settle()
    assert sorted(sim.holders(KEY)) == ["otter", "weasel"]
    heal_partition(sim)
    assert len(sim.holders(KEY)) == 1, sim.holders(KEY)
    sim.assert_never_two_holders(since=sim.now)
