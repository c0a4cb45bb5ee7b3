"""When the supervisor's loop wakes for a deadline: on time, to the microsecond.

The loop waits in ZeroMQ's poll, whose timeout is whole milliseconds and
which the kernel lets run late by a thousandth of the timeout (the slack
of poll(2) for a SCHED_OTHER task: 1 ms on a 1 s wait). A peer's death is
decided when the loop wakes at its deadline, so the wait is cut in two
(docs/processes.md "How the supervisor meets a deadline"): a poll that
surely ends before the deadline, then, once the deadline is FINE_NS away
and nothing is waiting, one sleep to it (clock_nanosleep; the supervisor's
timer slack is a few microseconds). Pure: time is a parameter.
"""

from __future__ import annotations

FINE_NS = 2_000_000
"""Within this of a deadline the loop sleeps to it instead of polling."""


def coarse_poll_ms(left_ns: int) -> int | None:
    """The poll timeout (ms) for a deadline `left_ns` away: it ends before the
    deadline however the kernel rounds it (1 ms of flooring, plus up to
    left_ns / 1000 of slack), so the last stretch can be slept precisely.
    None when the deadline is within FINE_NS (or past), or too close for a
    poll of at least 1 ms: sleep to it instead."""
    if left_ns <= FINE_NS:
        return None
    ms = (left_ns - FINE_NS // 2 - left_ns // 500) // 1_000_000
    return ms if ms >= 1 else None
