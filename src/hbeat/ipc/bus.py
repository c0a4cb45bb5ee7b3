"""The worker bus: its framing, and every message between the supervisor and
its link workers, one frozen dataclass per verb.

ZeroMQ multipart messages (see hbeat/ipc/__init__.py for the socket layout
and docs/processes.md for the table of verbs). The first part is the verb;
control bodies are one JSON object; frames travel as raw bytes, never
re-encoded. Each message class has `VERB`, `encode() -> list[bytes]` and
`decode(parts)`, where `parts` starts with the verb. A malformed message
raises BusError naming the verb and the field.

The executor's messages are hbeat/ipc/executor.py; they share the framing
and `Hello`, `Fatal`, `Error` and `Stop` from here.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import zmq

from hbeat.ipc.heardboard import QuietRun
from hbeat.ipc.keepalive import ContentError, KeepaliveContent, status_fields
from linklayer.message import Field

BUS_VERSION = 1
_TS = struct.Struct(">q")
_RUN = struct.Struct(">qqqqqq")
# Plain ints: pyzmq's enums cost an enum member built per operation.
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_NOBLOCK = int(zmq.NOBLOCK)


class BusError(ValueError):
    pass


def drain(sock: zmq.Socket[bytes]) -> Iterator[list[bytes]]:
    """Every message waiting on `sock` now, without blocking. It asks the
    socket whether a message waits (ZMQ_EVENTS) before each read instead of
    reading until EAGAIN: pyzmq raises that as an exception, whose making
    cost more than the rest of a quiet loop turn. The parts are read as
    frames whose `more` says whether another follows: pyzmq's
    `recv_multipart` asks the socket (ZMQ_RCVMORE) after each part, and each
    of its option reads builds an enum member."""
    while cast(int, sock.get(_EVENTS)) & _POLLIN:
        try:
            frame = sock.recv(_NOBLOCK, copy=False)
            parts = [frame.bytes]
            while frame.more:
                frame = sock.recv(_NOBLOCK, copy=False)
                parts.append(frame.bytes)
        except zmq.Again:
            return
        yield parts


# --- framing ------------------------------------------------------------------


def pack(verb: bytes, body: Mapping[str, Any] | None = None) -> list[bytes]:
    """`[verb, JSON object]`."""
    return [verb, json.dumps(body or {}, separators=(",", ":")).encode()]


def unpack_json(part: bytes, verb: str) -> dict[str, Any]:
    try:
        body = json.loads(part)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusError(f"bus message '{verb}': body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BusError(f"bus message '{verb}': body is not a JSON object")
    return body


def body_of(parts: Sequence[bytes], verb: str) -> dict[str, Any]:
    """The JSON object of `[verb, body]` (BusError when the shape is wrong)."""
    if len(parts) != 2:
        raise BusError(f"bus message '{verb}': expected [verb, JSON object], "
                       f"got {len(parts)} part(s)")
    return unpack_json(parts[1], verb)


def _bad(verb: str, name: str, what: str, value: Any) -> BusError:
    return BusError(f"bus message '{verb}': field '{name}' must be {what}, not {value!r}")


def get_int(body: Mapping[str, Any], verb: str, name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(verb, name, "an integer", value)
    return value


def _non_negative(value: int, verb: str, name: str) -> int:
    if value < 0:
        raise _bad(verb, name, "an integer >= 0", value)
    return value


def get_opt_int(body: Mapping[str, Any], verb: str, name: str) -> int | None:
    return None if body.get(name) is None else get_int(body, verb, name)


def get_str(body: Mapping[str, Any], verb: str, name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise _bad(verb, name, "a string", value)
    return value


def get_opt_str(body: Mapping[str, Any], verb: str, name: str) -> str | None:
    return None if body.get(name) is None else get_str(body, verb, name)


def get_bool(body: Mapping[str, Any], verb: str, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(verb, name, "true or false", value)
    return value


def get_number(body: Mapping[str, Any], verb: str, name: str) -> float:
    value = body.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(verb, name, "a number", value)
    return float(value)


def _verb(parts: Sequence[bytes], expected: bytes) -> None:
    if not parts or parts[0] != expected:
        got = parts[0].decode("ascii", "replace") if parts else "nothing"
        raise BusError(f"expected bus message '{expected.decode()}', got '{got}'")


# --- messages of every worker -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """worker -> supervisor, first: who I am."""

    VERB: ClassVar[bytes] = b"hello"
    pid: int
    name: str
    version: int = BUS_VERSION

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"pid": self.pid, "name": self.name, "version": self.version})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Hello:
        _verb(parts, cls.VERB)
        body = body_of(parts, "hello")
        return cls(get_int(body, "hello", "pid"), get_str(body, "hello", "name", ""),
                   get_int(body, "hello", "version", BUS_VERSION))


@dataclass(frozen=True, slots=True)
class _Text:
    VERB: ClassVar[bytes] = b""
    error: str

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"error": self.error})

    @classmethod
    def _decode(cls, parts: Sequence[bytes]) -> str:
        _verb(parts, cls.VERB)
        verb = cls.VERB.decode()
        return get_str(body_of(parts, verb), verb, "error")


@dataclass(frozen=True, slots=True)
class Fatal(_Text):
    """worker -> supervisor: the worker cannot go on (its medium or setup is unusable)."""

    VERB: ClassVar[bytes] = b"fatal"

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Fatal:
        return cls(cls._decode(parts))


@dataclass(frozen=True, slots=True)
class Error(_Text):
    """worker -> supervisor: something failed, logged ERROR (refused realtime, ...)."""

    VERB: ClassVar[bytes] = b"error"

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Error:
        return cls(cls._decode(parts))


@dataclass(frozen=True, slots=True)
class Warn(_Text):
    """worker -> supervisor: logged WARN (a medium write failed, rate-limited)."""

    VERB: ClassVar[bytes] = b"warn"

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Warn:
        return cls(cls._decode(parts))


@dataclass(frozen=True, slots=True)
class Stop:
    """supervisor -> worker: exit (the executor: after its calls; `kill`: kill them)."""

    VERB: ClassVar[bytes] = b"stop"
    kill: bool = False

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"kill": True} if self.kill else {})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Stop:
        _verb(parts, cls.VERB)
        return cls(get_bool(body_of(parts, "stop"), "stop", "kill"))


# --- link worker -> supervisor ------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkReady:
    """The medium is open; keepalives go out from now on."""

    VERB: ClassVar[bytes] = b"ready"
    pid: int
    form: str

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"pid": self.pid, "form": self.form})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> LinkReady:
        _verb(parts, cls.VERB)
        body = body_of(parts, "ready")
        return cls(get_int(body, "ready", "pid"), get_str(body, "ready", "form"))


@dataclass(frozen=True, slots=True)
class Rx:
    """An authentic frame (verified in C by the worker), as received, and
    the quiet keepalives of the same peer that came before it on this
    medium and are not on the heard board any more (`before`: the worker
    took their run off the board to send it here, in order)."""

    VERB: ClassVar[bytes] = b"rx"
    recv_ns: int
    """CLOCK_MONOTONIC at reception."""
    frame: bytes
    before: QuietRun | None = None

    def encode(self) -> list[bytes]:
        parts = [self.VERB, _TS.pack(self.recv_ns), self.frame]
        r = self.before
        if r is not None:
            parts.append(_RUN.pack(r.rx_before, r.first_seq, r.last_seq, r.last_ts,
                                   r.heard_ns, r.count))
        return parts

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Rx:
        if (len(parts) not in (3, 4) or parts[0] != cls.VERB or len(parts[1]) != 8
                or (len(parts) == 4 and len(parts[3]) != _RUN.size)):
            raise BusError("bus message 'rx' must be: rx <8-byte timestamp> <frame>"
                           f" [<{_RUN.size}-byte quiet run>]")
        before = None
        if len(parts) == 4:
            rx_before, first, last, ts, heard, count = _RUN.unpack(parts[3])
            if not 0 < first <= last or count < 1 or rx_before < 0:
                raise BusError(f"bus message 'rx': quiet run {first}..{last} of {count}"
                               f" after {rx_before} rx is not a run")
            before = QuietRun(rx_before, first, last, ts, heard, count)
        return cls(_TS.unpack(parts[1])[0], parts[2], before)


@dataclass(frozen=True, slots=True)
class RejectCount:
    """Frames rejected for one reason from one source since the last summary."""

    code: str
    """The C layer's error code name (or a worker's own, e.g. NOT_FROM_PEER)."""
    peer: str
    """The source address (`ip:port`), the serial device, or OTHER_SOURCES."""
    count: int
    example: str
    """The C layer's message for the last one: what was wrong with it."""

    def to_json(self) -> list[Any]:
        return [self.code, self.peer, self.count, self.example]

    @classmethod
    def from_json(cls, item: Any) -> RejectCount:
        if (not isinstance(item, list) or len(item) != 4 or not isinstance(item[0], str)
                or not isinstance(item[1], str) or type(item[2]) is not int or item[2] < 1
                or not isinstance(item[3], str)):
            raise BusError("bus message 'rejected': each count must be"
                           " [code, peer, count >= 1, example]")
        return cls(item[0], item[1], item[2], item[3])


