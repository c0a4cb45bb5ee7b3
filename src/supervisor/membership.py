"""Cluster membership as a pure, clock-injected state machine
(docs/heartbeat-protocol.md §3, §4).

`Membership` owns, for one node: the state of every node in ha.cf
(init/up/active/dead), of every (node, medium) link (up/dead), the local
status (init -> up -> active at comm-up), initdead until comm is up,
warntime/deadtime ("Late heartbeat", "node X: is dead"), the reqnodes /
repnodes exchange, the advertised `dt`, partition-heal detection, and via
`sequencing` the seq/generation/retransmission/ACK protocol.

It is driven by an event loop: every method takes `now`, integer monotonic
milliseconds, and returns a list of actions (dataclasses below); nothing
here reads a clock, sleeps or does I/O. `next_deadline()` says when `tick()`
must run next; deaths are decided exactly at their deadline (last heard +
dead interval), not on a poll.

Choices that differ from heartbeat 3.0.6, and why:

* Dead interval of a peer (docs/heartbeat-protocol.md §10 item 8): heartbeat uses
  whatever `dt` the peer advertises. We use
  `min(max(deadtime, dt), deadtime + dt_grace_max_ms)` (default grace
  30000 ms). A peer can never make us declare it dead sooner than our own
  deadtime (no false failover from a typo), its legitimate temporary
  extensions (+2000 ms at start, +30000 ms while restarting) are honoured
  exactly as a real 3.0.6 peer expects, and a bogus huge `dt` delays
  failover by at most the grace. A `dt` outside that range is logged once.
* A link's dead interval is its node's dead interval (heartbeat uses the
  one of the last node in ha.cf, a quirk).
* Link liveness: any authentic message that is new *on that link* (its seq
  is above the highest seen there in this generation, or it is an `NS_*`
  message for us) marks the link up, including copies that are duplicates
  cluster-wide and messages addressed to other nodes. Replays (an older seq
  on that link) never do.
* "Late heartbeat ... (> deadtime)" compares with the node's dead interval,
  so a late status that arrives before the node's deadline cannot kill it.
* Partition heal is reported (`PartitionHealed` + heartbeat's log lines);
  nothing restarts.
* A peer heard for the first time in its generation (it started, restarted
  or came back from the dead) gets our status at once, besides our ticks:
  its comm-up (and the resource negotiation behind it) then waits for one
  round trip, not for our next keepalive (up to `keepalive`). One extra
  ordinary status per admission; a 3.0.6 peer takes it like any other.
* `repnodes` naming other nodes than ha.cf is logged; the node table stays
  the one of ha.cf (autojoin none).
* The local node is never timed out here: its liveness is the supervisor
  lease's job. Its links turn up when its own frames loop back
  (bcast/mcast) and never time out, as in heartbeat.
* Replay and forgery (docs/security.md, rules in `replayguard`): a peer is
  *admitted* by a status; until then (after our start, after its death)
  nothing else of it is delivered or answered, and only a status that is
  newer (the heal path) or of a higher generation re-admits it. A status
  that (re)admits must be stamped within `max_clock_skew` of our wall clock,
  announce a plausible generation and, first after our start, be newer than
  the record kept in the state directory. Any message stamped further
  ahead than the skew is refused. `NS_*` messages are accepted only from
  the admitted generation, and at a limited rate per peer and type.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hbeat.logfmt import Level
from linklayer.message import Field

from . import messages as m
from .replayguard import (
    DEFAULT_MAX_CLOCK_SKEW_MS,
    DropLog,
    PeerRecord,
    TokenBucket,
    clock_refusal,
    generation_refusal,
    record_refusal,
)
from .sequencing import MAX_REXMIT_BATCH, Counters, PeerTracker, Sender, Verdict

INIT = "init"
UP = "up"
ACTIVE = "active"
DEAD = "dead"
LINK_UP = "up"
LINK_DEAD = "dead"

STARTUP_DT_BOOST_MS = 2000
# NS_* budget per peer and type: (capacity, refill per second). A rexmit
# request costs the number of messages it asks for (at most a batch).
NS_LIMITS: dict[bytes, tuple[float, float]] = {
    m.T_REXMIT: (4.0 * MAX_REXMIT_BATCH, 2.0 * MAX_REXMIT_BATCH),
    m.T_ACKMSG: (20.0, 10.0),
    m.T_NAKREXMIT: (20.0, 10.0),
}
NS_OTHER_LIMIT = (20.0, 10.0)
MAX_HELD = 64  # messages of a dead peer kept for its heal
STARTUP_DT_WINDOW_MS = 5000
REQNODES_RETRY_MS = 1000


# --- actions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send these fields (already stamped: src, seq, hg, ts, ...) on every medium."""

    fields: tuple[Field, ...]
    dest: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Resend:
    """Retransmit a message from the history, fields unchanged (same seq and ts)."""

    seq: int
    fields: tuple[Field, ...]
    requester: str


@dataclass(frozen=True, slots=True)
class Log:
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class NodeStateChanged:
    node: str
    old: str
    new: str
    reason: str = field(default="", compare=False)
    """Why, in words for an operator (docs/status-feed.md, node events)."""


