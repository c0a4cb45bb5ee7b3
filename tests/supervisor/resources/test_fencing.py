"""STONITH before takeover (docs/fencing.md): the gate in Resources, on the simulated pair.

The bench's fake power switch (sim.py `_fence`) powers the target off when
the fencing node's device answers 0; `fence_rc` sets another answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from hbeat.config.model import AutoFailback, StonithDevice
from hbeat.logfmt import Level
from supervisor import resources as rs
from supervisor.rscmessages import Hold

from .sim import HANG, Sim, texts

KEY = "drbddisk::r0"
DEV = StonithDevice("stonith_host", "*", "external/hbeatlab", ("otter weasel", "/x"), None, 7)
FENCED: dict[str, Any] = {"stonith": (DEV,), "fence_retry_ms": 1000, "fence_retry_max_ms": 4000}


def started(mode: AutoFailback = AutoFailback.OFF, **kw: Any) -> Sim:
    sim = Sim(mode=mode, **{**FENCED, **kw})
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    return sim


# --- the gate in Resources -------------------------------------------------------


def test_takeover_only_after_the_fence_reports_success() -> None:
    sim = started()
    otter = sim.nodes["otter"]
    sent_before = len(otter.sent)
    t0 = sim.now
    sim.kill("weasel", detect_ms=10_000, services_survive=True)  # hung, not dead
    sim.settle()
    fenced_at = otter.fences[0][0]
    assert otter.fences == [(fenced_at, "weasel", 0)]
    starts = sim.starts_after(t0)
    assert starts and all(when >= fenced_at for _n, when, _k, _i in starts)
    assert sim.holders(KEY) == ["otter"]
    assert otter.sent_summary()[sent_before] == "t=stonith node=weasel result=OK"
    assert "No STONITH device configured." not in texts(otter)
    lines = texts(otter, Level.INFO)
    i = lines.index("Resetting node weasel with [external/hbeatlab]")
    assert lines[i + 1:i + 3] == ["node weasel now reset.", "Resources being acquired from weasel."]
    sim.assert_never_run_twice()


def test_failing_device_starts_nothing_and_retries() -> None:
    sim = started()
    otter = sim.nodes["otter"]
    otter.fence_rc = 1
    t0 = sim.now
    sim.partition(10_000, only="otter")  # weasel runs on, unheard
    sim.run_for(60_000)
    assert [rc for _t, _n, rc in otter.fences] == [1] * len(otter.fences)
    assert len(otter.fences) >= 5
    assert sim.starts_after(t0) == []
    assert sim.holders(KEY) == ["weasel"]
    assert texts(otter, Level.ERROR).count("STONITH of weasel failed.  Retrying... (in 4 s; "
                                           "attempt 5 failed)") == 1
    assert otter.res.snapshot()["fencing"]["peers"]["weasel"]["last_result"] == "bad"
    assert "t=stonith node=weasel result=bad" in otter.sent_summary()
    sim.assert_never_run_twice()


def test_partition_healed_before_the_fence_calls_it_off() -> None:
    sim = started()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    otter.fence_rc = 1
    sim.partition(10_000, only="otter")
    sim.run_for(12_000)
    assert otter.fences
    sim.cut = False
    sim.apply(otter, otter.res.node_up("weasel", sim.now))
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    n = len(otter.fences)
    sim.run_for(30_000)
    assert len(otter.fences) == n
    assert any("STONITH of weasel called off" in t for t in texts(otter, Level.WARN))
    assert sim.holders(KEY) == ["weasel"] and weasel.alive
    sim.assert_never_run_twice()


def test_hb_takeover_waits_for_the_fence() -> None:
    sim = started()
    otter = sim.nodes["otter"]
    otter.fence_rc = 1
    t0 = sim.now
    sim.partition(10_000, only="otter")
    sim.run_for(12_000)
    sim.apply(otter, otter.res.takeover("all", sim.now))
    sim.run_for(5_000)
    assert sim.starts_after(t0) == []
    assert any("is being fenced" in t for t in texts(otter, Level.WARN))
    otter.fence_rc = 0
    sim.run_for(20_000)
    assert sim.holders(KEY) == ["otter"]
    sim.assert_never_run_twice()


# --- start-up with every link down -------------------------------------------------


def alone(**kw: Any) -> Sim:
    sim = Sim(**kw)
    sim.nodes["weasel"].running |= {(KEY, 0), (KEY, 1), (KEY, 2)}  # weasel runs it, unheard
    sim.cut = True
    sim._dead(sim.nodes["otter"], "weasel")
    sim.comm_up("otter")
    return sim


def test_boot_alone_without_fencing_takes_nothing_until_hb_takeover() -> None:
    sim = alone()
    otter = sim.nodes["otter"]
    sim.run_for(30_000)
    assert sim.starts_after(0) == []
    assert any("not taking over any resource group" in t for t in texts(otter, Level.CRIT))
    assert otter.res.snapshot()["boot_wait"] is True
    sim.nodes["weasel"].alive = False  # the administrator checked: weasel is down
    sim.nodes["weasel"].running.clear()
    sim.apply(otter, otter.res.takeover("all", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    sim.assert_never_run_twice()


def test_boot_alone_without_fencing_then_the_peer_is_heard() -> None:
    sim = alone()
    otter = sim.nodes["otter"]
    sim.run_for(20_000)
    sim.cut = False
    sim.apply(otter, otter.res.node_up("weasel", sim.now))
    sim.comm_up("weasel")
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert otter.res.phase is rs.Phase.STABLE
    sim.assert_never_run_twice()


def test_boot_alone_initdead_takes_everything_unfenced_as_heartbeat() -> None:
    sim = alone(boot_takeover="initdead")
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    assert "No STONITH device configured." in texts(sim.nodes["otter"], Level.WARN)
    with pytest.raises(AssertionError, match="runs on"):
        sim.assert_never_run_twice()  # the double run heartbeat has on this path


def test_boot_alone_with_fencing_fences_first() -> None:
    sim = alone(**FENCED)
    otter = sim.nodes["otter"]
    sim.settle()
    assert otter.fences and otter.fences[0][2] == 0
    assert all(when >= otter.fences[0][0] for _n, when, _k, _i in sim.starts_after(0))
    assert sim.holders(KEY) == ["otter"]
    sim.assert_never_run_twice()


def test_asymmetric_partition_unfenced_converges_after_the_heal() -> None:
    """weasel's packets are lost, otter's are not: otter takes over (no STONITH); the
    answer weasel sends to otter's claim is lost too, so the report otter sends when
    it hears weasel again must be answered again, or both keep the group for good."""
    sim = Sim(mode=AutoFailback.OFF)
    sim.comm_up()
    sim.settle()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.drop_from = {"weasel"}
    sim._dead(otter, "weasel")
    sim.run_for(5_000)
    assert sorted(sim.runs_on(KEY, 0)) == ["otter", "weasel"]  # the unfenced double run
    sim.drop_from = set()
    sim.apply(otter, otter.res.node_up("weasel", sim.now))
    sim.apply(otter, otter.res.node_returned_after_partition("weasel", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert sim.runs_on(KEY, 0) == {"weasel"}
    assert "Both machines own our resources!" in texts(weasel, Level.ERROR)


def test_boot_alone_initdead_then_the_link_returns_converges() -> None:
    """otter stops, boots again with the link down and takes weasel's group
    (boot_takeover initdead); when the link returns each hears a peer it held for
    dead: both report, audit, and the group stays on weasel only."""
    sim = Sim(mode=AutoFailback.OFF, boot_takeover="initdead")  # type: ignore[arg-type]
    sim.comm_up()
    sim.settle()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.shutdown("otter")
    sim.settle()
    sim.stop_process("otter", after_ms=3_000)
    sim.settle()
    sim.cut = True
    otter.incarnation += 1
    otter.alive = True
    otter.res = sim._machine("otter")
    otter.states = {KEY: rs.STOPPED}
    sim.apply(otter, otter.res.start(sim.now))
    sim.run_for(2_000)
    sim.apply(otter, otter.res.node_dead("weasel", sim.now))
    sim.comm_up("otter")
    sim.settle()
    assert sorted(sim.runs_on(KEY, 0)) == ["otter", "weasel"]
    sim.cut = False
    sim.apply(otter, otter.res.node_up("weasel", sim.now))
    sim.apply(weasel, weasel.res.node_up("otter", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"], (sim.holders(KEY), texts(otter))
    assert sim.runs_on(KEY, 0) == {"weasel"}


# --- what a death needs fenced (found by tests/supervisor/resources/test_explore.py) ---


def fenced_first(sim: Sim, fencer: str, victim: str, since: int) -> None:
    """`fencer` reset `victim` before it started anything of its own, and no
    resource ran on two nodes."""
    node = sim.nodes[fencer]
    assert [n for _t, n, rc in node.fences if rc == 0] == [victim], node.fences
    reset_at = next(t for t, n, rc in node.fences if rc == 0)
    assert all(when >= reset_at for n, when, _k, _i in sim.starts_after(since) if n == fencer)
    assert f"Dead node {victim} gave up resources." not in texts(node)
    sim.assert_never_run_twice()


def test_a_peer_that_dies_while_it_shuts_down_is_fenced() -> None:
    """weasel began a graceful stop (`resource rsc_hold=none isstable=0
    info=shutdown`: what it will hold, not what it holds), its stop hung, and
    its hbeat was killed: its groups may still run. 3.0.6 took the report at
    its word and skipped STONITH; so did we."""
    sim = started()
    weasel = sim.nodes["weasel"]
    weasel.behaviour[(KEY, 0, "stop")] = HANG
    t0 = sim.now
    sim.shutdown("weasel")
    sim.run_for(1_000)
    assert "t=resource rsc_hold=none rtype=full isstable=0 info=shutdown" in weasel.sent_summary()
    sim.kill("weasel", services_survive=True)
    sim.settle()
    fenced_first(sim, "otter", "weasel", t0)
    assert sim.holders(KEY) == ["otter"]


def test_a_peer_that_dies_while_it_takes_our_groups_over_is_fenced() -> None:
    """weasel went standby: otter was starting weasel's group when the link
    went down, before otter's report said so. weasel's last report of otter
    said it held nothing: 3.0.6 skipped STONITH; so did we, and started the
    group again beside otter's copy."""
    sim = started()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.apply(otter, otter.res.standby("all", sim.now))  # otter holds nothing, stable
    sim.settle()
    peer = weasel.res.peer
    assert otter.rscstatus == "none" and peer is not None and peer.hold is Hold.NONE
    t0 = sim.now
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_until(sim.now + 60_000, lambda: otter.states[KEY] == rs.STARTING)
    sim.partition(10_000, only="weasel")  # otter runs on, unheard
    sim.settle()
    fenced_first(sim, "weasel", "otter", t0)
    assert sim.holders(KEY) == ["weasel"]


def test_legacy_a_peer_that_restarted_after_a_graceful_stop_is_fenced_when_it_dies() -> None:
    """auto_failback legacy: weasel stopped gracefully (`shutdone`), came back
    and took its group back, then crashed with its services running. Its old
    `shutdone` still counted (no `starting` message in legacy resets it): the
    death went unfenced and otter started the group beside weasel's copy."""
    sim = started(AutoFailback.LEGACY)
    otter = sim.nodes["otter"]
    sim.shutdown("weasel")
    sim.settle()
    sim.stop_process("weasel")
    sim.settle()
    assert sim.holders(KEY) == ["otter"]
    sim.restart("weasel")
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    t0 = sim.now
    fences = len(otter.fences)
    sim.kill("weasel", services_survive=True)
    sim.settle()
    assert [n for _t, n, rc in otter.fences[fences:] if rc == 0] == ["weasel"]
    assert all(when >= otter.fences[fences][0]
               for n, when, _k, _i in sim.starts_after(t0) if n == "otter")
    sim.assert_never_run_twice(since=t0)
    assert sim.holders(KEY) == ["otter"]
