"""Start-up negotiation in on/off and legacy modes (docs/heartbeat-protocol.md §5.3,
tests/data/interop/flows/01-startup.flow.txt)."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import SEED_GROUPS, Sim, group


@pytest.mark.parametrize("mode", [AutoFailback.ON, AutoFailback.OFF])
def test_both_start_together_tie_break_after_rqstdelay(mode: AutoFailback) -> None:
    sim = Sim(mode=mode)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    assert otter.rscstatus == rs.TRANSITION
    sim.comm_up()
    sim.run_for(9_000)
    # nobody is stable before RQSTDELAY: nothing started, both report transition
    assert sim.holders("drbddisk::r0") == []
    assert otter.rscstatus == weasel.rscstatus == rs.TRANSITION
    assert weasel.sent_summary()[:2] == [
        "t=starting",
        "t=resource rsc_hold=none rtype=full isstable=0",
    ]
    sim.settle()
    # starting arrives at 2 ms, the answer at 4 ms: the tie is broken exactly 10 s later
    first = [t for t, _lv, x in weasel.logs if x == "local resource transition completed."]
    assert first == [10_004]
    assert "local resource transition completed." in otter.log_texts()
    assert weasel.states["drbddisk::r0"] == rs.RUNNING
    assert sorted(weasel.running) == [("drbddisk::r0", 0), ("drbddisk::r0", 1), ("drbddisk::r0", 2)]
    # status before each start, left to right
    assert [(c[2], c[3]) for c in weasel.calls] == [
        (0, "status"),
        (0, "start"),
        (1, "status"),
        (1, "start"),
        (2, "status"),
        (2, "start"),
    ]
    assert otter.calls == []
    # what cl_status rscstatus printed on the real 3.0.6 pair (cl_status.json full-steady)
    assert otter.rscstatus == "local"
    assert weasel.rscstatus == "local"
    w = weasel.log_texts()
    assert w.index("Local Resource acquisition completed.") < w.index(
        "Initial resource acquisition complete (T_RESOURCES(us))"
    )
    assert (
        "Acquiring resource group: weasel drbddisk::r0 LVM::vg0 Filesystem::/dev/vg0/data::/srv"
        in w
    )
    sent = weasel.sent_summary()
    assert "t=resource rsc_hold=local rtype=full isstable=1" in sent
    assert "t=ip-request-resp dest=weasel ipaddr=drbddisk::r0 weown=yes ok=OK" in sent
    assert sent[-1] == "t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()"
    assert otter.log_texts().count("Local Resource acquisition completed. (none)") == 1
    sim.assert_never_two_holders()


def test_second_node_joins_a_stable_one() -> None:
    """A stable peer answers isstable=1: `remote resource transition completed.` at once."""
    sim = Sim(mode=AutoFailback.OFF, boot_takeover="initdead")  # type: ignore[arg-type]
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.apply(otter, otter.res.node_dead("weasel", 0))
    sim.comm_up("otter")
    sim.settle()
    assert otter.rscstatus == "all" and otter.states["drbddisk::r0"] == rs.RUNNING
    sim.restart("weasel")
    sim.settle()
    assert "remote resource transition completed." in weasel.log_texts()
    assert weasel.rscstatus == "none" and otter.rscstatus == "all"
    # captured after a rejoin with auto_failback off: survivor all, rejoined none
    assert weasel.calls == []
    sim.assert_never_two_holders()


def test_alone_at_start_takes_everything_with_stonith_warnings() -> None:
    """heartbeat's start-up alone (`boot_takeover initdead`; see test_fencing.py for ours)."""
    sim = Sim(mode=AutoFailback.ON, boot_takeover="initdead")  # type: ignore[arg-type]
    otter = sim.nodes["otter"]
    sim.apply(otter, otter.res.node_dead("weasel", 0))
    sim.comm_up("otter")
    sim.settle()
    logs = otter.log_texts()
    assert logs[:3] == [
        "No STONITH device configured.",
        "Shared disks are not protected.",
        "Resources being acquired from weasel.",
    ]
    assert "Taking over resource group drbddisk::r0" in logs
    assert "mach_down takeover complete for node weasel." in logs
    assert "Initial resource acquisition complete (mach_down)" in logs
    sent = otter.sent_summary()
    assert sent[0] == "t=stonith node=weasel result=n_stnth"
    assert sent[-1] == "t=resource rsc_hold=foreign info=mach_down"
    assert otter.rscstatus == "all"


