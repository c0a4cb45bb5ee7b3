"""The supervisor lease and the timers it can honour (docs/processes.md).

Link workers send keepalives only while the supervisor's lease is in the
future; the supervisor renews it every quarter lease. `lease_ms` is the
one computation (the daemon uses it, `hbeat check` checks it);
`lease_problem` says why a keepalive/deadtime pair leaves a lease too short
to ride out a pause of the supervisor (a GC, a burst of events, a busy
host): keepalives would stop and the peers take the groups over while this
node still runs them.
"""

from __future__ import annotations

MIN_LEASE_MS = 200


def lease_ms(keepalive_ms: int, deadtime_ms: int) -> int:
    """How long workers may keep sending without hearing from the supervisor:
    long enough to ride out a GC pause or a burst of events, short enough that
    a hung supervisor is seen dead well within deadtime."""
    return max(keepalive_ms, min(deadtime_ms // 2, max(2 * keepalive_ms, 1000)))


def lease_problem(keepalive_ms: int, deadtime_ms: int) -> str | None:
    """Why these timers cannot be honoured (None: they can)."""
    lease = lease_ms(keepalive_ms, deadtime_ms)
    if lease < MIN_LEASE_MS:
        return (f"deadtime [{deadtime_ms} ms] with keepalive [{keepalive_ms} ms] leaves the "
                f"supervisor a lease of {lease} ms, less than the {MIN_LEASE_MS} ms a pause "
                f"of the supervisor can take: keepalives would stop and the peers would "
                f"take the groups over; set deadtime to at least {2 * MIN_LEASE_MS} ms")
    return None
