"""Builders and parsers of heartbeat's resource messages
(docs/heartbeat-protocol.md §5.2).

Builders return a message's own fields in the order real heartbeat 3.0.6
puts them on the wire (checked against tests/data/interop/frames); the
default fields (`src`, `seq`, `hg`, `ts`, ...) are added by
`Membership.send`. All values are strings:

=================  ==========================================================
`t=`               fields after `t`, in wire order
=================  ==========================================================
`starting`         (none)
`resource`         `rsc_hold=none|local|foreign|all rtype=full isstable=0|1`
                   `[info=...]`; the mach_down variant sent by heartbeat's
                   scripts is only `rsc_hold=foreign info=mach_down`
`ask_resources`    `rsc_hold=all|local|foreign info=me|other|done`
`hb_takeover`      `rsc_hold=all|local|foreign|failback`
`ip-request`       `ipaddr=<group key>`
`ip-request-resp`  `dest=<requester> ipaddr=<key> weown=yes|no ok=OK` (we also
                   send `ok=no`: "I could not stop it, do not take it"; any
                   value but `OK` is a refusal, as for 3.0.6's rc.d script)
`shutdone`         `st=dead`
`stonith`          `node=<name> result=OK|badhost|bad|n_stnth|unneeded`
=================  ==========================================================

`parse_resource_message` turns a delivered `Envelope` of one of these types
into a typed view and raises `MessageError` naming the sender, the type and
the missing or bad field. Holdings are the two-bit set heartbeat uses
(`Hold`): LOCAL = groups whose haresources line names the sender, FOREIGN =
the others, always from the *sender's* point of view.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from linklayer.message import Field

from .messages import (
    F_COMMENT,
    F_STATUS,
    F_TO,
    F_TYPE,
    Envelope,
    MessageError,
    field_value,
    node_name,
    s,
)

T_STARTING = b"starting"
T_RESOURCES = b"resource"
T_ASKRESOURCES = b"ask_resources"
T_HBTAKEOVER = b"hb_takeover"
T_IPREQUEST = b"ip-request"
T_IPREQRESP = b"ip-request-resp"
T_SHUTDONE = b"shutdone"
T_STONITH = b"stonith"

RESOURCE_TYPES = frozenset(
    {
        T_STARTING,
        T_RESOURCES,
        T_ASKRESOURCES,
        T_HBTAKEOVER,
        T_IPREQUEST,
        T_IPREQRESP,
        T_SHUTDONE,
        T_STONITH,
    }
)

F_RESOURCES = b"rsc_hold"
F_RTYPE = b"rtype"
F_ISSTABLE = b"isstable"
F_IPADDR = b"ipaddr"
F_WEOWN = b"weown"
F_OK = b"ok"
F_NODE = b"node"
F_RESULT = b"result"

INFO_REQ_OUR = "req_our_resources()"
INFO_STANDBY = "standby"
INFO_SHUTDOWN = "shutdown"
INFO_MACH_DOWN = "mach_down"
ASK_ME = "me"
ASK_OTHER = "other"
ASK_DONE = "done"
ASK_INFOS = frozenset({ASK_ME, ASK_OTHER, ASK_DONE})
STONITH_RESULTS = frozenset({"OK", "badhost", "bad", "n_stnth", "unneeded"})


class Hold(enum.IntFlag):
    """heartbeat's resource holding bits (`rsc_hold`)."""

    NONE = 0
    LOCAL = 1
    FOREIGN = 2
    ALL = 3

    @property
    def word(self) -> str:
        return _HOLD_WORDS[int(self)]

    def mirrored(self) -> Hold:
        """The same groups seen from the other node of a pair (local <-> foreign)."""
        out = Hold.NONE
        if self & Hold.LOCAL:
            out |= Hold.FOREIGN
        if self & Hold.FOREIGN:
            out |= Hold.LOCAL
        return out


_HOLD_WORDS = ("none", "local", "foreign", "all")
_WORD_HOLDS = {w: Hold(i) for i, w in enumerate(_HOLD_WORDS)}
TAKEOVER_WORDS = frozenset({"all", "local", "foreign", "failback"})


def hold_from_word(word: str) -> Hold:
    try:
        return _WORD_HOLDS[word]
    except KeyError:
        raise ValueError(
            f"bad resource holding [{word}]: expected none, local, foreign or all"
        ) from None


# --- builders ---------------------------------------------------------------


def starting_fields() -> tuple[Field, ...]:
    """`t=starting`."""
    return (s(F_TYPE, T_STARTING),)


