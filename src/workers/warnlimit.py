"""Rate limiting of a worker's repeated warnings.

A link whose interface is down fails every keepalive; heartbeat logs its
serial write timeout at most once an hour. Here the same text is reported
at most once per `interval_s` (with how many were held back), and a new
text at once. Pure: time is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WarnLimiter:
    interval_s: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)

    def admit(self, text: str, now: float) -> str | None:
        """The line to report now, or None to hold this one back."""
        last = self._last.get(text)
        if last is not None and now - last < self.interval_s:
            self._held[text] = self._held.get(text, 0) + 1
            return None
        self._last[text] = now
        held = self._held.pop(text, 0)
        return f"{text} ({held} more since last reported)" if held else text
