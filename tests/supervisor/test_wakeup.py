"""supervisor/wakeup.py: the poll before a deadline always ends before it,
whatever the kernel's slack, and the last FINE_NS is left to a precise sleep."""

from __future__ import annotations

import pytest

from supervisor.wakeup import FINE_NS, coarse_poll_ms


@pytest.mark.parametrize("left_ns", [-5_000_000, 0, 1, FINE_NS - 1, FINE_NS, FINE_NS + 1])
def test_within_fine_ns_or_past_the_deadline_it_sleeps_instead(left_ns: int) -> None:
    assert coarse_poll_ms(left_ns) is None


def test_a_deadline_too_close_for_a_1_ms_poll_is_slept_to() -> None:
    assert coarse_poll_ms(FINE_NS + 1) is None
    assert coarse_poll_ms(2_500_000) == 1


@pytest.mark.parametrize("left_ns", [2_500_000, 3_999_999, 10_000_000,
                                     999_999_999, 1_000_000_000, 10_000_000_000])
def test_the_poll_ends_before_the_deadline_even_with_the_kernels_slack(left_ns: int) -> None:
    ms = coarse_poll_ms(left_ns)
    assert ms is not None and ms >= 1
    timeout_ns = ms * 1_000_000
    # poll(2) may end up to timeout/1000 late (SCHED_OTHER, nice 0) and the
    # caller's clock reading is up to 1 ms behind when it rounds.
    assert timeout_ns + timeout_ns // 1000 < left_ns


def test_long_waits_are_not_cut_short_much() -> None:
    # The poll still does the waiting: a 1 s deadline is polled for 996 ms.
    assert coarse_poll_ms(1_000_000_000) == 997
    assert coarse_poll_ms(10_000_000) == 8


def test_repeated_turns_reach_the_fine_stage() -> None:
    left = 10_000_000_000
    for _ in range(20):
        ms = coarse_poll_ms(left)
        if ms is None:
            break
        left -= ms * 1_000_000 + ms * 1000  # every poll as late as the kernel may be
    assert 0 < left < 3_000_000
