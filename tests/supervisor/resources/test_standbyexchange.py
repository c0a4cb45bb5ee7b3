"""`standbyexchange.StandbyExchange` on its own: each stage, its messages and refusals."""

from __future__ import annotations

import pytest

from hbeat.logfmt import Level
from supervisor import rscmessages as rm
from supervisor import standbyexchange as sx
from supervisor.rscactions import Log, SendMessage
from supervisor.standbyexchange import Next, SbRole, SbStage, StandbyExchange

Hold = rm.Hold
REPORT = SendMessage(rm.resource_fields(Hold.LOCAL, True))
HOUR = 3_600_000  # heartbeat 3.0.6's limit for a stage that moves groups


def test_sets_of_hb_standby_hb_takeover_and_a_peers_hb_takeover() -> None:
    assert sx.standby_set("failback") is Hold.FOREIGN
    assert sx.standby_set("local") is Hold.LOCAL
    assert sx.takeover_set("failback") == ("local", Hold.LOCAL)
    assert sx.takeover_set("all") == ("all", Hold.ALL)
    assert sx.requested_set("local") is Hold.FOREIGN
    assert sx.requested_set("foreign") is Hold.LOCAL
    assert sx.requested_set("failback") is Hold.FOREIGN  # 3.0.6 would give all
    with pytest.raises(ValueError, match=r"bad standby set \[some\]"):
        sx.standby_set("some")
    with pytest.raises(ValueError, match=r"bad takeover set \[none\]"):
        sx.takeover_set("none")


def test_asker_goes_through_every_stage() -> None:
    ex = StandbyExchange("weasel", timeout_ms=10_000)
    out = ex.ask(Hold.LOCAL, 500)
    assert out == [
        SendMessage(rm.ask_resources_fields(Hold.LOCAL, rm.ASK_ME)),
        Log(Level.INFO, "weasel wants to go standby [local]"),
    ]
    assert ex.deadline == 10_500 and ex.snapshot() == {
        "role": "asker",
        "which": "local",
        "stage": "wait_other",
        "deadline_ms": 10_500,
    }
    step, sb, logs = ex.answer("otter", rm.ASK_OTHER)
    assert (step, logs) == (Next.RELEASE, []) and sb is ex.current
    assert sb is not None
    out = ex.releasing("otter", Hold.NONE, 600)
    assert sb.stage is SbStage.RELEASING and ex.deadline == 600 + HOUR
    assert SendMessage(rm.resource_fields(Hold.NONE, False, rm.INFO_STANDBY)) in out
    out = ex.released(sb, 900)
    assert sb.stage is SbStage.WAIT_DONE and ex.deadline == 900 + HOUR
    assert out[1] == SendMessage(rm.ask_resources_fields(Hold.LOCAL, rm.ASK_DONE))
    step, _, logs = ex.answer("otter", rm.ASK_DONE)
    assert step is Next.COMPLETED and not ex.active
    assert logs == [Log(Level.INFO, "Other node completed standby takeover of local resources.")]


def test_an_unanswered_request_is_cancelled_at_its_deadline() -> None:
    ex = StandbyExchange("weasel", timeout_ms=10_000)
    ex.ask(Hold.ALL, 0)
    assert ex.tick(9_999) == [] and ex.active
    assert ex.tick(10_000) == [
        Log(Level.INFO, "No reply to standby request.  Standby request cancelled.")
    ]
    assert not ex.active and ex.tick(20_000) == []


def test_refusals_name_their_reason() -> None:
    ex = StandbyExchange("weasel", timeout_ms=10_000)
    args = {"peer_in_flux": False, "local_in_flux": False}
    assert ex.blocked("otter", Hold.ALL, 0, **args) == []
    assert ex.blocked("otter", Hold.ALL, 0, peer_in_flux=True, local_in_flux=True) == [
        Log(Level.WARN, "standby message [all] from otter ignored.  Other side is in flux.")
    ]
    assert ex.blocked("otter", Hold.ALL, 0, peer_in_flux=False, local_in_flux=True) == [
        Log(Level.WARN, "standby message [all] from otter ignored.  local resources in flux.")
    ]
    ex.ask(Hold.FOREIGN, 0)
    assert ex.blocked("otter", Hold.ALL, 2_500, **args) == [
        Log(Level.WARN, "Standby in progress- new request from otter ignored [8 seconds left]")
    ]


def test_taker_acquires_on_done_and_reports() -> None:
    ex = StandbyExchange("otter", timeout_ms=10_000)
    assert ex.accept(Hold.LOCAL, 0) == [
        SendMessage(rm.ask_resources_fields(Hold.LOCAL, rm.ASK_OTHER))
    ]
    sb = ex.current
    assert sb is not None and (sb.role, sb.stage) == (SbRole.TAKER, SbStage.WAIT_RELEASE)
    assert ex.deadline == 10_000  # its release report is due as a first answer is
    step, got, _ = ex.answer("weasel", rm.ASK_DONE)
    assert step is Next.ACQUIRE and got is sb
    out = ex.acquiring(sb, "weasel", Hold.FOREIGN, 5_000)
    assert sb.stage is SbStage.ACQUIRING and ex.deadline == 5_000 + HOUR
    assert out[1] == Log(Level.INFO, "acquire foreign HA resources (standby).")
    out = ex.acquired(sb, REPORT)
    assert out[1] == SendMessage(rm.ask_resources_fields(Hold.LOCAL, rm.ASK_DONE))
    assert out[-1] is REPORT and not ex.active


