"""hb_standby / hb_takeover in every form, rscstatus on both nodes at each step
(docs/heartbeat-protocol.md §5.4)."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import Sim, group

W = "drbddisk::r0"
OG = "IPaddr::10.0.0.7"
GROUPS = (group(1, "weasel", W, "LVM::vg0"), group(2, "otter", OG))


def pair(mode: AutoFailback = AutoFailback.OFF) -> Sim:
    sim = Sim(groups=GROUPS, mode=mode)
    sim.comm_up()
    sim.settle()
    assert (sim.holders(W), sim.holders(OG)) == (["weasel"], ["otter"])
    return sim


def status(sim: Sim) -> tuple[str, str]:
    return sim.nodes["otter"].rscstatus, sim.nodes["weasel"].rscstatus


@pytest.mark.parametrize(
    ("which", "after", "w_holder", "o_holder"),
    [
        ("all", ("all", "none"), "otter", "otter"),
        ("local", ("all", "none"), "otter", "otter"),
        ("foreign", ("local", "local"), "weasel", "otter"),
        ("failback", ("local", "local"), "weasel", "otter"),
    ],
)
def test_hb_standby_on_weasel(
    which: str, after: tuple[str, str], w_holder: str, o_holder: str
) -> None:
    sim = pair()
    weasel = sim.nodes["weasel"]
    sim.apply(weasel, weasel.res.standby(which, sim.now))
    word = "foreign" if which == "failback" else which
    assert weasel.sent_summary()[-1] == f"t=ask_resources rsc_hold={word} info=me"
    assert status(sim) == ("local", rs.TRANSITION)
    sim.run_for(3)  # otter got the request and answered
    assert status(sim) == (rs.TRANSITION, rs.TRANSITION)
    assert sim.nodes["otter"].sent_summary()[-1] == f"t=ask_resources rsc_hold={word} info=other"
    sim.settle()
    assert status(sim) == after
    assert (sim.holders(W), sim.holders(OG)) == ([w_holder], [o_holder])
    assert f"Going standby [{word}]." in weasel.log_texts()
    assert f"Local standby process completed [{word}]." in weasel.log_texts()
    assert f"Standby resource acquisition done [{word}]." in sim.nodes["otter"].log_texts()
    sim.assert_never_two_holders()


@pytest.mark.parametrize(
    ("which", "after", "w_holder", "o_holder", "standby_word"),
    [
        ("all", ("all", "none"), "otter", "otter", "all"),
        ("local", ("local", "local"), "weasel", "otter", "foreign"),
        ("failback", ("local", "local"), "weasel", "otter", "foreign"),
        ("foreign", ("foreign", "foreign"), "otter", "weasel", "local"),
    ],
)
def test_hb_takeover_on_otter_after_it_went_standby(
    which: str, after: tuple[str, str], w_holder: str, o_holder: str, standby_word: str
) -> None:
    sim = pair()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.apply(otter, otter.res.standby("all", sim.now))
    sim.settle()
    assert status(sim) == ("none", "all")
    sim.apply(otter, otter.res.takeover(which, sim.now))
    wire = "local" if which == "failback" else which
    assert otter.sent_summary()[-1] == f"t=hb_takeover rsc_hold={wire}"
    sim.run_for(3)
    assert weasel.sent_summary()[-1] == f"t=ask_resources rsc_hold={standby_word} info=me"
    assert status(sim)[1] == rs.TRANSITION
    sim.settle()
    assert status(sim) == after
    assert (sim.holders(W), sim.holders(OG)) == ([w_holder], [o_holder])
    sim.assert_never_two_holders()


def test_received_failback_from_a_3_0_6_peer_means_foreign_not_all() -> None:
    """3.0.6's rc.d/hb_takeover turns `failback` into standby all; we give back only foreign."""
    sim = pair()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.apply(otter, otter.res.standby("all", sim.now))
    sim.settle()
    from supervisor import rscmessages as rm

    from .sim import STRING

    fields = (
        *rm.hb_takeover_fields("failback"),
        (b"src", STRING, b"otter"),
        (b"seq", STRING, b"99"),
        (b"ts", STRING, b"6b066b7a"),
    )
    from supervisor.messages import parse_envelope

    sim.apply(weasel, weasel.res.message("otter", parse_envelope(fields), sim.now))
    assert weasel.sent_summary()[-1] == "t=ask_resources rsc_hold=foreign info=me"
    sim.settle()
    assert (sim.holders(W), sim.holders(OG)) == (["weasel"], ["otter"])


def test_standby_without_reply_is_cancelled_after_10_s() -> None:
    sim = pair()
    weasel = sim.nodes["weasel"]
    sim.cut = True
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    asked = sim.now
    assert weasel.rscstatus == rs.TRANSITION
    sim.settle()
    line = [t for t, _lv, x in weasel.logs if x.startswith("No reply to standby request.")]
    assert line and line[0] - asked == 10_000
    assert weasel.log_texts()[-1] == "No reply to standby request.  Standby request cancelled."
    assert weasel.rscstatus == "local"
    assert sim.holders(W) == ["weasel"]


def test_second_request_while_one_runs_is_ignored() -> None:
    sim = pair()
    sim.cut = True
    weasel = sim.nodes["weasel"]
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    sim.run_for(3_200)
    sim.apply(weasel, weasel.res.standby("local", sim.now))
    assert weasel.log_texts()[-1] == (
        "Standby in progress- new request from weasel ignored [7 seconds left]"
    )


def test_request_while_the_other_side_is_in_flux() -> None:
    sim = Sim(groups=GROUPS, mode=AutoFailback.OFF)
    sim.comm_up()
    sim.run_for(10_010)  # weasel stable; otter's own acquisition just began
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    weasel.res.peer.stable = False  # type: ignore[union-attr]  # otter said isstable=0 last
    sim.apply(weasel, weasel.res.standby("all", sim.now))
    assert weasel.log_texts()[-1] == (
        "standby message [all] from weasel ignored.  Other side is in flux."
    )
    sim.settle()
    assert otter.rscstatus == weasel.rscstatus == "local"


def test_taker_refuses_groups_that_failed_on_it() -> None:
    sim = pair()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    otter.res.groups[W].state = rs.FAILED  # as left by an earlier failed start on otter
    otter.states[W] = rs.FAILED
    sim.apply(weasel, weasel.res.standby("local", sim.now))
    sim.settle()
    assert (
        "standby message [local] from weasel ignored: resource group "
        f"{W} failed on this node." in otter.log_texts()
    )
    assert weasel.log_texts()[-1] == "No reply to standby request.  Standby request cancelled."
    assert sim.holders(W) == ["weasel"]


def test_takeover_with_the_peer_dead_acquires_directly() -> None:
    sim = pair()
    otter = sim.nodes["otter"]
    sim.apply(otter, otter.res.standby("all", sim.now))
    sim.settle()
    sim.kill("weasel")
    sim.settle()  # the death takeover already moved everything
    assert otter.rscstatus == "all"
    sim.apply(otter, otter.res.takeover("all", sim.now))
    assert "No other node is up: acquiring [all] resources." in otter.log_texts()
