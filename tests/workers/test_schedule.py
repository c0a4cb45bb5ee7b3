"""Keepalive schedule arithmetic: absolute ticks, no drift."""

import pytest

from workers.schedule import KeepaliveSchedule

S = KeepaliveSchedule(t0_ns=1_000, interval_ns=100)


@pytest.mark.parametrize(
    ("now", "nxt", "cur"),
    [(0, 0, -1), (1_000, 0, 0), (1_001, 1, 0), (1_099, 1, 0), (1_100, 1, 1), (1_150, 2, 1)],
)
def test_ticks(now: int, nxt: int, cur: int) -> None:
    assert S.next_tick(now) == nxt
    assert S.current_tick(now) == cur
    assert S.due_at(nxt) >= now


def test_no_drift_after_many_ticks() -> None:
    s = KeepaliveSchedule(t0_ns=7, interval_ns=1_000_000_000)
    assert s.due_at(86_400) == 7 + 86_400 * 1_000_000_000


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        KeepaliveSchedule(0, 0)
