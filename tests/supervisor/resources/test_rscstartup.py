"""`rscstartup.Negotiation`: when the start-up negotiation completes, and what it says."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor.rscactions import Log
from supervisor.rscstartup import Negotiation

LOCAL_DONE = Log(Level.INFO, "local resource transition completed.")


def test_a_stable_report_completes_at_once() -> None:
    n = Negotiation(10_000)
    n.begin(0)
    assert n.report(True, 500) == [Log(Level.INFO, "remote resource transition completed.")]


def test_an_unstable_report_arms_rqstdelay_once() -> None:
    n = Negotiation(10_000)
    n.begin(0)
    assert n.report(False, 1_000) is None
    assert n.report(False, 4_000) is None  # the first report's delay stands
    assert n.deadlines() == (11_000, 30_000)
    assert n.expired(10_999, "otter", negotiating=True) is None
    assert n.expired(11_000, "otter", negotiating=True) == [LOCAL_DONE]
    assert n.deadlines() == (None, 30_000)


def test_no_report_completes_after_the_safety_delay_with_a_warning() -> None:
    n = Negotiation(10_000)
    n.begin(5)
    assert n.expired(30_004, "otter", negotiating=True) is None
    assert n.expired(30_005, "otter", negotiating=True) == [
        Log(Level.WARN, "No resource report from otter: completing the resource transition "
            "without it."),
        LOCAL_DONE,
    ]
    assert n.deadlines() == (None, None)


def test_expired_timers_are_dropped_when_not_negotiating() -> None:
    n = Negotiation(1_000)
    n.begin(0)
    n.report(False, 0)
    assert n.expired(5_000, "otter", negotiating=False) is None
    assert n.deadlines() == (None, None)


def test_clear() -> None:
    n = Negotiation(1_000)
    n.begin(0)
    n.report(False, 0)
    n.clear()
    assert n.deadlines() == (None, None)
    assert n.expired(10_000, "otter", negotiating=True) is None
