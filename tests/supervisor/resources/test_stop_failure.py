"""A group whose stop failed is never started on the other node because of what we say.

heartbeat 3.0.6 reboots a node whose stop failed (docs/heartbeat-protocol.md
§5.7) so that a half-stopped group cannot run on two nodes; hbeat does not
reboot, so the node keeps claiming the group (resources.py, "Stop failure"). Every path that
releases a group is driven into a failed stop here, and the executors' truth
(`Sim.runlog`: what possibly runs where, from the start call until a stop
succeeds) is checked: no resource ever runs on both nodes, and the other node
takes the group only after an administrator's decision or our death.

The seed group is weasel's `drbddisk::r0 LVM::vg0 Filesystem::...`; its
resource 2 (the rightmost, `Filesystem::...`) is the one whose stop fails,
so resources 0 and 1, left of it, are deliberately never stopped.
"""

from __future__ import annotations

import itertools

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import FAIL_RUNNING, SEED_GROUPS, Node, Sim, group

KEY = "drbddisk::r0"
IP = "IPaddr::10.0.0.9"
TOP = 2  # index of the resource whose stop fails
ALL3 = {(KEY, 0), (KEY, 1), (KEY, 2)}
MIN = 60_000


def group_starts(node: Node, key: str, since: int = 0) -> list[tuple[int, int]]:
    return [(t, i) for t, k, i, a in node.calls if k == key and a == "start" and t >= since]


def sent_since(node: Node, t: int) -> list[str]:
    return [s for (when, _f), s in zip(node.sent, node.sent_summary(), strict=True) if when >= t]


def crit_advice(node: Node, key: str = KEY) -> int:
    head = f"Resource group {key} may still be running here: this node keeps holding it"
    return sum(1 for t in node.log_texts("CRIT") if t.startswith(head))


def held_on(sim: Sim, name: str) -> set[tuple[str, int]]:
    return set(sim.nodes[name].observed)


def weasel_holding(mode: AutoFailback = AutoFailback.OFF, **kw: object) -> Sim:
    sim = Sim(mode=mode, **kw)  # type: ignore[arg-type]
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    return sim


