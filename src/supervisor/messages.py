"""Builders and parsers of the heartbeat messages membership speaks.

Messages are field tuples `(name, type, value)` as in `linklayer.message`.
Builders produce the message's own fields in the order heartbeat 3.0.6 puts
them on the wire (docs/heartbeat-protocol.md §1.3, §3, §4.1 and the captures in
tests/data/interop);
the default fields (`src`, `seq`, `hg`, ...) are added by
`sequencing.Sender.stamp`. Encodings: `seq`, `hg`, `ts`, `dt`, `ackseq` and
the nak's `firstseq` are lowercase hex; `NS_rexmit` `firstseq`/`lastseq`,
`protocol` and `ttl` are decimal.

Parsers turn a received field list into typed views and raise
`MessageError` naming the missing or malformed field, in heartbeat's words
where heartbeat has words for it (`process_clustermsg: missing from/ts/type`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hbeat.ipc.keepalive import status_head
from linklayer.message import BINARY, STRING, Field

T_STATUS = b"status"
T_REQNODES = b"reqnodes"
T_REPNODES = b"repnodes"
T_ACKMSG = b"NS_ackmsg"
T_REXMIT = b"NS_rexmit"
T_NAKREXMIT = b"NS_nak_rexmit"
NOSEQ_PREFIX = b"NS_"

F_TYPE = b"t"
F_ORIG = b"src"
F_ORIGUUID = b"srcuuid"
F_SEQ = b"seq"
F_HBGENERATION = b"hg"
F_TIME = b"ts"
F_LOAD = b"ld"
F_TTL = b"ttl"
F_TO = b"dest"
F_TOUUID = b"destuuid"
F_STATUS = b"st"
F_DT = b"dt"
F_PROTOCOL = b"protocol"
F_FIRSTSEQ = b"firstseq"
F_LASTSEQ = b"lastseq"
F_ACKSEQ = b"ackseq"
F_NODELIST = b"nodelist"
F_DELNODELIST = b"delnodelist"
F_COMMENT = b"info"

PROTOCOL_VERSION = 1
NAK_TOO_LOW = "seqno too low"
NAK_NOT_FOUND = "seqno not found"

_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_DEC = re.compile(rb"[0-9]{1,19}")
MAX_SEQ = 2**63 - 1


class MessageError(ValueError):
    """A received message that cannot be used; the text says which field and why."""


def s(name: bytes, value: bytes | str) -> Field:
    """A string field."""
    return (name, STRING, value.encode() if isinstance(value, str) else value)


def hexnum(n: int) -> bytes:
    """Lowercase hex without padding, as heartbeat's `%lx`."""
    if n < 0:
        raise ValueError(f"negative number {n} cannot be sent as hex")
    return format(n, "x").encode("ascii")


def decnum(n: int) -> bytes:
    return str(n).encode("ascii")


def parse_hex(value: bytes, what: str) -> int:
    if not _HEX.fullmatch(value):
        raise MessageError(f"bad {what} [{_show(value)}]: expected hexadecimal")
    n = int(value, 16)
    if n > MAX_SEQ:
        raise MessageError(f"bad {what} [{_show(value)}]: too large")
    return n


def parse_dec(value: bytes, what: str) -> int:
    if not _DEC.fullmatch(value):
        raise MessageError(f"bad {what} [{_show(value)}]: expected decimal")
    n = int(value)
    if n > MAX_SEQ:
        raise MessageError(f"bad {what} [{_show(value)}]: too large")
    return n


def _show(value: bytes, limit: int = 40) -> str:
    text = value[:limit].decode("ascii", "backslashreplace")
    return text + ("..." if len(value) > limit else "")


# What `node_name` accepts, as one pattern: ASCII, printable, no white space
# (the characters 0x21-0x7e), 1 to 100 of them.
_NODE_NAME = re.compile(rb"[\x21-\x7e]{1,100}")


def node_name(value: bytes, what: str) -> str:
    """A node name from the wire, lower-cased as heartbeat compares them."""
    if _NODE_NAME.fullmatch(value):
        return value.decode("ascii").lower()
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise MessageError(f"bad {what} [{_show(value)}]: not ASCII") from None
    if not text or len(text) > 100 or any(c.isspace() or not c.isprintable() for c in text):
        raise MessageError(f"bad {what} [{_show(value)}]: not a node name")
    return text.lower()


# --- builders ---------------------------------------------------------------


def status_fields(st: str, dt_ms: int, *, protocol: bool = True) -> tuple[Field, ...]:
    """`t=status st=<st> dt=<hex ms> [protocol=1]` (hbeat.ipc.keepalive, shared
    with the link workers' keepalives)."""
    return tuple(status_head(st, dt_ms, protocol))


def reqnodes_fields(dest: str) -> tuple[Field, ...]:
    """`t=reqnodes dest=<peer>`."""
    return (s(F_TYPE, T_REQNODES), s(F_TO, dest))


