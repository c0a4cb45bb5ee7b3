"""`supervisor/monitorpolicy.py`: when a group is probed, and restart counting within a window."""

from __future__ import annotations

from hbeat.config.model import MonitorSpec
from supervisor.monitorpolicy import Verdict, Watch

SPEC = MonitorSpec(interval_ms=1000, restarts=2, window_ms=10_000)


def test_a_group_is_probed_one_interval_after_it_runs_and_after_each_good_probe() -> None:
    w = Watch(SPEC)
    assert not w.watched and not w.due(10**9)
    w.arm(500)
    assert w.watched and not w.due(1499) and w.due(1500)
    w.passed(1700)
    assert not w.due(2699) and w.due(2700)
    assert not w.take(2699) and w.take(2700)
    assert w.watched and not w.due(10**9) and w.next_ms is None  # the probe is under way
    w.passed(2900)
    assert w.due(3900)
    w.disarm()
    assert not w.watched and not w.due(10**9)
    w.passed(3000)  # a late result for a group no longer watched arms nothing
    assert not w.watched


def test_restarts_within_the_window_then_the_peer_then_here_again() -> None:
    w = Watch(SPEC)
    w.arm(0)
    assert w.failed(1000, "a", peer_fit=True) is Verdict.RESTART
    assert not w.watched  # until it runs again
    assert w.failed(2000, "b", peer_fit=False) is Verdict.RESTART
    assert w.restarts(2000) == 2
    # the budget is spent: to the peer if it can take it, else here, counted
    assert w.failed(3000, "c", peer_fit=True) is Verdict.HANDOVER
    assert w.restarts(3000) == 2
    assert w.failed(4000, "d", peer_fit=False) is Verdict.RESTART_HERE
    assert w.restarts(4000) == 3
    assert (w.failures, w.last_failure, w.last_failure_ms) == (4, "d", 4000)


def test_restarts_older_than_the_window_are_forgotten() -> None:
    w = Watch(SPEC)
    assert w.failed(0, "a", peer_fit=True) is Verdict.RESTART
    assert w.failed(5000, "b", peer_fit=True) is Verdict.RESTART
    assert w.failed(9999, "c", peer_fit=True) is Verdict.HANDOVER
    assert w.restarts(10_000) == 1  # the one at 0 left the window
    assert w.failed(10_000, "d", peer_fit=True) is Verdict.RESTART
    assert w.restarts(14_999) == 2
    assert w.restarts(15_000) == 1


def test_restarts_zero_hands_over_at_the_first_failure() -> None:
    w = Watch(MonitorSpec(1000, 0, 5000))
    assert w.failed(0, "a", peer_fit=True) is Verdict.HANDOVER
    assert w.failed(1, "a", peer_fit=False) is Verdict.RESTART_HERE