def resource_fields(hold: Hold, stable: bool, info: str | None = None) -> tuple[Field, ...]:
    """`t=resource rsc_hold=<hold> rtype=full isstable=<0|1> [info=<info>]`."""
    fields = [
        s(F_TYPE, T_RESOURCES),
        s(F_RESOURCES, hold.word),
        s(F_RTYPE, "full"),
        s(F_ISSTABLE, "1" if stable else "0"),
    ]
    if info is not None:
        fields.append(s(F_COMMENT, info))
    return tuple(fields)


def mach_down_fields() -> tuple[Field, ...]:
    """`t=resource rsc_hold=foreign info=mach_down` (what heartbeat's mach_down script sends)."""
    return (s(F_TYPE, T_RESOURCES), s(F_RESOURCES, "foreign"), s(F_COMMENT, INFO_MACH_DOWN))


def ask_resources_fields(which: Hold, info: str) -> tuple[Field, ...]:
    """`t=ask_resources rsc_hold=<set> info=me|other|done`."""
    if info not in ASK_INFOS:
        raise ValueError(f"bad ask_resources info [{info}]")
    if which is Hold.NONE:
        raise ValueError("ask_resources needs a non-empty set")
    return (s(F_TYPE, T_ASKRESOURCES), s(F_RESOURCES, which.word), s(F_COMMENT, info))


def hb_takeover_fields(which: str) -> tuple[Field, ...]:
    """`t=hb_takeover rsc_hold=all|local|foreign|failback`."""
    if which not in TAKEOVER_WORDS:
        raise ValueError(f"bad hb_takeover set [{which}]")
    return (s(F_TYPE, T_HBTAKEOVER), s(F_RESOURCES, which))


def ip_request_fields(key: str) -> tuple[Field, ...]:
    """`t=ip-request ipaddr=<group key>` (legacy: "please give this group up")."""
    return (s(F_TYPE, T_IPREQUEST), s(F_IPADDR, key))


def ip_request_resp_fields(dest: str, key: str, weown: bool, ok: bool = True) -> tuple[Field, ...]:
    """`t=ip-request-resp dest=<requester> ipaddr=<key> weown=yes|no ok=OK|no`.

    `ok=no` (ours) refuses the group: we could not stop it. heartbeat 3.0.6's
    rc.d/ip-request-resp runs `takegroup` only for `ok=OK`, so a 3.0.6
    requester does not take it either."""
    return (
        s(F_TYPE, T_IPREQRESP),
        s(F_TO, dest),
        s(F_IPADDR, key),
        s(F_WEOWN, "yes" if weown else "no"),
        s(F_OK, "OK" if ok else "no"),
    )


def hands_group_to(fields: tuple[Field, ...], node: str) -> bool:
    """Whether a message of ours tells `node` to start a group we gave up: an
    `ip-request-resp` addressed to it with `ok=OK`."""
    return (field_value(fields, F_TYPE) == T_IPREQRESP
            and field_value(fields, F_TO) == node.encode()
            and field_value(fields, F_OK) == b"OK")


def shutdone_fields() -> tuple[Field, ...]:
    """`t=shutdone st=dead`."""
    return (s(F_TYPE, T_SHUTDONE), s(F_STATUS, "dead"))


def stonith_fields(node: str, result: str) -> tuple[Field, ...]:
    """`t=stonith node=<dead node> result=<result>`."""
    if result not in STONITH_RESULTS:
        raise ValueError(f"bad stonith result [{result}]")
    return (s(F_TYPE, T_STONITH), s(F_NODE, node), s(F_RESULT, result))


# --- parsers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Starting:
    src: str


@dataclass(frozen=True, slots=True)
class ResourceReport:
    """A `resource` message. `full` is False for the script variant (no rtype/isstable)."""

    src: str
    hold: Hold
    full: bool
    stable: bool
    info: str | None


@dataclass(frozen=True, slots=True)
class AskResources:
    src: str
    which: Hold
    info: str


@dataclass(frozen=True, slots=True)
class HbTakeover:
    src: str
    which: str


@dataclass(frozen=True, slots=True)
class IpRequest:
    src: str
    key: str


@dataclass(frozen=True, slots=True)
class IpRequestResp:
    src: str
    dest: str
    key: str
    weown: bool
    ok: bool


@dataclass(frozen=True, slots=True)
class Shutdone:
    src: str


@dataclass(frozen=True, slots=True)
class Stonith:
    src: str
    node: str
    result: str


