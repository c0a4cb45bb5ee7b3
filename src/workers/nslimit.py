"""A first, generous limit on `NS_*` control messages in a link worker.

Frames signed with the cluster key pass verification and are all different,
so neither the signature check nor the replay cache (recentframes) stops a
flood of forged `NS_rexmit` (or other `NS_*`) requests: every one would
cross the bus, and a supervisor busy parsing them falls behind while the
bus, full, loses the peer's keepalives with them (a false death). The
worker therefore lets through at most `RATE` `NS_*` frames a second per
type, with bursts up to `BURST`, and counts the rest as rejected. The type
is read from the frame's bytes (`ns_type`), not from a parse, which would
cost more than the signature check; the claimed source is not read at all
(a forger names whichever node it likes), so a flood also delays the
genuine peer's `NS_*` messages of that type, which the sequencing
protocol asks for again; keepalives (`status`) are never limited. The
limits are well above what a peer sends (a few acknowledgements and
retransmission requests a second), so they only ever cut a flood. Keys are
bounded: past `MAX_KEYS` distinct ones the rest share one bucket. Pure:
time (seconds) is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

RATE = 100.0
BURST = 200.0
MAX_KEYS = 64
OTHER = (b"", b"")
NS_MARK = b"t=NS_"  # every NS_* frame holds these bytes (its `t` field)
MAX_TYPE = 24


def ns_type(frame: bytes) -> bytes | None:
    """`NS_...` from the first `t=NS_` of `frame` that starts a field (after
    `)` in the netstring form, after a newline in the classic one), up to
    the field's end; None when there is none."""
    start = 0
    while True:
        i = frame.find(NS_MARK, start)
        if i < 0:
            return None
        if i > 0 and frame[i - 1] in b")\n":
            value = frame[i + 2:i + 2 + MAX_TYPE]
            for end in (b",", b"\n"):
                cut = value.find(end)
                if cut >= 0:
                    value = value[:cut]
            return value
        start = i + 1


@dataclass
class _Bucket:
    tokens: float
    at: float


class NsLimit:
    def __init__(self, rate: float = RATE, burst: float = BURST,
                 max_keys: int = MAX_KEYS) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[tuple[bytes, bytes], _Bucket] = {}

    def admit(self, src: bytes, mtype: bytes, now: float) -> bool:
        """One `mtype` frame claiming to come from `src`: pass it on?"""
        key = (src, mtype)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                key = OTHER
                bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