def test_single_node_cluster_acquires_its_groups() -> None:
    sim = Sim(groups=(group(1, "otter", "IPaddr::10.0.0.1"),), nodes=("otter",))
    sim.comm_up()
    sim.settle()
    otter = sim.nodes["otter"]
    assert otter.states["IPaddr::10.0.0.1"] == rs.RUNNING
    assert otter.rscstatus == "all"


def test_peer_holding_our_groups_is_respected_at_start() -> None:
    """We restart while the peer runs our group: we must not start it (no overlap)."""
    sim = Sim(mode=AutoFailback.OFF)
    sim.comm_up()
    sim.settle()
    sim.kill("weasel")
    sim.settle()
    assert sim.holders("drbddisk::r0") == ["otter"]
    sim.restart("weasel")
    sim.settle()
    assert sim.holders("drbddisk::r0") == ["otter"]
    assert sim.nodes["weasel"].calls == []
    sim.assert_never_two_holders()


def test_no_report_at_all_completes_alone_after_safety_delay() -> None:
    sim = Sim(mode=AutoFailback.OFF)
    weasel = sim.nodes["weasel"]
    sim.comm_up("weasel")  # otter is up (membership says so) but never answers
    sim.nodes["otter"].alive = False
    sim.run_for(29_999)
    assert weasel.rscstatus == rs.TRANSITION
    sim.run_for(2)
    assert "No resource report from otter: completing the resource transition without it." in (
        weasel.log_texts()
    )
    sim.settle()
    assert weasel.states["drbddisk::r0"] == rs.RUNNING


class TestLegacy:
    def test_each_node_requests_its_groups_and_the_holder_gives_them_up(self) -> None:
        groups = (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.9"))
        sim = Sim(groups=groups, mode=AutoFailback.LEGACY)
        otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
        sim.comm_up()
        sim.run_for(1)
        assert weasel.sent_summary() == ["t=ip-request ipaddr=drbddisk::r0"]
        assert otter.sent_summary() == ["t=ip-request ipaddr=IPaddr::10.0.0.9"]
        sim.settle()
        assert "t=ip-request-resp dest=weasel ipaddr=drbddisk::r0 weown=no ok=OK" in (
            otter.sent_summary()
        )
        assert weasel.states["drbddisk::r0"] == rs.RUNNING
        assert otter.states["IPaddr::10.0.0.9"] == rs.RUNNING
        assert otter.rscstatus == weasel.rscstatus == "local"

    def test_legacy_home_node_always_takes_its_group_back(self) -> None:
        sim = Sim(mode=AutoFailback.LEGACY)
        otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
        sim.comm_up()
        sim.settle()
        sim.kill("weasel")
        sim.settle()
        assert sim.holders("drbddisk::r0") == ["otter"]
        sim.restart("weasel")
        sim.settle()
        assert sim.holders("drbddisk::r0") == ["weasel"]
        assert "t=ip-request-resp dest=weasel ipaddr=drbddisk::r0 weown=yes ok=OK" in (
            otter.sent_summary()
        )
        assert otter.rscstatus == "local"  # no groups of its own: vacuously held, as 3.0.6
        assert weasel.rscstatus == "local"
        sim.assert_never_two_holders()

    def test_alone_replies_to_itself(self) -> None:
        sim = Sim(mode=AutoFailback.LEGACY, boot_takeover="initdead")  # type: ignore[arg-type]
        weasel = sim.nodes["weasel"]
        sim.apply(weasel, weasel.res.node_dead("otter", 0))
        sim.comm_up("weasel")
        sim.settle()
        assert "t=ip-request-resp dest=weasel ipaddr=drbddisk::r0 weown=yes ok=OK" in (
            weasel.sent_summary()
        )
        assert weasel.states["drbddisk::r0"] == rs.RUNNING

    def test_standby_is_refused(self) -> None:
        sim = Sim(mode=AutoFailback.LEGACY)
        sim.comm_up()
        sim.settle()
        weasel = sim.nodes["weasel"]
        sim.apply(weasel, weasel.res.standby("all", sim.now))
        sim.apply(weasel, weasel.res.takeover("all", sim.now))
        assert (
            weasel.log_texts("ERROR")[-2:]
            == ["Standby mode only implemented when nice_failback on"] * 2
        )