def format_nodelist(nodes: Sequence[str]) -> bytes:
    """Each name followed by one space (`a b `); an empty list is one space."""
    if not nodes:
        return b" "
    return "".join(f"{n} " for n in nodes).encode("ascii")


def repnodes_fields(
    dest: str, nodes: Sequence[str], delnodes: Sequence[str] = ()
) -> tuple[Field, ...]:
    """`dest=<requester> t=repnodes nodelist=<a b > delnodelist=< >` (dest first, as captured)."""
    return (
        s(F_TO, dest),
        s(F_TYPE, T_REPNODES),
        s(F_NODELIST, format_nodelist(nodes)),
        s(F_DELNODELIST, format_nodelist(delnodes)),
    )


def ackmsg_fields(dest: str, ackseq: int) -> tuple[Field, ...]:
    """`t=NS_ackmsg dest=<sender> ackseq=<hex>`."""
    return (s(F_TYPE, T_ACKMSG), s(F_TO, dest), s(F_ACKSEQ, hexnum(ackseq)))


def rexmit_fields(dest: str, firstseq: int, lastseq: int | None = None) -> tuple[Field, ...]:
    """`t=NS_rexmit dest=<holder> firstseq=<dec> lastseq=<dec>`."""
    last = firstseq if lastseq is None else lastseq
    return (
        s(F_TYPE, T_REXMIT),
        s(F_TO, dest),
        s(F_FIRSTSEQ, decnum(firstseq)),
        s(F_LASTSEQ, decnum(last)),
    )


def nak_rexmit_fields(dest: str, seq: int, info: str) -> tuple[Field, ...]:
    """`t=NS_nak_rexmit firstseq=<hex> dest=<requester> info=<reason>`."""
    return (
        s(F_TYPE, T_NAKREXMIT),
        s(F_FIRSTSEQ, hexnum(seq)),
        s(F_TO, dest),
        s(F_COMMENT, info),
    )


# --- parsers ----------------------------------------------------------------


def field_value(fields: Sequence[Field], name: bytes) -> bytes | None:
    """The value of the first field called `name`, or None."""
    for fname, _ftype, value in fields:
        if fname == name:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The control fields every cluster message carries, parsed.

    `type` is the raw `t` value; `src`/`dest` are lower-cased node names;
    `seq` is None only for `NS_*` types; `gen` is 0 when `hg` is absent.
    """

    type: bytes
    src: str
    ts: int
    seq: int | None
    gen: int
    srcuuid: bytes | None
    dest: str | None
    destuuid: bytes | None
    fields: tuple[Field, ...]

    @property
    def is_noseq(self) -> bool:
        return self.type.startswith(NOSEQ_PREFIX)

    def get(self, name: bytes) -> bytes | None:
        return field_value(self.fields, name)

    def require(self, name: bytes, context: str) -> bytes:
        value = self.get(name)
        if value is None:
            raise MessageError(
                f"{context}: {self.type.decode('ascii', 'replace')} message from {self.src} "
                f"has no {name.decode()} field"
            )
        return value


def _first_fields(fields: Sequence[Field]) -> dict[bytes, Field]:
    """Each field name's first field (what `field_value` finds), in one pass."""
    first: dict[bytes, Field] = {}
    for f in fields:
        if f[0] not in first:
            first[f[0]] = f
    return first


def _uuid_of(first: dict[bytes, Field], name: bytes) -> bytes | None:
    """The first `name` field's value, which must be 16 binary bytes."""
    f = first.get(name)
    if f is None:
        return None
    if f[1] != BINARY or len(f[2]) != 16:
        raise MessageError(f"bad {name.decode()}: expected 16 binary bytes")
    return f[2]


