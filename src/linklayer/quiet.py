"""Quiet keepalives: a link worker's wait that records, in C, keepalives that only repeat a peer's
last status (`hb_quiet_*` in _frame.c).

`Quiet(heard_path, serial)` maps the worker's heard board (hbeat/ipc/heardboard.py,
created by the supervisor). Per peer slot the worker gives the last status frame it
forwarded from that peer as the slot's model (`set_model`); `wait` then polls the medium
and the worker's other descriptors in C, with the GIL released. A keepalive from a
peer that differs from its model only in the values of `seq` (the next one), `ts` and
`ld`, from the model's source (UDP), within `gap_ns` of the peer's previous frame, and
verified with the keyring, is recorded on the board (a run: first and last seq, last ts,
when heard, count) without returning; anything else returns (`QuietWait.medium`) and
Python handles it as before: UDP input is left in the socket (peeked), serial bytes read
here are handed back by `pending()` and must be fed to the worker's framer before the
next `wait`. `saw` tells C about frames of the peer Python forwarded, `take` hands a
run over (and must precede `set_model`/`forget` of a slot holding one), `posted` counts
the Rx messages posted to the supervisor (a run's `rx_before`).

The rules are docs/processes.md, "Quiet keepalives", and the block of `_frame.h`.
Use one `Quiet` from one thread: `wait` releases the GIL, the other calls must not
run during it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from hbeat.ipc.heardboard import QuietRun
from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]
from linklayer._native import _c_keyring, _frame_error, decode
from linklayer.errors import FrameError
from linklayer.message import Keyring

__all__ = ["FIELDS_MAX", "LD_MAX", "MAX_FDS", "MODEL_MAX", "PEERS", "SERIAL_BUFFER", "SRC_MAX",
           "Quiet", "QuietError", "QuietRun", "QuietWait"]

PEERS = int(lib.HB_QUIET_PEERS)
"""Peer slots per medium."""
SRC_MAX = int(lib.HB_QUIET_SRC)
"""Longest node name a slot follows (bytes)."""
MODEL_MAX = int(lib.HB_QUIET_MODEL)
"""Longest model frame, and longest frame that can be quiet (bytes)."""
FIELDS_MAX = int(lib.HB_QUIET_FIELDS)
"""Most fields a model may have (auth excluded)."""
SERIAL_BUFFER = int(lib.HB_QUIET_SBUF)
"""Serial bytes the wait holds at most (a longer frame is handed back)."""
LD_MAX = int(lib.HB_LD_MAX)
"""Longest `ld` a quiet keepalive may carry."""
MAX_FDS = 30
"""Descriptors `wait` watches besides the medium."""

_OK = int(lib.HB_OK)
_BAD_ARGUMENT = int(lib.HB_BAD_ARGUMENT)
_MEDIUM = int(lib.HB_QW_MEDIUM)
_TIMEOUT = int(lib.HB_QW_TIMEOUT)
_INTR = int(lib.HB_QW_INTR)
_BOARD_ERRORS = {int(lib.HB_BOARD_OPEN): "cannot open the heard board",
                 int(lib.HB_BOARD_INVALID): "not an hbeat heard board (size, magic or slots)"}
_MODEL_ERRORS = {
    int(lib.HB_TOO_LARGE): f"longer than {MODEL_MAX} bytes",
    int(lib.HB_TOO_MANY_FIELDS): f"more than {FIELDS_MAX} fields",
    int(lib.HB_BAD_VALUE): (f"not a keepalive: it needs one hex seq (at most 16 digits), at "
                            f"most one hex ts and one ld of at most {LD_MAX} bytes"),
}


class QuietError(OSError):
    """A quiet call refused: `code` is the C code (HB_BOARD_OPEN, HB_BAD_ARGUMENT, a
    frame code for a model), `errno` the system's reason where one applies (else 0),
    `strerror` (and `str()`) what went wrong. An OSError like the ticker's errors."""

    def __init__(self, code: int, what: str, errno: int = 0) -> None:
        super().__init__(errno, what)
        self.code = code

    def __str__(self) -> str:
        return str(self.strerror)


