"""Resource monitoring's policy: when to probe a running group, and what a failure leads to.

One `Watch` per haresources group (docs/resources.md, "Monitoring"). A group
that runs here is probed `interval_ms` after it started running and
`interval_ms` after each probe that found it healthy (`arm`, `passed`); a
group that does not run here is not watched (`disarm`). A failed probe
(`failed`) leads to

* RESTART: fewer than `restarts` restarts happened within the last
  `window_ms`: restart the failed resource in place (counted now);
* HANDOVER: the budget is spent and the peer can take the group: stop it
  here and hand it over (not counted: the group leaves);
* RESTART_HERE: the budget is spent and the peer cannot take it: restart
  it here anyway (counted): a service restarted over and over is better
  than one left dead, and the log says so each time.

`restarts 0` hands a group over at its first failure (or restarts it here
when the peer cannot take it). Restarts older than the window are
forgotten. `supervisor/restartpolicy.py` (the workers' exponential backoff)
answers another question, how long to wait before the next attempt, and is
not used here: a failed service is restarted at once, and what is limited
is how often within a window. Pure: time is an integer ms parameter.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from hbeat.config.model import MonitorSpec


class Verdict(enum.Enum):
    RESTART = "restart"
    HANDOVER = "handover"
    RESTART_HERE = "restart-here"


@dataclass
class Watch:
    """The monitoring of one group on this node."""

    spec: MonitorSpec
    watched: bool = False
    """The group runs here and is monitored."""
    next_ms: int | None = None
    """When the next probe is due; None: none scheduled (not watched, or a probe
    is queued or running)."""
    failures: int = 0
    """Failed probes since the daemon started."""
    last_failure: str | None = None
    last_failure_ms: int | None = None
    _restarts: deque[int] = field(default_factory=deque)

    def arm(self, now: int) -> None:
        """The group runs here (again): its first probe is one interval from now."""
        self.watched = True
        self.next_ms = now + self.spec.interval_ms

    def disarm(self) -> None:
        self.watched = False
        self.next_ms = None

    def due(self, now: int) -> bool:
        return self.watched and self.next_ms is not None and now >= self.next_ms

    def take(self, now: int) -> bool:
        """Whether a probe is due now; if so it is taken (none is scheduled until
        `passed` or `failed` says how it went)."""
        if not self.due(now):
            return False
        self.next_ms = None
        return True

    def passed(self, now: int) -> None:
        """A probe found every resource running (or its failure was set aside)."""
        if self.watched:
            self.next_ms = now + self.spec.interval_ms

    def restarts(self, now: int) -> int:
        """Restarts counted within the window ending now."""
        self._forget(now)
        return len(self._restarts)

    def _forget(self, now: int) -> None:
        while self._restarts and now - self._restarts[0] >= self.spec.window_ms:
            self._restarts.popleft()

    def failed(self, now: int, what: str, *, peer_fit: bool) -> Verdict:
        """A probe failed (`what`: which resource, and how); `peer_fit`: the peer can
        take the group now. The group is no longer watched until it runs again."""
        self.failures += 1
        self.last_failure = what
        self.last_failure_ms = now
        self.disarm()
        self._forget(now)
        if len(self._restarts) < self.spec.restarts:
            self._restarts.append(now)
            return Verdict.RESTART
        if peer_fit:
            return Verdict.HANDOVER
        self._restarts.append(now)
        return Verdict.RESTART_HERE


__all__ = ["Verdict", "Watch"]
