"""Start-up probe and adoption: a restarted node finds services still running.

`kill -9` of hbeat leaves what its scripts started running. When it comes
back, every resource is probed with `status`; a group found running is
adopted (kept, completed) or released (stopped) so that after the
negotiation each group runs on exactly one node. The checks read the script
calls each node made (`calls`, `probe_calls`) and what runs where.
"""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import HANG, SEED_GROUPS, Node, Sim, group

KEY = "drbddisk::r0"
ALL3 = {(KEY, 0), (KEY, 1), (KEY, 2)}
PROBE3 = [(KEY, 0, "status"), (KEY, 1, "status"), (KEY, 2, "status")]
CRIT_LINES = [
    "Resource drbddisk::r0 is active, and should not be!",
    "Resource LVM::vg0 is active, and should not be!",
    "Resource Filesystem::/dev/vg0/data::/srv is active, and should not be!",
]


def started(mode: AutoFailback, **kw: int) -> Sim:
    sim = Sim(mode=mode, **kw)
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["weasel"] and sim.nodes["weasel"].running == ALL3
    return sim


def actions(node: Node, since: int = -(10**9)) -> list[tuple[str, int, str]]:
    return [(k, i, a) for t, k, i, a in node.calls if t >= since]


def probes(node: Node) -> list[tuple[str, int, str]]:
    return [(k, i, a) for _t, k, i, a in node.probe_calls]


def taken_over_by_otter(mode: AutoFailback, **kw: int) -> Sim:
    """weasel holds the group; kill -9 of its hbeat leaves the services running;
    otter takes over after deadtime: the group now runs on both nodes."""
    sim = started(mode, **kw)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.kill("weasel", detect_ms=10_000, services_survive=True)
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    assert otter.running == ALL3 and weasel.running == ALL3  # the stale copy
    return sim


# --- the live-test scenario -----------------------------------------------------------


