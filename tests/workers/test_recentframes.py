"""workers.recentframes: byte-identical frames seen lately are replays."""

from __future__ import annotations

import pytest

from workers.recentframes import RecentFrames


def test_the_same_bytes_twice_is_a_replay() -> None:
    recent = RecentFrames(size=8)
    assert not recent.seen_before(b"###seq=1")
    assert recent.seen_before(b"###seq=1")
    assert not recent.seen_before(b"###seq=2")


def test_bounded_oldest_forgotten_first() -> None:
    recent = RecentFrames(size=3)
    for i in range(3):
        assert not recent.seen_before(b"f%d" % i)
    assert recent.seen_before(b"f0")  # refreshes f0
    assert not recent.seen_before(b"f3")  # pushes out f1, the oldest
    assert not recent.seen_before(b"f1")
    assert recent.seen_before(b"f0") and recent.seen_before(b"f3")


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RecentFrames(size=0)