# --- standby ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON])
def test_standby_with_a_failed_stop_is_aborted_and_the_peer_starts_nothing(
    mode: AutoFailback,
) -> None:
    sim = weasel_holding(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    t0 = sim.now
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(10 * MIN)
    assert weasel.states[KEY] == rs.STOP_FAILED
    assert held_on(sim, "weasel") == ALL3  # the top one failed, 0 and 1 were left alone
    assert group_starts(otter, KEY) == []
    assert held_on(sim, "otter") == set()
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()
    # On the wire: never `done`; the report after the abort still holds weasel's class.
    wire = sent_since(weasel, t0)
    assert not [m for m in wire if "info=done" in m or m.startswith("t=shutdone")]
    assert wire[-1] == "t=resource rsc_hold=local rtype=full isstable=1"
    crit = weasel.log_texts("CRIT")
    assert crit[0].startswith("Resource STOP failure: Filesystem::/dev/vg0/data::/srv of group")
    assert (
        f"Standby [all] aborted: resource group(s) {KEY} could not be stopped here and stay "
        "held by this node; otter will not take them." in crit
    )
    assert (
        "Standby takeover of [all] resources from weasel cancelled: weasel still holds "
        "[local] resources." in otter.log_texts("WARN")
    )
    # rscstatus stays truthful and settled on both sides.
    assert weasel.rscstatus == "local" and otter.rscstatus == "local"
    assert otter.res.snapshot()["standby"] is None and weasel.res.snapshot()["standby"] is None
    # CRIT once at the failure, then once a minute while unresolved.
    assert 10 <= crit_advice(weasel) <= 11
    advice = next(t for t in crit if t.startswith(f"Resource group {KEY} may still"))
    assert "then run hb_standby here (or hb_takeover on otter) to hand it over" in advice


def test_hb_standby_again_after_the_fix_hands_the_group_over() -> None:
    sim = weasel_holding()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(2 * MIN)
    # Still broken: a second hb_standby retries (stop is idempotent) and aborts again.
    t1 = sim.now
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(2 * MIN)
    assert [i for t, k, i, a in weasel.calls if t >= t1 and a == "stop"] == [TOP] * 11
    assert weasel.states[KEY] == rs.STOP_FAILED and group_starts(otter, KEY) == []
    # The administrator fixed it: the next hb_standby hands over normally.
    del weasel.behaviour[(KEY, TOP, "stop")]
    t2 = sim.now
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(MIN)
    assert [i for t, k, i, a in weasel.calls if t >= t2 and a == "stop"] == [2, 1, 0]
    assert weasel.states[KEY] == rs.STOPPED and otter.states[KEY] == rs.RUNNING
    assert held_on(sim, "otter") == ALL3 and held_on(sim, "weasel") == set()
    assert "t=ask_resources rsc_hold=all info=done" in sent_since(weasel, t2)
    assert weasel.rscstatus == "none" and otter.rscstatus == "all"
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()
    # Resolved: no more reminders.
    n = crit_advice(weasel)
    sim.run_for(5 * MIN)
    assert crit_advice(weasel) == n


def test_hb_takeover_on_the_peer_retries_the_stop_and_takes_only_once_it_worked() -> None:
    sim = weasel_holding()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(MIN)
    sim.apply(otter, otter.res.takeover("all", sim.now))  # not fixed yet
    sim.run_for(MIN)
    assert weasel.log_texts().count("Going standby [all].") == 2
    assert weasel.states[KEY] == rs.STOP_FAILED and group_starts(otter, KEY) == []
    del weasel.behaviour[(KEY, TOP, "stop")]
    sim.apply(otter, otter.res.takeover("all", sim.now))
    sim.run_for(MIN)
    assert sim.holders(KEY) == ["otter"] and held_on(sim, "otter") == ALL3
    assert held_on(sim, "weasel") == set()
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()


def test_groups_that_did_stop_in_an_aborted_standby_are_handed_over_one_by_one() -> None:
    groups = (*SEED_GROUPS, group(2, "weasel", IP))
    sim = weasel_holding(groups=groups)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    t0 = sim.now
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(2 * MIN)
    assert weasel.states[KEY] == rs.STOP_FAILED and weasel.states[IP] == rs.STOPPED
    assert f"t=ip-request-resp dest=otter ipaddr={IP} weown=yes ok=OK" in sent_since(weasel, t0)
    assert not [m for m in sent_since(weasel, t0) if f"ipaddr={KEY}" in m]
    assert otter.states[IP] == rs.RUNNING and sim.holders(IP) == ["otter"]
    assert group_starts(otter, KEY) == []
    assert weasel.rscstatus == "local" and otter.rscstatus == "all"
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()


def test_auto_failback_with_a_failed_stop_leaves_the_group_where_it_runs() -> None:
    home = (group(1, "otter", "drbddisk::r0", "LVM::vg0", "apache"),)
    sim = Sim(groups=home, mode=AutoFailback.ON)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.kill("otter")
    sim.run_for(MIN)
    assert sim.holders(KEY) == ["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    t_back = sim.now
    sim.restart("otter")
    sim.run_for(10 * MIN)
    assert "weasel wants to go standby [foreign]" in weasel.log_texts()
    assert weasel.states[KEY] == rs.STOP_FAILED
    assert group_starts(otter, KEY, t_back) == []
    assert held_on(sim, "weasel") == ALL3 and held_on(sim, "otter") == set()
    assert weasel.rscstatus == "all"  # otter's group, and its own empty class since takeover
    assert otter.rscstatus == "none"  # otter's own group: weasel holds it
    # failback is attempted once, never again by itself
    assert weasel.log_texts().count("weasel wants to go standby [foreign]") == 1
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()


# --- graceful shutdown -----------------------------------------------------


def test_shutdown_with_a_failed_stop_never_sends_shutdone_and_retries() -> None:
    groups = (*SEED_GROUPS, group(2, "weasel", IP))
    sim = weasel_holding(groups=groups)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    t0 = sim.now
    sim.shutdown("weasel")
    sim.run_for(20_000)  # the release: IP, then KEY's top resource 11 times
    assert weasel.res.shutdown_stuck
    wire = sent_since(weasel, t0)
    assert wire[0] == "t=resource rsc_hold=none rtype=full isstable=0 info=shutdown"
    assert "t=resource rsc_hold=local rtype=full isstable=0 info=shutdown" in wire
    crit = weasel.log_texts("CRIT")
    assert any(t.startswith(f"Shutdown cannot complete: resource group(s) {KEY} could not")
               for t in crit)  # fmt: skip
    assert any("never kills a stuck shutdown (TimeoutStopSec=infinity)" in t and "STONITH" in t
               for t in crit)  # fmt: skip
    # the group that did stop went to otter at once; KEY never
    assert f"t=ip-request-resp dest=otter ipaddr={IP} weown=yes ok=OK" in wire
    sim.run_for(10 * MIN)
    assert otter.states[IP] == rs.RUNNING
    assert not [m for m in sent_since(weasel, t0) if m.startswith("t=shutdone")]
    assert weasel.shutdown_complete_at is None
    assert group_starts(otter, KEY) == []
    sim.run_until(sim.now + MIN, lambda: not weasel.res.busy)
    assert weasel.rscstatus == "local"  # stuck and idle: what it holds, not "transition"
    assert weasel.res.snapshot()["shutdown_stuck"] is True
    # retried every 30 s after each failed attempt (an attempt takes 11 s here)
    firsts = [t for t, k, i, a in weasel.calls if a == "stop" and k == KEY and t > t0]
    attempts = [t for n, t in enumerate(firsts) if n % 11 == 0]
    assert len(attempts) >= 12
    gaps = {b - a for a, b in itertools.pairwise(attempts)}
    assert gaps == {30_000 + 10 * 1_100 + 100 + 100}  # wait + retries + status + stop
    # SIGTERM again: retry at once
    t1 = sim.now
    sim.run_until(sim.now + 1, lambda: not weasel.res.busy)
    sim.shutdown("weasel")
    assert any(a == "stop" for t, k, i, a in weasel.calls if t >= t1)
    # fixed by hand: the next retry succeeds and the shutdown completes normally
    del weasel.behaviour[(KEY, TOP, "stop")]
    sim.run_for(MIN)
    assert weasel.shutdown_complete_at is not None
    assert sent_since(weasel, t0).count("t=shutdone st=dead") == 1
    assert "The failed stops succeeded: completing the shutdown." in weasel.log_texts()
    sim.stop_process("weasel")
    sim.run_for(MIN)
    assert otter.states[KEY] == rs.RUNNING and held_on(sim, "otter") == {*ALL3, (IP, 0)}
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()


def test_stuck_shutdown_killed_by_hand_is_a_crash_for_the_peer() -> None:
    sim = weasel_holding()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    sim.shutdown("weasel")
    sim.run_for(15 * MIN)  # then the administrator kills it (systemd never does)
    assert weasel.res.shutdown_stuck and group_starts(otter, KEY) == []
    # SIGKILL: hbeat is gone, the half-stopped services are not; deadtime later otter
    # takes over as after any crash and says fencing was needed (no STONITH here).
    t_kill = sim.now
    sim.kill("weasel", services_survive=True)
    sim.run_for(MIN)
    assert "Dead node weasel gave up resources." not in otter.log_texts()
    assert "Resources being acquired from weasel." in otter.log_texts()
    assert "Shared disks are not protected." in otter.log_texts("WARN")
    assert group_starts(otter, KEY)[0][0] >= t_kill + 10_000
    # the documented consequence: without fencing the group now runs twice
    assert sim.runs_on(KEY, 0) == {"otter", "weasel"}
    with pytest.raises(AssertionError):
        sim.assert_never_run_twice()
    # ... but never before our death
    sim.runlog = [e for e in sim.runlog if e[0] < t_kill + 10_000]
    sim.assert_never_run_twice()


def test_shutdown_alone_with_a_failed_stop_completes_only_once_stopped() -> None:
    sim = Sim(mode=AutoFailback.OFF, nodes=("weasel",))
    weasel = sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    sim.shutdown("weasel")
    sim.run_for(5 * MIN)
    assert weasel.res.shutdown_stuck and weasel.shutdown_complete_at is None
    assert any("If hbeat is killed anyway" in t and "another node" in t
               for t in weasel.log_texts("CRIT"))  # fmt: skip
    del weasel.behaviour[(KEY, TOP, "stop")]
    sim.run_for(MIN)
    assert weasel.shutdown_complete_at is not None and weasel.running == set()


def test_shutdown_with_a_group_already_stop_failed_retries_it_and_says_so_at_once() -> None:
    sim = weasel_holding()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(MIN)
    t0 = sim.now
    sim.shutdown("weasel")
    sim.run_for(MIN)
    wire = sent_since(weasel, t0)
    assert wire[0] == "t=resource rsc_hold=local rtype=full isstable=0 info=shutdown"
    assert next(i for t, k, i, a in weasel.calls if t >= t0 and a == "stop") == TOP
    assert weasel.res.shutdown_stuck and group_starts(otter, KEY) == []
    # otter's hb_takeover (the administrator fixed it) makes the stuck node retry at once
    del weasel.behaviour[(KEY, TOP, "stop")]
    sim.run_until(sim.now + 1, lambda: not weasel.res.busy)
    sim.apply(otter, otter.res.takeover("all", sim.now))
    sim.run_for(5_000)
    assert weasel.shutdown_complete_at is not None
    sim.stop_process("weasel")
    sim.run_for(MIN)
    assert sim.holders(KEY) == ["otter"]
    sim.assert_never_run_twice()


# --- a failed start whose rollback stop fails --------------------------------


def test_failed_rollback_stop_keeps_the_group_here_and_hands_nothing() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "start")] = FAIL_RUNNING
    weasel.behaviour[(KEY, 1, "stop")] = 1  # the rollback cannot stop it either
    sim.comm_up()
    sim.run_for(10 * MIN)
    assert weasel.states[KEY] == rs.STOP_FAILED
    assert held_on(sim, "weasel") == {(KEY, 0), (KEY, 1)}  # 2 was never touched
    assert not [m for m in weasel.sent_summary() if m.startswith("t=ip-request-resp dest=otter")]
    assert group_starts(otter, KEY) == []
    assert "Resource group drbddisk::r0 could not be stopped after a failed start." in (
        weasel.log_texts("CRIT")
    )
    assert weasel.rscstatus == "local"
    assert otter.rscstatus == "local"  # its own empty class: weasel's group is weasel's
    sim.assert_never_run_twice()
    sim.assert_never_two_holders()


