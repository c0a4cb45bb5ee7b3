"""Backoff for dead workers."""

from supervisor.restartpolicy import RestartPolicy


def test_backoff_doubles_up_to_the_cap_and_resets_after_stable_run() -> None:
    p = RestartPolicy(first_delay_s=0.1, cap_s=1.0, stable_s=30)
    delays = []
    t = 0.0
    for _ in range(6):
        p.started(t)
        t += 1
        delays.append(p.died(t))
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    p.started(t)
    assert p.died(t + 31) == 0.1


def test_cap_follows_deadtime() -> None:
    assert RestartPolicy.for_deadtime(10).cap_s == 2.0
    assert RestartPolicy.for_deadtime(0.5).cap_s == 0.125
