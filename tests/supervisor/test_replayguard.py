"""The pure replay and forgery rules (src/supervisor/replayguard.py)."""

from __future__ import annotations

from supervisor.replayguard import (
    GEN_STEP,
    DropLog,
    PeerRecord,
    TokenBucket,
    clock_refusal,
    generation_limit,
    generation_refusal,
    record_refusal,
)

WALL = 1_795_582_841.0
SKEW = 60_000


def test_a_ts_ahead_of_the_skew_is_refused_on_every_message() -> None:
    assert clock_refusal(int(WALL) + 60, WALL, SKEW, admitting=False) is None
    why = clock_refusal(int(WALL) + 61, WALL, SKEW, admitting=False)
    assert why == "stamped 61 s ahead of our clock (max_clock_skew 60 s)"
    assert clock_refusal(2**62, WALL, SKEW, admitting=True) is not None


def test_a_ts_behind_the_skew_is_refused_only_when_admitting() -> None:
    old = int(WALL) - 61
    assert clock_refusal(old, WALL, SKEW, admitting=False) is None
    why = clock_refusal(old, WALL, SKEW, admitting=True)
    assert why is not None and why.startswith("stamped 61 s behind our clock")
    assert clock_refusal(int(WALL) - 60, WALL, SKEW, admitting=True) is None


def test_generation_bound_follows_the_clock_or_the_last_known() -> None:
    # hbgenmethod time / a missing hb_generation: the clock, give or take the skew.
    assert generation_refusal(int(WALL) + 60, 0, WALL, SKEW) is None
    # hbgenmethod file: +1 per start, from a known value above the clock.
    big = 10**12
    assert generation_refusal(big + GEN_STEP, big, WALL, SKEW) is None
    assert generation_limit(big, WALL, SKEW) == big + GEN_STEP
    why = generation_refusal(big + GEN_STEP + 1, big, WALL, SKEW)
    assert why == (f"generation {big + GEN_STEP + 1} is implausible (last known {big}, our "
                   f"clock {int(WALL)}: at most {big + GEN_STEP})")
    assert generation_refusal(2**62, int(WALL), WALL, SKEW) is not None


def test_the_first_status_after_a_restart_must_be_newer_than_the_record() -> None:
    record = PeerRecord(1795580000, int(WALL) - 5)
    assert record_refusal(int(WALL) - 4, record) is None
    assert record_refusal(int(WALL) - 5, record) is not None
    assert record_refusal(int(WALL) - 500, record) is not None
    assert record_refusal(1, None) is None


def test_token_bucket_refills_with_time() -> None:
    bucket = TokenBucket(capacity=3, rate_per_s=2)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(400)  # 0.8 token
    assert bucket.take(500)  # 1.0
    assert not bucket.take(500)
    assert bucket.take(10_000, cost=3) and not bucket.take(10_000)
    assert not TokenBucket(capacity=3, rate_per_s=2).take(0, cost=4)


def test_drop_log_says_one_line_per_second_per_reason_and_counts_the_rest() -> None:
    log = DropLog()
    assert log.admit("a", "first", 0) == "first"
    assert log.admit("a", "second", 10) is None
    assert log.admit("b", "other reason", 20) == "other reason"
    assert log.admit("a", "third", 999) is None
    assert log.admit("a", "fourth", 1000) == "fourth (2 more like it not logged)"
    assert log.admit("a", "fifth", 2500) == "fifth"
