"""ipfail's decision, built in: hand our groups to a peer that sees more ping nodes.

heartbeat admins ran the `ipfail` client (`respawn hacluster .../ipfail`):
when a node saw fewer ping nodes than its peer it did `hb_standby all`.
hbeat decides the same itself (docs/ipfail.md), pure here (time as a
parameter, no I/O):

* Each node tells its peer how many ping nodes it sees in an hbeat-only
  cluster message, `t=hbeat-pingcount count=N total=M` (`count_fields`;
  a heartbeat peer, like any node without a client for it, ignores it),
  whenever its count changes and when the peer comes (back) up.
* `tick` decides once both counts are known and neither has changed for
  `settle_ms`, and only while resources are stable: with fewer ping nodes
  than the peer, `GiveUp("all")`; with as many or more, nothing moves
  (with `auto_failback on`, a balanced count gives foreign groups back,
  `GiveUp("foreign")`, as ipfail did). A decision is taken once per pair
  of counts: nothing happens again until a count changes, so flapping
  counts never settle and never move anything, and with `auto_failback
  off` nothing moves back when connectivity returns (a balanced count).
* The peer's count is forgotten when it dies; a peer that sees fewer or as
  many ping nodes as we do never receives our groups.

Log lines use ipfail's words ("Giving up because we have less visible ping
nodes.", "Ping node count is balanced.", ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hbeat.logfmt import Level
from linklayer.message import Field

from .messages import F_TO, F_TYPE, Envelope, MessageError, s
from .rscactions import Log

T_PINGCOUNT = b"hbeat-pingcount"
F_COUNT = b"count"
F_TOTAL = b"total"
MAX_COUNT = 1024
RETRY_MS = 500
"""Due while resources are in transition: look again this much later."""


def count_fields(peer: str, count: int, total: int) -> tuple[Field, ...]:
    return (s(F_TYPE, T_PINGCOUNT), s(F_TO, peer), s(F_COUNT, str(count)),
            s(F_TOTAL, str(total)))


@dataclass(frozen=True, slots=True)
class PeerCount:
    src: str
    count: int
    total: int


def parse(env: Envelope) -> PeerCount | None:
    """The peer's count, None for another message type; MessageError when malformed."""
    if env.type != T_PINGCOUNT:
        return None
    what = T_PINGCOUNT.decode()
    try:
        count = int(env.require(F_COUNT, what).decode("ascii"), 10)
        total = int(env.require(F_TOTAL, what).decode("ascii"), 10)
    except (UnicodeDecodeError, ValueError):
        raise MessageError(f"{what} message from {env.src}: count and total must be "
                           "decimal numbers") from None
    if not 0 <= count <= total <= MAX_COUNT:
        raise MessageError(f"{what} message from {env.src}: count {count} of {total} "
                           f"is out of range (0 <= count <= total <= {MAX_COUNT})")
    return PeerCount(env.src, count, total)


@dataclass(frozen=True, slots=True)
class SendCount:
    """Tell the peer our count."""

    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class GiveUp:
    """`hb_standby <which>`: through the same standby exchange."""

    which: Literal["all", "foreign"]


Action = Log | SendCount | GiveUp


class IpFail:
    def __init__(self, peer: str, total: int, settle_ms: int, auto_failback: bool) -> None:
        self.peer = peer
        self.total = total
        self.settle_ms = settle_ms
        self.auto_failback = auto_failback
        self.local: int | None = None
        self.local_since = 0
        self.remote: int | None = None
        self.remote_since = 0
        self.decided = True  # nothing to decide until a count is known
        self.retry_at = 0

    def _changed(self) -> None:
        self.decided = False

    def local_count(self, count: int, now: int) -> list[Action]:
        if count == self.local:
            return []
        self.local, self.local_since = count, now
        self._changed()
        return [Log(Level.INFO, f"Asking other side for ping node count."
                                f" (we see {count} of {self.total})"),
                SendCount(count_fields(self.peer, count, self.total))]

    def peer_count(self, msg: PeerCount, now: int) -> list[Action]:
        if msg.src != self.peer or msg.count == self.remote:
            return []
        self.remote, self.remote_since = msg.count, now
        self._changed()
        return [Log(Level.INFO, f"{self.peer} sees {msg.count} of {msg.total} ping nodes.")]

    def peer_up(self) -> list[Action]:
        """The peer came (back): it gets our count (it may have forgotten it)."""
        if self.local is None:
            return []
        return [SendCount(count_fields(self.peer, self.local, self.total))]

    def peer_lost(self) -> None:
        self.remote = None
        self.decided = True

    def next_deadline(self) -> int | None:
        if self.decided or self.local is None or self.remote is None:
            return None
        return max(self.local_since + self.settle_ms, self.remote_since + self.settle_ms,
                   self.retry_at)

    def tick(self, now: int, stable: bool, held: str) -> list[Action]:
        """Decide when the counts have settled. `stable`: no resource
        transition under way; `held`: what `cl_status rscstatus` says."""
        due = self.next_deadline()
        if due is None or now < due:
            return []
        if not stable:
            self.retry_at = now + RETRY_MS
            return []
        local, remote = self.local, self.remote
        assert local is not None and remote is not None
        self.decided = True
        if local < remote:
            out: list[Action] = [Log(Level.INFO, f"Giving up because we have less visible "
                                                 f"ping nodes. ({local} here, {remote} on "
                                                 f"{self.peer})")]
            if held in ("all", "local", "foreign"):
                out.append(GiveUp("all"))
            else:
                out.append(Log(Level.INFO, "No resources to give up."))
            return out
        if local > remote:
            return [Log(Level.INFO, f"We have more visible ping nodes than {self.peer} "
                                    f"({local} here, {remote} there): keeping our resources.")]
        out = [Log(Level.INFO, f"Ping node count is balanced. ({local} on each node)")]
        if self.auto_failback and held in ("all", "foreign"):
            out += [Log(Level.INFO, "Giving up foreign resources (auto_failback)."),
                    GiveUp("foreign")]
        return out
