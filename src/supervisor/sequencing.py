"""Sequence numbers, generations, retransmission and ACKs
(docs/heartbeat-protocol.md §3).

Receive side, one `PeerTracker` per peer: the generation rules (a lower
generation is a replay and is dropped, a higher one on a status message is
a restart and resets tracking; ours: see "Restart with a stale generation"
below), in-order / duplicate / gap handling with
heartbeat's log texts, the record of missing sequence numbers with their
retransmission-request schedule (first request after a random
50..max_rexmit_delay ms from an injected RNG, then every max_rexmit_delay ms
while the hole is open), and the ACK policy (`NS_ackmsg` when
`seq % 10 == trigger` and no earlier hole is open).

Send side, one `Sender` per node: default fields in heartbeat's order, the
sequence counter (injectable, so the shared sequence board can own it),
a history of the last 500 sequenced messages answering `NS_rexmit`
(unchanged fields, not twice within max_rexmit_delay - 10 ms, at most 50 per
request, a nak when gone), and what each peer has ACKed.

Restart with a stale generation (ours). Heartbeat drops every message
whose generation is lower than the one it knows, so a node restarted with
an older `hb_generation` (restored from a backup or a VM snapshot, or on a
disk rolled back by DRBD) stays dead to its peers for ever while it sees
them alive: it completes the resource negotiation alone and starts groups
the peer already runs. A replay of recorded messages cannot carry a wall
time (`ts`, covered by the signature) newer than the newest status already
heard from that node, while a restarted node's can; so a *status* with a
lower generation but a `ts` newer than every status of the current
generation is taken as a restart (WARN, naming the likely cause), and the
generation it replaces is retired: its messages (a late copy of the old
incarnation's last frames on a slow medium) are replays from then on.
Other messages of such a lower generation (a `reqnodes` can overtake the
first status) are dropped with one WARN per generation until the status
arrives; anything else with a lower or retired generation is dropped with
heartbeat's ERROR.

Time is integer monotonic milliseconds passed in by the caller.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hbeat.logfmt import Level
from linklayer.message import BINARY, STRING, Field

from . import messages as m

MAXMSGHIST = 500
SEQGAP = MAXMSGHIST // 2  # 250: a larger gap restarts tracking ("lost a lot of packets!")
MAX_MISSING = SEQGAP
ACK_MSG_DIV = 10
MAX_REXMIT_BATCH = 50
MAX_RETIRED = 8  # generations remembered as replaced by a lower one, per peer

LogLine = tuple[Level, str]


@dataclass
class Counters:
    """Everything membership drops, repeats or asks for, counted."""

    received: int = 0
    delivered: int = 0
    own_messages: int = 0
    duplicates: int = 0
    replays: int = 0
    stale: int = 0
    not_for_us: int = 0
    malformed: int = 0
    unknown_node: int = 0
    lost_packets: int = 0
    lost_a_lot: int = 0
    holes_filled: int = 0
    irretrievable: int = 0
    rexmit_requests_sent: int = 0
    rexmit_requests_received: int = 0
    resent: int = 0
    naks_sent: int = 0
    acks_sent: int = 0
    acks_received: int = 0
    restarts: int = 0
    partitions_healed: int = 0
    late_heartbeats: int = 0
    deaths: int = 0
    refused_clock: int = 0  # ts outside max_clock_skew (docs/security.md)
    refused_generation: int = 0  # implausible generation jump
    refused_old: int = 0  # not newer than the record kept across our restart
    refused_unadmitted: int = 0  # from a dead or not yet admitted peer, or another generation
    ns_refused: int = 0  # NS_* not of the peer's admitted generation
    ns_limited: int = 0  # NS_* over the per-peer rate

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Verdict(enum.Enum):
    """What receive-side tracking decided about one sequenced message."""

    IN_ORDER = "in-order"  # next expected (or the first seen): keep
    GAP = "gap"  # newer than expected: keep, holes recorded
    FILLED = "filled"  # a recorded hole: keep
    RESET = "reset"  # restart/heal or too big a gap: tracking restarted here, keep
    DUPLICATE = "duplicate"  # same as the last one: drop (refreshes the link)
    OLD = "old"  # older and not a hole: drop
    STALE = "stale"  # status of a dead node not newer than its last status: drop
    REPLAY = "replay"  # lower generation: drop

    @property
    def keep(self) -> bool:
        return self in (Verdict.IN_ORDER, Verdict.GAP, Verdict.FILLED, Verdict.RESET)


@dataclass(frozen=True, slots=True)
class TrackResult:
    verdict: Verdict
    logs: tuple[LogLine, ...] = ()
    ack: int | None = None
    restarted_from: int | None = None  # previous generation, on a restart
    healed: bool = False
    lost: int = 0


def rand_delay(rng: random.Random, max_rexmit_delay: int) -> int:
    """First retransmit-request delay: 50..max ms (0..max when max < 100)."""
    low = 0 if max_rexmit_delay < 100 else 50
    return rng.randint(low, max(low, max_rexmit_delay))


@dataclass
class PeerTracker:
    """Receive-side sequence tracking of one peer."""

    node: str
    ack_trigger: int
    max_rexmit_delay: int = 250
    generation: int = 0
    last_seq: int | None = None
    status_seqno: int = 0
    missing: dict[int, int | None] = field(default_factory=dict)  # seq -> next request due
    flow_control: bool = True
    status_ts: int = 0  # newest status wall time (ts) heard in this generation
    retired: set[int] = field(default_factory=set)  # generations replaced by a lower one
    lower_gen_noted: int = 0  # lower generation last warned about (once each)

    @property
    def first_missing(self) -> int | None:
        return min(self.missing) if self.missing else None

    def reset(self) -> None:
        """Forget sequence state (death, restart, too many lost); keeps the generation."""
        self.missing.clear()
        self.last_seq = None

    def _ack_if_needed(self, seq: int) -> int | None:
        if not self.flow_control:
            return None
        fm = self.first_missing
        if (fm is not None and seq > fm) or seq % ACK_MSG_DIV != self.ack_trigger:
            return None
        return seq

    def track(
        self,
        seq: int,
        gen: int,
        *,
        is_status: bool,
        node_dead: bool,
        now: int,
        rng: random.Random,
        ts: int | None = None,
    ) -> TrackResult:
        """Run one sequenced message through the generation and sequence rules.

        `ts` is the message's wall time (seconds); without it a lower
        generation is always a replay, as in heartbeat."""
        logs: list[LogLine] = []
        restarted_from: int | None = None
        healed = False
        stale_restart = (
            is_status
            and ts is not None
            and 0 < gen < self.generation
            and gen not in self.retired
            and ts > self.status_ts
        )
        if (gen < self.generation or gen in self.retired) and not stale_restart:
            if (
                not is_status
                and ts is not None
                and ts > self.status_ts
                and gen not in self.retired
            ):
                # Newer than every status of the current generation: most
                # likely a restart with a stale generation whose first status
                # has not arrived yet (a reqnodes can overtake it), not a replay.
                warned = gen == self.lower_gen_noted
                self.lower_gen_noted = gen
                return TrackResult(Verdict.REPLAY, () if warned else ((
                    Level.WARN,
                    f"{self.node}: dropping messages of a lower generation ({gen} < "
                    f"{self.generation}) newer than its last status until a status "
                    f"shows whether it restarted",
                ),))
            return TrackResult(
                Verdict.REPLAY,
                (
                    (
                        Level.ERROR,
                        f"should_drop_message: attempted replay attack [{self.node}]? "
                        f"[gen = {gen}, curgen = {self.generation}]",
                    ),
                ),
            )
        if is_status:
            if gen == self.generation and gen > 0:
                if node_dead:
                    if seq <= self.status_seqno:
                        return TrackResult(Verdict.STALE)
                    healed = True
            elif gen > self.generation or stale_restart:
                restarted_from = self.generation
                if stale_restart:
                    logs.append((
                        Level.WARN,
                        f"Heartbeat restart on node {self.node} with a lower generation "
                        f"({gen} < {self.generation}): its hb_generation was lost or "
                        f"restored from an older copy; generation {self.generation} is "
                        f"retired",
                    ))
                    self.retired.add(self.generation)
                    if len(self.retired) > MAX_RETIRED:
                        self.retired.discard(min(self.retired))
                elif self.generation > 0:
                    logs.append((Level.INFO, f"Heartbeat restart on node {self.node}"))
                self.reset()
                self.status_seqno = 0
                self.status_ts = 0
            self.generation = gen
            if ts is not None and ts > self.status_ts:
                self.status_ts = ts

        last = self.last_seq
        if last is None or seq == last + 1:
            self.last_seq = seq
            return TrackResult(
                Verdict.IN_ORDER, tuple(logs), self._ack_if_needed(seq), restarted_from, healed
            )
        if seq == last:
            return TrackResult(Verdict.DUPLICATE, tuple(logs), None, restarted_from, healed)
        if seq > last:
            nlost = seq - (last + 1)
            logs.append((Level.WARN, f"{nlost} lost packet(s) for [{self.node}] [{last}:{seq}]"))
            if nlost > SEQGAP:
                self.reset()
                self.last_seq = seq
                logs.append((Level.ERROR, "lost a lot of packets!"))
                return TrackResult(Verdict.RESET, tuple(logs), None, restarted_from, healed, nlost)
            for k in range(last + 1, seq):
                if len(self.missing) >= MAX_MISSING:
                    del self.missing[min(self.missing)]
                self.missing[k] = now + rand_delay(rng, self.max_rexmit_delay)
            self.last_seq = seq
            return TrackResult(Verdict.GAP, tuple(logs), None, restarted_from, healed, nlost)
        # Older than the last one: a recorded hole?
        if seq in self.missing:
            ack = self._fill(seq, logs)
            return TrackResult(Verdict.FILLED, tuple(logs), ack, restarted_from, healed)
        if healed or restarted_from is not None:
            self.reset()
            self.last_seq = seq
            return TrackResult(
                Verdict.RESET, tuple(logs), self._ack_if_needed(seq), restarted_from, healed
            )
        return TrackResult(Verdict.OLD, tuple(logs), None, restarted_from, healed)

    def _fill(self, seq: int, logs: list[LogLine]) -> int | None:
        old_first = self.first_missing
        del self.missing[seq]
        if not self.missing:
            logs.append((Level.INFO, f"No pkts missing from {self.node}!"))
        if not self.flow_control or seq != old_first or self.last_seq is None:
            return None
        fm = self.first_missing
        to_ack = self.last_seq if fm is None else fm - 1
        x = to_ack % ACK_MSG_DIV
        if x >= self.ack_trigger:
            ack = to_ack // ACK_MSG_DIV * ACK_MSG_DIV + self.ack_trigger
        else:
            ack = (to_ack // ACK_MSG_DIV - 1) * ACK_MSG_DIV + self.ack_trigger
        if ack >= old_first and ack > 0:
            return self._ack_if_needed(ack)
        return None

    def give_up(self, seq: int) -> tuple[bool, list[LogLine]]:
        """The holder nak'ed `seq`: stop waiting for it. True if it was a hole."""
        logs: list[LogLine] = []
        if seq not in self.missing:
            return False, logs
        self._fill(seq, logs)
        return True, logs

    def due_requests(self, now: int, peer_alive: bool) -> list[int]:
        """Holes whose retransmission request is due now; reschedules them.

        While the peer is not up/active no request is sent and the schedule
        stops (the hole stays recorded), as heartbeat does.
        """
        due = [s for s, t in self.missing.items() if t is not None and t <= now]
        for seq in due:
            self.missing[seq] = now + self.max_rexmit_delay if peer_alive else None
        return sorted(due) if peer_alive else []

    def next_request(self) -> int | None:
        times = [t for t in self.missing.values() if t is not None]
        return min(times) if times else None


