"""The retransmissions a link worker asked a peer for, let past its replay filter.

A retransmitted message is byte for byte the frame that was sent the first
time. When the supervisor asks a peer again for a message this worker has
already forwarded (the supervisor did not count it: it came while the peer was
not admitted yet, say), the answer is "the same bytes as a frame received a
moment ago" to `RecentFrames`, and would be dropped every time the supervisor
asked: the hole never fills and both nodes send the same frames every second
until a worker restarts with an empty cache. So the worker notes each
`NS_rexmit` it sends (to whom, which seqs) and lets one copy of each of those
frames through the filter while the answer may still come.

Bounded: a request's range is cut to `MAX_RANGE` seqs and at most
`MAX_WAITING` seqs wait at once (the oldest go first); each waits `WAIT_NS`.
Pure: fields in, decisions out, time a parameter.
"""

from __future__ import annotations

from collections import OrderedDict

from linklayer import Field

WAIT_NS = 5_000_000_000
"""How long an answer may take: a peer answers at once, a request is repeated
within a second or two when its answer is lost."""
MAX_RANGE = 256
MAX_WAITING = 1024
T_REXMIT = b"NS_rexmit"


def _value(fields: tuple[Field, ...] | list[Field], name: bytes) -> bytes | None:
    for n, _t, v in fields:
        if n == name:
            return v
    return None


class RexmitWait:
    def __init__(self) -> None:
        self._waiting: OrderedDict[tuple[bytes, int], int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def asked(self, fields: tuple[Field, ...] | list[Field], now_ns: int) -> bool:
        """An outgoing message: when it is an `NS_rexmit` (dest, firstseq and
        lastseq in decimal, as they go on the wire), its seqs now wait for
        their answer. Returns whether it was one."""
        if _value(fields, b"t") != T_REXMIT:
            return False
        dest, first, last = (_value(fields, b"dest"), _value(fields, b"firstseq"),
                             _value(fields, b"lastseq"))
        if dest is None or first is None:
            return False
        try:
            lo = int(first)
            hi = lo if last is None else int(last)
        except ValueError:
            return False
        until = now_ns + WAIT_NS
        for seq in range(lo, min(hi, lo + MAX_RANGE - 1) + 1):
            key = (dest, seq)
            self._waiting.pop(key, None)
            self._waiting[key] = until
        while len(self._waiting) > MAX_WAITING:
            self._waiting.popitem(last=False)
        return True

    def answer(self, fields: tuple[Field, ...] | list[Field], now_ns: int) -> bool:
        """A frame the replay filter has seen before: True (once) when it is
        the answer to a request of ours still waiting (its src and seq, in
        hex as every seq on the wire)."""
        self._expire(now_ns)
        src, seq = _value(fields, b"src"), _value(fields, b"seq")
        if src is None or seq is None:
            return False
        try:
            key = (src, int(seq, 16))
        except ValueError:
            return False
        return self._waiting.pop(key, None) is not None

    def _expire(self, now_ns: int) -> None:
        # In deadline order: each seq is (re)inserted at the end with the latest.
        waiting = self._waiting
        while waiting and next(iter(waiting.values())) <= now_ns:
            waiting.popitem(last=False)
