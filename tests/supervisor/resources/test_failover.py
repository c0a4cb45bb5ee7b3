"""Death of the holder, rejoin with auto_failback on/off, graceful handover
(docs/heartbeat-protocol.md §5.5)."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import Sim, group

KEY = "drbddisk::r0"


def started(mode: AutoFailback = AutoFailback.OFF, **kw: int) -> Sim:
    sim = Sim(mode=mode, **kw)
    sim.comm_up()
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    return sim


def test_kill_of_the_holder_moves_the_group_with_heartbeats_lines() -> None:
    sim = started()
    otter = sim.nodes["otter"]
    before = len(otter.logs)
    sent_before = len(otter.sent)
    killed_at = sim.now
    sim.kill("weasel", detect_ms=10_000)
    sim.settle()
    new = [t for _, _lv, t in otter.logs[before:]]
    levels = [(lv, t) for _, lv, t in otter.logs[before:]]
    assert levels[:4] == [
        ("WARN", "No STONITH device configured."),
        ("WARN", "Shared disks are not protected."),
        ("info", "Resources being acquired from weasel."),
        ("info", f"Taking over resource group {KEY}"),
    ]
    assert new[-1] == "mach_down takeover complete for node weasel."
    assert otter.sent_summary()[sent_before:] == [
        "t=stonith node=weasel result=n_stnth",
        "t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
        "t=resource rsc_hold=foreign info=mach_down",
    ]
    assert sim.holders(KEY) == ["otter"]
    # takeover = deadtime + 3 resources x (status + start) x 100 ms
    running_at = max(
        t for t, _o, n, k, _old, new_ in sim.timeline if n == "otter" and new_ == "running"
    )
    assert running_at - killed_at == 10_000 + 6 * 100
    assert otter.rscstatus == "all"
    sim.assert_never_two_holders()


@pytest.mark.parametrize("mode", [AutoFailback.OFF, AutoFailback.ON])
def test_restart_of_the_dead_node(mode: AutoFailback) -> None:
    sim = started(mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.kill("weasel")
    sim.settle()
    sim.restart("weasel")
    sim.settle()
    assert "remote resource transition completed." in weasel.log_texts()
    if mode is AutoFailback.OFF:
        assert sim.holders(KEY) == ["otter"]
        assert (otter.rscstatus, weasel.rscstatus) == ("all", "none")
        assert not any("standby" in t for t in otter.log_texts())
    else:
        assert sim.holders(KEY) == ["weasel"]
        assert (otter.rscstatus, weasel.rscstatus) == ("local", "local")
        assert "t=ask_resources rsc_hold=foreign info=me" in otter.sent_summary()
        o = otter.log_texts()
        for line in (
            "otter wants to go standby [foreign]",
            "standby: weasel can take our foreign resources",
            "give up foreign HA resources (standby).",
            "foreign HA resource release completed (standby).",
            "Local standby process completed [foreign].",
            "Other node completed standby takeover of foreign resources.",
        ):
            assert line in o
        w = weasel.log_texts()
        for line in (
            "otter wants to go standby [foreign]",
            "standby: acquire [foreign] resources from otter",
            "acquire local HA resources (standby).",
            "local HA resource acquisition completed (standby).",
            "Standby resource acquisition done [foreign].",
        ):
            assert line in w
        # weasel starts only after otter's release is complete
        released = max(t for t, _o, n, _k, _a, b in sim.timeline if n == "otter" and b == "stopped")
        starting = max(
            t for t, _o, n, _k, _a, b in sim.timeline if n == "weasel" and b == "starting"
        )
        assert starting > released
    sim.assert_never_two_holders()


@pytest.mark.parametrize("latency", [0, 1, 7, 250])
@pytest.mark.parametrize("script_ms", [1, 100, 3000])
def test_graceful_stop_hands_over_with_no_overlap(latency: int, script_ms: int) -> None:
    groups = (
        group(1, "weasel", "drbddisk::r0", "LVM::vg0"),
        group(2, "otter", "IPaddr::10.0.0.7"),
        group(3, "weasel", "apache"),
    )
    sim = Sim(groups=groups, mode=AutoFailback.ON, latency_ms=latency, script_ms=script_ms)
    sim.comm_up()
    sim.settle()
    for _round in range(3):
        for stopping in ("weasel", "otter"):
            other = "otter" if stopping == "weasel" else "weasel"
            sim.shutdown(stopping)
            sim.run_until(
                sim.now + 600_000, lambda s=stopping: sim.nodes[s].shutdown_complete_at is not None
            )
            node = sim.nodes[stopping]
            assert node.shutdown_complete_at is not None
            texts = node.log_texts()
            assert texts[texts.index("Giving up all HA resources.") :][-2:] == [
                "All HA resources relinquished.",
                "Waiting to allow resource takeover to complete",
            ]
            assert (
                node.sent_summary()[-2:]
                == [
                    "t=resource rsc_hold=none rtype=full isstable=0 info=shutdown",
                    "t=shutdone st=dead",
                ]
                or node.sent_summary()[-1] == "t=shutdone st=dead"
            )
            assert all(k == "stopped" for k in node.states.values())
            sim.stop_process(stopping, after_ms=10_000)
            sim.settle()
            peer = sim.nodes[other]
            assert f"Received shutdown notice from '{stopping}'." in peer.log_texts()
            assert f"Dead node {stopping} gave up resources." in peer.log_texts()
            assert f"t=stonith node={stopping} result=unneeded" in peer.sent_summary()
            assert all(st == rs.RUNNING for st in peer.states.values())
            assert peer.rscstatus == "all"
            sim.restart(stopping)
            sim.settle()
            sim.assert_never_two_holders()
    # auto_failback on: everything went home in the end
    assert sim.holders("drbddisk::r0") == ["weasel"]
    assert sim.holders("IPaddr::10.0.0.7") == ["otter"]


def test_shutdown_waits_for_running_script_and_confirmation() -> None:
    sim = started(script_ms=1000)
    weasel = sim.nodes["weasel"]
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(1_500)  # otter agreed, weasel is stopping its group
    assert weasel.res.group_state(KEY) == rs.STOPPING
    sim.shutdown("weasel")
    assert "Shutdown delayed until current resource activity finishes." in weasel.log_texts()
    sim.run_until(sim.now + 60_000, lambda: weasel.shutdown_complete_at is not None)
    assert weasel.shutdown_complete_at is not None
    assert sim.holders(KEY) == ["otter"]
    sim.assert_never_two_holders()


def test_shutdown_alone_completes_at_once() -> None:
    sim = started()
    sim.kill("otter")
    sim.settle()
    weasel = sim.nodes["weasel"]
    sim.shutdown("weasel")
    sim.settle()
    assert weasel.shutdown_complete_at is not None
    assert "Waiting to allow resource takeover to complete" not in weasel.log_texts()
    assert weasel.running == set()
    assert weasel.rscstatus == "none"


def test_shutdown_gives_up_waiting_for_a_silent_peer() -> None:
    sim = started()
    weasel = sim.nodes["weasel"]
    sim.cut = True  # the peer hears nothing any more, but is not dead yet
    sim.shutdown("weasel")
    sim.run_for(2_000)
    assert weasel.shutdown_complete_at is None
    sim.run_for(30_000)
    assert weasel.shutdown_complete_at is not None
    assert "No takeover confirmation from the other node: stopping anyway." in (weasel.log_texts())


def test_peer_death_during_startup_negotiation() -> None:
    sim = Sim(mode=AutoFailback.ON)
    sim.comm_up()
    sim.run_for(3_000)
    sim.kill("otter", detect_ms=1_000)
    sim.settle()
    weasel = sim.nodes["weasel"]
    assert weasel.res.phase is rs.Phase.STABLE
    assert sim.holders(KEY) == ["weasel"]
    # otter had reported holding nothing, but not stable: in its negotiation
    # it starts its groups next, so its death needs fencing (3.0.6 skipped it:
    # "Dead node otter gave up resources.", result=unneeded)
    assert weasel.log_texts()[:2] == ["No STONITH device configured.",
                                      "Shared disks are not protected."]
    assert weasel.sent_summary()[2] == "t=stonith node=otter result=n_stnth"


def test_death_orders_then_settle_is_node_dead_with_the_stonith_report_first() -> None:
    """The supervisor sends a death's orders before the takeover job runs
    (docs/processes.md, "A death's orders first"): the two calls must carry
    out exactly what `node_dead` does, in the same order."""
    whole, split = started(), started()
    otter = split.nodes["otter"]
    firsts: list[list[rs.Action]] = []

    def in_two_calls(node: str, now: int) -> list[rs.Action]:
        orders = otter.res.node_dead_orders(node, now)
        firsts.append(orders)
        return orders + otter.res.settle(now)

    otter.res.node_dead = in_two_calls  # type: ignore[method-assign]
    for sim in (whole, split):
        sim.kill("weasel", detect_ms=10_000)
        sim.settle()
    assert [type(a).__name__ for a in firsts[0]][:1] == ["SendMessage"]
    assert not any(isinstance(a, rs.RunScript) for a in firsts[0])
    assert split.nodes["otter"].sent_summary() == whole.nodes["otter"].sent_summary()
    assert split.nodes["otter"].logs == whole.nodes["otter"].logs
    assert split.timeline == whole.timeline
    assert split.holders(KEY) == ["otter"]