class QuietWait(NamedTuple):
    """What one `wait` did."""

    medium: bool
    """The medium has input Python must handle (UDP: in the socket; serial: `pending()`)."""
    ready: tuple[int, ...]
    """The descriptors of `fds` found readable (or hung up, or invalid)."""
    timeout: bool
    interrupted: bool
    """A signal interrupted the wait (Python runs its handlers on return)."""
    err: int
    """errno of a failed poll, peek or read (0: none); with `medium` when the
    medium's read failed (serial: what was buffered is pending)."""
    quiet: int
    """Keepalives recorded on the board during the call."""


def _source(peer: str | None) -> tuple[int, int]:
    if peer is None:
        return 0, 0
    host, sep, port = peer.rpartition(":")
    try:
        if not sep:
            raise ValueError("no port")
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(f"port {number}")
        return int(ipaddress.IPv4Address(host)), number
    except ValueError as exc:
        raise ValueError(f"peer {peer!r} is not ipv4:port ({exc})") from None


class Quiet:
    """The quiet wait of one link worker's medium, on its heard board."""

    __slots__ = ("_c", "_err", "_fds", "_pending", "_res", "_run", "_src", "path", "serial")

    def __init__(self, heard_path: str | Path, serial: bool) -> None:
        err = ffi.new("hb_error *")
        kind = lib.HB_TK_SERIAL if serial else lib.HB_TK_UDP
        c = lib.hb_quiet_new(os.fsencode(heard_path), kind, err)
        if c == ffi.NULL:
            code = int(err.code)
            what = _BOARD_ERRORS.get(code)
            if what is None:
                raise _frame_error(err, None)
            errno = max(0, int(err.offset))
            if errno:
                what = f"{what}: {os.strerror(errno)}"
            raise QuietError(code, f"{os.fspath(heard_path)}: {what}", errno)
        self._c = ffi.gc(c, lib.hb_quiet_free)
        self._err = err
        self._res = ffi.new("hb_quiet_result *")
        self._run = ffi.new("hb_quiet_run *")
        self._fds = ffi.new("int32_t[]", MAX_FDS)
        self._pending = ffi.new("char[]", SERIAL_BUFFER)
        self._src: list[str] = [""] * PEERS
        self.path = Path(heard_path)
        self.serial = bool(serial)

    @staticmethod
    def _slot(slot: int) -> None:
        if not 0 <= slot < PEERS:
            raise ValueError(f"slot {slot} is not 0..{PEERS - 1}")

    def set_model(self, slot: int, src: str, frame: bytes, seq: int, heard_ns: int,
                  peer: str | None, gap_ns: int) -> None:
        """Slot `slot` follows node `src` from now on, with `frame` (its status frame
        numbered `seq`, heard at `heard_ns` from `peer` "ip:port", None on serial) as
        the model; a keepalive later than `gap_ns` after the peer's previous frame is
        never quiet. The slot's run must have been taken. Raises ValueError for bad
        arguments, QuietError when the slot holds a run or the frame cannot be a model
        (the slot then has none)."""
        self._slot(slot)
        name = src.encode()
        if not 0 < len(name) <= SRC_MAX:
            raise ValueError(f"src {src!r}: 1..{SRC_MAX} bytes")
        if seq < 0 or heard_ns < 0 or gap_ns <= 0:
            raise ValueError(f"seq {seq}, heard_ns {heard_ns} must be >= 0 and gap_ns "
                             f"{gap_ns} > 0")
        if self.serial != (peer is None):
            raise ValueError("peer: ip:port on UDP, None on serial"
                             + (f", not {peer!r}" if peer is not None else ""))
        addr, port = _source(peer)
        code = lib.hb_quiet_set_model(self._c, slot, name, len(name), frame, len(frame), seq,
                                      heard_ns, addr, port, gap_ns)
        if code == _OK:
            self._src[slot] = src
            return
        if code == _BAD_ARGUMENT:
            raise QuietError(code, f"slot {slot} holds a run of quiet keepalives: take it "
                                   "before a new model")
        what = _MODEL_ERRORS.get(code)
        if what is None:
            self._err.code, self._err.offset = code, -1
            self._err.field_index, self._err.name_offset = -1, -1
            exc = _frame_error(self._err, None)
            if isinstance(exc, FrameError):
                try:  # the precise error: where in the frame
                    decode(frame, None)
                except FrameError as precise:
                    exc = precise
            what = f"unparsable ({exc})"
        raise QuietError(code, f"model for slot {slot} ({src}): {what}")

    def set_gap(self, gap_ns: int) -> None:
        """Every slot's gap is `gap_ns` from now on (the timers changed)."""
        if gap_ns <= 0 or lib.hb_quiet_set_gap(self._c, gap_ns) != _OK:
            raise QuietError(_BAD_ARGUMENT, f"gap {gap_ns} ns: must be > 0")

    def forget(self, slot: int) -> None:
        """The slot follows no one (its run must have been taken)."""
        self._slot(slot)
        if lib.hb_quiet_forget(self._c, slot) != _OK:
            raise QuietError(_BAD_ARGUMENT, f"slot {slot} holds a run of quiet keepalives: "
                                            "take it first")

    def saw(self, slot: int, seq: int, heard_ns: int) -> None:
        """The worker forwarded a frame of the slot's peer numbered `seq` (0: none),
        heard at `heard_ns`: the next quiet one must be numbered above every seq seen
        by one and come within the gap of `heard_ns`."""
        self._slot(slot)
        if seq < 0 or heard_ns < 0:
            raise ValueError(f"seq {seq} and heard_ns {heard_ns} must be >= 0")
        lib.hb_quiet_saw(self._c, slot, seq, heard_ns)

    def take(self, slot: int) -> QuietRun | None:
        """The slot's run (None: none), cleared on the board."""
        self._slot(slot)
        r = self._run
        lib.hb_quiet_take(self._c, slot, r)
        if r.first_seq == 0:
            return None
        return QuietRun(int(r.rx_before), int(r.first_seq), int(r.last_seq), int(r.last_ts),
                        int(r.heard_ns), int(r.count), self._src[slot])

    def posted(self) -> None:
        """One more Rx message posted to the supervisor."""
        lib.hb_quiet_posted(self._c)

    def check(self, frame: bytes, keyring: Keyring, peer: str | None, now_ns: int) -> bool:
        """Whether `frame` from `peer` ("ip:port"; None on serial), heard at `now_ns`,
        is quiet for a slot; if so it is recorded on the board."""
        addr, port = _source(peer)
        got: int = lib.hb_quiet_check(self._c, frame, len(frame), _c_keyring(keyring), addr,
                                      port, now_ns)
        if got < 0:
            raise ValueError("check: a keyring is needed")
        return got == 1

    def wait(self, keyring: Keyring, medium_fd: int, fds: Sequence[int],
             timeout_ms: int | None) -> QuietWait:
        """Wait (GIL released) until one of `fds` is readable, the medium has input
        that is not quiet, `timeout_ms` passes (None: never) or a signal comes; quiet
        keepalives on `medium_fd` are recorded on the way. Serial: after `medium`,
        call `pending()` before waiting again (until then `wait` returns at once)."""
        n = len(fds)
        if n > MAX_FDS:
            raise ValueError(f"at most {MAX_FDS} descriptors besides the medium, not {n}")
        cfds = self._fds
        for i, fd in enumerate(fds):
            cfds[i] = fd
        res = self._res
        ckr = _c_keyring(keyring)
        timeout = -1 if timeout_ms is None else max(0, min(timeout_ms, 2**31 - 1))
        flags: int = lib.hb_quiet_wait(self._c, ckr, medium_fd, cfds, n, timeout, res)
        if flags < 0:
            raise ValueError(f"wait: refused its arguments (medium fd {medium_fd})")
        bits = int(res.ready)
        ready = tuple(fd for i, fd in enumerate(fds) if bits >> i & 1) if bits else ()
        return QuietWait(bool(flags & _MEDIUM), ready, bool(flags & _TIMEOUT),
                         bool(flags & _INTR), int(res.err), int(res.quiet))

    def pending(self) -> bytes:
        """Serial: the bytes the last `wait` read and hands back (b"": none),
        forgotten here. Feed them to the framer before reading the line."""
        n = lib.hb_quiet_pending(self._c, self._pending, SERIAL_BUFFER)
        return ffi.unpack(self._pending, n) if n > 0 else b""

    def close(self) -> None:
        """Unmap the board and free everything (the object is unusable after)."""
        c, self._c = self._c, None
        if c is not None:
            ffi.release(c)
