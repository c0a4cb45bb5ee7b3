"""workers.rejecttally: rejected frames counted per (reason, source), summed up
at most once a second, bounded in keys."""

from __future__ import annotations

import pytest

from hbeat.ipc.bus import OTHER_SOURCES, RejectCount
from workers.rejecttally import RejectTally


def test_first_summary_at_once_then_at_most_one_a_second() -> None:
    tally = RejectTally(every_s=1.0)
    assert not tally.due(0.0) and tally.next_due() is None
    tally.add("BAD_AUTH", "10.0.0.9:694", "bad signature")
    assert tally.due(0.0)
    assert tally.flush(0.0) == (RejectCount("BAD_AUTH", "10.0.0.9:694", 1, "bad signature"),)
    for i in range(10_000):
        tally.add("BAD_AUTH", "10.0.0.9:694", f"bad signature {i}")
    assert not tally.due(0.5) and tally.next_due() == 1.0
    assert tally.due(1.0)
    assert tally.flush(1.0) == (RejectCount("BAD_AUTH", "10.0.0.9:694", 10_000,
                                            "bad signature 9999"),)
    assert tally.total == 10_001 and not tally.pending


def test_counts_by_reason_and_source_most_frequent_first() -> None:
    tally = RejectTally()
    for _ in range(3):
        tally.add("TRUNCATED", "10.0.0.8:694", "cut")
    tally.add("BAD_AUTH", "10.0.0.9:694", "sig")
    tally.add("TRUNCATED", "10.0.0.9:694", "cut")
    assert [(c.code, c.peer, c.count) for c in tally.flush(5.0)] == [
        ("TRUNCATED", "10.0.0.8:694", 3), ("BAD_AUTH", "10.0.0.9:694", 1),
        ("TRUNCATED", "10.0.0.9:694", 1)]


def test_spoofed_sources_do_not_grow_it_without_end() -> None:
    tally = RejectTally(max_keys=4)
    for i in range(1000):
        tally.add("BAD_AUTH", f"10.0.{i // 256}.{i % 256}:694", "sig")
    counts = tally.flush(0.0)
    assert len(counts) == 5  # four sources, then everyone else summed
    assert counts[0] == RejectCount("BAD_AUTH", OTHER_SOURCES, 996, "sig")
    assert sum(c.count for c in counts) == 1000


def test_long_examples_are_cut() -> None:
    tally = RejectTally()
    tally.add("X", "p", "e" * 1000)
    assert len(tally.flush(0).__getitem__(0).example) == 200


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        RejectTally(every_s=0)
    with pytest.raises(ValueError):
        RejectTally(max_keys=0)


def test_an_exception_becomes_its_text_only_in_the_summary() -> None:
    tally = RejectTally()
    tally.add("BAD_AUTH", "p", ValueError("bad signature at field 3"))
    assert tally.flush(0.0)[0].example == "bad signature at field 3"


def test_a_batch_adds_its_count_at_once() -> None:
    tally = RejectTally(max_keys=1)
    tally.add("NS_BAD_LENGTH", "10.0.0.9:694", "first", 64)
    tally.add("NS_BAD_LENGTH", "10.0.0.9:694", "last", 3)
    tally.add("NS_BAD_LENGTH", "10.0.0.8:694", "other", 5)  # past max_keys
    assert tally.total == 72
    assert tally.flush(0.0) == (RejectCount("NS_BAD_LENGTH", "10.0.0.9:694", 67, "last"),
                                RejectCount("NS_BAD_LENGTH", OTHER_SOURCES, 5, "other"))
    with pytest.raises(ValueError):
        tally.add("X", "p", "e", 0)
