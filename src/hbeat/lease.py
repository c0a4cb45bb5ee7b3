"""The supervisor lease and the timers it can honour (docs/processes.md).

Link workers send keepalives only while the supervisor's lease is in the
future; the supervisor renews it every half lease. `lease_ms` is the
one computation (the daemon uses it, `hbeat check` checks it);
`lease_problem` says why a keepalive/deadtime pair leaves a lease too short
to ride out a pause of the supervisor (a GC, a burst of events, a busy
host): keepalives would stop and the peers take the groups over while this
node still runs them.
"""

from __future__ import annotations

MIN_LEASE_MS = 200
# A turn of the supervisor's loop renews the lease once 1/RENEW_EARLY of the
# renewal interval has passed since the last renewal (not twice in turns that
# follow each other closely); it is due (the loop wakes for it) after the
# whole interval.
RENEW_EARLY = 16


def lease_ms(keepalive_ms: int, deadtime_ms: int) -> int:
    """How long workers may keep sending without hearing from the supervisor:
    long enough to ride out a GC pause or a burst of events, short enough that
    a hung supervisor is seen dead well within deadtime."""
    return max(keepalive_ms, min(deadtime_ms // 2, max(2 * keepalive_ms, 1000)))


def renew_every_ms(lease: int) -> int:
    """How long after a renewal the next one is due at the latest: half the
    lease, so a pause of the supervisor up to half a lease never stops the
    keepalives, and one that stops them only delays them (the peers judge
    silence over deadtime, which is at least twice the lease)."""
    return max(1, lease // 2)


def renew_due(now_ms: int, next_renew_ms: int, every_ms: int) -> bool:
    """Whether a turn of the supervisor's loop at `now_ms` renews the lease,
    the last renewal having set `next_renew_ms` (= that renewal + `every_ms`).
    Any turn renews once 1/RENEW_EARLY of the interval has passed, not only
    the one the loop wakes for when it is due: the turns the peers'
    keepalives cause then push that wake-up back instead of coming on top of it
    (docs/processes.md, "Fewer wake-ups"). Also when the interval was
    shortened (a reload): the renewal due is later than it may be."""
    last = next_renew_ms - every_ms
    return now_ms >= last + every_ms // RENEW_EARLY or next_renew_ms - now_ms > every_ms


def lease_problem(keepalive_ms: int, deadtime_ms: int) -> str | None:
    """Why these timers cannot be honoured (None: they can)."""
    lease = lease_ms(keepalive_ms, deadtime_ms)
    if lease < MIN_LEASE_MS:
        return (f"deadtime [{deadtime_ms} ms] with keepalive [{keepalive_ms} ms] leaves the "
                f"supervisor a lease of {lease} ms, less than the {MIN_LEASE_MS} ms a pause "
                f"of the supervisor can take: keepalives would stop and the peers would "
                f"take the groups over; set deadtime to at least {2 * MIN_LEASE_MS} ms")
    return None