def test_old_holder_restarting_releases_its_stale_copy_auto_failback_off() -> None:
    sim = taken_over_by_otter(AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    otter_calls_before = len(otter.calls)
    t_back = sim.now
    sim.restart("weasel")
    assert weasel.res.phase is rs.Phase.PROBING
    assert weasel.rscstatus == rs.TRANSITION
    assert weasel.sent == []  # comm-up waits for the probe: no `starting` yet
    sim.settle()

    # weasel: probe, then the stale copy stopped right to left, never a start
    assert probes(weasel) == PROBE3
    assert actions(weasel) == [(KEY, 2, "stop"), (KEY, 1, "stop"), (KEY, 0, "stop")]
    # otter keeps running the group: not one script call after weasel came back
    assert otter.calls[otter_calls_before:] == []
    assert weasel.running == set() and otter.running == ALL3
    assert sim.holders(KEY) == ["otter"]
    assert (otter.rscstatus, weasel.rscstatus) == ("all", "none")

    w = weasel.log_texts()
    assert weasel.log_texts("CRIT") == CRIT_LINES
    assert "Resource group drbddisk::r0 is already running here." in w
    assert "Releasing resource group drbddisk::r0 found running here: otter holds it." in w
    assert "remote resource transition completed." in w
    # weasel says it is stable (and what it holds) only once its copy is gone
    last_stop = max(t for t, _k, _i, a in weasel.calls if a == "stop")
    stable_reports = [
        (t, f) for t, f in weasel.sent if (b"isstable", 0, b"1") in [(n, 0, v) for n, _, v in f]
    ]
    assert stable_reports and min(t for t, _ in stable_reports) >= last_stop + sim.script_ms
    assert weasel.sent_summary() == [
        "t=starting",
        "t=resource rsc_hold=none rtype=full isstable=1",
    ]
    # the timeline: weasel's found copy went running -> stopping -> stopped, after t_back
    wl = [(old, new) for t, _o, n, _k, old, new in sim.timeline if n == "weasel" and t >= t_back]
    assert wl == [("stopped", "running"), ("running", "stopping"), ("stopping", "stopped")]
    released = max(
        t for t, _o, n, _k, _a, new in sim.timeline if n == "weasel" and new == "stopped"
    )
    sim.assert_never_two_holders(since=released)
    assert "Both machines own" not in " ".join(otter.log_texts() + w)


def test_old_holder_restarting_auto_failback_on_gets_it_back_without_overlap() -> None:
    sim = taken_over_by_otter(AutoFailback.ON)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    t_back = sim.now
    sim.restart("weasel")
    sim.settle()
    assert weasel.log_texts("CRIT") == CRIT_LINES
    # weasel stops its stale copy, then otter hands the group back by standby
    w_calls = [(t, i, a) for t, _k, i, a in weasel.calls]
    assert [(i, a) for _t, i, a in w_calls] == [
        (2, "stop"), (1, "stop"), (0, "stop"),
        (0, "status"), (0, "start"), (1, "status"), (1, "start"), (2, "status"), (2, "start"),
    ]  # fmt: skip
    o_stops = [t for t, _k, _i, a in otter.calls if a == "stop" and t >= t_back]
    assert len(o_stops) == 3
    w_stops = [t for t, i, a in w_calls if a == "stop"]
    w_starts = [t for t, i, a in w_calls if a == "start"]
    # otter is asked to give it back only after weasel's stale copy is gone, and
    # weasel starts only after otter's copy is gone
    assert min(o_stops) >= max(w_stops) + sim.script_ms
    assert min(w_starts) >= max(o_stops) + sim.script_ms
    assert "t=ask_resources rsc_hold=foreign info=me" in otter.sent_summary()
    assert weasel.running == ALL3 and otter.running == set()
    assert sim.holders(KEY) == ["weasel"]
    released = max(
        t for t, _o, n, _k, _a, new in sim.timeline if n == "weasel" and new == "stopped"
    )
    sim.assert_never_two_holders(since=released)


def test_supervisor_back_before_deadtime_adopts_without_restarting() -> None:
    """DESIGN: "a restarted supervisor adopts the state it finds". The peer never
    declared us dead and holds nothing of ours: keep the services, start nothing."""
    for mode in (AutoFailback.OFF, AutoFailback.ON):
        sim = started(mode)
        otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
        sim.kill("weasel", detect_ms=10_000, services_survive=True)
        sim.run_for(3_000)
        sim.restart("weasel")
        sim.settle()
        assert probes(weasel) == PROBE3
        assert actions(weasel) == [] and otter.calls == []
        assert weasel.running == ALL3 and otter.running == set()
        w = weasel.log_texts()
        assert "Adopting resource group drbddisk::r0: it keeps running here." in w
        assert "Local Resource acquisition completed." in w
        assert weasel.log_texts("CRIT") == []
        assert weasel.states[KEY] == rs.RUNNING
        assert (otter.rscstatus, weasel.rscstatus) == ("local", "local")
        assert sim.holders(KEY) == ["weasel"]
        assert "t=resource rsc_hold=local rtype=full isstable=1" in weasel.sent_summary()


# --- both nodes restart at once ---------------------------------------------------------


def crash_both_and_restart(
    sim: Sim, on_weasel: set, on_otter: set, weasel_later_ms: int = 0
) -> None:
    """Both hbeats die (kill -9); then these services are running; both start again."""
    sim.kill("weasel", services_survive=True)
    sim.kill("otter", services_survive=True)
    sim.nodes["weasel"].running = set(on_weasel)
    sim.nodes["otter"].running = set(on_otter)
    sim.run_for(60_000)
    sim.restart("otter")
    sim.run_for(weasel_later_ms)
    sim.restart("weasel")


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON])
def test_both_restart_services_on_the_preferred_node_stay_there(mode: AutoFailback) -> None:
    sim = started(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    # weasel 250 ms later: otter's `starting` reaches weasel while it still probes
    crash_both_and_restart(sim, ALL3, set(), weasel_later_ms=250)
    t0 = sim.now
    assert weasel.res.phase is rs.Phase.PROBING
    sim.run_for(3 * sim.script_ms - 1)
    assert [s for s in weasel.sent_summary() if s.startswith("t=resource")] == []
    sim.settle()
    assert actions(weasel) == [] and actions(otter) == []  # nothing stopped or started
    assert weasel.running == ALL3 and otter.running == set()
    assert "local resource transition completed." in weasel.log_texts()
    assert (otter.rscstatus, weasel.rscstatus) == ("local", "local")
    # weasel answered otter's `starting` (which came during its probe) only after
    # probing, reporting the group it found
    assert weasel.sent_summary()[:2] == [
        "t=starting",
        "t=resource rsc_hold=local rtype=full isstable=0",
    ]
    assert min(t for t, _f in weasel.sent) >= t0 + 3 * sim.script_ms
    sim.assert_never_two_holders(since=t0)


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON])
def test_both_restart_services_on_the_other_node(mode: AutoFailback) -> None:
    """otter had taken the group over; both crash; otter finds it and adopts it.
    Off: it stays on otter, untouched. On: it goes home by the standby protocol."""
    sim = taken_over_by_otter(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    crash_both_and_restart(sim, set(), ALL3)
    t0 = sim.now
    sim.settle()
    assert "Adopting resource group drbddisk::r0: it keeps running here." in otter.log_texts()
    assert otter.log_texts("CRIT") == [] and weasel.log_texts("CRIT") == []
    if mode is AutoFailback.OFF:
        assert actions(weasel) == [] and actions(otter) == []
        assert otter.running == ALL3 and weasel.running == set()
        assert (otter.rscstatus, weasel.rscstatus) == ("all", "none")
        assert sim.holders(KEY) == ["otter"]
    else:
        assert [a for _k, _i, a in actions(otter)] == ["stop"] * 3
        assert weasel.running == ALL3 and otter.running == set()
        o_last_stop = max(t for t, _k, _i, a in otter.calls if a == "stop")
        w_first_start = min(t for t, _k, _i, a in weasel.calls if a == "start")
        assert w_first_start >= o_last_stop + sim.script_ms
        assert (otter.rscstatus, weasel.rscstatus) == ("local", "local")
    sim.assert_never_two_holders(since=t0)


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON])
def test_both_restart_found_on_both_the_preferred_node_keeps_it(mode: AutoFailback) -> None:
    """The group is partly running on weasel (its preferred node) and fully on otter:
    otter releases its copy; weasel keeps drbddisk running (no restart) and starts
    the rest only after otter's copy is gone."""
    sim = started(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    crash_both_and_restart(sim, {(KEY, 0)}, ALL3)
    sim.settle()
    assert otter.log_texts("CRIT") == CRIT_LINES
    assert (
        "Releasing resource group drbddisk::r0 found running here: weasel holds it too and is "
        "its preferred node." in otter.log_texts()
    )
    assert actions(otter) == [(KEY, 2, "stop"), (KEY, 1, "stop"), (KEY, 0, "stop")]
    assert actions(weasel) == [
        (KEY, 0, "status"),  # running: kept
        (KEY, 1, "status"),
        (KEY, 1, "start"),
        (KEY, 2, "status"),
        (KEY, 2, "start"),
    ]
    o_last_stop = max(t for t, _k, _i, a in otter.calls if a == "stop")
    w_first_start = min(t for t, _k, _i, a in weasel.calls if a == "start")
    assert w_first_start >= o_last_stop + sim.script_ms
    w = weasel.log_texts()
    assert "Resource group drbddisk::r0 is partly running here (not stopped: drbddisk::r0)." in (
        weasel.log_texts("WARN")
    )
    assert "Adopting resource group drbddisk::r0: its other resources will be started." in w
    assert weasel.running == ALL3 and otter.running == set()
    assert sim.holders(KEY) == ["weasel"]
    assert (otter.rscstatus, weasel.rscstatus) == ("local", "local")


# --- partly running, alone; failed status -------------------------------------------------


def test_partly_running_group_alone_is_completed_not_restarted() -> None:
    sim = Sim(mode=AutoFailback.OFF, boot=False, boot_takeover="initdead")  # type: ignore[arg-type]
    weasel = sim.nodes["weasel"]
    weasel.running = {(KEY, 0), (KEY, 1)}
    sim.apply(weasel, weasel.res.start(sim.now))
    assert weasel.rscstatus == rs.TRANSITION and weasel.res.phase is rs.Phase.PROBING
    sim.apply(weasel, weasel.res.node_dead("otter", sim.now))
    sim.comm_up("weasel")
    sim.settle()
    assert probes(weasel) == PROBE3
    assert actions(weasel) == [
        (KEY, 0, "status"),
        (KEY, 1, "status"),
        (KEY, 2, "status"),
        (KEY, 2, "start"),
    ]
    assert weasel.running == ALL3
    assert weasel.states[KEY] == rs.RUNNING and weasel.rscstatus == "all"
    w = weasel.log_texts()
    assert w.index("Adopting resource group drbddisk::r0: its other resources will be started.") < (
        w.index("Resources being acquired from otter.")
    )
    # the probe's own states: stopped -> partial, then the completion
    assert [(a, b) for _t, _o, _n, _k, a, b in sim.timeline] == [
        ("stopped", "partial"),
        ("partial", "starting"),
        ("starting", "running"),
    ]


def test_failed_status_counts_as_possibly_running_and_is_released() -> None:
    """While otter holds the group, weasel restarts and drbddisk's status fails
    (exit 1): possibly running, so weasel stops the whole group to be sure."""
    sim = started(AutoFailback.OFF)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.kill("weasel")  # a reboot: nothing survives...
    sim.settle()
    weasel.behaviour[(KEY, 0, "status")] = 1  # ...but drbddisk's status is broken
    sim.restart("weasel")
    sim.settle()
    assert probes(weasel) == PROBE3
    assert (
        "Status of drbddisk::r0 failed (return code 1): counting it as possibly running"
        in weasel.log_texts("WARN")
    )
    assert weasel.log_texts("CRIT") == ["Resource drbddisk::r0 is active, and should not be!"]
    assert actions(weasel) == [(KEY, 2, "stop"), (KEY, 1, "stop"), (KEY, 0, "stop")]
    assert sim.holders(KEY) == ["otter"] and otter.running == ALL3
    assert (otter.rscstatus, weasel.rscstatus) == ("all", "none")


def test_hung_status_during_probe_times_out_and_the_group_is_adopted_alone() -> None:
    """A status that never answers counts as failed after its timeout; alone, the
    group is adopted and completed through the ordinary start (status, start)."""
    sim = Sim(
        groups=(group(1, "otter", "IPaddr::10.0.0.1", "apache"),),
        nodes=("otter",),
        boot=False,
        status_timeout_s=2,
        result_grace_ms=500,
    )
    otter = sim.nodes["otter"]
    otter.behaviour[("IPaddr::10.0.0.1", 0, "status")] = HANG
    otter.running = {("IPaddr::10.0.0.1", 1)}
    sim.comm_up()
    sim.run_for(2_499)
    assert otter.res.phase is rs.Phase.PROBING and otter.rscstatus == rs.TRANSITION
    otter.behaviour.clear()
    sim.settle()
    assert any(
        "No result from the executor for IPaddr::10.0.0.1 status" in t
        for t in (otter.log_texts("ERROR"))
    )
    assert (
        "Status of IPaddr::10.0.0.1 failed (no return code): counting it as possibly running"
        in (otter.log_texts("WARN"))
    )
    assert [(i, a) for _k, i, a in actions(otter)] == [
        (0, "status"),
        (0, "start"),
        (1, "status"),
    ]
    assert otter.running == {("IPaddr::10.0.0.1", 0), ("IPaddr::10.0.0.1", 1)}
    assert otter.rscstatus == "all"


# --- legacy ---------------------------------------------------------------------------


def test_legacy_old_holder_restarting_adopts_and_the_other_gives_up() -> None:
    """Legacy: the home node always gets its groups. weasel keeps the copy it
    found (no restart) and still sends ip-request, so otter stops its copy."""
    sim = taken_over_by_otter(AutoFailback.LEGACY)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    t_back = sim.now
    sim.restart("weasel")
    sim.settle()
    assert actions(weasel) == []
    assert [(i, a) for t, _k, i, a in otter.calls if t >= t_back] == [
        (2, "stop"),
        (1, "stop"),
        (0, "stop"),
    ]
    assert "t=ip-request ipaddr=drbddisk::r0" in weasel.sent_summary()
    assert "Adopting resource group drbddisk::r0: it keeps running here." in weasel.log_texts()
    assert weasel.running == ALL3 and otter.running == set()
    assert sim.holders(KEY) == ["weasel"]


def test_legacy_both_restart_services_on_the_other_node_go_home_without_overlap() -> None:
    groups = (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.9"))
    sim = Sim(groups=groups, mode=AutoFailback.LEGACY)
    sim.comm_up()
    sim.settle()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    ip = ("IPaddr::10.0.0.9", 0)
    # both crash while otter ran weasel's group too (and its own address)
    crash_both_and_restart(sim, set(), ALL3 | {ip})
    t0 = sim.now
    sim.settle()
    assert otter.log_texts("CRIT") == CRIT_LINES
    assert (
        "Releasing resource group drbddisk::r0 found running here: its home node weasel is up "
        "(auto_failback legacy)." in otter.log_texts()
    )
    assert [(k, i, a) for k, i, a in actions(otter)] == [
        (KEY, 2, "stop"),
        (KEY, 1, "stop"),
        (KEY, 0, "stop"),
    ]  # its own address was adopted, not restarted
    o_last_stop = max(t for t, _k, _i, a in otter.calls if a == "stop")
    w_first_start = min(t for t, _k, _i, a in weasel.calls if a == "start")
    assert w_first_start >= o_last_stop + sim.script_ms
    assert weasel.running == ALL3 and otter.running == {ip}
    assert sim.holders(KEY) == ["weasel"] and sim.holders("IPaddr::10.0.0.9") == ["otter"]
    sim.assert_never_two_holders(since=t0)


# --- the probe itself ---------------------------------------------------------------------


def test_shutdown_during_the_probe_stops_what_was_found_and_what_was_not_probed() -> None:
    groups = (group(1, "weasel", "drbddisk::r0"), group(2, "weasel", "apache"))
    sim = Sim(groups=groups, mode=AutoFailback.OFF, boot=False)
    weasel = sim.nodes["weasel"]
    weasel.running = {(KEY, 0)}
    sim.apply(weasel, weasel.res.start(sim.now))
    sim.run_for(50)  # drbddisk's status is under way
    sim.shutdown("weasel")
    sim.settle()
    assert probes(weasel) == [(KEY, 0, "status")]
    assert actions(weasel) == [("apache", 0, "stop"), (KEY, 0, "stop")]
    assert weasel.running == set() and weasel.shutdown_complete_at is not None


def test_snapshot_and_start_is_idempotent() -> None:
    sim = Sim(mode=AutoFailback.OFF, boot=False)
    weasel = sim.nodes["weasel"]
    weasel.running = {(KEY, 1)}
    sim.apply(weasel, weasel.res.start(sim.now))
    assert weasel.res.snapshot()["phase"] == "probing"
    assert weasel.res.start(sim.now) == []  # already probing
    sim.run_for(1_000)
    snap = weasel.res.snapshot()
    assert snap["phase"] == "init" and snap["held"] == rs.TRANSITION
    assert snap["groups"] == {
        KEY: {
            "node": "weasel",
            "state": "partial",
            "class": "local",
            "found": ["LVM::vg0"],
            "probed": True,
            "undecided": True,  # found, waiting for the start-up negotiation
            "operation": None,
            "standby": None,
            "handoff_pending": False,
            "cannot_run": None,
            "monitor": None,  # ha.cf has no `monitor` line
        }
    }
    assert weasel.res.hold_bits().word == "local"  # reported held until decided
    assert weasel.res.start(sim.now) == []  # probed once per process
    assert len(weasel.probe_calls) == 3


# --- the guarantee, over a grid ---------------------------------------------------------

FOUND_CASES = {
    "weasel full": (ALL3, set()),
    "otter full": (set(), ALL3),
    "both full": (ALL3, ALL3),
    "weasel part, otter full": ({(KEY, 0)}, ALL3),
    "weasel full, otter part": (ALL3, {(KEY, 0), (KEY, 1)}),
    "otter part": (set(), {(KEY, 1)}),
    "none": (set(), set()),
}


@pytest.mark.parametrize("mode", list(AutoFailback))
@pytest.mark.parametrize("case", list(FOUND_CASES))
def test_after_a_double_crash_every_group_runs_on_exactly_one_node(
    mode: AutoFailback, case: str
) -> None:
    """Whatever each node finds, whatever the delays: once settled, exactly one node
    runs the whole group, the other runs none of it, and both agree on who holds it."""
    on_weasel, on_otter = FOUND_CASES[case]
    for latency, script_ms, later in ((2, 100, 0), (0, 1, 0), (7, 100, 250), (250, 3000, 5000)):
        sim = Sim(mode=mode, latency_ms=latency, script_ms=script_ms)
        sim.comm_up()
        sim.settle()
        crash_both_and_restart(sim, on_weasel, on_otter, weasel_later_ms=later)
        sim.settle(limit_ms=600_000)
        runs = {n: sim.nodes[n].running for n in ("otter", "weasel")}
        holders = [n for n, r in runs.items() if r]
        where = (case, mode, latency, script_ms, later, runs)
        assert len(holders) == 1, where
        assert runs[holders[0]] == ALL3, where
        assert sim.holders(KEY) == holders, where
        held = {n: sim.nodes[n].rscstatus for n in runs}
        assert rs.TRANSITION not in held.values(), where
        if mode is not AutoFailback.OFF:
            assert holders == ["weasel"], where  # on and legacy: home in the end
        if on_weasel == ALL3:
            # found complete on its preferred node: never restarted there
            assert [a for _k, _i, a in actions(sim.nodes["weasel"])
                    if a in ("start", "stop")] == [], where  # fmt: skip


@pytest.mark.parametrize("mode", list(AutoFailback))
@pytest.mark.parametrize("back_after_ms", [3_000, 10_150, 10_550, 30_000])
def test_old_holder_back_at_any_moment_ends_on_exactly_one_node(
    mode: AutoFailback, back_after_ms: int
) -> None:
    """kill -9 of the holder's hbeat (services survive), restarted before otter
    notices, during otter's takeover, or after it: one node runs the group."""
    for latency, script_ms in ((2, 100), (0, 1), (250, 100), (20, 3000)):
        sim = started(mode, latency_ms=latency, script_ms=script_ms)
        sim.kill("weasel", detect_ms=10_000, services_survive=True)
        sim.run_for(back_after_ms)
        sim.restart("weasel")
        sim.settle(limit_ms=600_000)
        runs = {n: sim.nodes[n].running for n in ("otter", "weasel")}
        holders = [n for n, r in runs.items() if r]
        where = (mode, back_after_ms, latency, script_ms, runs)
        assert len(holders) == 1 and runs[holders[0]] == ALL3, where
        assert sim.holders(KEY) == holders, where
        assert rs.TRANSITION not in (sim.nodes["otter"].rscstatus, sim.nodes["weasel"].rscstatus)
        if mode is not AutoFailback.OFF or back_after_ms == 3_000:
            assert holders == ["weasel"], where
