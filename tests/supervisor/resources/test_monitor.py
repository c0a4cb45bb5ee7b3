"""Resource monitoring on the simulated pair (`rscmonitor` inside `resources`):
restarts in place, the hand-over after too many, a lone node restarting
anyway, a probe that hangs, and a failure set aside while the group moves."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback, MonitorSpec
from supervisor import resources as rs
from supervisor.rscmonitor import peer_unfit
from supervisor.rscpeer import PeerState

from .sim import HANG, Node, Sim

KEY = "drbddisk::r0"  # weasel: drbddisk::r0 LVM::vg0 Filesystem::/dev/vg0/data::/srv
SPEC = MonitorSpec(interval_ms=1000, restarts=2, window_ms=60_000)


def monitored(mode: AutoFailback = AutoFailback.OFF, **timers: object) -> Sim:
    sim = Sim(mode=mode, monitor=SPEC, **timers)  # type: ignore[arg-type]
    sim.comm_up()
    sim.run_for(15_000)
    assert sim.holders(KEY) == ["weasel"]
    return sim


def events(node: Node) -> list[str]:
    return node.log_texts("monitor")


def calls_since(node: Node, t: int) -> list[tuple[int, str]]:
    return [(i, a) for when, _k, i, a in node.calls if when >= t]


def test_a_dead_resource_is_restarted_in_place_with_those_above_it() -> None:
    sim = monitored()
    weasel = sim.nodes["weasel"]
    assert calls_since(weasel, 10_600)[:3] == [(0, "status"), (1, "status"), (2, "status")]
    assert weasel.res.snapshot()["groups"][KEY]["monitor"] == {
        "watched": True, "next_ms": weasel.res.snapshot()["groups"][KEY]["monitor"]["next_ms"],
        "failures": 0, "restarts": 0, "last_failure": None, "last_failure_ms": None,
        "action": None}
    # healthy probes leave rscstatus alone (no `transition` every interval)
    held = len(weasel.held)
    sim.run_for(5_000)
    assert weasel.held[held:] == [] and weasel.rscstatus == "local"
    t = sim.now
    weasel.running.discard((KEY, 1))  # LVM dies behind hbeat's back
    sim.run_for(2_500)
    assert (KEY, 1) in weasel.running and weasel.states[KEY] == rs.RUNNING
    restart = calls_since(weasel, t)
    first = restart.index((1, "status"))
    # the probe stops at the failed resource; then 2 and 1 are stopped, right to
    # left, and started again left to right (status first, as every start); 0 stays
    assert restart[first:first + 7] == [
        (1, "status"), (2, "stop"), (1, "stop"), (1, "status"), (1, "start"),
        (2, "status"), (2, "start")]
    assert (0, "stop") not in restart
    assert events(weasel) == [f"{KEY} failed LVM::vg0", f"{KEY} restart LVM::vg0",
                              f"{KEY} restarted LVM::vg0"]
    assert (f"Restarting LVM::vg0 of group {KEY} in place (restart 1 of 2 within 60 s)."
            in weasel.log_texts("WARN"))
    assert (f"Resource LVM::vg0 of group {KEY} failed its monitor: its status says it is not "
            "running" in weasel.log_texts("ERROR"))
    view = weasel.res.snapshot()["groups"][KEY]["monitor"]
    assert view is not None
    assert (view["failures"], view["restarts"], view["action"]) == (1, 1, None)
    assert view["last_failure"] == "LVM::vg0: not running"
    # the group was never released: the peer never took it
    assert sim.holders(KEY) == ["weasel"]
    sim.assert_never_two_holders()


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON, AutoFailback.LEGACY])
def test_one_failure_too_many_hands_the_group_to_the_peer(mode: AutoFailback) -> None:
    sim = monitored(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    for _ in range(2):
        weasel.running.discard((KEY, 2))
        sim.run_for(3_000)
        assert weasel.states[KEY] == rs.RUNNING and (KEY, 2) in weasel.running
    weasel.running.discard((KEY, 2))
    sim.run_for(5_000)
    assert sim.holders(KEY) == ["otter"]
    assert weasel.states[KEY] == rs.FAILED and weasel.running == set()
    assert events(weasel)[-2:] == [f"{KEY} failed Filesystem::/dev/vg0/data::/srv",
                                   f"{KEY} handover Filesystem::/dev/vg0/data::/srv"]
    assert (f"Resource group {KEY} failed again after 2 restart(s) within 60 s: handing it "
            "to otter." in weasel.log_texts("WARN"))
    assert (f"t=ip-request-resp dest=otter ipaddr={KEY} weown=yes ok=OK"
            in weasel.sent_summary())
    sim.assert_never_two_holders()
    sim.assert_never_run_twice()
    # otter watches it now; weasel does not take it back
    assert otter.res.snapshot()["groups"][KEY]["monitor"]["watched"] is True  # type: ignore[index]
    sim.run_for(10_000)
    assert sim.holders(KEY) == ["otter"]


def test_with_no_peer_to_take_it_the_group_is_restarted_here_again() -> None:
    sim = monitored()
    weasel = sim.nodes["weasel"]
    sim.kill("otter", detect_ms=100)
    sim.run_for(1_000)
    for _ in range(4):
        weasel.running.discard((KEY, 0))
        sim.run_for(3_000)
        assert weasel.states[KEY] == rs.RUNNING and (KEY, 0) in weasel.running
    here = [e for e in events(weasel) if " restart-here " in e]
    assert len(here) == 2
    assert any("no other node can take it (otter is dead): restarting drbddisk::r0 here "
               "again." in t for t in weasel.log_texts("WARN"))


def test_a_probe_that_hangs_counts_as_a_failure() -> None:
    sim = monitored(status_timeout_s=1, result_grace_ms=500)
    weasel = sim.nodes["weasel"]
    weasel.behaviour[(KEY, 1, "status")] = HANG
    sim.run_until(sim.now + 10_000, lambda: bool(events(weasel)))
    del weasel.behaviour[(KEY, 1, "status")]
    sim.run_for(3_000)
    assert events(weasel)[:2] == [f"{KEY} failed LVM::vg0", f"{KEY} restart LVM::vg0"]
    assert any("its status gave no answer" in t for t in weasel.log_texts("ERROR"))
    assert weasel.states[KEY] == rs.RUNNING


def test_a_failure_seen_while_the_group_moves_is_set_aside() -> None:
    sim = monitored(AutoFailback.ON, status_timeout_s=1, result_grace_ms=500)
    weasel, otter = sim.nodes["weasel"], sim.nodes["otter"]
    weasel.behaviour[(KEY, 0, "status")] = HANG
    # the probe hangs; hb_standby on weasel meanwhile: its release waits behind it
    sim.run_until(sim.now + 5_000, lambda: weasel.res.snapshot()["running_op"] is not None
                  and weasel.res.snapshot()["queue"] == ["monitor"])
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    del weasel.behaviour[(KEY, 0, "status")]
    sim.run_for(10_000)
    assert events(weasel)[0] == f"{KEY} ignored drbddisk::r0"
    assert " restart " not in " ".join(events(weasel))
    assert sim.holders(KEY) == ["otter"]
    assert otter.states[KEY] == rs.RUNNING
    sim.assert_never_run_twice()


def test_the_peer_is_fit_only_when_it_can_take_the_group_now() -> None:
    def unfit(peer: PeerState | None, **kw: bool) -> str | None:
        facts = {"fenced": False, "nice": True, "standby": False, "from_peer": False, **kw}
        return peer_unfit(peer, **facts)

    ok = PeerState("otter", stable=True)
    assert unfit(ok) is None
    assert unfit(None) == "there is no other node"
    assert unfit(PeerState("otter", alive=False, stable=True)) == "otter is dead"
    assert unfit(ok, fenced=True) == "otter is being fenced"
    assert unfit(PeerState("otter", stable=True, leaving=True)) == "otter is shutting down"
    assert unfit(PeerState("otter")) == "otter is not stable"
    assert unfit(PeerState("otter"), nice=False) is None  # legacy: no stable reports
    assert unfit(ok, standby=True) == "a standby exchange is under way"
    assert unfit(ok, from_peer=True) == "otter gave it to us after it failed there"


def test_a_resource_that_can_no_longer_run_here_goes_to_the_peer() -> None:
    # Its status says 5 (OCF_ERR_INSTALLED: the binary went away): the restart's
    # start stops at it ("Exit codes") and the group is handed to otter.
    sim = monitored()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.behaviour[(KEY, 2, "status")] = 5
    sim.run_for(5_000)
    assert events(weasel)[:2] == [f"{KEY} failed Filesystem::/dev/vg0/data::/srv",
                                  f"{KEY} restart Filesystem::/dev/vg0/data::/srv"]
    assert f"{KEY} restart-failed Filesystem::/dev/vg0/data::/srv" in events(weasel)
    assert weasel.states[KEY] == rs.FAILED and weasel.running == set()
    assert sim.holders(KEY) == ["otter"] and otter.states[KEY] == rs.RUNNING
    assert "cannot run here" in (weasel.res.snapshot()["groups"][KEY]["monitor"] or {}).get(
        "last_failure", "")
    sim.assert_never_run_twice()
