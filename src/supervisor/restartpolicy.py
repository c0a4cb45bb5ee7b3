"""When to restart a dead worker: exponential backoff, capped, forgiving.

A worker that dies is restarted quickly enough that peers never notice
(the cap stays well under deadtime), but one that dies over and over is not
restarted in a hot loop. A worker that has run for `stable_s` is forgiven
its history. Pure: time is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RestartPolicy:
    first_delay_s: float = 0.05
    cap_s: float = 2.0
    stable_s: float = 30.0
    failures: int = 0
    started_at: float | None = None

    @classmethod
    def for_deadtime(cls, deadtime_s: float) -> RestartPolicy:
        # A restarted worker needs a keepalive out before the peer's deadline:
        # never wait more than a quarter of deadtime between attempts.
        return cls(cap_s=max(0.05, min(2.0, deadtime_s / 4)))

    def started(self, now: float) -> None:
        self.started_at = now

    def died(self, now: float) -> float:
        """Record a death; return the delay before the next start."""
        if self.started_at is not None and now - self.started_at >= self.stable_s:
            self.failures = 0
        self.started_at = None
        delay: float = min(self.cap_s, self.first_delay_s * 2.0**self.failures)
        self.failures += 1
        return delay