@dataclass(frozen=True, slots=True)
class LinkStateChanged:
    node: str
    medium: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class CommUp:
    """Comm is up: the local status is now active."""


@dataclass(frozen=True, slots=True)
class NodeDead:
    node: str


@dataclass(frozen=True, slots=True)
class PeerRestarted:
    node: str
    old_gen: int
    new_gen: int


@dataclass(frozen=True, slots=True)
class PartitionHealed:
    node: str


@dataclass(frozen=True, slots=True)
class KeepaliveChanged:
    """The content link workers must put in their keepalives changed."""

    st: str
    dt_ms: int
    protocol: bool
    status_seq: int  # the status message this content follows (0: none sent yet)


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message for the upper layers (resource manager): in order, for us, not membership's."""

    node: str
    message: m.Envelope
    medium: str | None
    local: bool = False


Action = (
    SendMessage
    | Resend
    | Log
    | NodeStateChanged
    | LinkStateChanged
    | CommUp
    | NodeDead
    | PeerRestarted
    | PartitionHealed
    | KeepaliveChanged
    | Deliver
)


# --- configuration and state ------------------------------------------------


@dataclass(frozen=True, slots=True)
class MembershipConfig:
    """The timing and topology membership needs (from ha.cf). Times in ms.

    `nodes` lists every `node` of ha.cf in order (the local one included);
    `media` the medium names as heartbeat names links (`eth1`, `/dev/ttyS0`).
    `warntime_ms`/`initdead_ms` left None get heartbeat's defaults (4.3).
    """

    local: str
    nodes: tuple[str, ...]
    media: tuple[str, ...]
    keepalive_ms: int = 1000
    deadtime_ms: int = 30000
    warntime_ms: int | None = None
    initdead_ms: int | None = None
    max_rexmit_delay_ms: int = 250
    hopfudge: int = 1
    dt_grace_max_ms: int = 30000
    send_keepalives: bool = False
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS

    def __post_init__(self) -> None:
        if self.local != self.local.lower() or any(n != n.lower() for n in self.nodes):
            raise ValueError("node names must be lower-case")
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError(f"duplicate node names in {list(self.nodes)}")
        if self.local not in self.nodes:
            raise ValueError(f"local node {self.local!r} is not among the nodes {list(self.nodes)}")
        if len(set(self.media)) != len(self.media):
            raise ValueError(f"duplicate medium names in {list(self.media)}")
        if (self.keepalive_ms <= 0 or self.deadtime_ms <= 0 or self.max_rexmit_delay_ms <= 0
                or self.max_clock_skew_ms <= 0):
            raise ValueError("keepalive, deadtime, max_rexmit_delay and max_clock_skew must "
                             "be positive")
        if self.deadtime_ms <= 2 * self.keepalive_ms:
            raise ValueError(
                f"Dead time [{self.deadtime_ms}] is too small compared to keeplive "
                f"[{self.keepalive_ms}]"
            )
        if self.initdead < self.deadtime_ms:
            raise ValueError(
                f"Initial dead time [{self.initdead}] is smaller than deadtime [{self.deadtime_ms}]"
            )

    @property
    def warntime(self) -> int:
        return self.warntime_ms if self.warntime_ms is not None else self.deadtime_ms // 2

    @property
    def initdead(self) -> int:
        if self.initdead_ms is not None:
            return self.initdead_ms
        if self.deadtime_ms > 10000:
            return self.deadtime_ms
        if self.deadtime_ms < 6000:
            return 12000
        return 2 * self.deadtime_ms

    @property
    def ttl(self) -> int:
        return self.hopfudge + len(self.nodes)


@dataclass
class LinkInfo:
    medium: str
    status: str = LINK_DEAD
    last_heard: int | None = None
    highest_seq: int = 0


@dataclass
class NodeInfo:
    name: str
    tracker: PeerTracker
    links: dict[str, LinkInfo]
    status: str = INIT
    uuid: bytes | None = None
    heard: bool = False  # heartbeat's anypacketsyet
    last_status: int | None = None  # local time of the last accepted status
    rmt_lastupdate: int = 0  # its ts of that status
    advertised_dt: int | None = None
    dt_warned: bool = False
    admitted: bool = False  # a status of its current generation was accepted
    admitted_once: bool = False  # ... at least once since our start
    record: PeerRecord | None = None  # what the state directory knew at our start
    buckets: dict[bytes, TokenBucket] = field(default_factory=dict)
    # Messages newer than any seen, sent while we held it dead: delivered in
    # order if a newer status re-admits it (the heal), forgotten otherwise.
    held: dict[int, tuple[m.Envelope, str]] = field(default_factory=dict)


