"""Replay and forgery rules for what peers send (docs/security.md).

Pure and clock-injected: the wall clock (`wall_s`, epoch seconds) and the
monotonic clock (`now`, milliseconds) are parameters. `membership` asks
these functions whether a message may be admitted:

* `clock_refusal`: a `ts` further ahead of our wall clock than the allowed
  skew is refused on every message; a status that (re)admits a peer must
  also not be older than the skew (a recording).
* `generation_refusal`: a new generation must be plausible: at most
  `GEN_STEP` above the larger of the last known generation and our wall
  clock plus the skew (heartbeat's `hbgenmethod file` adds 1 per start from
  a clock value, `time` uses the clock).
* `PeerRecord`: the last generation and status `ts` known of a peer,
  persisted across restarts (`peerstate`); a peer is first admitted after
  our start only by a status newer than that record.
* `TokenBucket` limits the `NS_*` messages of each peer, `DropLog` turns
  repeated drops into at most one log line per second per reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GEN_STEP = 1000  # restarts a peer may have made unseen beyond the clock bound
DEFAULT_MAX_CLOCK_SKEW_MS = 60_000


@dataclass(frozen=True, slots=True)
class PeerRecord:
    """What we last knew of a peer: its generation and newest status `ts`."""

    generation: int
    ts: int


def clock_refusal(ts: int, wall_s: float, skew_ms: int, *, admitting: bool) -> str | None:
    """Why `ts` cannot be accepted (None: it can)."""
    skew_s = skew_ms / 1000
    if ts > wall_s + skew_s:
        return (f"stamped {ts - int(wall_s)} s ahead of our clock (max_clock_skew "
                f"{skew_s:g} s)")
    if admitting and ts < wall_s - skew_s:
        return (f"stamped {int(wall_s) - ts} s behind our clock (max_clock_skew "
                f"{skew_s:g} s): an old recording, or a clock that is wrong")
    return None


def generation_limit(known: int, wall_s: float, skew_ms: int) -> int:
    """The highest generation a peer may plausibly announce."""
    return max(known, int(wall_s + skew_ms / 1000)) + GEN_STEP


def generation_refusal(gen: int, known: int, wall_s: float, skew_ms: int) -> str | None:
    """Why a status announcing generation `gen` is not plausible (None: it is)."""
    limit = generation_limit(known, wall_s, skew_ms)
    if gen > limit:
        return (f"generation {gen} is implausible (last known {known}, our clock "
                f"{int(wall_s)}: at most {limit})")
    return None


def record_refusal(ts: int, record: PeerRecord | None) -> str | None:
    """Why the first status after our start is older than what we knew."""
    if record is not None and ts <= record.ts:
        return (f"status ts {ts} is not newer than the last one known before this "
                f"start ({record.ts}, generation {record.generation}): a recording")
    return None


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled at `rate_per_s`; time in ms."""

    capacity: float
    rate_per_s: float
    tokens: float = -1.0
    last: int | None = None

    def take(self, now: int, cost: float = 1.0) -> bool:
        if self.last is None:
            self.tokens = self.capacity
        else:
            elapsed = max(0, now - self.last)
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s / 1000)
        self.last = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


@dataclass
class DropLog:
    """At most one line per `interval_ms` per reason; the rest are counted and
    the count is told on the next line of that reason."""

    interval_ms: int = 1000
    _last: dict[str, int] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)

    def admit(self, reason: str, text: str, now: int) -> str | None:
        last = self._last.get(reason)
        if last is not None and now - last < self.interval_ms:
            self._held[reason] = self._held.get(reason, 0) + 1
            return None
        self._last[reason] = now
        held = self._held.pop(reason, 0)
        return f"{text} ({held} more like it not logged)" if held else text