def test_hb_takeover_here_completes_a_stop_failed_group_here() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "start")] = FAIL_RUNNING
    weasel.behaviour[(KEY, 1, "stop")] = 1
    sim.comm_up()
    sim.run_for(2 * MIN)
    assert weasel.states[KEY] == rs.STOP_FAILED
    del weasel.behaviour[(KEY, 1, "start")]
    sim.apply(weasel, weasel.res.takeover("local", sim.now))
    # held (possibly running) from now on, and completed here, not elsewhere
    assert weasel.states[KEY] in (rs.PARTIAL, rs.STARTING)
    assert weasel.res.hold_bits() is rs.Hold.LOCAL
    sim.run_for(MIN)
    assert weasel.states[KEY] == rs.RUNNING and held_on(sim, "weasel") == ALL3
    assert group_starts(otter, KEY) == []
    sim.assert_never_run_twice()


def test_peer_death_lets_the_survivor_take_a_group_stop_failed_on_the_dead_node() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "start")] = FAIL_RUNNING
    weasel.behaviour[(KEY, 1, "stop")] = 1
    sim.comm_up()
    sim.run_for(2 * MIN)
    assert group_starts(otter, KEY) == []
    sim.kill("weasel")  # a crash: its services die with it
    sim.run_for(MIN)
    assert "Resources being acquired from weasel." in otter.log_texts()
    assert otter.states[KEY] == rs.RUNNING
    sim.assert_never_run_twice()