def test_answers_out_of_turn_are_ignored_with_the_stage_number() -> None:
    ex = StandbyExchange("otter", timeout_ms=10_000)
    step, _, logs = ex.answer("weasel", rm.ASK_OTHER)
    assert step is Next.IGNORED
    assert logs == [Log(Level.ERROR, "Ignored standby message 'other' from weasel in state 0")]
    ex.ask(Hold.ALL, 0)
    step, _, logs = ex.answer("weasel", rm.ASK_DONE)
    assert step is Next.IGNORED and ex.active
    assert logs == [Log(Level.ERROR, "Ignored standby message 'done' from weasel in state 1")]


def test_taker_stops_waiting_when_the_asker_aborted_its_release() -> None:
    ex = StandbyExchange("otter", timeout_ms=10_000)
    ex.accept(Hold.ALL, 0)
    stable_local = rm.ResourceReport("weasel", Hold.LOCAL, True, True, None)
    assert ex.on_report("weasel", stable_local, 1) == []  # release not begun: no conclusion
    releasing = rm.ResourceReport("weasel", Hold.LOCAL, True, False, rm.INFO_STANDBY)
    assert ex.on_report("weasel", releasing, 2) == [] and ex.active
    assert ex.on_report("weasel", stable_local, 3) == [
        Log(
            Level.WARN,
            "Standby takeover of [all] resources from weasel cancelled: weasel still holds "
            "[local] resources.",
        )
    ]
    assert not ex.active


def test_abort_and_peer_restart_end_the_exchange() -> None:
    ex = StandbyExchange("weasel", timeout_ms=10_000)
    assert ex.cancel_peer_restarted() == []
    ex.ask(Hold.ALL, 0)
    sb = ex.current
    assert sb is not None
    ex.releasing("otter", Hold.LOCAL, 0)
    out = ex.aborted(sb, "otter", "web db", REPORT)
    assert out[0].level is Level.CRIT and "web db could not be stopped" in out[0].text
    assert out[1] is REPORT and not ex.active
    ex.ask(Hold.ALL, 0)
    assert ex.cancel_peer_restarted() == [
        Log(Level.WARN, "Standby request cancelled: the other node restarted.")
    ]
    assert ex.snapshot() is None


def test_a_stage_that_moves_groups_is_given_up_after_an_hour() -> None:
    """heartbeat 3.0.6 gives each such stage an hour; waited for without end,
    a peer that dropped its side would block every standby request for good."""
    for role in ("asker", "taker"):
        ex = StandbyExchange("weasel", timeout_ms=10_000)
        if role == "asker":
            ex.ask(Hold.ALL, 0)
            sb = ex.current
            assert sb is not None
            ex.releasing("otter", Hold.NONE, 1_000)
            ex.released(sb, 2_000)  # waiting for otter's done from now
        else:
            ex.accept(Hold.ALL, 0)
            releasing = rm.ResourceReport("otter", Hold.NONE, True, False, rm.INFO_STANDBY)
            ex.on_report("otter", releasing, 2_000)  # otter stops the set from now
        assert ex.blocked("otter", Hold.ALL, 2_000, peer_in_flux=False, local_in_flux=False) == [
            Log(Level.WARN,
                "Standby in progress- new request from otter ignored [3600 seconds left]")
        ]
        assert ex.tick(2_000 + HOUR - 1) == [] and ex.active
        assert ex.tick(2_000 + HOUR) == [
            Log(Level.INFO, "No reply to standby request.  Standby request cancelled.")
        ]
        assert not ex.active


def test_the_peer_declaring_us_dead_ends_the_exchange() -> None:
    ex = StandbyExchange("weasel", timeout_ms=10_000)
    assert ex.cancel_declared_dead("otter") == []
    ex.accept(Hold.LOCAL, 0)
    assert ex.cancel_declared_dead("otter") == [
        Log(Level.WARN, "Standby request cancelled: otter declared us dead.")
    ]
    assert not ex.active


def test_a_taker_whose_asker_never_begins_its_release_gives_up_after_10_s() -> None:
    """The asker's `resource ... info=standby` comes before it stops anything;
    an asker that dropped its request (it held us dead) never sends it."""
    ex = StandbyExchange("otter", timeout_ms=10_000)
    ex.accept(Hold.LOCAL, 5_000)
    assert ex.tick(14_999) == [] and ex.active
    assert ex.tick(15_000) == [
        Log(Level.INFO, "No reply to standby request.  Standby request cancelled.")
    ]
    assert not ex.active
