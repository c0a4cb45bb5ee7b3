"""Repeated worker warnings are rate limited, new ones pass at once."""

from workers.warnlimit import WarnLimiter


def test_same_text_once_per_interval_with_count_of_held_back() -> None:
    w = WarnLimiter(interval_s=60)
    assert w.admit("send failed", 0.0) == "send failed"
    assert [w.admit("send failed", t) for t in (0.5, 1.0, 59.9)] == [None, None, None]
    assert w.admit("other error", 1.0) == "other error"
    assert w.admit("send failed", 60.0) == "send failed (3 more since last reported)"
    assert w.admit("send failed", 61.0) is None
