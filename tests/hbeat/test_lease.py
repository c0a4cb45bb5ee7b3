"""The supervisor lease (src/hbeat/lease.py)."""

from __future__ import annotations

from hbeat.lease import MIN_LEASE_MS, lease_ms, lease_problem


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
