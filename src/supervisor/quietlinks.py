"""The peers' quiet keepalives, turned back into the messages they stand for.

A link worker records a keepalive that only repeats the peer's last status
with the next seq on its heard board instead of forwarding it
(hbeat/ipc/heardboard.py; docs/processes.md, "Quiet keepalives"). This module
keeps, per link, what it takes to give membership those keepalives as if
they had come over the bus, in the order they arrived: the last status frame
forwarded from each peer (the model the worker compared them with), how many
frames the worker forwarded (a run on the board that began after a frame not
yet read from the bus waits for it), and how far each run was applied. Pure:
the supervisor reads the boards and the bus and hands the results here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbeat.ipc.heardboard import QuietRun
from linklayer import Field

DEFER_MAX_NS = 1_000_000_000
"""How long a run waits for the frame before it (see `QuietLinks.on_board`)."""
SEQ = b"seq"
TS = b"ts"
SRC = b"src"
TYPE = b"t"
STATUS = b"status"


@dataclass(frozen=True, slots=True)
class Keepalive:
    """One quiet keepalive rebuilt: the model's fields with its seq and ts."""

    fields: tuple[Field, ...]
    heard_ns: int


@dataclass(slots=True)
class _Link:
    rx: int = 0
    """Frames of this link's worker read from the bus since it started."""
    models: dict[bytes, tuple[Field, ...]] = field(default_factory=dict)
    applied: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    """Per peer: (rx_before, last seq applied) of the run applied last."""
    heard: dict[bytes, int] = field(default_factory=dict)
    """Per peer: when its last frame handed to membership was heard (ns)."""


def quiet_gap_ms(keepalive_ms: int, warntime_ms: int) -> int:
    """How late after the peer's previous frame a keepalive may come and still
    be quiet: one and a half intervals, and never beyond warntime (a later
    one reaches membership at once, which warns of it)."""
    return max(1, min(warntime_ms, keepalive_ms + keepalive_ms // 2))


def field_value(fields: tuple[Field, ...], name: bytes) -> bytes | None:
    for n, _t, v in fields:
        if n == name:
            return v
    return None


class QuietLinks:
    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}
        self.resynced = 0
        """Runs applied although a frame before them never came over the bus."""

    def reset(self, link: str) -> None:
        """A new worker for `link` (its board is new and empty)."""
        self._links[link] = _Link()

    def on_rx(self, link: str, fields: tuple[Field, ...], recv_ns: int,
              before: QuietRun | None) -> list[Keepalive]:
        """A frame read from `link`'s worker: the quiet keepalives of its
        sender that came before it and were not applied yet (give them to
        membership first), then remember the frame as the model when it is
        a status."""
        state = self._links.setdefault(link, _Link())
        state.rx += 1
        src = field_value(fields, SRC)
        if src is None:
            return []
        out = [] if before is None else self._run(state, src, before)
        if field_value(fields, TYPE) == STATUS:
            state.models[src] = fields
        if field_value(fields, SEQ) is not None:
            # A numbered frame ends its sender's run (the worker took it off
            # the board with it): what comes next is timed from here. An
            # NS_* message does not (the run goes on, read later).
            state.heard[src] = recv_ns
        return out

    def on_board(self, link: str, run: QuietRun, now_ns: int) -> list[Keepalive]:
        """A run read from `link`'s heard board: what of it is new, unless a
        frame it came after is still on its way over the bus. A frame takes
        microseconds to cross the bus: one that has not come within
        DEFER_MAX_NS never will (the supervisor could not read it), and the
        run is applied without it rather than the peer judged silent
        (`resynced` says how often)."""
        state = self._links.get(link)
        if state is None:
            return []
        if run.rx_before > state.rx:
            if now_ns - run.heard_ns < DEFER_MAX_NS:
                return []
            state.rx = run.rx_before
            self.resynced += 1
        return self._run(state, run.src.encode(), run)

    def _run(self, state: _Link, src: bytes, run: QuietRun) -> list[Keepalive]:
        model = state.models.get(src)
        if model is None:
            return []  # cannot be: the worker compares with a frame it forwarded
        last = state.applied.get(src)
        start = run.first_seq
        if last is not None and last[0] == run.rx_before:
            start = max(start, last[1] + 1)
        if start > run.last_seq:
            return []
        state.applied[src] = (run.rx_before, run.last_seq)
        # Only the last keepalive's time is on the board; the ones before it
        # are spread evenly since the previous frame (each came within the
        # worker's gap of the one before, so no interval exceeds it here).
        n = run.last_seq - start + 1
        prev = min(state.heard.get(src, run.heard_ns), run.heard_ns)
        state.heard[src] = run.heard_ns
        ts = format(run.last_ts, "x").encode()
        out = []
        for k, seq in enumerate(range(start, run.last_seq + 1), 1):
            value = format(seq, "x").encode()
            out.append(Keepalive(tuple(
                (n_, t, value if n_ == SEQ else ts if n_ == TS else v) for n_, t, v in model),
                prev + (run.heard_ns - prev) * k // n))
        return out