class Membership:
    """The membership state machine of one node. See the module docstring."""

    def __init__(
        self,
        config: MembershipConfig,
        *,
        generation: int,
        uuid: bytes,
        now: int,
        wall_s: float,
        rng: random.Random,
        allocate_seq: Callable[[bool], int] | None = None,
        issued_seq: Callable[[], int] | None = None,
        records: Mapping[str, PeerRecord] | None = None,
    ) -> None:
        """`records`: the peers' generation and ts kept from an earlier run."""
        self.config = config
        self.drop_log = DropLog()
        self.rng = rng
        self.counters = Counters()
        self.sender = Sender(
            config.local,
            uuid,
            generation,
            config.ttl,
            allocate_seq=allocate_seq,
            issued_seq=issued_seq,
            max_rexmit_delay=config.max_rexmit_delay_ms,
        )
        self._start = now
        self._wall0 = wall_s
        self.load = b"n/a"
        self.flow_control = True
        self.status_seq = 0  # seq of the last status message sent (KeepaliveChanged)
        self.linksup = False  # heartbeat's COMM_LINKSUP: initdead no longer applies
        self.comm_up = False
        self.started = False
        self._dt_boost_until: int | None = None
        self._reqnodes_due: int | None = None
        self._reqnodes_index = 0
        self._next_keepalive: int | None = None
        self.nodes: dict[str, NodeInfo] = {}
        for name in config.nodes:
            tracker = PeerTracker(
                name,
                ack_trigger=rng.randrange(10),
                max_rexmit_delay=config.max_rexmit_delay_ms,
            )
            self.nodes[name] = NodeInfo(
                name, tracker, {md: LinkInfo(md) for md in config.media}, last_status=now
            )
        for name, record in (records or {}).items():
            if name in self.nodes and name != config.local:
                self.nodes[name].record = record
        me = self.nodes[config.local]
        me.uuid = uuid
        me.heard = True
        me.last_status = None
        me.admitted = True

    # --- queries ------------------------------------------------------------

    @property
    def local(self) -> str:
        return self.config.local

    @property
    def local_status(self) -> str:
        return self.nodes[self.local].status

    @property
    def generation(self) -> int:
        return self.sender.generation

    def node_status(self, node: str) -> str:
        return self._node(node).status

    def last_status_at(self, node: str) -> int | None:
        """When a status of `node` was last accepted (our start until one is)."""
        return self._node(node).last_status

    def link_status(self, node: str, medium: str) -> str:
        info = self._node(node).links.get(medium)
        if info is None:
            raise KeyError(f"no medium {medium!r} (media: {', '.join(self.config.media)})")
        return info.status

    def _node(self, node: str) -> NodeInfo:
        info = self.nodes.get(node.lower())
        if info is None:
            raise KeyError(f"no node {node!r} in ha.cf (nodes: {', '.join(self.config.nodes)})")
        return info

    def advertised_dt(self, now: int) -> int:
        """The `dt` we put in our status: deadtime, +2000 ms during our first 5 s."""
        if self._dt_boost_until is not None and now < self._dt_boost_until:
            return self.config.deadtime_ms + STARTUP_DT_BOOST_MS
        return self.config.deadtime_ms

    def keepalive_content(self, now: int) -> KeepaliveChanged:
        return KeepaliveChanged(self.local_status, self.advertised_dt(now), self.flow_control,
                                self.status_seq)

    def dead_interval(self, node: str) -> int:
        """How long `node` may stay silent before it is dead (and each of its links)."""
        if not self.linksup:
            return self.config.initdead
        return self._guarded_dt(self._node(node))

    def _guarded_dt(self, info: NodeInfo) -> int:
        dt = self.config.deadtime_ms
        if info.advertised_dt is not None:
            dt = min(max(dt, info.advertised_dt), dt + self.config.dt_grace_max_ms)
        return dt

    def node_deadline(self, node: str) -> int | None:
        info = self._node(node)
        if info.name == self.local or info.status == DEAD or info.last_status is None:
            return None
        return info.last_status + self.dead_interval(info.name)

    def link_deadline(self, node: str, medium: str) -> int | None:
        info = self._node(node)
        link = info.links[medium]
        if info.name == self.local or link.status != LINK_UP or link.last_heard is None:
            return None
        return link.last_heard + self.dead_interval(info.name)

    def next_deadline(self, now: int) -> int | None:
        """When `tick` must run next (None: nothing scheduled). May be <= now.

        The earliest of every `node_deadline` and `link_deadline`, the peers'
        retransmission requests and our own timers. The supervisor asks twice
        on every turn of its loop, so this is those functions inlined over
        each node once (tests/supervisor/membership/test_membership.py checks that it
        agrees with them)."""
        best: int | None = None
        local = self.local
        initdead = None if self.linksup else self.config.initdead
        for info in self.nodes.values():
            if info.name != local:
                dead = self._guarded_dt(info) if initdead is None else initdead
                last = info.last_status
                if info.status != DEAD and last is not None:
                    best = last + dead if best is None else min(best, last + dead)
                for link in info.links.values():
                    heard = link.last_heard
                    if link.status == LINK_UP and heard is not None:
                        best = heard + dead if best is None else min(best, heard + dead)
            if info.tracker.missing:
                r = info.tracker.next_request()
                if r is not None:
                    best = r if best is None else min(best, r)
        for t in (self._dt_boost_until, self._reqnodes_due, self._next_keepalive):
            if t is not None:
                best = t if best is None else min(best, t)
        return best

    def wall(self, now: int) -> int:
        """Epoch seconds for `ts`, derived from the monotonic clock (never goes back)."""
        return max(1, int(self._wall0 + (now - self._start) / 1000))

    # --- sending ------------------------------------------------------------

    def send(self, fields: Sequence[Field], now: int) -> list[Action]:
        """Stamp and send a cluster message (for upper layers too).

        A message for us (no `dest`, or `dest` = local) is also delivered
        locally, as heartbeat loops its own messages back.
        """
        stamped = self._stamp(fields, now)
        dest = m.field_value(stamped, m.F_TO)
        dest_name = dest.decode("ascii", "replace").lower() if dest is not None else None
        raw_seq = m.field_value(stamped, m.F_SEQ)
        seq = int(raw_seq, 16) if raw_seq is not None else None
        actions: list[Action] = [SendMessage(stamped, dest_name, seq)]
        t = m.field_value(stamped, m.F_TYPE) or b""
        if (dest_name is None or dest_name == self.local) and t not in _MEMBERSHIP_TYPES:
            env = m.parse_envelope(stamped, iface="<local>")
            actions.append(Deliver(self.local, env, None, local=True))
        return actions

    def _stamp(self, fields: Sequence[Field], now: int) -> tuple[Field, ...]:
        dest = m.field_value(fields, m.F_TO)
        dest_uuid = None
        if dest is not None:
            peer = self.nodes.get(dest.decode("ascii", "replace").lower())
            dest_uuid = peer.uuid if peer is not None else None
        return self.sender.stamp(
            fields, now=now, wall_s=self.wall(now), load=self.load, dest_uuid=dest_uuid
        )

    def _send_status(self, now: int) -> list[Action]:
        fields = m.status_fields(
            self.local_status, self.advertised_dt(now), protocol=self.flow_control
        )
        stamped = self._stamp(fields, now)
        raw_seq = m.field_value(stamped, m.F_SEQ)
        if raw_seq is not None:
            self.status_seq = int(raw_seq, 16)
        return [
            SendMessage(stamped, None, int(raw_seq, 16) if raw_seq is not None else None),
            self.keepalive_content(now),
        ]

    def retime(self, keepalive_ms: int, deadtime_ms: int, warntime_ms: int,
               initdead_ms: int, now: int) -> list[Action]:
        """New timers from a reread ha.cf (the supervisor's SIGHUP). Deadlines
        are computed from the timers, so every node and link is judged by the
        new ones at once; a new deadtime goes out in our keepalives' `dt`.
        Raises ValueError (and changes nothing) for timers membership refuses."""
        self.config = replace(self.config, keepalive_ms=keepalive_ms, deadtime_ms=deadtime_ms,
                              warntime_ms=warntime_ms, initdead_ms=initdead_ms)
        return [self.keepalive_content(now)]

    def keepalive_sent(self, fields: Sequence[Field], now: int) -> None:
        """A link worker sent this stamped keepalive: keep it for retransmission."""
        self.sender.record(fields)
        self.nodes[self.local].last_status = now

    # --- start --------------------------------------------------------------

    def start(self, now: int) -> list[Action]:
        """Begin: first status (init), then up; comm may be up at once (one node)."""
        if self.started:
            raise RuntimeError("membership already started")
        self.started = True
        self._dt_boost_until = now + STARTUP_DT_WINDOW_MS
        actions: list[Action] = []
        actions += self._send_status(now)
        actions += self._set_local_status(UP, now, "started")
        if self.config.send_keepalives:
            self._next_keepalive = now + self.config.keepalive_ms
        for info in self.nodes.values():
            if info.name != self.local:
                info.last_status = now
        actions += self._check_comm_isup(now)
        return actions

    def _set_local_status(self, status: str, now: int, reason: str) -> list[Action]:
        me = self.nodes[self.local]
        old = me.status
        if old == status:
            return [Log(Level.INFO, f"Unable to set local status to: {status}")]
        me.status = status
        actions: list[Action] = self._send_status(now)
        actions.append(Log(Level.INFO, f"Local status now set to: '{status}'"))
        actions.append(NodeStateChanged(self.local, old, status, reason))
        return actions

    # --- timers -------------------------------------------------------------

    def tick(self, now: int) -> list[Action]:
        """Run everything due at `now`: deaths, dead links, rexmit requests, timers."""
        actions: list[Action] = []
        if not self.started:
            return actions
        for info in self.nodes.values():
            d = self.node_deadline(info.name)
            if d is not None and now >= d:
                silent = self.dead_interval(info.name)
                why = (f"no keepalive on any link for {silent} ms (deadtime)" if self.linksup
                       else f"not heard within initdead ({silent} ms)")
                actions += self._mark_dead(info, now, why)
        for info in self.nodes.values():
            for md, link in info.links.items():
                ld = self.link_deadline(info.name, md)
                if ld is not None and now >= ld:
                    actions += self._set_link(info, link, LINK_DEAD)
        for info in self.nodes.values():
            alive = info.status in (UP, ACTIVE)
            for seq in info.tracker.due_requests(now, alive):
                actions += self._send(m.rexmit_fields(info.name, seq), now)
                self.counters.rexmit_requests_sent += 1
        if self._dt_boost_until is not None and now >= self._dt_boost_until:
            self._dt_boost_until = None
            actions += self._send_status(now)
        if self._next_keepalive is not None and now >= self._next_keepalive:
            behind = (now - self._next_keepalive) // self.config.keepalive_ms + 1
            self._next_keepalive += behind * self.config.keepalive_ms
            actions += self._send_status(now)
        if self._reqnodes_due is not None and now >= self._reqnodes_due:
            actions += self._send_reqnodes(now)
        actions += self._check_comm_isup(now)
        return actions

    def _send(self, fields: Sequence[Field], now: int) -> list[Action]:
        stamped = self._stamp(fields, now)
        raw_seq = m.field_value(stamped, m.F_SEQ)
        dest = m.field_value(stamped, m.F_TO)
        return [
            SendMessage(
                stamped,
                dest.decode("ascii", "replace") if dest is not None else None,
                int(raw_seq, 16) if raw_seq is not None else None,
            )
        ]

    def _mark_dead(self, info: NodeInfo, now: int, reason: str) -> list[Action]:
        old = info.status
        actions: list[Action] = [Log(Level.WARN, f"node {info.name}: is dead")]
        info.status = DEAD
        info.admitted = False
        info.heard = False
        info.rmt_lastupdate = 0
        # Its holes are given up, but its last seq is kept (heartbeat forgets
        # it): a replay stays old, and what it sends before the status that
        # heals it is held (`_hold`) and delivered after the heal.
        info.tracker.missing.clear()
        info.held.clear()
        self.sender.forget_peer(info.name)
        self.counters.deaths += 1
        actions.append(NodeStateChanged(info.name, old, DEAD, reason))
        actions.append(NodeDead(info.name))
        return actions

    def _set_link(self, info: NodeInfo, link: LinkInfo, status: str) -> list[Action]:
        old = link.status
        link.status = status
        return [
            Log(Level.INFO, f"Link {info.name}:{link.medium} {status}."),
            LinkStateChanged(info.name, link.medium, old, status),
        ]

    # --- comm up ------------------------------------------------------------

    def _check_comm_isup(self, now: int) -> list[Action]:
        if self.linksup or not self.started:
            return []
        if not all(i.heard or i.status == DEAD for i in self.nodes.values()):
            return []
        self.linksup = True
        if self.flow_control:
            self._reqnodes_index = 0
            return self._send_reqnodes(now)
        return self._comm_now_up(now)

    def _send_reqnodes(self, now: int) -> list[Action]:
        self._reqnodes_due = None
        if self.comm_up:
            return []
        names = list(self.config.nodes)
        start = self._reqnodes_index if self._reqnodes_index < len(names) else 0
        for i in range(start, len(names)):
            info = self.nodes[names[i]]
            if info.name != self.local and info.status != DEAD:
                self._reqnodes_index = i
                self._reqnodes_due = now + REQNODES_RETRY_MS
                return self._send(m.reqnodes_fields(info.name), now)
        return self._comm_now_up(now)

    def _comm_now_up(self, now: int) -> list[Action]:
        self._reqnodes_due = None
        if self.comm_up:
            return []
        self.comm_up = True
        self.linksup = True
        actions: list[Action] = [Log(Level.INFO, "Comm_now_up(): updating status to active")]
        actions += self._set_local_status(ACTIVE, now, "comm up")
        actions.append(CommUp())
        return actions

    # --- receiving ----------------------------------------------------------

    def receive(
        self, fields: Sequence[Field], medium: str, now: int, wall_s: float | None = None
    ) -> list[Action]:
        """An authentic message arrived on `medium` (a name from config.media).

        `wall_s` is the wall clock (epoch seconds) for the clock-skew rules;
        by default the one derived from the monotonic clock since the start."""
        if medium not in self.config.media:
            raise KeyError(f"no medium {medium!r} (media: {', '.join(self.config.media)})")
        self.counters.received += 1
        try:
            env = m.parse_envelope(fields, iface=medium)
        except m.MessageError as exc:
            self.counters.malformed += 1
            return [Log(Level.ERROR, str(exc))]
        info = self.nodes.get(env.src)
        if info is None:
            self.counters.unknown_node += 1
            return [Log(Level.ERROR, f"process_status_message: bad node [{env.src}] in message")]
        if not self.started:
            return []
        link = info.links[medium]
        if info.name == self.local:
            self.counters.own_messages += 1
            if link.status != LINK_UP:
                return self._set_link(info, link, LINK_UP)
            return []
        wall = wall_s if wall_s is not None else self._wall0 + (now - self._start) / 1000
        refused = self._guard(info, env, wall, now)
        if refused is not None:
            self._hold(info, env, medium, wall)
            return refused
        if env.srcuuid is not None:
            info.uuid = env.srcuuid
        info.heard = True
        try:
            actions = self._receive_from_peer(info, link, env, now)
        except m.MessageError as exc:
            self.counters.malformed += 1
            actions = [Log(Level.ERROR, str(exc))]
        if info.held and info.admitted:
            held, info.held = sorted(info.held.items()), {}
            for _seq, (henv, hmedium) in held:
                if henv.gen != info.tracker.generation:
                    continue  # held for a generation that no status admitted
                try:
                    actions += self._receive_from_peer(info, info.links[hmedium], henv, now)
                except m.MessageError as exc:
                    self.counters.malformed += 1
                    actions.append(Log(Level.ERROR, str(exc)))
        actions += self._check_comm_isup(now)
        return actions

    def _hold(self, info: NodeInfo, env: m.Envelope, medium: str, wall_s: float) -> None:
        """Keep a refused message that a status may yet admit, to deliver it
        then: a dead peer's that is newer than anything it sent before (never a
        replay of what we saw), in case a newer status heals it; and one of a
        generation newer than the peer's we know (a restart, or our start),
        whose status it overtook (another link, the bus's order). Refused for
        good, it would leave a hole asked for again and again, and the answer,
        the same bytes the link worker already forwarded, would be refused by
        its replay filter every time."""
        if env.seq is None or env.type == m.T_STATUS or len(info.held) >= MAX_HELD:
            return
        last = info.tracker.last_seq
        healing = (info.status == DEAD and env.gen == info.tracker.generation
                   and last is not None and env.seq > last)
        overtaking = env.gen > info.tracker.generation and clock_refusal(
            env.ts, wall_s, self.config.max_clock_skew_ms, admitting=False) is None
        if healing or overtaking:
            info.held.setdefault(env.seq, (env, medium))

    def _refuse(self, counter: str, reason: str, text: str, now: int,
                level: Level = Level.WARN, *, quiet: bool = False) -> list[Action]:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        if quiet:
            return []
        line = self.drop_log.admit(reason, text, now)
        return [Log(level, line)] if line is not None else []

    def _guard(
        self, info: NodeInfo, env: m.Envelope, wall_s: float, now: int
    ) -> list[Action] | None:
        """The replay and forgery rules (docs/security.md): None admits the
        message to sequence tracking, a list (maybe empty) refuses it."""
        skew = self.config.max_clock_skew_ms
        tracker = info.tracker
        is_status = env.type == m.T_STATUS and env.seq is not None
        # Before its first status after our start a peer's other messages are
        # normal (they overtake the status): counted, not logged.
        starting = not info.admitted_once and info.status == INIT
        admitting = is_status and (not info.admitted or env.gen != tracker.generation)
        why = clock_refusal(env.ts, wall_s, skew, admitting=admitting)
        if why is not None:
            return self._refuse(
                "refused_clock", f"clock {info.name}",
                f"node {info.name}: {env.type.decode(errors='replace')} message {why}: "
                f"refused; synchronise the clocks (NTP) or raise max_clock_skew", now)
        if env.seq is None:  # NS_*
            if not info.admitted or env.gen != tracker.generation:
                return self._refuse(
                    "ns_refused", f"ns {info.name}",
                    f"node {info.name}: {env.type.decode(errors='replace')} of generation "
                    f"{env.gen} refused: {info.name} is {info.status} with generation "
                    f"{tracker.generation}" + ("" if info.admitted else " (not admitted)"),
                    now, Level.INFO, quiet=starting)
            cost = 1.0
            if env.type == m.T_REXMIT:
                try:
                    req = m.parse_rexmit(env)
                except m.MessageError:
                    return None  # reported as malformed further on
                cost = float(min(max(1, req.lastseq - req.firstseq + 1), MAX_REXMIT_BATCH))
            kind = env.type if env.type in NS_LIMITS else b"NS_*"  # one bucket for the rest
            bucket = info.buckets.get(kind)
            if bucket is None:
                capacity, rate = NS_LIMITS.get(kind, NS_OTHER_LIMIT)
                bucket = info.buckets[kind] = TokenBucket(capacity, rate)
            if not bucket.take(now, cost):
                return self._refuse(
                    "ns_limited", f"ns-rate {info.name}",
                    f"node {info.name}: too many {env.type.decode(errors='replace')} "
                    f"messages: dropped", now)
            return None
        if not is_status:
            if env.gen < tracker.generation:
                return None  # the tracker drops it as a replay, in heartbeat's words
            if not info.admitted or env.gen != tracker.generation:
                return self._refuse(
                    "refused_unadmitted", f"unadmitted {info.name}",
                    f"node {info.name}: {env.type.decode(errors='replace')} message of "
                    f"generation {env.gen} not delivered: {info.name} is {info.status}"
                    + ("" if info.admitted else ", no status of it accepted yet")
                    + f" (generation {tracker.generation})", now, Level.INFO,
                    quiet=starting)
            return None
        if not admitting:
            return None
        known = max(tracker.generation, info.record.generation if info.record else 0)
        why = generation_refusal(env.gen, known, wall_s, skew)
        if why is None and not info.admitted_once:
            why = record_refusal(env.ts, info.record)
            if why is not None:
                return self._refuse("refused_old", f"old {info.name}",
                                    f"node {info.name}: {why}: refused", now)
        if why is not None:
            return self._refuse("refused_generation", f"generation {info.name}",
                                f"node {info.name}: {why}: status refused", now, Level.ERROR)
        return None

    def peer_records(self) -> dict[str, PeerRecord]:
        """The generation and newest status ts of every peer, to keep across restarts."""
        out: dict[str, PeerRecord] = {}
        for info in self.nodes.values():
            if info.name == self.local:
                continue
            if info.admitted_once and info.tracker.generation > 0:
                out[info.name] = PeerRecord(info.tracker.generation, info.tracker.status_ts)
            elif info.record is not None:
                out[info.name] = info.record
        return out

    def _is_to_us(self, env: m.Envelope) -> bool:
        if env.destuuid is not None:
            return env.destuuid == self.sender.uuid
        return env.dest is None or env.dest == self.local

    def _link_fresh(self, info: NodeInfo, link: LinkInfo, now: int) -> list[Action]:
        link.last_heard = now
        if link.status != LINK_UP:
            return self._set_link(info, link, LINK_UP)
        return []

    def _receive_from_peer(
        self, info: NodeInfo, link: LinkInfo, env: m.Envelope, now: int
    ) -> list[Action]:
        actions: list[Action] = []
        to_us = self._is_to_us(env)
        if env.seq is None:  # NS_* types
            if env.type == m.T_NAKREXMIT:
                nak = m.parse_nak(env)
                if env.dest is None or env.dest == self.local:
                    self.counters.irretrievable += 1
                    actions.append(
                        Log(
                            Level.ERROR,
                            f"Irretrievably lost packet: node {info.name} seq {nak.seq}",
                        )
                    )
                _was_hole, logs = info.tracker.give_up(nak.seq)
                actions += [Log(lv, tx) for lv, tx in logs]
                return actions
            if not to_us:
                self.counters.not_for_us += 1
                return actions
            actions += self._link_fresh(info, link, now)
            if env.type == m.T_ACKMSG:
                self.counters.acks_received += 1
                if self.flow_control:
                    ack = m.parse_ackseq(env)
                    actions += [Log(lv, tx) for lv, tx in self.sender.on_ack(info.name, ack)]
            elif env.type == m.T_REXMIT:
                self.counters.rexmit_requests_received += 1
                actions += self._answer_rexmit(info, env, now)
            else:
                self.counters.delivered += 1
                actions.append(Deliver(info.name, env, link.medium))
            return actions

        seq = env.seq
        is_status = env.type == m.T_STATUS
        old_gen = info.tracker.generation
        result = info.tracker.track(
            seq,
            env.gen,
            is_status=is_status,
            node_dead=info.status == DEAD,
            now=now,
            rng=self.rng,
            ts=env.ts,
        )
        actions += [Log(lv, tx) for lv, tx in result.logs]
        verdict = result.verdict
        if verdict is Verdict.REPLAY:
            self.counters.replays += 1
            return actions
        if verdict is Verdict.STALE:
            self.counters.stale += 1
            return actions
        if result.restarted_from is not None:
            # What its new generation sent before this status waits to be delivered.
            info.held = {k: v for k, v in info.held.items() if v[0].gen == env.gen}
            for lk in info.links.values():
                lk.highest_seq = 0
            self.sender.forget_peer(info.name)
            info.last_status = None
            info.rmt_lastupdate = 0
            info.tracker.status_seqno = 0
            if old_gen > 0:
                self.counters.restarts += 1
                actions.append(PeerRestarted(info.name, old_gen, env.gen))
        if result.healed:
            self.counters.partitions_healed += 1
            actions += [
                Log(Level.CRIT, f"Cluster node {info.name} returning after partition."),
                Log(
                    Level.INFO,
                    "For information on cluster partitions, See URL: "
                    "http://linux-ha.org/wiki/Split_Brain",
                ),
                Log(Level.WARN, "Deadtime value may be too small."),
                Log(Level.INFO, "See FAQ for information on tuning deadtime."),
                Log(Level.INFO, "URL: http://linux-ha.org/wiki/FAQ#Heavy_Load"),
                PartitionHealed(info.name),
            ]
        if result.lost:
            self.counters.lost_packets += result.lost
        if verdict is Verdict.RESET and result.lost:
            self.counters.lost_a_lot += 1
        if verdict is Verdict.FILLED:
            self.counters.holes_filled += 1
        if seq > link.highest_seq:
            link.highest_seq = seq
            actions += self._link_fresh(info, link, now)
        if result.ack is not None:
            actions += self._send(m.ackmsg_fields(info.name, result.ack), now)
            self.counters.acks_sent += 1
        if verdict is Verdict.DUPLICATE or verdict is Verdict.OLD:
            self.counters.duplicates += 1
            return actions
        if not to_us:
            self.counters.not_for_us += 1
            return actions
        if is_status:
            newcomer = not info.admitted or result.restarted_from is not None
            actions += self._on_status(info, env, now)
            if newcomer and info.admitted and self.started:
                # A peer heard for the first time in its generation (it just
                # started, or came back): our status at once, not at our next
                # tick, so its comm-up, and the resource negotiation behind
                # it, need not wait up to a keepalive interval for us. Once per
                # admission; an ordinary status message, as on a state change.
                actions += self._send_status(now)
        elif env.type == m.T_REQNODES:
            actions += self._send(m.repnodes_fields(info.name, self.config.nodes), now)
        elif env.type == m.T_REPNODES:
            actions += self._on_repnodes(info, env, now)
        else:
            self.counters.delivered += 1
            actions.append(Deliver(info.name, env, link.medium))
        return actions

    def _answer_rexmit(self, info: NodeInfo, env: m.Envelope, now: int) -> list[Action]:
        req = m.parse_rexmit(env)
        answer = self.sender.answer_rexmit(info.name, req.firstseq, req.lastseq, now)
        actions: list[Action] = []
        for lv, tx in answer.logs:  # one line per second per kind, the rest counted
            line = self.drop_log.admit(f"rexmit {lv.name} {tx.split(' ', 2)[:2]}", tx, now)
            if line is not None:
                actions.append(Log(lv, line))
        for seq, fields in answer.resend:
            self.counters.resent += 1
            actions.append(Resend(seq, fields, info.name))
        for seq, reason in answer.naks[:MAX_REXMIT_BATCH]:
            self.counters.naks_sent += 1
            actions += self._send(m.nak_rexmit_fields(info.name, seq, reason), now)
        return actions

    def _on_status(self, info: NodeInfo, env: m.Envelope, now: int) -> list[Action]:
        view = m.parse_status(env)
        seq = env.seq if env.seq is not None else 0
        # Heartbeat drops an older status only when both its ts and its seq are
        # older; ts has one-second resolution, so an "up" and the "active" that
        # follows it in the same second, arriving out of order on two media
        # (one link opened later than the other), would set the node back to
        # "up". Within one generation seq alone orders a node's messages (the
        # tracker resets status_seqno when the peer restarts), so seq decides.
        if seq < info.tracker.status_seqno:
            self.counters.stale += 1
            return []
        actions: list[Action] = []
        if view.protocol is None and self.flow_control:
            self.flow_control = False
            for peer in self.nodes.values():
                peer.tracker.flow_control = False
            actions.append(
                Log(Level.INFO, "flow control disabled due to different version heartbeat")
            )
            actions.append(self.keepalive_content(now))
        if info.last_status is not None:
            interval = now - info.last_status
            if interval > self.dead_interval(info.name):
                self.counters.late_heartbeats += 1
                actions.append(
                    Log(
                        Level.CRIT,
                        f"Late heartbeat: Node {info.name}: interval {interval} ms (> deadtime)",
                    )
                )
                if info.status != DEAD:
                    actions += self._mark_dead(
                        info, now, f"Late heartbeat: interval {interval} ms (> deadtime)")
            elif interval > self.config.warntime:
                self.counters.late_heartbeats += 1
                actions.append(
                    Log(Level.WARN, f"Late heartbeat: Node {info.name}: interval {interval} ms")
                )
        if view.st != info.status:
            old = info.status
            actions.append(Log(Level.INFO, f"Status update for node {info.name}: status {view.st}"))
            info.status = view.st
            why = ("it announced status dead itself (graceful shutdown)" if view.st == DEAD
                   else f"status message from {info.name}")
            actions.append(NodeStateChanged(info.name, old, view.st, why))
        if view.dt_ms is not None:
            info.advertised_dt = view.dt_ms
            lo = self.config.deadtime_ms
            hi = lo + self.config.dt_grace_max_ms
            if not lo <= view.dt_ms <= hi and not info.dt_warned:
                info.dt_warned = True
                actions.append(
                    Log(
                        Level.WARN,
                        f"node {info.name} advertises deadtime {view.dt_ms} ms; using "
                        f"{self._guarded_dt(info)} ms (ours is {lo} ms, at most +{hi - lo} ms "
                        f"is honoured)",
                    )
                )
        info.last_status = now
        info.rmt_lastupdate = env.ts
        info.tracker.status_seqno = seq
        info.admitted = info.admitted_once = True
        return actions

    def _on_repnodes(self, info: NodeInfo, env: m.Envelope, now: int) -> list[Action]:
        view = m.parse_repnodes(env)
        actions: list[Action] = []
        if view.nodes is not None and set(view.nodes) != set(self.config.nodes):
            actions.append(
                Log(
                    Level.WARN,
                    f"repnodes from {info.name} lists nodes [{' '.join(view.nodes)}] but ha.cf "
                    f"has [{' '.join(self.config.nodes)}]; keeping ha.cf",
                )
            )
        actions += self._comm_now_up(now)
        return actions