# --- split brain and start-up adoption ---------------------------------------


def test_split_brain_release_with_a_failed_stop_starts_nothing_new() -> None:
    groups = (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.7"))
    sim = Sim(groups=groups, mode=AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.split_brain()
    sim.settle()
    assert sim.runs_on(KEY, TOP) == {"otter", "weasel"}  # the partition's double run
    otter.behaviour[(KEY, TOP, "stop")] = 1  # otter cannot give weasel's group back
    heal = sim.now
    sim.cut = False
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    sim.apply(weasel, weasel.res.node_returned_after_partition("otter", sim.now))
    sim.run_for(10 * MIN)
    assert otter.states[KEY] == rs.STOP_FAILED and weasel.states[KEY] == rs.RUNNING
    assert [s for s in sim.starts_after(heal) if s[2] == KEY] == []
    # otter keeps claiming it (truthfully), weasel keeps its own copy running
    assert otter.rscstatus == "all"
    assert "t=resource rsc_hold=all rtype=full isstable=1" in sent_since(otter, heal)
    assert held_on(sim, "otter") == {(KEY, 0), (KEY, 1), (KEY, 2), ("IPaddr::10.0.0.7", 0)}
    # the other group converged as usual and never ran twice after the heal
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]
    assert sim.runs_on("IPaddr::10.0.0.7", 0) == {"otter"}
    assert crit_advice(otter) >= 10


def test_adoption_release_with_a_failed_stop_starts_nothing_new() -> None:
    sim = weasel_holding()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.kill("weasel", services_survive=True)  # kill -9 of hbeat only
    sim.run_for(MIN)
    assert otter.states[KEY] == rs.RUNNING
    assert sim.runs_on(KEY, 0) == {"otter", "weasel"}  # what kill -9 left behind
    weasel.behaviour[(KEY, TOP, "stop")] = 1
    back = sim.now
    sim.restart("weasel")  # probe finds it; otter is the incumbent: weasel releases
    sim.run_for(10 * MIN)
    assert weasel.states[KEY] == rs.STOP_FAILED
    assert "Releasing resource group drbddisk::r0 found running here: otter holds it." in (
        weasel.log_texts("WARN")
    )
    assert sim.starts_after(back) == []  # nothing new started anywhere
    # weasel's report claims its own class: otter's split-brain audit stops its copy
    # (weasel is the preferred node), so the double run ends instead of going on.
    assert weasel.rscstatus == "local"
    assert "Both machines own foreign resources!" in otter.log_texts("ERROR")
    assert held_on(sim, "otter") == set()
    assert held_on(sim, "weasel") == ALL3
    sim.assert_never_run_twice(since=sim.now)
    # and from the moment weasel came back the set of nodes per resource only shrank
    where: dict[tuple[str, int], set[str]] = {}
    for when, _o, node, key, index, up in sim.runlog:
        nodes = where.setdefault((key, index), set())
        if up:
            assert when < back, f"resource {index} of {key} started on {node} at {when}"
            nodes.add(node)
        else:
            nodes.discard(node)


# --- legacy ----------------------------------------------------------------


def test_legacy_ip_request_for_a_group_that_will_not_stop_is_refused() -> None:
    sim = Sim(mode=AutoFailback.LEGACY)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.comm_up()
    sim.settle()
    sim.kill("weasel")
    sim.run_for(MIN)
    assert otter.states[KEY] == rs.RUNNING
    otter.behaviour[(KEY, TOP, "stop")] = 1
    back = sim.now
    sim.restart("weasel")  # legacy: weasel asks for its group with ip-request
    sim.run_for(5 * MIN)
    assert otter.states[KEY] == rs.STOP_FAILED
    assert f"t=ip-request-resp dest=weasel ipaddr={KEY} weown=yes ok=no" in sent_since(otter, back)
    assert "ok=OK" not in " ".join(m for m in sent_since(otter, back) if "dest=weasel" in m)
    assert (
        f"otter could not give up resource group {KEY} (its stop failed there): not taking it."
        in weasel.log_texts("WARN")
    )
    assert group_starts(weasel, KEY) == []
    assert weasel.rscstatus == "none"  # settled, not stuck in transition
    assert otter.rscstatus == "all"
    # weasel restarts again: the group is already stop-failed on otter, refused at once
    # without another stop (only an explicit decision retries it)
    again = sim.now
    sim.restart("weasel")
    sim.run_for(MIN)
    assert [c for c in otter.calls if c[0] >= again and c[3] == "stop"] == []
    assert (
        sent_since(otter, again).count(
            f"t=ip-request-resp dest=weasel ipaddr={KEY} weown=yes ok=no"
        )
        == 1
    )
    assert (
        otter.log_texts("CRIT").count(
            f"Refusing ip-request from weasel for resource group {KEY}: it could not be "
            "stopped here."
        )
        == 2
    )
    assert group_starts(weasel, KEY) == []
    assert "then restart hbeat here (its shutdown retries it)" in " ".join(otter.log_texts("CRIT"))
    sim.assert_never_run_twice()