OTHER_SOURCES = "other sources"
"""The peer of a RejectCount that sums every source past a worker's limit."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A summary of the frames a link worker rejected (never forwarded), sent at
    most once a second however many arrive, so a flood costs the supervisor
    one message a second, not one per datagram."""

    VERB: ClassVar[bytes] = b"rejected"
    counts: tuple[RejectCount, ...]
    total: int
    """Frames this worker has rejected since it started."""
    lost: int
    """Messages this worker dropped since it started because the bus was full
    (the supervisor is behind): it never waits for the supervisor."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"counts": [c.to_json() for c in self.counts],
                                "total": self.total, "lost": self.lost})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Rejected:
        _verb(parts, cls.VERB)
        body = body_of(parts, "rejected")
        counts = body.get("counts")
        if not isinstance(counts, list):
            raise BusError("bus message 'rejected': field 'counts' must be a list")
        return cls(tuple(RejectCount.from_json(c) for c in counts),
                   get_int(body, "rejected", "total"), get_int(body, "rejected", "lost", 0))


_last_content: tuple[Any, KeepaliveContent | None] = (None, None)


def _sent_content(body: Any) -> KeepaliveContent:
    """The content of a `sent` report. Every tick's report from every link
    (sent when metrics are exported) carries the same content until the
    node's state changes, so the last one
    checked is kept and an equal JSON object is not checked again (a dict
    comparison instead of the field-by-field validation: this runs for each
    keepalive of each medium)."""
    global _last_content
    seen, content = _last_content
    if content is not None and body == seen:
        return content
    content = KeepaliveContent.from_json(body, "bus message 'sent': field 'content'")
    _last_content = (body, content)
    return content


@dataclass(frozen=True, slots=True)
class Sent:
    """A keepalive this worker sent (or took a seq for, `written` false when
    its medium failed): `fields()` is exactly what went on the wire, for the
    supervisor's retransmission history."""

    VERB: ClassVar[bytes] = b"sent"
    seq: int
    ts: int
    ld: bytes
    tick: int
    written: bool
    content: KeepaliveContent
    """The content the keepalive was built from (not the supervisor's current one)."""
    late_us: int | None = None
    """How long after its scheduled tick it was written, in microseconds, as the
    worker measured it just before the write (the metrics' lateness histogram)."""

    def fields(self) -> list[Field]:
        return status_fields(self.content, self.seq, self.ts, self.ld)

    def encode(self) -> list[bytes]:
        body = {"seq": self.seq, "ts": self.ts, "ld": self.ld.decode("latin-1"),
                "tick": self.tick, "written": self.written, "content": self.content.to_json()}
        if self.late_us is not None:
            body["late_us"] = self.late_us
        return pack(self.VERB, body)

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Sent:
        _verb(parts, cls.VERB)
        body = body_of(parts, "sent")
        try:
            content = _sent_content(body.get("content"))
            ld = get_str(body, "sent", "ld").encode("latin-1")
        except (ContentError, UnicodeEncodeError) as exc:
            raise BusError(str(exc)) from None
        late = get_opt_int(body, "sent", "late_us")
        return cls(get_int(body, "sent", "seq"), get_int(body, "sent", "ts"), ld,
                   get_int(body, "sent", "tick"), get_bool(body, "sent", "written", True),
                   content, late)


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes a serial line threw away (outside `>>>`..`<<<`, cut, oversized)."""

    VERB: ClassVar[bytes] = b"junk"
    count: int
    """New junk bytes since the last report (JSON `bytes`)."""
    total: int

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"bytes": self.count, "total": self.total})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Junk:
        _verb(parts, cls.VERB)
        body = body_of(parts, "junk")
        return cls(get_int(body, "junk", "bytes"), get_int(body, "junk", "total", 0))


LinkReport = Hello | LinkReady | Rx | Rejected | Sent | Junk | Fatal | Error | Warn
_FROM_LINK: dict[bytes, Any] = {
    c.VERB: c for c in (Hello, LinkReady, Rx, Rejected, Sent, Junk, Fatal, Error, Warn)
}


def decode_link_report(parts: Sequence[bytes]) -> LinkReport:
    """Any message a link worker sends (`parts` without the sender's identity)."""
    cls = _FROM_LINK.get(parts[0]) if parts else None
    if cls is None:
        raise BusError(f"unknown verb {parts[0] if parts else b''!r}")
    message: LinkReport = cls.decode(parts)
    return message


# --- supervisor -> link worker ------------------------------------------------


MEDIUM_KINDS = ("bcast", "ucast", "mcast", "serial")


@dataclass(frozen=True, slots=True)
class MediumSpec:
    """The medium a link worker opens: one ha.cf media line."""

    kind: Literal["bcast", "ucast", "mcast", "serial"]
    name: str
    """The worker's name (`bcast eth1`), which its log lines carry."""
    dev: str
    """The interface (UDP) or the serial device."""
    port: int = 0
    """UDP port (not serial)."""
    baud: int = 0
    """Serial line speed (serial only)."""
    peer: str | None = None
    """ucast: the peer's address."""
    accept_from: tuple[str, ...] = ()
    """ucast: the only source addresses whose datagrams are verified (every
    ucast peer of ha.cf on this interface: the kernel hands a datagram to any
    one of the sockets bound to the port); others are dropped unread. Empty:
    `peer` alone."""
    group: str | None = None
    """mcast: the group."""
    ttl: int = 1
    """mcast: TTL."""
    loop: int = 0
    """mcast: loop back our own packets (0 or 1)."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "name": self.name, "dev": self.dev}
        if self.kind == "serial":
            body["baud"] = self.baud
            return body
        body["port"] = self.port
        if self.kind == "ucast":
            body["peer"] = self.peer
            body["accept_from"] = list(self.accept_from)
        if self.kind == "mcast":
            body.update(group=self.group, ttl=self.ttl, loop=self.loop)
        return body

    @classmethod
    def from_json(cls, body: Any) -> MediumSpec:
        v = "setup"
        if not isinstance(body, dict):
            raise _bad(v, "medium", "an object", body)
        kind = body.get("kind")
        if kind not in MEDIUM_KINDS:
            raise _bad(v, "medium.kind", f"one of {', '.join(MEDIUM_KINDS)}", kind)
        name, dev = get_str(body, v, "name"), get_str(body, v, "dev")
        if kind == "serial":
            return cls(kind, name, dev, baud=get_int(body, v, "baud"))
        port = get_int(body, v, "port")
        if kind == "ucast":
            peer = get_str(body, v, "peer")
            accept = body.get("accept_from", [])
            if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
                raise _bad(v, "medium.accept_from", "a list of addresses", accept)
            return cls(kind, name, dev, port, peer=peer, accept_from=tuple(accept))
        if kind == "mcast":
            return cls(kind, name, dev, port, group=get_str(body, v, "group"),
                       ttl=get_int(body, v, "ttl"), loop=get_int(body, v, "loop"))
        return cls(kind, name, dev, port)


@dataclass(frozen=True, slots=True)
class LinkSetup:
    """The answer to a link worker's hello: everything it needs to run but the
    keys, which come on its private key channel (hbeat/ipc/keychannel.py)."""

    VERB: ClassVar[bytes] = b"setup"
    medium: MediumSpec
    board: str
    """Path of the sequence board."""
    status: KeepaliveContent
    realtime: bool = False
    rtprio: int | None = None
    report_all: bool = True
    """Report every keepalive this worker sends (`sent`), not only the ticks
    it claimed, and forward every echo of its own keepalives (`rx`), not only
    the first: the supervisor asks for it when it exports metrics, which
    count both (docs/processes.md, "Fewer wake-ups")."""
    messages_before: int = 0
    """The supervisor's messages numbered up to this one are not this
    worker's to write (they went to the worker it replaces, or nowhere):
    its keepalives do not wait for them (the sequence board's message mark)."""
    heard: str = ""
    """Path of this worker's heard board ("": no quiet keepalives, every
    frame is forwarded; docs/processes.md, "Quiet keepalives")."""
    quiet_gap_ms: int = 0
    """A keepalive later than this after the peer's previous frame on the
    medium is forwarded, never quiet (the supervisor's warntime)."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {
            "medium": self.medium.to_json(), "board": self.board,
            "status": self.status.to_json(), "realtime": self.realtime, "rtprio": self.rtprio,
            "report_all": self.report_all, "messages_before": self.messages_before,
            "heard": self.heard, "quiet_gap_ms": self.quiet_gap_ms,
        })

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> LinkSetup:
        _verb(parts, cls.VERB)
        body = body_of(parts, "setup")
        try:
            status = KeepaliveContent.from_json(body.get("status"),
                                                "bus message 'setup': field 'status'")
        except ContentError as exc:
            raise BusError(str(exc)) from None
        return cls(MediumSpec.from_json(body.get("medium")),
                   get_str(body, "setup", "board"), status,
                   get_bool(body, "setup", "realtime"), get_opt_int(body, "setup", "rtprio"),
                   get_bool(body, "setup", "report_all", True),
                   get_int(body, "setup", "messages_before", 0),
                   get_str(body, "setup", "heard", ""),
                   _non_negative(get_int(body, "setup", "quiet_gap_ms", 0), "setup",
                                 "quiet_gap_ms"))


@dataclass(frozen=True, slots=True)
class Status:
    """New keepalive content (the worker rebuilds its template)."""

    VERB: ClassVar[bytes] = b"status"
    content: KeepaliveContent

    def encode(self) -> list[bytes]:
        return pack(self.VERB, self.content.to_json())

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Status:
        _verb(parts, cls.VERB)
        try:
            return cls(KeepaliveContent.from_json(body_of(parts, "status"),
                                                  "bus message 'status'"))
        except ContentError as exc:
            raise BusError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Send:
    """Write these bytes (a frame the supervisor encoded) as they are. `seq`:
    the number the supervisor took for it on the sequence board (0: none,
    an `NS_` message or a retransmission): a keepalive numbered above it
    waits for it (hb_ticker_write), so the medium carries numbers in order.
    On the wire `send <frame> <seq>`, the number in decimal."""

    VERB: ClassVar[bytes] = b"send"
    frame: bytes
    seq: int = 0

    def encode(self) -> list[bytes]:
        return [self.VERB, self.frame, b"%d" % self.seq]

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Send:
        if len(parts) != 3 or parts[0] != cls.VERB:
            raise BusError("bus message 'send' must be: send <frame> <seq>")
        raw = parts[2]
        if not raw.isdigit() or len(raw) > 18:
            raise BusError(f"bus message 'send': seq must be a decimal number of at most "
                           f"18 digits, not {raw[:24]!r}")
        return cls(parts[1], int(raw))


@dataclass(frozen=True, slots=True)
class Reschedule:
    """The keepalive interval changed (`systemctl reload`): read the schedule
    from the sequence board again, where the supervisor already moved it
    (SeqBoard.reschedule). New keys never come this way: hbeat/ipc/keychannel.py."""

    VERB: ClassVar[bytes] = b"reschedule"
    quiet_gap_ms: int = 0
    """The new gap of the quiet keepalives (LinkSetup.quiet_gap_ms; 0: unchanged)."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"quiet_gap_ms": self.quiet_gap_ms})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Reschedule:
        _verb(parts, cls.VERB)
        body = body_of(parts, "reschedule")
        return cls(_non_negative(get_int(body, "reschedule", "quiet_gap_ms", 0), "reschedule",
                                 "quiet_gap_ms"))


@dataclass(frozen=True, slots=True)
class Warm:
    """supervisor -> link worker: nothing to do. Sent when a peer's deadline
    is under 2 ms away: the worker's interpreter, asleep in its C wait for
    as long as the peers' keepalives were quiet, wakes once and runs its
    order path, so the `stonith` frame that may follow finds it warm
    (docs/processes.md, "Quiet keepalives")."""

    VERB: ClassVar[bytes] = b"warm"

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Warm:
        _verb(parts, cls.VERB)
        body_of(parts, "warm")
        return cls()


LinkOrder = LinkSetup | Status | Send | Reschedule | Stop | Warm
_TO_LINK: dict[bytes, Any] = {c.VERB: c for c in (LinkSetup, Status, Send, Reschedule, Stop,
                                                  Warm)}


def decode_link_order(parts: Sequence[bytes]) -> LinkOrder:
    """Any message the supervisor sends a link worker."""
    cls = _TO_LINK.get(parts[0]) if parts else None
    if cls is None:
        raise BusError(f"unknown verb {parts[0] if parts else b''!r}")
    message: LinkOrder = cls.decode(parts)
    return message
