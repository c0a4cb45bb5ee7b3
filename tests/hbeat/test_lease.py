"""The supervisor lease (src/hbeat/lease.py)."""

from __future__ import annotations

from hbeat.lease import (
    MIN_LEASE_MS,
    RENEW_EARLY,
    lease_ms,
    lease_problem,
    renew_due,
    renew_every_ms,
)


def test_lease_rides_out_a_second_and_stays_within_half_the_deadtime() -> None:
    assert lease_ms(1000, 30000) == 2000
    assert lease_ms(500, 4000) == 1000
    assert lease_ms(100, 500) == 250
    assert lease_ms(2000, 5000) == 2500
    for keepalive, deadtime in ((100, 500), (1000, 2500), (500, 1001)):
        assert keepalive <= lease_ms(keepalive, deadtime) <= deadtime // 2


def test_a_lease_below_the_minimum_is_a_problem_saying_what_to_do() -> None:
    assert lease_problem(100, 2 * MIN_LEASE_MS) is None
    problem = lease_problem(50, 2 * MIN_LEASE_MS - 2)
    assert problem is not None and problem.endswith("set deadtime to at least 400 ms")


def test_renewal_is_due_every_quarter_lease() -> None:
    assert renew_every_ms(2000) == 1000
    assert renew_every_ms(250) == 125
    assert renew_every_ms(3) == 1  # never 0: the loop would spin


def test_any_turn_renews_once_a_quarter_of_the_interval_has_passed() -> None:
    every = 500
    last = 10_000
    nxt = last + every
    assert not renew_due(last, nxt, every)  # the turn that just renewed
    assert not renew_due(last + every // RENEW_EARLY - 1, nxt, every)
    assert renew_due(last + every // RENEW_EARLY, nxt, every)  # a peer's keepalive's turn
    assert renew_due(nxt, nxt, every)  # the wake-up for the lease itself
    assert renew_due(nxt + 5000, nxt, every)  # after a stall
    assert renew_due(0, 0, every)  # the first turn


def test_a_shorter_interval_renews_at_once() -> None:
    # A reload shortened the lease: the renewal set for the old interval is too late.
    assert renew_due(10_000, 10_000 + 500, 100)
