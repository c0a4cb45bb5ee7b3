"""`rscpeer`: the peer's state as its reports change it, and message acceptance."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import rscmessages as rm
from supervisor.messages import Envelope, parse_envelope
from supervisor.rscactions import Log
from supervisor.rscpeer import PeerState, accept

Hold = rm.Hold


def report(hold: Hold, *, full: bool = True, stable: bool = True,
           info: str | None = None) -> rm.ResourceReport:
    return rm.ResourceReport("otter", hold, full, stable, info)


def test_full_reports_replace_the_holdings() -> None:
    p = PeerState("otter")
    assert p.report(report(Hold.LOCAL))
    assert (p.hold, p.hold_known, p.stable, p.fresh_report) == (Hold.LOCAL, True, True, True)
    assert p.report(report(Hold.ALL, stable=False))
    assert (p.hold, p.stable, p.fresh_report) == (Hold.ALL, False, False)
    assert p.view() == {"name": "otter", "alive": True, "hold": "all", "stable": False}



def test_an_asked_report_is_answered_by_its_next_full_one_or_forgotten_at_death() -> None:
    p = PeerState("otter")
    p.report_asked = True
    assert not p.report(report(Hold.FOREIGN, full=False, info=rm.INFO_MACH_DOWN))
    assert p.report_asked  # a script's report is no answer
    assert p.report(report(Hold.NONE))
    assert not p.report_asked
    p.report_asked = True
    p.unsettled()  # dead or restarted: ask again when it is heard
    assert not p.report_asked

def test_script_reports_add_mach_down_holdings_only() -> None:
    p = PeerState("otter")
    assert p.view()["hold"] is None
    assert not p.report(report(Hold.FOREIGN, full=False))
    assert not p.hold_known
    assert not p.report(report(Hold.FOREIGN, full=False, info=rm.INFO_MACH_DOWN))
    p.report(report(Hold.LOCAL, full=False, info=rm.INFO_MACH_DOWN))
    assert p.hold is Hold.ALL and p.hold_known


def test_leaving_and_gone() -> None:
    p = PeerState("otter")
    p.report(report(Hold.LOCAL, info=rm.INFO_SHUTDOWN))
    assert p.leaving and not p.stable and not p.fresh_report
    assert p.fencing_needed(nice=True)  # it still holds something
    p.shutdone()
    assert p.released and p.hold is Hold.NONE and not p.fencing_needed(nice=False)
    p.starting()
    assert not p.released and not p.leaving


def test_fencing_needed() -> None:
    p = PeerState("otter")
    assert p.fencing_needed(nice=True)  # nothing known
    p.holds_nothing()
    assert not p.fencing_needed(nice=True)
    assert p.fencing_needed(nice=False)  # legacy reports do not count


def test_ready_for_a_handoff() -> None:
    p = PeerState("otter")
    assert not p.ready_for(nice=True) and p.ready_for(nice=False)
    p.report(report(Hold.NONE))
    assert p.ready_for(nice=True)
    p.unsettled()
    assert not p.ready_for(nice=True) and not p.fresh_report
    p.alive = False
    assert not p.ready_for(nice=False)


def env(*fields: tuple[bytes, bytes]) -> Envelope:
    stamp = ((b"src", b"otter"), (b"seq", b"1"), (b"ts", b"6a000000"))
    return parse_envelope(tuple((n, 0, v) for n, v in (*fields, *stamp)))


def test_accept() -> None:
    peer = PeerState("otter")
    starting = env(*((n, v) for n, _t, v in rm.starting_fields()))
    assert accept(starting, "otter", peer) == (rm.Starting("otter"), [])
    assert accept(starting, "ferret", peer) == (
        None, [Log(Level.ERROR, "resource message from unknown node ferret")]
    )
    assert accept(starting, "otter", None)[0] is None
    assert accept(env((b"t", b"NS_ackmsg")), "otter", peer) == (None, [])
    msg, errors = accept(env((b"t", b"resource"), (b"rsc_hold", b"bogus")), "otter", peer)
    assert msg is None and len(errors) == 1 and errors[0].level is Level.ERROR