ResourceMessage = (
    Starting
    | ResourceReport
    | AskResources
    | HbTakeover
    | IpRequest
    | IpRequestResp
    | Shutdone
    | Stonith
)


def _text(env: Envelope, name: bytes) -> str:
    raw = env.require(name, "resource message")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise _bad(env, name, raw, "not ASCII") from None


def _bad(env: Envelope, name: bytes, raw: bytes, why: str) -> MessageError:
    shown = raw[:40].decode("ascii", "backslashreplace")
    return MessageError(
        f"{env.type.decode('ascii', 'replace')} message from {env.src}: bad "
        f"{name.decode()} [{shown}]: {why}"
    )


def _hold(env: Envelope, *, allow_none: bool = True) -> Hold:
    word = _text(env, F_RESOURCES)
    hold = _WORD_HOLDS.get(word)
    if hold is None or (hold is Hold.NONE and not allow_none):
        expected = "none, local, foreign or all" if allow_none else "local, foreign or all"
        raise _bad(env, F_RESOURCES, word.encode(), f"expected {expected}")
    return hold


def parse_resource_message(env: Envelope) -> ResourceMessage | None:
    """The typed view of a resource message, or None if `env` is of another type."""
    t = env.type
    if t == T_STARTING:
        return Starting(env.src)
    if t == T_RESOURCES:
        hold = _hold(env)
        info_raw = env.get(F_COMMENT)
        info = info_raw.decode("ascii", "replace") if info_raw is not None else None
        rtype = env.get(F_RTYPE)
        stable_raw = env.get(F_ISSTABLE)
        if rtype is None and stable_raw is None:
            return ResourceReport(env.src, hold, False, False, info)
        if rtype != b"full":
            raise _bad(env, F_RTYPE, rtype or b"", "expected full")
        if stable_raw not in (b"0", b"1"):
            raise _bad(env, F_ISSTABLE, stable_raw or b"", "expected 0 or 1")
        return ResourceReport(env.src, hold, True, stable_raw == b"1", info)
    if t == T_ASKRESOURCES:
        which = _hold(env, allow_none=False)
        info = _text(env, F_COMMENT)
        if info not in ASK_INFOS:
            raise _bad(env, F_COMMENT, info.encode(), "expected me, other or done")
        return AskResources(env.src, which, info)
    if t == T_HBTAKEOVER:
        which_word = _text(env, F_RESOURCES)
        if which_word not in TAKEOVER_WORDS:
            raise _bad(
                env, F_RESOURCES, which_word.encode(), "expected all, local, foreign or failback"
            )
        return HbTakeover(env.src, which_word)
    if t == T_IPREQUEST:
        key = _text(env, F_IPADDR)
        if not key:
            raise _bad(env, F_IPADDR, b"", "empty group key")
        return IpRequest(env.src, key)
    if t == T_IPREQRESP:
        dest = node_name(env.require(F_TO, "ip-request-resp"), f"dest from {env.src}")
        key = _text(env, F_IPADDR)
        weown_word = _text(env, F_WEOWN)
        if weown_word not in ("yes", "no"):
            raise _bad(env, F_WEOWN, weown_word.encode(), "expected yes or no")
        ok = env.get(F_OK) == b"OK"
        return IpRequestResp(env.src, dest, key, weown_word == "yes", ok)
    if t == T_SHUTDONE:
        return Shutdone(env.src)
    if t == T_STONITH:
        node = node_name(env.require(F_NODE, "stonith"), f"node from {env.src}")
        result = _text(env, F_RESULT)
        if result not in STONITH_RESULTS:
            raise _bad(env, F_RESULT, result.encode(), "unknown stonith result")
        return Stonith(env.src, node, result)
    return None


__all__ = [
    "ASK_DONE",
    "ASK_ME",
    "ASK_OTHER",
    "INFO_MACH_DOWN",
    "INFO_REQ_OUR",
    "INFO_SHUTDOWN",
    "INFO_STANDBY",
    "RESOURCE_TYPES",
    "AskResources",
    "HbTakeover",
    "Hold",
    "IpRequest",
    "IpRequestResp",
    "ResourceMessage",
    "ResourceReport",
    "Shutdone",
    "Starting",
    "Stonith",
    "ask_resources_fields",
    "hands_group_to",
    "hb_takeover_fields",
    "hold_from_word",
    "ip_request_fields",
    "ip_request_resp_fields",
    "mach_down_fields",
    "parse_resource_message",
    "resource_fields",
    "shutdone_fields",
    "starting_fields",
    "stonith_fields",
]