# --- send side --------------------------------------------------------------


@dataclass
class _Sent:
    seq: int
    fields: tuple[Field, ...]
    last_rexmit: int | None = None


@dataclass(frozen=True, slots=True)
class RexmitAnswer:
    resend: tuple[tuple[int, tuple[Field, ...]], ...]
    naks: tuple[tuple[int, str], ...]
    logs: tuple[LogLine, ...]


class Sender:
    """The sending side of one node: default fields, seq, history, ACK state."""

    def __init__(
        self,
        node: str,
        uuid: bytes,
        generation: int,
        ttl: int,
        *,
        allocate_seq: Callable[[bool], int] | None = None,
        issued_seq: Callable[[], int] | None = None,
        history_size: int = MAXMSGHIST,
        max_rexmit_delay: int = 250,
    ) -> None:
        if len(uuid) != 16:
            raise ValueError(f"node UUID must be 16 bytes, got {len(uuid)}")
        if generation <= 0:
            raise ValueError(f"generation must be positive, got {generation}")
        self.node = node
        self.uuid = uuid
        self.generation = generation
        self.ttl = ttl
        self._next = 1
        self._allocate = allocate_seq if allocate_seq is not None else self._count
        # The highest seq handed out by whoever allocates (the sequence board):
        # a worker's keepalive is on the wire before we read its entry in the
        # board's keepalive log (or its `sent` report), and a peer may ACK it
        # in between.
        self._issued = issued_seq
        self._history: deque[_Sent] = deque(maxlen=history_size)
        self.lowseq = 0  # highest seq that fell out of the history
        self.hiseq = 0
        self.max_rexmit_delay = max_rexmit_delay
        self.acked: dict[str, int] = {}

    def _count(self, status: bool = False) -> int:
        seq = self._next
        self._next += 1
        return seq

    def stamp(
        self,
        fields: Sequence[Field],
        *,
        now: int,
        wall_s: int,
        load: bytes = b"n/a",
        dest_uuid: bytes | None = None,
    ) -> tuple[Field, ...]:
        """Add the default fields (docs/heartbeat-protocol.md §1.3) and record sequenced messages.

        `src, srcuuid, seq, hg, ts, ld, ttl` are appended in that order, or
        replaced in place when present; `NS_*` types get no `seq`/`ld` and keep
        default fields they already carry. `destuuid` goes before them when
        the message has `dest` and `dest_uuid` is given.
        """
        out = list(fields)
        t = m.field_value(out, m.F_TYPE)
        if t is None:
            raise ValueError("cannot send a message without a t field")
        noseq = t.startswith(m.NOSEQ_PREFIX)
        if dest_uuid is not None and m.field_value(out, m.F_TO) is not None:
            _put(out, (m.F_TOUUID, BINARY, dest_uuid), keep=noseq)
        # The allocator is told which messages are status messages (the
        # sequence board keeps keepalives from going back past them).
        seq = None if noseq else self._allocate(t == m.T_STATUS)
        defaults: list[Field] = [
            (m.F_ORIG, STRING, self.node.encode("ascii")),
            (m.F_ORIGUUID, BINARY, self.uuid),
        ]
        if seq is not None:
            defaults.append((m.F_SEQ, STRING, m.hexnum(seq)))
        defaults += [
            (m.F_HBGENERATION, STRING, m.hexnum(self.generation)),
            (m.F_TIME, STRING, m.hexnum(wall_s)),
        ]
        if not noseq:
            defaults.append((m.F_LOAD, STRING, load))
        defaults.append((m.F_TTL, STRING, m.decnum(self.ttl)))
        for f in defaults:
            _put(out, f, keep=noseq)
        result = tuple(out)
        if seq is not None:
            self._remember(seq, result)
        return result

    def record(self, fields: Sequence[Field]) -> int:
        """Remember a sequenced message somebody else stamped (a worker's keepalive)."""
        raw = m.field_value(fields, m.F_SEQ)
        if raw is None:
            raise ValueError("a sent message to remember has no seq field")
        seq = m.parse_hex(raw, "seq of a sent message")
        self._remember(seq, tuple(fields))
        return seq

    def _remember(self, seq: int, fields: tuple[Field, ...]) -> None:
        if self._history and len(self._history) == self._history.maxlen:
            self.lowseq = max(self.lowseq, self._history[0].seq)
        self._history.append(_Sent(seq, fields))
        self.hiseq = max(self.hiseq, seq)

    def history_seqs(self) -> list[int]:
        return [e.seq for e in self._history]

    def on_ack(self, peer: str, ackseq: int) -> list[LogLine]:
        """A peer ACKed our messages up to `ackseq`."""
        highest = self.hiseq if self._issued is None else max(self.hiseq, self._issued())
        if ackseq > highest:
            return [
                (
                    Level.ERROR,
                    f"HBDoMsg_T_ACK: corrupted ackseq current hiseq = {highest} "
                    f"ackseq ={ackseq} in this message",
                )
            ]
        if ackseq > self.acked.get(peer, 0):
            self.acked[peer] = ackseq
        return []

    def forget_peer(self, peer: str) -> None:
        """The peer died or restarted: its ACKs no longer hold."""
        self.acked.pop(peer, None)

    def answer_rexmit(self, requester: str, first: int, last: int, now: int) -> RexmitAnswer:
        """Answer `NS_rexmit` for `[first, last]` from `requester`."""
        resend: list[tuple[int, tuple[Field, ...]]] = []
        naks: list[tuple[int, str]] = []
        logs: list[LogLine] = []
        by_seq = {e.seq: e for e in self._history}
        acked = self.acked.get(requester, 0)
        accept_ms = self.max_rexmit_delay - 10
        # Never walk more than the history can hold, whatever the request says.
        last = min(last, first + 2 * MAXMSGHIST)
        for seq in range(first, last + 1):
            if seq <= acked:
                continue
            if seq <= self.lowseq:
                naks.append((seq, m.NAK_TOO_LOW))
                logs.append(
                    (Level.ERROR, f"Cannot rexmit pkt {seq} for {requester}: {m.NAK_TOO_LOW}")
                )
                continue
            if seq > self.hiseq:
                logs.append((Level.WARN, f"Rexmit of seq {seq} requested. {self.hiseq} is max."))
                continue
            entry = by_seq.get(seq)
            if entry is None:
                naks.append((seq, m.NAK_NOT_FOUND))
                logs.append(
                    (Level.ERROR, f"Cannot rexmit pkt {seq} for {requester}: {m.NAK_NOT_FOUND}")
                )
                continue
            if entry.last_rexmit is not None and now - entry.last_rexmit < accept_ms:
                continue
            if len(resend) >= MAX_REXMIT_BATCH:
                break
            entry.last_rexmit = now
            resend.append((seq, entry.fields))
        return RexmitAnswer(tuple(resend), tuple(naks), tuple(logs))


def _put(out: list[Field], f: Field, *, keep: bool) -> None:
    for i, (name, _t, _v) in enumerate(out):
        if name == f[0]:
            if not keep:
                out[i] = f
            return
    out.append(f)
