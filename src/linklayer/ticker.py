"""The keepalive ticker: a link worker's keepalives sent by a C thread (`hb_ticker_*` in _frame.c).

`Ticker(board, fd, dest)` opens the sequence board (hbeat/ipc/seqboard.py's
file) for the medium written through `fd` (UDP: `sendto(dest)`; serial,
`dest` None: `write`, a full line flushed and reported as WRITE_TIMEOUT).
`start()` runs the thread: for each tick of the board's schedule it sleeps
to 30 us before the tick (timer slack 1 ns), spins to it, claims the tick's
seq on the board exactly as `SeqBoard.claim` does (lease, content, tick
checks; the taker logs the keepalive in the same critical section, under an
OFD lock that excludes the supervisor's `lockf`), fills the current
template with seq, ts and ld and writes the frame. Stale content (older
than the board's status_seq) waits up to 5 ms for `set_template`, else the
tick is skipped. A keepalive numbered above a message the supervisor took
a number for waits up to 5 ms for `write(frame, seq)` of that message,
else goes first and says so (`TickReport.ahead_of`). docs/processes.md,
"How a link worker meets its tick".

The Python side hands it templates (`set_template`, copied in C: the
thread never uses a freed one), moves its schedule (`reschedule`), writes
its own frames through the same mutex (`write`: serial frames never
interleave), and reads what the thread reports (`fileno` is an eventfd to
poll; `events`: write failures always, every keepalive with `report_all`;
a bounded ring, overruns counted). `tick()` sends one keepalive on the
calling thread while the thread is stopped (tests, and the same code path).
Errors are `_native._frame_error`'s, like every other C error. Nothing is
allocated per tick, in C or here.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, NamedTuple

from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]
from linklayer._native import Template, TickerError, _frame_error

__all__ = ["LD_MAX", "ORDER_WAIT_NS", "PREWAKE_NS", "SPIN_NS", "StaleContent", "TickReport",
           "Ticker", "TickerError", "TickerTiming"]

LD_MAX = int(lib.HB_LD_MAX)
SPIN_NS = int(lib.HB_TK_SPIN_NS)
PREWAKE_NS = int(lib.HB_TK_PREWAKE_NS)
CONTENT_WAIT_NS = int(lib.HB_TK_CONTENT_WAIT_NS)
ORDER_WAIT_NS = int(lib.HB_TK_ORDER_WAIT_NS)
EVENTS = int(lib.HB_TK_EVENTS)
OK = int(lib.HB_OK)
WRITE_FAILED = int(lib.HB_WRITE_FAILED)
WRITE_TIMEOUT = int(lib.HB_WRITE_TIMEOUT)
_SKIPPED = frozenset({int(lib.HB_LEASE_EXPIRED), int(lib.HB_TICK_PASSED)})
_STALE = int(lib.HB_STALE_CONTENT)


class StaleContent(Exception):
    """The template's content is older than the last status message the
    supervisor sent: hand the ticker the new one before claiming a tick."""


class TickReport(NamedTuple):
    """One keepalive: `code` OK (claimed and encoded; `written` whether it
    reached the medium, else `code` is WRITE_FAILED or WRITE_TIMEOUT with
    `errno`), or the frame error code of the encode."""

    seq: int
    ts: int
    ld: bytes
    tick: int
    late_us: int
    taken: bool
    written: bool
    code: int
    errno: int
    content_key: int
    """The content key given with the template the frame was built from
    (`set_template`): which content this keepalive carries."""
    ahead_of: int
    """The supervisor's message, numbered below `seq`, that this keepalive
    went out before: it was not written (`write`) within ORDER_WAIT_NS
    (0: every earlier message went first). Always reported."""


class TickerTiming(NamedTuple):
    """What the thread could not get (errno each, 0: done): SCHED_FIFO, the
    short fair-scheduler slice (asked only without FIFO), 1 ns timer slack."""

    fifo: int
    slice: int
    slack: int


def _report(r: Any) -> TickReport:
    return TickReport(int(r.seq), int(r.ts), ffi.unpack(r.ld, r.ld_len), int(r.tick),
                      int(r.late_us), bool(r.taken), bool(r.written), int(r.code), int(r.err),
                      int(r.content_key), int(r.ahead_of))


class Ticker:
    """A keepalive thread for one medium. Use from one Python thread."""

    def __init__(self, board: str | Path, fd: int, dest: tuple[str, int] | None, *,
                 report_all: bool = False, loadavg: str = "/proc/loadavg") -> None:
        err = ffi.new("hb_error *")
        if dest is None:
            kind, addr, port = lib.HB_TK_SERIAL, 0, 0
        else:
            kind, addr, port = lib.HB_TK_UDP, int(ipaddress.IPv4Address(dest[0])), dest[1]
        ctk = lib.hb_ticker_new(os.fsencode(board), fd, kind, addr, port, bool(report_all),
                                os.fsencode(loadavg), err)
        if ctk == ffi.NULL:
            raise _frame_error(err, None)
        self._c = ffi.gc(ctk, lib.hb_ticker_free)
        self._err = err
        self._report = ffi.new("hb_tick_report *")
        self._events = ffi.new("hb_tick_report[]", EVENTS)
        self._overrun = ffi.new("int64_t *")
        self._errno = ffi.new("int32_t *")
        self._last = ffi.new("char[]", lib.HB_TK_FRAME)
        self._made = 0
        self._last_frame = b""
        self._timing = ffi.new("hb_ticker_timing *")
        self.report_all = bool(report_all)

    def _check(self, code: int) -> None:
        if code != OK:
            self._err.code, self._err.offset = code, -1
            raise _frame_error(self._err, None)

    def set_template(self, template: Template, content_seq: int, content_key: int) -> None:
        """Keepalives from now on are `template` (seq, ts, ld variable, in
        that field order), made for status `content_seq`, logged on the board
        with `content_key`. Copied in C."""
        self._check(lib.hb_ticker_set_template(self._c, template._c, content_seq, content_key))

    def reschedule(self) -> None:
        """Take t0 and the interval from the board again (tick numbers go on)."""
        self._check(lib.hb_ticker_reschedule(self._c))

    def tick(self, tick: int, ts: int, ld: bytes) -> TickReport | None:
        """Send keepalive `tick` now, on this thread (the thread must be
        stopped). None when nothing may be sent (the lease expired, or a
        later tick was claimed already); raises StaleContent (nothing sent:
        hand over the new content and try again)."""
        if len(ld) > LD_MAX:
            raise ValueError(f"ld of {len(ld)} bytes: at most {LD_MAX} fit the board")
        r = self._report
        code = lib.hb_ticker_tick(self._c, tick, ts, ld, len(ld), r)
        if code == OK:
            return _report(r)
        if code in _SKIPPED:
            return None
        if code == _STALE:
            raise StaleContent(f"keepalive content older than the board's status_seq (tick {tick})")
        self._err.code, self._err.offset = code, r.err
        raise _frame_error(self._err, None)

    def start(self, fifo_prio: int = 0, slice_ns: int = 0) -> TickerTiming:
        """Run the thread: SCHED_FIFO at `fifo_prio` when > 0, else (or when
        refused) a `slice_ns` fair-scheduler slice when > 0."""
        code = lib.hb_ticker_start(self._c, fifo_prio, slice_ns, self._timing, self._err)
        if code != OK:
            raise _frame_error(self._err, None)
        t = self._timing
        return TickerTiming(int(t.fifo), int(t.slice), int(t.slack))

    def stop(self) -> None:
        """Stop the thread and wait for it (it wakes for this at once)."""
        self._check(lib.hb_ticker_stop(self._c))

    def write(self, frame: bytes, seq: int = 0) -> None:
        """Write `frame` to the medium, never interleaved with a keepalive;
        `seq`: the number the supervisor took for it (0: none), which the
        thread's keepalives numbered above it wait for. Raises TickerError
        (code WRITE_FAILED or WRITE_TIMEOUT, with errno); the message counts
        as handled either way."""
        code = lib.hb_ticker_write(self._c, frame, len(frame), seq, self._errno)
        if code != OK:
            self._err.code, self._err.offset = code, self._errno[0]
            raise _frame_error(self._err, None)

    def messages_before(self, seq: int) -> None:
        """The supervisor's messages numbered up to `seq` will never be
        handed to this ticker (sent before its worker started): keepalives
        do not wait for them."""
        self._check(lib.hb_ticker_messages_before(self._c, seq))

    def fileno(self) -> int:
        """An eventfd, readable when `events` has something."""
        fd: int = lib.hb_ticker_event_fd(self._c)
        return fd

    def events(self) -> tuple[list[TickReport], int]:
        """The waiting reports, oldest first, and how many were lost to a
        full ring since the last call."""
        n = lib.hb_ticker_events(self._c, self._events, EVENTS, self._overrun)
        return [_report(self._events[i]) for i in range(n)], int(self._overrun[0])

    def last_keepalive(self) -> bytes:
        """A copy of the last keepalive frame made (b"": none yet). Asked
        for every received frame (a link worker's own-echo check): copied
        from C only when a new keepalive was made since the last call, so a
        flood of frames never takes the lock the keepalive thread ticks
        under."""
        made = int(lib.hb_ticker_made(self._c))
        if made != self._made:
            n = lib.hb_ticker_last(self._c, self._last, lib.HB_TK_FRAME)
            self._last_frame = ffi.unpack(self._last, n) if n > 0 else b""
            self._made = made
        return self._last_frame

    def lock_memory(self) -> int:
        """Lock what the tick path touches (docs/processes.md, "Memory");
        returns the KiB of address space locked. Raises TickerError."""
        code = lib.hb_ticker_lock_memory(self._c, self._err)
        if code != OK:
            raise _frame_error(self._err, None)
        return int(self._err.field_index)

    def close(self) -> None:
        """Stop the thread and free everything (the object is unusable after)."""
        c, self._c = self._c, None
        if c is not None:
            ffi.release(c)
