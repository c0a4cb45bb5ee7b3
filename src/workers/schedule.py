"""The keepalive schedule: absolute monotonic tick times, no drift.

Tick k is due at `t0_ns + k * interval_ns`. A worker that wakes late sends
the tick it is late for once and then returns to the grid; it never sends a
burst to "catch up", and it never lets one late wake-up shift later ticks.
Pure: time is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeepaliveSchedule:
    t0_ns: int
    interval_ns: int

    def __post_init__(self) -> None:
        if self.interval_ns <= 0:
            raise ValueError(f"keepalive interval must be positive, got {self.interval_ns} ns")

    def due_at(self, tick: int) -> int:
        return self.t0_ns + tick * self.interval_ns

    def next_tick(self, now_ns: int) -> int:
        """The first tick due at or after `now_ns`."""
        if now_ns <= self.t0_ns:
            return 0
        return -((self.t0_ns - now_ns) // self.interval_ns)

    def current_tick(self, now_ns: int) -> int:
        """The latest tick due at or before `now_ns` (-1 before t0)."""
        if now_ns < self.t0_ns:
            return -1
        return (now_ns - self.t0_ns) // self.interval_ns
