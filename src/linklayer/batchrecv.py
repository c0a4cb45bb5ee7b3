"""Batched, checked receive from a UDP socket (the C side: `hb_rx_*` in _frame.c).

`BatchReceiver.receive(fd, keyring)` is one C call: `recvmmsg` of up to
`batch` datagrams into buffers allocated once, then, for each datagram in
turn, the source filter (`set_peers`: ucast peers), the size check and
`verify` with the keyring. Only what passed all of them becomes Python
objects (its bytes and its source); what was refused comes back as one
`Refused` per (reason, source) with a count and what was wrong with the
last one, so a flood of garbage costs the caller a few objects per call,
not one per datagram, and the C side allocates nothing after construction.
The rules are docs/wire-format.md, "Batched receive"; errors of the call
itself come from `_native._frame_error`, like every other C error.

A receiver's buffers are reused by its next call: use one receiver from
one thread.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]
from linklayer._native import _c_keyring, _frame_error
from linklayer.errors import ErrorCode, FrameError
from linklayer.message import Keyring

__all__ = ["BATCH", "MAX_BATCH", "MAX_PEERS", "REASONS", "SLOT", "BatchReceiver", "Refused"]

BATCH = 64
"""Datagrams one call reads at most, by default."""
SLOT = 4096
"""Bytes per datagram slot, by default: a keepalive takes a few hundred.
A longer datagram spills into one shared 64 KiB buffer (the last one of a
call is kept whole, an earlier one is refused as OVERSIZE_DATAGRAM)."""
MAX_BATCH = int(lib.HB_RX_MAX_BATCH)
MAX_PEERS = int(lib.HB_RX_MAX_PEERS)

REASONS: dict[str, str] = {
    "NOT_FROM_PEER": "a datagram from an address that is not a ucast peer",
    "OVERSIZE_DATAGRAM": (
        "a datagram longer than its receive slot, followed in the same read by another "
        "such datagram that took the shared overflow buffer"
    ),
}
"""What the receive-only codes mean (the frame codes are ErrorCode's)."""

_CODE_NAMES: dict[int, str] = {
    **{int(c): c.name for c in ErrorCode},
    int(lib.HB_NOT_FROM_PEER): "NOT_FROM_PEER",
    int(lib.HB_OVERSIZE_DATAGRAM): "OVERSIZE_DATAGRAM",
}
_PEER_CACHE_MAX = 256
_NULL = ffi.NULL


class Refused(NamedTuple):
    """Datagrams of one call refused for one reason from one source, with
    where the last of them went wrong. Its text (`str()`, `error`) is made
    only when asked for: a flood from many spoofed sources must not pay for
    a message per refusal."""

    code: str
    """An ErrorCode name, or NOT_FROM_PEER / OVERSIZE_DATAGRAM (REASONS)."""
    peer: str
    """The source, `ip:port`."""
    datagrams: int
    """How many."""
    offset: int = -1
    field_index: int = -1
    field_name: bytes | None = None

    @property
    def error(self) -> FrameError | str:
        """What was wrong with the last of them: the FrameError `verify`
        raises for it (its field name cut to 64 bytes), or REASONS' text."""
        text = REASONS.get(self.code)
        if text is not None:
            return text
        code = ErrorCode.__members__.get(self.code)
        if code is None:  # not a code _frame.c returns for a datagram
            return f"{self.code}: refused by the batched receive"
        return FrameError(code, self.offset, self.field_index, self.field_name)

    def __str__(self) -> str:
        return str(self.error)


class BatchReceiver:
    """recvmmsg plus the cheap checks, in C, into buffers allocated here once."""

    __slots__ = ("_arena", "_err", "_frames", "_peer_names", "_read", "_rejects", "_res", "_rx",
                 "batch", "peers", "slot")

    def __init__(self, batch: int = BATCH, slot: int = SLOT, peers: Iterable[str] = ()) -> None:
        if not 1 <= batch <= MAX_BATCH:
            raise ValueError(f"batch must be 1..{MAX_BATCH}, not {batch}")
        if not lib.HB_RX_MIN_SLOT <= slot <= lib.HB_RX_MAX_SLOT:
            raise ValueError(
                f"slot must be {lib.HB_RX_MIN_SLOT}..{lib.HB_RX_MAX_SLOT} bytes, not {slot}")
        err = ffi.new("hb_error *")
        rx = lib.hb_rx_new(batch, slot, err)
        if rx == _NULL:
            raise _frame_error(err, None)
        self._rx = ffi.gc(rx, lib.hb_rx_free)
        self._res = ffi.new("hb_rx_result *")
        self._err = ffi.new("hb_error *")
        self._frames = lib.hb_rx_frames(rx)
        self._rejects = lib.hb_rx_rejects(rx)
        self._arena = ffi.buffer(lib.hb_rx_arena(rx), lib.hb_rx_arena_size(rx))
        self._read = lib.hb_rx_read
        self._peer_names: dict[tuple[int, int], str] = {}
        self.batch = batch
        self.slot = slot
        self.peers: tuple[str, ...] = ()
        self.set_peers(peers)

    def set_peers(self, addresses: Iterable[str]) -> None:
        """Accept datagrams only from these IPv4 addresses (none given:
        from anywhere); the others are refused as NOT_FROM_PEER unparsed."""
        given = tuple(dict.fromkeys(addresses))
        if len(given) > MAX_PEERS:
            raise ValueError(f"at most {MAX_PEERS} peer addresses, not {len(given)}")
        try:
            values = [int(ipaddress.IPv4Address(a)) for a in given]
        except ValueError as exc:
            raise ValueError(f"peer address: {exc}") from None
        arr = ffi.new("uint32_t[]", values or [0])
        if lib.hb_rx_set_peers(self._rx, arr, len(values)) != lib.HB_OK:
            raise RuntimeError("ERROR: hb_rx_set_peers refused its arguments")
        self.peers = given

    def _peer(self, addr: int, port: int) -> str:
        key = (addr, port)
        name = self._peer_names.get(key)
        if name is None:
            if len(self._peer_names) >= _PEER_CACHE_MAX:
                self._peer_names.clear()
            name = self._peer_names[key] = (
                f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}:{port}")
        return name

    def receive(self, fd: int, keyring: Keyring | None,
                limit: int = 0) -> tuple[int, list[tuple[bytes, str]], list[Refused]]:
        """Read up to `limit` (0: `batch`) datagrams waiting on `fd` (a
        non-blocking IPv4 UDP socket) and check them, verifying with
        `keyring` (None: parsing only). Returns how many were read, the
        accepted frames with their sources in arrival order, and the refused
        ones summed per (reason, source). Raises OSError if the socket read
        fails (nothing waiting is not a failure: 0 read)."""
        ckr = _c_keyring(keyring)
        res = self._res
        n: int = self._read(self._rx, fd, ckr, limit, res, self._err)
        if n < 0:
            raise _frame_error(self._err, None)
        frames: list[tuple[bytes, str]] = []
        refused: list[Refused] = []
        if n == 0:
            return 0, frames, refused
        peer = self._peer
        accepted = res.accepted
        if accepted:
            arena = self._arena
            for i in range(accepted):
                f = self._frames[i]
                off = f.offset
                frames.append((arena[off:off + f.length], peer(f.addr, f.port)))
        for i in range(res.nrejects):
            r = self._rejects[i]
            err = r.err
            nl = err.name_length
            code = r.code
            refused.append(Refused(_CODE_NAMES.get(code) or f"CODE_{code}",
                                   peer(r.addr, r.port), r.count,
                                   err.offset, err.field_index,
                                   ffi.unpack(r.name, nl) if nl >= 0 else None))
        return n, frames, refused
