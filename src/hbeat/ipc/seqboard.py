"""The sequence board: one node's sequence numbers, shared by its processes.

See docs/processes.md. A small file under the runtime directory, mapped into
the supervisor and every link worker, holds:

    magic, t0_ns, interval_ns, next_seq, claimed_tick, claimed_seq,
    lease_ns, generation, status_seq, msg_seq, claimed_msg,
    sent_count, sent[SENT_RING]

The supervisor creates it (with the first `seq` = 1 as heartbeat does) and
renews the lease; workers claim keepalive ticks. `status_seq` is the number
of the last status message the supervisor sent itself (on a state change):
a worker whose keepalive content predates it may not take a higher number,
or a peer would see the node's state go back (`active`, then `up`).
`msg_seq` is the number of the last message the supervisor took a number
for, and `claimed_msg` what msg_seq was when the last tick was claimed: a
worker writes the keepalive of that tick only after every message up to
claimed_msg (linklayer/ticker.py), so each medium carries the node's
numbers in order. Every read-modify-write is done under an advisory lock
on the file, held for a few microseconds.

`sent` is the keepalive log: the worker that takes a tick's number records,
in the same critical section, what its keepalive carries (seq, ts, ld, tick
and the key of its content, `hbeat.ipc.keepalive.content_key`); the
supervisor reads the new entries on its loop's turns into its
retransmission history instead of being woken by a `sent` report for each
(docs/processes.md). `sent_count` counts every entry ever written; entry n
is at n % SENT_RING.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path

MAGIC = b"HBSEQBD4"
_LAYOUT = struct.Struct("<8sqqqqqqqqqq")
HEADER = _LAYOUT.size
_LEASE = struct.Struct("<q")
LEASE_AT = 48  # offset of lease_ns in _LAYOUT: magic, then five q before it
_COUNT = struct.Struct("<q")
COUNT_AT = HEADER  # offset of sent_count
RING_AT = COUNT_AT + _COUNT.size
SENT_RING = 256
"""Entries kept: far more keepalives than a lease lets the workers send
between two turns of the supervisor's loop (a turn reads them all)."""
LD_MAX = 95
"""The longest `ld` an entry holds (a /proc/loadavg line is about 30 bytes)."""
_ENTRY = struct.Struct(f"<qqqQB{LD_MAX}s")
SIZE = RING_AT + SENT_RING * _ENTRY.size


class SeqBoardError(RuntimeError):
    pass


class StaleKeepalive(Exception):
    """The worker's keepalive content is older than the last status message
    the supervisor sent: fetch the new content before claiming a tick."""


@dataclass(frozen=True, slots=True)
class SentEntry:
    """One keepalive as the worker that took its number sent it."""

    seq: int
    ts: int
    ld: bytes
    tick: int
    content_key: int
    """`hbeat.ipc.keepalive.content_key` of the content it was built from."""


@dataclass(frozen=True, slots=True)
class BoardView:
    t0_ns: int
    interval_ns: int
    next_seq: int
    claimed_tick: int
    claimed_seq: int
    lease_ns: int
    generation: int
    status_seq: int
    msg_seq: int
    claimed_msg: int


