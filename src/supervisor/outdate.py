"""DRBD peer outdating between hbeat nodes (what dopd did for heartbeat), pure.

Two cluster messages (docs/self-fencing.md, "Outdating the DRBD peer"); they are
signed, numbered, retransmitted and sent on every medium (serial included)
like every other cluster message:

    t=hbeat-outdate     dest=<peer>  drbd_resource=<res>  reqid=<hex>
    t=hbeat-outdate-rc  dest=<asker> drbd_resource=<res>  reqid=<hex>  rc=<code>

The asker is the node whose DRBD called `hbeat outdate-peer` (through the
control API: `outdate-peer`, then `outdate-peer-result` until done). The
peer runs `drbdadm outdate <res>` through its executor and answers with
the fence-peer code (hbeat.drbdfence). heartbeat 3.0.6 nodes ignore both
types. `Outdater` keeps both sides' bookkeeping, with time as a parameter:

* asking: a dead (or unknown) peer is answered at once (5); otherwise the
  request goes out and the answer is awaited until the handler's timeout
  (5 when it passes). Answers for unknown requests are ignored.
* answering: one `drbdadm outdate` per (asker, reqid): a retransmitted or
  repeated request while it runs is not run again; the answer of a finished
  one is sent again. An invalid resource name is answered 1 without running
  anything.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hbeat import drbdfence as df
from hbeat.logfmt import Level
from linklayer.message import Field

from .messages import F_TO, F_TYPE, Envelope, MessageError, s

T_OUTDATE = b"hbeat-outdate"
T_OUTDATE_RC = b"hbeat-outdate-rc"
F_RESOURCE = b"drbd_resource"
F_REQID = b"reqid"
F_RC = b"rc"
KEEP_RESULTS_MS = 120_000
MAX_ANSWERED = 256
MAX_PENDING = 64


def request_fields(peer: str, resource: str, reqid: int) -> tuple[Field, ...]:
    return (s(F_TYPE, T_OUTDATE), s(F_TO, peer), s(F_RESOURCE, resource),
            s(F_REQID, f"{reqid:x}"))


def answer_fields(asker: str, resource: str, reqid: int, code: int) -> tuple[Field, ...]:
    return (s(F_TYPE, T_OUTDATE_RC), s(F_TO, asker), s(F_RESOURCE, resource),
            s(F_REQID, f"{reqid:x}"), s(F_RC, str(code)))


@dataclass(frozen=True, slots=True)
class Request:
    src: str
    resource: str
    reqid: int


@dataclass(frozen=True, slots=True)
class Answer:
    src: str
    resource: str
    reqid: int
    code: int


def parse(env: Envelope) -> Request | Answer | None:
    """The typed message, None for other types; MessageError when malformed."""
    if env.type not in (T_OUTDATE, T_OUTDATE_RC):
        return None
    what = env.type.decode()
    try:
        resource = env.require(F_RESOURCE, what).decode("ascii")
        reqid = int(env.require(F_REQID, what), 16)
        if env.type == T_OUTDATE:
            return Request(env.src, resource, reqid)
        code = int(env.require(F_RC, what))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"{what} message from {env.src}: bad field: {exc}") from None
    return Answer(env.src, resource, reqid, code)


@dataclass
class Asked:
    peer: str
    resource: str
    deadline: int
    code: int | None = None
    why: str = ""
    done_at: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class RunOutdate:
    """Run `drbdadm outdate <resource>` (op_id < 0: not a resource-machine call)."""

    op_id: int
    resource: str


@dataclass(frozen=True, slots=True)
class Note:
    level: Level
    text: str


Effect = Send | RunOutdate | Note


@dataclass
class Outdater:
    me: str
    asked: dict[int, Asked] = field(default_factory=dict)
    running: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    answered: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ops: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- asking (our DRBD's fence-peer handler) ------------------------------

    def ask(self, resource: str, peer: str, peer_alive: bool, timeout_ms: int,
            now: int) -> tuple[int, list[Effect]]:
        self._expire(now)
        reqid = next(self._ids)
        entry = Asked(peer, resource, now + timeout_ms)
        self.asked[reqid] = entry
        if not peer_alive:
            self._finish(entry, df.PEER_UNREACHABLE, f"{peer} is dead", now)
            return reqid, [Note(Level.WARN, f"outdate-peer {resource}: {peer} is dead: "
                                        f"answering {df.PEER_UNREACHABLE}")]
        return reqid, [Send(request_fields(peer, resource, reqid)),
                       Note(Level.INFO, f"outdate-peer {resource}: asking {peer} to outdate "
                                    "its disk")]

    def result(self, reqid: int, now: int) -> Asked | None:
        entry = self.asked.get(reqid)
        if entry is not None and entry.code is None and now >= entry.deadline:
            self._finish(entry, df.PEER_UNREACHABLE,
                         f"no answer from {entry.peer} in time", now)
        return entry

    def on_answer(self, msg: Answer, now: int) -> list[Effect]:
        entry = self.asked.get(msg.reqid)
        if (entry is None or entry.code is not None or entry.peer != msg.src
                or entry.resource != msg.resource):
            return []
        code = msg.code if msg.code in df.MEANING else df.FAILED
        self._finish(entry, code, f"{msg.src}: {df.MEANING[code]}", now)
        return [Note(Level.INFO, f"outdate-peer {msg.resource}: {msg.src} answered {code} "
                             f"({df.MEANING[code]})")]

    def _finish(self, entry: Asked, code: int, why: str, now: int) -> None:
        entry.code, entry.why, entry.done_at = code, why, now

    def _expire(self, now: int) -> None:
        for reqid, entry in list(self.asked.items()):
            if entry.code is not None and now - entry.done_at > KEEP_RESULTS_MS:
                del self.asked[reqid]

    # --- answering (the peer asks us) ----------------------------------------

    def on_request(self, msg: Request) -> list[Effect]:
        key = (msg.src, msg.reqid)
        done = self.answered.get(key)
        if done is not None:
            return [Send(answer_fields(msg.src, done[0], msg.reqid, done[1]))]
        if any(r[:2] == (msg.src, msg.resource) and r[2] == msg.reqid
               for r in self.running.values()):
            return []
        if not df.valid_resource(msg.resource):
            self._remember(key, msg.resource, df.FAILED)
            return [Send(answer_fields(msg.src, msg.resource[:64], msg.reqid, df.FAILED)),
                    Note(Level.ERROR, f"{msg.src} asked to outdate an invalid DRBD resource "
                                  f"name {msg.resource[:64]!r}: refused")]
        if len(self.running) >= MAX_PENDING:
            return [Note(Level.ERROR, f"{msg.src}: too many outdate requests at once; "
                                  "this one is ignored")]
        op_id = -next(self._ops)
        self.running[op_id] = (msg.src, msg.resource, msg.reqid)
        return [RunOutdate(op_id, msg.resource),
                Note(Level.INFO, f"{msg.src} asks to outdate DRBD resource {msg.resource}")]

    def outdate_done(self, op_id: int, rc: int | None) -> list[Effect]:
        job = self.running.pop(op_id, None)
        if job is None:
            return []
        asker, resource, reqid = job
        code = df.code_for_drbdadm(rc)
        self._remember((asker, reqid), resource, code)
        return [Send(answer_fields(asker, resource, reqid, code)),
                Note(Level.INFO, f"drbdadm outdate {resource}: exit {rc}: answering {asker} "
                             f"{code} ({df.MEANING[code]})")]

    def _remember(self, key: tuple[str, int], resource: str, code: int) -> None:
        self.answered[key] = (resource, code)
        while len(self.answered) > MAX_ANSWERED:
            del self.answered[next(iter(self.answered))]


__all__ = ["Answer", "Asked", "Note", "Outdater", "Request", "RunOutdate", "Send", "parse"]