_MEMBERSHIP_TYPES = frozenset(
    {m.T_STATUS, m.T_REQNODES, m.T_REPNODES, m.T_ACKMSG, m.T_REXMIT, m.T_NAKREXMIT}
)


def snapshot(ms: Membership, now: int) -> dict[str, object]:
    """A JSON-ready view of nodes and links (for cl_status and the status feed)."""
    return {
        "local": ms.local,
        "local_status": ms.local_status,
        "comm_up": ms.comm_up,
        "generation": ms.generation,
        "nodes": {
            n.name: {
                "status": n.status,
                "dead_interval_ms": ms.dead_interval(n.name),
                "deadline": ms.node_deadline(n.name),
                "links": {md: lk.status for md, lk in n.links.items()},
            }
            for n in ms.nodes.values()
        },
        "counters": ms.counters.as_dict(),
        "next_deadline": ms.next_deadline(now),
    }


__all__ = [
    "ACTIVE",
    "DEAD",
    "INIT",
    "LINK_DEAD",
    "LINK_UP",
    "UP",
    "Action",
    "CommUp",
    "Deliver",
    "KeepaliveChanged",
    "LinkStateChanged",
    "Log",
    "Membership",
    "MembershipConfig",
    "NodeDead",
    "NodeStateChanged",
    "PartitionHealed",
    "PeerRestarted",
    "Resend",
    "SendMessage",
    "snapshot",
]