class SeqBoard:
    """A mapped sequence board file. Create with `create`, join with `attach`."""

    def __init__(self, path: Path, fd: int, mem: mmap.mmap) -> None:
        self.path = path
        self._fd = fd
        self._mem = mem

    @classmethod
    def create(
        cls, path: Path, *, t0_ns: int, interval_ns: int, generation: int, lease_ns: int = 0
    ) -> SeqBoard:
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(
                fd, _LAYOUT.pack(MAGIC, t0_ns, interval_ns, 1, -1, 0, lease_ns, generation, 0, 0, 0)
                + bytes(SIZE - HEADER)
            )
            os.replace(tmp, path)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, mmap.mmap(fd, SIZE))

    @classmethod
    def attach(cls, path: Path) -> SeqBoard:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise SeqBoardError(f"cannot open sequence board {path}: {exc.strerror}") from exc
        if os.fstat(fd).st_size != SIZE:
            os.close(fd)
            raise SeqBoardError(f"sequence board {path} has the wrong size")
        board = cls(path, fd, mmap.mmap(fd, SIZE))
        if board.read().generation < 0 or bytes(board._mem[:8]) != MAGIC:
            board.close()
            raise SeqBoardError(f"{path} is not an hbeat sequence board")
        return board

    def close(self) -> None:
        self._mem.close()
        os.close(self._fd)

    def read(self) -> BoardView:
        _magic, *values = _LAYOUT.unpack(self._mem[:HEADER])
        return BoardView(*values)

    def _write(self, view: BoardView) -> None:
        self._mem[:HEADER] = _LAYOUT.pack(
            MAGIC,
            view.t0_ns,
            view.interval_ns,
            view.next_seq,
            view.claimed_tick,
            view.claimed_seq,
            view.lease_ns,
            view.generation,
            view.status_seq,
            view.msg_seq,
            view.claimed_msg,
        )

    def allocate(self, status: bool = False) -> int:
        """Take the next sequence number (for a message the supervisor sends);
        `status`: it is a status message, whose content the workers' next
        keepalives must carry (see claim_tick)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            _m, t0, iv, seq, ctick, cseq, lease, gen, sseq, _msg, cmsg = _LAYOUT.unpack(
                self._mem[:HEADER])
            self._mem[:HEADER] = _LAYOUT.pack(MAGIC, t0, iv, seq + 1, ctick, cseq, lease, gen,
                                            seq if status else sseq, seq, cmsg)
            return int(seq)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def issued(self) -> int:
        """The highest sequence number handed out so far (0: none yet)."""
        return self.read().next_seq - 1

    def claim_tick(self, tick: int, now_ns: int, content_seq: int) -> int | None:
        """The sequence number of keepalive `tick`, allocating it if this
        caller is first. None when the supervisor's lease has run out (send
        nothing) or when the tick is older than the last one claimed (a
        worker that woke after its peers moved on: skip it). `content_seq`
        is the status_seq the caller's keepalive content was made for;
        raises StaleKeepalive when the supervisor has sent a newer status."""
        claimed = self.claim(tick, now_ns, content_seq)
        return None if claimed is None else claimed[0]

    def claim(self, tick: int, now_ns: int, content_seq: int,
              sent: tuple[int, bytes, int] | None = None) -> tuple[int, bool] | None:
        """`claim_tick`, also saying whether this caller took the number (True:
        it was first to reach `tick`; False: another worker took it). `sent`
        is what the keepalive will carry, `(ts, ld, content_key)`: the caller
        that takes the number logs it (`sent_since`) in the same critical
        section, so no keepalive number is ever taken without its entry.
        Raises ValueError for an `ld` longer than LD_MAX (nothing taken)."""
        if sent is not None and len(sent[1]) > LD_MAX:
            raise ValueError(f"ld of {len(sent[1])} bytes: at most {LD_MAX} fit the board")
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            _m, t0, iv, seq, ctick, cseq, lease, gen, sseq, msg, _cmsg = _LAYOUT.unpack(
                self._mem[:HEADER])
            if now_ns >= lease:
                return None
            if content_seq < sseq:
                raise StaleKeepalive(f"keepalive content for status {content_seq}, "
                                     f"the supervisor sent status {sseq}")
            if tick == ctick:
                return int(cseq), False
            if tick < ctick:
                return None
            self._mem[:HEADER] = _LAYOUT.pack(MAGIC, t0, iv, seq + 1, tick, seq, lease, gen, sseq,
                                            msg, msg)
            if sent is not None:
                ts, ld, key = sent
                (count,) = _COUNT.unpack_from(self._mem, HEADER)
                _ENTRY.pack_into(self._mem, RING_AT + (count % SENT_RING) * _ENTRY.size,
                                 seq, ts, tick, key, len(ld), ld)
                _COUNT.pack_into(self._mem, HEADER, count + 1)
            return int(seq), True
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def sent_count(self) -> int:
        """How many keepalives were ever logged (one aligned 8-byte read, no
        lock: the supervisor's cheap check on every turn)."""
        return int(_COUNT.unpack_from(self._mem, HEADER)[0])

    def sent_since(self, count: int) -> tuple[int, list[SentEntry], int]:
        """The keepalives logged after the first `count`: (the new count, the
        entries in order, how many were overwritten before they were read)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            (now,) = _COUNT.unpack_from(self._mem, HEADER)
            first = max(count, now - SENT_RING)
            entries = []
            for n in range(first, now):
                seq, ts, tick, key, size, ld = _ENTRY.unpack_from(
                    self._mem, RING_AT + (n % SENT_RING) * _ENTRY.size)
                entries.append(SentEntry(seq, ts, ld[:size], tick, key))
            return int(now), entries, int(first - count)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def reschedule(self, now_ns: int, interval_ns: int) -> None:
        """A new keepalive interval (ha.cf reread). Tick numbers go on: the next
        tick due at or after `now_ns` keeps its time and number, and the ticks
        after it follow the new interval, so a worker still on the old grid
        can only claim a tick that already has its seq (a duplicate a peer
        drops), never take the numbering back."""
        if interval_ns <= 0:
            raise ValueError(f"keepalive interval must be positive, got {interval_ns} ns")
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            view = self.read()
            tick = max(0, -((view.t0_ns - now_ns) // view.interval_ns))
            due = view.t0_ns + tick * view.interval_ns
            self._write(replace(view, t0_ns=due - tick * interval_ns, interval_ns=interval_ns))
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def renew_lease(self, until_ns: int) -> None:
        """Push the lease to `until_ns` (only that field is written)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            _LEASE.pack_into(self._mem, LEASE_AT, until_ns)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
