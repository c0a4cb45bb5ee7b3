"""Counting rejected frames in a link worker, and summing them up once a second.

A flood of garbage (no key needed) must cost the worker a counter increment
per datagram and the supervisor one bus message a second, never one message,
feed event or log line per datagram. `RejectTally` keeps a count per
(reason, source) with the last example of what was wrong, bounded in the
number of distinct keys (spoofed sources would otherwise grow it without
end: past `max_keys`, new sources are summed under OTHER_SOURCES), and
hands out the summary when it is due. Pure: time is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.ipc.bus import OTHER_SOURCES, RejectCount

SUMMARY_EVERY_S = 1.0
MAX_KEYS = 32
MAX_EXAMPLE = 200


@dataclass
class _Entry:
    count: int
    example: object
    """The last rejection's reason, made text only when a summary goes out
    (a flood must not pay for a message per datagram)."""


class RejectTally:
    def __init__(self, every_s: float = SUMMARY_EVERY_S, max_keys: int = MAX_KEYS) -> None:
        if every_s <= 0 or max_keys < 1:
            raise ValueError("every_s must be > 0 and max_keys >= 1")
        self.every_s = every_s
        self.max_keys = max_keys
        self.total = 0
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._last_flush: float | None = None

    def add(self, code: str, peer: str, example: object, count: int = 1) -> None:
        """`count` more rejected frames (a batched read sums its own);
        `example` (text, or the exception that says what was wrong with the
        last) is turned into text at `flush`."""
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        self.total += count
        key = (code, peer)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.max_keys:
                key = (code, OTHER_SOURCES)
                entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(0, "")
        entry.count += count
        entry.example = example

    @property
    def pending(self) -> bool:
        return bool(self._entries)

    def due(self, now: float) -> bool:
        """Whether a summary should go out now: something is pending and the
        last summary is at least `every_s` old (the first goes out at once)."""
        return self.pending and (self._last_flush is None
                                 or now - self._last_flush >= self.every_s)

    def next_due(self) -> float | None:
        """When the pending counts may be sent (None: nothing pending)."""
        if not self.pending:
            return None
        return 0.0 if self._last_flush is None else self._last_flush + self.every_s

    def flush(self, now: float) -> tuple[RejectCount, ...]:
        """The counts since the last summary (most frequent first), and reset."""
        counts = tuple(sorted(
            (RejectCount(code, peer, e.count, str(e.example)[:MAX_EXAMPLE])
             for (code, peer), e in self._entries.items()),
            key=lambda c: (-c.count, c.code, c.peer)))
        self._entries.clear()
        self._last_flush = now
        return counts