def parse_envelope(fields: Sequence[Field], *, iface: str = "?") -> Envelope:
    """Check and parse the control fields (heartbeat's process_clustermsg checks).

    It runs for every frame the supervisor receives, so it looks each field
    up in one pass over the message (`_first_fields`: the first field of a
    name counts, as `field_value` says)."""
    fields = tuple(fields)
    first = _first_fields(fields)
    f = first.get(F_TYPE)
    t = None if f is None else f[2]
    f = first.get(F_ORIG)
    src = None if f is None else f[2]
    f = first.get(F_TIME)
    ts = None if f is None else f[2]
    if t is None or src is None or ts is None or not t:
        who = _show(src) if src is not None else "<?>"
        missing = [n.decode() for n, v in ((F_ORIG, src), (F_TIME, ts), (F_TYPE, t)) if not v]
        raise MessageError(
            f"process_clustermsg: missing from/ts/type: iface {iface}, from {who} "
            f"(no {', '.join(missing)})"
        )
    srcname = node_name(src, "src")
    try:
        tsval = parse_hex(ts, "ts")
    except MessageError as exc:
        raise MessageError(f"process_clustermsg: iface {iface}, from {srcname}: {exc}") from None
    if tsval == 0:
        raise MessageError(f"process_clustermsg: iface {iface}, from {srcname}: ts is 0")
    f = first.get(F_SEQ)
    cseq = None if f is None else f[2]
    seq: int | None = None
    if cseq is not None:
        try:
            seq = parse_hex(cseq, "seq")
        except MessageError:
            raise MessageError(
                f"process_clustermsg: has bad cseq: iface {iface}, from {srcname} [{_show(cseq)}]"
            ) from None
        if seq == 0:
            raise MessageError(
                f"should_drop_message: bad sequence number: iface {iface}, from {srcname} [0]"
            )
    elif not t.startswith(NOSEQ_PREFIX):
        raise MessageError(f"process_clustermsg: missing seqno: iface {iface}, from {srcname}")
    f = first.get(F_HBGENERATION)
    cgen = None if f is None else f[2]
    gen = 0
    if cgen is not None:
        try:
            gen = parse_hex(cgen, "hg")
        except MessageError:
            raise MessageError(
                f"should_drop_message: bad generation number: iface {iface}, from {srcname} "
                f"[{_show(cgen)}]"
            ) from None
    f = first.get(F_TO)
    dest = node_name(f[2], "dest") if f is not None else None
    try:
        srcuuid = _uuid_of(first, F_ORIGUUID)
        destuuid = _uuid_of(first, F_TOUUID)
    except MessageError as exc:
        raise MessageError(f"process_clustermsg: iface {iface}, from {srcname}: {exc}") from None
    return Envelope(t, srcname, tsval, seq, gen, srcuuid, dest, destuuid, fields)


@dataclass(frozen=True, slots=True)
class StatusView:
    st: str
    dt_ms: int | None
    protocol: int | None


STATUS_VALUES = frozenset({"init", "up", "active", "dead"})


def parse_status(env: Envelope) -> StatusView:
    st_raw = env.get(F_STATUS)
    if st_raw is None:
        raise MessageError(f"HBDoMsg_T_STATUS: status update without st field (from {env.src})")
    st = st_raw.decode("ascii", "replace")
    if st not in STATUS_VALUES:
        raise MessageError(
            f"HBDoMsg_T_STATUS: status update from {env.src} with unknown st [{_show(st_raw)}]"
        )
    dt_raw = env.get(F_DT)
    dt = parse_hex(dt_raw, f"dt from {env.src}") if dt_raw is not None else None
    proto_raw = env.get(F_PROTOCOL)
    proto = parse_dec(proto_raw, f"protocol from {env.src}") if proto_raw is not None else None
    return StatusView(st, dt, proto)


def parse_ackseq(env: Envelope) -> int:
    return parse_hex(env.require(F_ACKSEQ, "HBDoMsg_T_ACKMSG"), f"ackseq from {env.src}")


@dataclass(frozen=True, slots=True)
class RexmitView:
    firstseq: int
    lastseq: int


def parse_rexmit(env: Envelope) -> RexmitView:
    first = env.get(F_FIRSTSEQ)
    last = env.get(F_LASTSEQ)
    if first is None or last is None:
        raise MessageError(f"Invalid rexmit seqnos from {env.src}: missing firstseq/lastseq")
    try:
        fseq = parse_dec(first, "firstseq")
        lseq = parse_dec(last, "lastseq")
    except MessageError as exc:
        raise MessageError(f"Invalid rexmit seqnos from {env.src}: {exc}") from None
    if fseq <= 0 or lseq <= 0 or fseq > lseq:
        raise MessageError(f"Invalid rexmit seqnos from {env.src}: [{fseq}:{lseq}]")
    return RexmitView(fseq, lseq)


@dataclass(frozen=True, slots=True)
class NakView:
    seq: int
    info: str


def parse_nak(env: Envelope) -> NakView:
    raw = env.get(F_FIRSTSEQ)
    if raw is None:
        raise MessageError(f"should_drop_message: bad nak seq number (none, from {env.src})")
    try:
        seq = parse_hex(raw, "firstseq")
    except MessageError:
        raise MessageError(
            f"should_drop_message: bad nak seq number [{_show(raw)}] from {env.src}"
        ) from None
    if seq <= 0:
        raise MessageError(f"should_drop_message: bad nak seq number [0] from {env.src}")
    info = (env.get(F_COMMENT) or b"").decode("ascii", "replace")
    return NakView(seq, info)


def parse_nodelist(value: bytes, what: str) -> tuple[str, ...]:
    """Names separated by blanks/tabs (the trailing space is optional)."""
    return tuple(node_name(tok, what) for tok in value.replace(b"\t", b" ").split(b" ") if tok)


@dataclass(frozen=True, slots=True)
class RepnodesView:
    nodes: tuple[str, ...] | None
    delnodes: tuple[str, ...] | None


def parse_repnodes(env: Envelope) -> RepnodesView:
    nl = env.get(F_NODELIST)
    dl = env.get(F_DELNODELIST)
    return RepnodesView(
        parse_nodelist(nl, f"nodelist from {env.src}") if nl is not None else None,
        parse_nodelist(dl, f"delnodelist from {env.src}") if dl is not None else None,
    )
