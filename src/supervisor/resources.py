"""Resource-group ownership as a pure, clock-injected state machine (heartbeat-facts 5).

`Resources` decides, for the local node of a one- or two-node haresources
cluster, which groups run here and when, speaking heartbeat 3.0.6's
resource messages (`rscmessages`) through the membership layer. It is fed
events and returns actions; it never reads a clock, sleeps or does I/O.
Times are integer monotonic milliseconds, as in `membership`.

Events (each returns `list[Action]`):

* `start(now)`: the process started; probe what runs here (see "Start-up
  probe and adoption"). Optional: `comm_up` starts the probe if not done.
* `comm_up(now)`: membership's `CommUp`.
* `message(node, env, now, local=False)`: a delivered message (membership's
  `Deliver`). Our own looped-back messages (`local=True`) are ignored: the
  machine acts on its own decisions directly. Non-resource types return [].
* `node_dead(node, now)`, `node_up(node, now)` (a dead peer is heard again),
  `peer_restarted(node, now)`, `node_returned_after_partition(node, now)`.
* `script_done(op_id, rc, output, now)`: the result of a `RunScript`; `rc`
  is the exit status or None (timed out, killed, could not run).
* `standby(which, now)` / `takeover(which, now)`: hb_standby / hb_takeover
  run on this node, `which` in all|local|foreign|failback.
* `shutdown(now)`: graceful stop; finished when `ShutdownComplete` is returned.
* `tick(now)` at `next_deadline(now)`.

Actions: `SendMessage(fields)` (unstamped: hand to `Membership.send`),
`RunScript(op_id, group_key, resource_index, action, timeout_s)`,
`Log(level, text)` (membership's type), `GroupStateChanged(group_key, old,
new)` with states stopped|starting|running|stopping|failed|stop-failed|partial,
`HeldChanged(held)` with what `cl_status rscstatus` prints
(none|local|foreign|all|transition) and `ShutdownComplete()`.
`shutdown_stuck` says a graceful stop waits for a group that would not stop
(see "Stop failure"); calling `shutdown(now)` again then retries at once.

Semantics (heartbeat's unless said otherwise):

* Start-up probe and adoption (ours; 3.0.6's init script instead refuses to
  start while `ResourceManager verifyallidle` finds an active resource).
  A supervisor restarted after `kill -9` finds the services its previous
  incarnation started still running, so before anything else every
  resource of every group is asked its `status` (`RunScript action=status`,
  one at a time, haresources order, as the first job of the queue). Phase
  `probing`, rscstatus `transition`. A group whose resources all say
  running becomes `running`; one with some resources not stopped (running,
  or a status that failed or timed out: "possibly running", WARN) becomes
  `partial`; such a group is *found*. Found groups count as held in our
  `rsc_hold` until decided, so the peer does not start them on top of ours.
  Comm-up, the answer to a peer's `starting` and legacy `ip-request`s wait
  until the probe is over (we cannot tell what we hold before). Each found
  group is then decided once, when the start-up negotiation completes (on/off:
  when we become stable; legacy: at comm-up; alone, or the peer dead or
  gone: at once), by this rule, with P the peer:
  - RELEASE it when P is alive and (on/off) reports holding the group's class
    (its `rsc_hold` has our class mirrored) and either P was already stable
    (its report said isstable=1: it is the incumbent, e.g. it took the group
    over while we were dead) or P is the group's preferred node (both nodes
    started at once and both found the group: the preferred node keeps it).
    Legacy: release every found group of P's (its home node is up: legacy
    always runs a group on its home node).
  - ADOPT it otherwise (P dead, absent, gone, or not holding it; or we are
    its preferred node while P, not yet stable, claims it too): it keeps
    running (no restart of a healthy service) and we claim its class. A
    `partial` group is completed by the ordinary start of the class (status
    of each resource, start of those not running): at once if P does not
    hold the class, else (we are the preferred node of a group both found)
    only after P's report shows it released its copy. Adopting a foreign
    group claims the whole foreign class, so all of P's groups are started
    here (P sees our `foreign` bit and acquires none of them; with
    auto_failback on they go home by the standby protocol afterwards).
    Legacy: our adopted groups are still requested with `ip-request`, so a
    copy on P is stopped.
  Release logs, per resource found, `CRIT: Resource <rsc> is active, and
  should not be!` (3.0.6's words), WARN `Releasing resource group K found
  running here: <why>.` and stops the group right to left (every resource,
  as `givegroup`); a failed stop follows the stop-failure rule below. Our
  `resource ... isstable=1` report of the transition is sent only after
  those stops, so the peer never sees the stale copies as ours. The rule
  is symmetric and uses only what both sides report, so after negotiation
  every group is held by exactly one node: the incumbent keeps what it
  holds, on a simultaneous start the preferred node keeps a doubly found
  group, and a group found on one node only stays there unless the other
  node is an incumbent holding its class (then the other node runs it).
  Not covered: a status that lies (says stopped while the service runs).
  `snapshot()` lists per group the resources the probe found (`found`).
* Groups run one script at a time: jobs (an ordered list of group starts or
  stops) are queued and run one after the other, groups start in
  haresources order and stop in reverse order (`groupops` sequences each).
* Holdings (`rsc_hold`, rscstatus): the LOCAL bit is set when one of the
  groups whose haresources node is us is starting, running, stopping,
  partial (found by the probe), stop-failed (it may still run here: see
  "Stop failure") or queued to start here; FOREIGN likewise for the other
  groups; a class with no groups at all is reported held when we took
  responsibility for it (start-up acquisition, takeover), as 3.0.6 does (a
  node with no groups of its own reports `local`). A failed group (its start
  failed and it was stopped again) never counts. rscstatus is `transition`
  while probing, before the start-up negotiation finished, while shutting
  down (except while the shutdown is stuck and idle: then the holdings) and
  while any job, script, standby exchange or legacy request is under way.
* Start-up (auto_failback on/off): at comm-up send `starting`; answer every
  `starting` with `resource rsc_hold=<held> rtype=full isstable=<0|1>`.
  A peer report with isstable=1 -> `remote resource transition completed.`;
  else 10 s (RQSTDELAY) after the first report -> `local resource transition
  completed.`. Then we are stable: unless the peer holds our groups (its
  FOREIGN bit) we claim and acquire them (`ip-request-resp` to ourselves
  before each, as 3.0.6), report `resource ... isstable=1` at once (after
  stopping the stale copies the probe found, if any) and
  `... info=req_our_resources()` when done. Safety: with no report at all
  3 x RQSTDELAY after comm-up we complete the transition alone (WARN).
  Each node only ever starts its own groups here (or the class of a foreign
  group it adopted), and only when the peer does not hold them, so start-up
  never overlaps.
* Legacy: at comm-up each of our groups is requested with `ip-request`; the
  holder stops it (if it runs it) and then answers `ip-request-resp
  dest=<us> weown=yes|no`, upon which we start it. Alone, we answer
  ourselves and start at once. A reply with any `ok=` but `OK` is a
  refusal (the holder could not stop the group): we do not start it.
  hb_standby/hb_takeover log `Standby mode only implemented when
  nice_failback on`.
* Death of the peer (after comm-up): fencing is unneeded when it had sent
  `shutdone` or (on/off) reported holding nothing; then `Dead node X gave up
  resources.` + `stonith result=unneeded`. Otherwise `stonith
  result=n_stnth`, WARN `No STONITH device configured.`, WARN `Shared disks
  are not protected.`, `Resources being acquired from X.` and a takeover
  job: X's groups (`Taking over resource group K`), then ours; afterwards
  `resource ... info=req_our_resources()`, `resource rsc_hold=foreign
  info=mach_down` and `mach_down takeover complete for node X.`.
* Fencing (docs/fencing.md): with a STONITH device configured, a death that
  needs fencing starts `fencing.Fencing` instead (`RunFence` actions, results
  via `fence_done(op_id, rc, now)`) and the takeover job (which also starts
  our own groups: the peer may hold them) is queued only when a device
  reported the peer reset (`stonith result=OK`, then `Resources being
  acquired from X.`); failed attempts are retried with backoff for as long
  as it takes and nothing is taken over meanwhile. The peer heard again
  before it was fenced calls the fence off (no takeover). Start-up alone
  (every link down, the peer never heard or dead): with fencing, the peer
  is fenced first; without, `boot_takeover fenced` (our default) takes
  nothing and waits for the peer or an explicit `hb_takeover`, while
  `boot_takeover initdead` takes everything unfenced after initdead, as
  heartbeat does.
* Graceful stop of the peer: its `resource rsc_hold=none info=shutdown`
  only marks it leaving (it is still releasing); its `shutdone` means
  released: `Received shutdown notice from 'X'.` and the takeover job at
  once, plus `ask_resources rsc_hold=all info=done` (as 3.0.6) when done.
* Our graceful stop (`shutdown`): after the running script (`Shutdown
  delayed until current resource activity finishes.`), queued work is
  dropped, `Giving up all HA resources.`, `resource rsc_hold=none isstable=0
  info=shutdown`, every group not known stopped is stopped, `All HA
  resources relinquished.`, `shutdone st=dead`; with a live peer `Waiting to
  allow resource takeover to complete` until its `info=mach_down` report or
  `ask_resources ... info=done`, its death, or `shutdown_wait_ms`; then
  `ShutdownComplete`. (3.0.6 also runs stop on groups it knows are stopped;
  we do not.) A stop that fails for good makes the shutdown stuck: see
  "Stop failure".
* Standby (on/off, heartbeat-facts 5.4) with the exact 3.0.6 messages and
  log lines; the node going standby stops its groups before sending `done`
  and the other starts them only on that `done`. A request is refused while
  another is under way, while either side is not stable, or (our addition)
  when the groups it would hand us include one that failed here (the asker
  then times out after 10 s and keeps them). `failback` = `foreign`.
* hb_takeover: we send `hb_takeover`; the peer goes standby with local and
  foreign swapped. Quirk: 3.0.6 maps a received `failback` to standby
  **all** (its rc.d script matches nothing); we map it to `foreign` (give
  the asker back its own groups), and our `takeover("failback")` sends
  `rsc_hold=local`, which a 3.0.6 peer turns into the same standby foreign.
  With no live peer, takeover acquires the groups directly. An explicit
  takeover also clears this node's failed marks for that set, and turns its
  stop-failed groups of that set into `partial` (held, possibly running):
  the acquisition completes them here (status, then start of what is not
  running), never anywhere else.
* Auto failback (on): after the peer (re)started (`starting`) and both are
  stable, if we run any of its groups we go standby `foreign` once
  (`ask_resources rsc_hold=foreign info=me`). Off: never automatic.
* Start failure (fixing heartbeat-facts 10.4): `groupops` stops what the
  group started; the group is `failed` here (never reported held) and, once
  a live stable peer exists, handed to it per group with an unsolicited
  `ip-request-resp dest=<peer> ipaddr=<key> weown=yes ok=OK` ("I no longer
  own it: take it"), which 3.0.6's rc.d/ip-request-resp also acts on. A
  group handed to us that fails here too is not handed back (ERROR: it runs
  nowhere). Failed groups are not acquired again automatically except in a
  takeover after the peer's death or shutdown. If the rollback stop fails
  too, the group is `stop-failed` instead and is NOT handed over (below).
* Stop failure (fixing 10.5 without its reboot). heartbeat reboots a node
  whose stop failed so that a half-stopped group can never run on two nodes
  (facts 5.7); we do not reboot, so we must give the same guarantee by what
  we say: `groupops` retries the stop, then, status not saying stopped, the
  group is `stop-failed`: some of its resources (the failed one and those
  left of it, deliberately not stopped) may still run here. Rules:
  1. It counts as held here: its class stays in every `rsc_hold` we send and
     in rscstatus. We never report it released: no `ask_resources
     info=done` for a standby set holding it, no `shutdone`, no
     `ip-request-resp ... ok=OK` for it, no hand-off. So neither our peer
     nor a 3.0.6 peer ever acquires it because of something we said.
  2. It is never started or stopped again here automatically (no restart,
     no retry), except by a graceful shutdown (rule 5). CRIT when it
     happens, and again every `stop_failed_crit_ms` (60 s) while any group
     is stop-failed, naming the group and what to do.
  3. The peer may acquire it only (a) when it declares us dead (a crash is
     a crash, as with heartbeat, which would have rebooted us: the
     administrator must stop the service by hand or fence this node; with
     STONITH the peer fences first), or (b) after an explicit decision of
     the administrator: `hb_standby` again on this node, or `hb_takeover`
     on the peer (which makes us go standby): both retry the stop (stop is
     idempotent), and if every stop now succeeds the standby completes and
     hands the set over as usual. `hb_takeover` on this node instead makes
     it `partial` and completes it here. Legacy mode has no standby: a
     graceful restart of hbeat here retries the stop.
  4. Standby (hb_standby, hb_takeover from the peer, auto_failback): when
     the release leaves a group of the set stop-failed, the standby is
     aborted: CRIT `Standby [<set>] aborted: ...`, no `info=done`, and a
     full `resource rsc_hold=<held> isstable=1` report (holding the
     stop-failed class) ends it; our peer, as taker, cancels its wait on
     that report (a 3.0.6 taker gets no `done` and never acquires). The
     groups of the set that did stop are handed to the peer one by one with
     `ip-request-resp ... weown=yes ok=OK` (as a failed start is). The
     taker refuses a standby that would hand it a group stop-failed on it.
  5. Graceful shutdown: the release goes on with the other groups, but the
     shutdown does not complete: no `shutdone`, no `ShutdownComplete`; we
     keep running (and heartbeating: the daemon keeps its loop), send
     `resource rsc_hold=<held> isstable=0 info=shutdown` so the peer knows
     (3.0.6 judges from it whether a death needs fencing), hand the groups
     that stopped to the peer one by one, log CRIT once with what happens
     next (systemd's TimeoutStopSec, 15 min in hbeat.service, then kills
     us; the peer takes over after deadtime as after a crash: use STONITH)
     and retry the stop of the stop-failed groups every `shutdown_retry_ms`
     (30 s), on `shutdown(now)` (SIGTERM again) and on the peer's
     `hb_takeover`. Once they stop, the shutdown completes as usual
     (`All HA resources relinquished.`, `shutdone`, ...). The first
     `info=shutdown` report already holds any group stop-failed before.
  6. A failed start whose rollback stop fails: stop-failed here, not handed
     to the peer.
  7. Split-brain convergence and start-up adoption stop copies the peer
     also runs; a failed stop there leaves our copy stop-failed and claimed
     in our reports (nothing new is started anywhere because of it: the
     double run is the one that already existed). When the group is ours
     (we are its preferred node) the peer's audit then stops its copy, as
     after any partition.
  8. A legacy `ip-request` for a stop-failed group (or one whose stop for
     the request fails) is answered `ip-request-resp ... weown=yes ok=no`:
     3.0.6's rc.d script and our machine take a group only on `ok=OK`.
  Not covered: a status that says stopped while the service still runs.
* Split brain (10.2): on each stable full report from the peer, when it
  claims its own groups (LOCAL) and we run any of them, ERROR `Both machines
  own foreign resources!` and we stop them; when it claims ours (FOREIGN)
  while we run ours, ERROR `Both machines own our resources!` and we keep
  them. So every group converges to its preferred node, which keeps running
  it. After a partition heal we send our report at once. Legacy: on heal we
  give back the groups of the other node.
* Lost executor results: a `RunScript` without `script_done` within
  `timeout_s` + `result_grace_ms` counts as failed (rc None), logged ERROR;
  a late result for it is ignored.

Only one or two nodes are supported (3.0.6's holdings are a two-node
notion); a larger `nodes` is rejected with ValueError. In a cluster of more
nodes the machine runs on the two nodes haresources names (the resource
pair, `ClusterConfig.resource_nodes`) with `nodes` = that pair: events about
the other nodes (members only) are ignored, as any node but the peer is.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from hbeat.config.model import AutoFailback, ClusterConfig, ResourceGroup, StonithDevice
from hbeat.logfmt import Level
from linklayer.message import Field

from . import fencing as fc
from . import groupops as go
from . import rscmessages as rm
from .membership import Log
from .messages import Envelope, MessageError

Hold = rm.Hold

STOPPED = "stopped"
STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"
FAILED = "failed"
STOP_FAILED = "stop-failed"
PARTIAL = "partial"  # found partly running (or with a failed status) by the start-up probe
HELD_STATES = frozenset({STARTING, RUNNING, STOPPING, PARTIAL})
# What counts in our holdings: a stop-failed group may still run here.
CLAIMED_STATES = HELD_STATES | {STOP_FAILED}
TRANSITION = "transition"

STANDBY_WORDS = {"all": Hold.ALL, "local": Hold.LOCAL, "foreign": Hold.FOREIGN}


# --- actions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send these fields through `Membership.send` (it adds src, seq, hg, ts, ...)."""

    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class RunScript:
    """Run resource `resource_index` of group `group_key` with `action`; report via script_done."""

    op_id: int
    group_key: str
    resource_index: int
    action: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class GroupStateChanged:
    group_key: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class HeldChanged:
    """What `cl_status rscstatus` now prints."""

    held: str


@dataclass(frozen=True, slots=True)
class ShutdownComplete:
    """Every group is released and the peer had its chance to take over: exit now."""


Action = (
    SendMessage
    | RunScript
    | Log
    | GroupStateChanged
    | HeldChanged
    | ShutdownComplete
    | fc.RunFence
    | fc.FenceStateChanged
)


# --- configuration ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourcesConfig:
    """What the machine needs from ha.cf/haresources, and its timers (ms unless `_s`)."""

    local: str
    nodes: tuple[str, ...]
    groups: tuple[ResourceGroup, ...]
    auto_failback: AutoFailback
    rqstdelay_ms: int = 10000
    standby_timeout_ms: int = 10000
    stop_retry_max: int = 10
    stop_retry_delay_ms: int = 1000
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 120.0
    status_timeout_s: float = 30.0
    result_grace_ms: int = 10000
    shutdown_wait_ms: int = 30000
    stop_failed_crit_ms: int = 60000
    shutdown_retry_ms: int = 30000
    stonith: tuple[StonithDevice, ...] = ()
    stonith_command: str = "/usr/sbin/stonith"
    fence_timeout_s: float = 120.0
    fence_retry_ms: int = 5000
    fence_retry_max_ms: int = 60000
    boot_takeover: str = "fenced"

    def __post_init__(self) -> None:
        if self.local not in self.nodes:
            raise ValueError(f"local node {self.local!r} is not among the nodes {list(self.nodes)}")
        if len(self.nodes) > 2:
            raise ValueError(
                f"haresources resource management supports one or two nodes, not "
                f"{len(self.nodes)} ({' '.join(self.nodes)}): heartbeat's local/foreign "
                f"holdings are a two-node notion"
            )
        keys: set[str] = set()
        for g in self.groups:
            if g.node not in self.nodes:
                raise ValueError(
                    f"haresources line {g.line}: node {g.node!r} is not a node of ha.cf"
                )
            if g.key in keys:
                raise ValueError(f"haresources line {g.line}: duplicate group key {g.key!r}")
            keys.add(g.key)
        for name in (
            "rqstdelay_ms",
            "standby_timeout_ms",
            "result_grace_ms",
            "shutdown_wait_ms",
            "stop_failed_crit_ms",
            "shutdown_retry_ms",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_cluster(cls, cfg: ClusterConfig, **timers: float) -> ResourcesConfig:
        """The resource view of `cfg` on a node of its resource pair
        (`cfg.resource_nodes`; on any other node there is nothing to run)."""
        return cls(
            local=cfg.node_name,
            nodes=cfg.resource_nodes,
            groups=tuple(cfg.groups),
            auto_failback=cfg.auto_failback,
            stonith=cfg.stonith_devices,
            boot_takeover=cfg.hacf.boot_takeover,
            **timers,  # type: ignore[arg-type]
        )


class Phase(enum.Enum):
    INIT = "init"
    PROBING = "probing"
    STARTING = "starting"
    STABLE = "stable"
    SHUTTING_DOWN = "shutting-down"
    WAIT_TAKEOVER = "wait-takeover"
    DONE = "done"


# --- internal state ---------------------------------------------------------


@dataclass
class _Group:
    group: ResourceGroup
    home: str
    cls: Hold
    state: str = STOPPED
    handoff_pending: bool = False
    handoff_logged: bool = False
    from_peer_failure: bool = False
    probed: bool = False
    found: tuple[str, ...] = ()  # resources the start-up probe did not find stopped
    undecided: bool = False  # found by the probe, neither adopted nor released yet
    releasing: bool = False  # found by the probe and being stopped (not ours to keep)

    @property
    def key(self) -> str:
        return self.group.key


@dataclass
class _Step:
    key: str
    start: bool
    pre: tuple[Action, ...] = ()
    retry_failed: bool = False
    probe: bool = False


@dataclass
class _Job:
    name: str
    steps: list[_Step]
    on_done: Callable[[], list[Action]] | None = None
    index: int = 0
    cancelled: bool = False


class SbRole(enum.Enum):
    ASKER = "asker"  # heartbeat's A: the node going standby
    TAKER = "taker"  # B: the node taking the groups


class SbStage(enum.IntEnum):
    """Stage numbers are what `Ignored standby message ... in state N` prints."""

    NONE = 0
    WAIT_OTHER = 1  # A: sent info=me, waiting for info=other
    RELEASING = 2  # A: stopping the groups
    WAIT_DONE = 3  # A: sent done, waiting for B's done
    WAIT_RELEASE = 4  # B: sent info=other, waiting for A's done
    ACQUIRING = 5  # B: starting the groups


@dataclass
class _Standby:
    role: SbRole
    which: Hold  # from the asker's point of view
    stage: SbStage
    deadline: int | None = None
    release_seen: bool = False  # B: A's `resource ... info=standby` (it began stopping)


@dataclass
class _Call:
    op_id: int
    key: str
    index: int
    action: str
    deadline: int


@dataclass
class _Peer:
    name: str
    alive: bool = True
    hold: Hold = Hold.NONE
    hold_known: bool = False
    stable: bool = False
    released: bool = False  # sent shutdone
    leaving: bool = False  # sent resource info=shutdown
    fresh_report: bool = False
    dead_before_comm_up: bool = False
    told_we_own_ours: bool = False  # sent our report after "Both machines own our resources!"


# --- the machine ------------------------------------------------------------


class Resources:
    """The resource ownership machine of one node. See the module docstring."""

    def __init__(self, config: ResourcesConfig, now: int) -> None:
        self.config = config
        self.me = config.local
        self.nice = config.auto_failback.nice_failback
        others = [n for n in config.nodes if n != self.me]
        self.peer: _Peer | None = _Peer(others[0]) if others else None
        self.groups: dict[str, _Group] = {
            g.key: _Group(g, g.node, Hold.LOCAL if g.node == self.me else Hold.FOREIGN)
            for g in config.groups
        }
        self.phase = Phase.INIT
        self.claim = Hold.NONE
        self.failback_pending = False
        self._rqst_deadline: int | None = None
        self._safety_deadline: int | None = None
        self._shutdown_deadline: int | None = None
        self._standby: _Standby | None = None
        self._legacy_requested: set[str] = set()
        self._job: _Job | None = None
        self._queue: deque[_Job] = deque()
        self._op: go.GroupOp | None = None
        self._op_key: str | None = None
        self._call: _Call | None = None
        self._next_op_id = 1
        self._shutdown_requested = False
        self._shutdown_stuck = False
        self._shutdown_retry_at: int | None = None
        self._crit_at: int | None = None  # next CRIT reminder about stop-failed groups
        self._initial_reason: str | None = None
        self._release_queued = False
        self._was_up = False
        self._probed = False
        self._comm_up_pending = False
        self._starting_unanswered = False
        self._deferred_ip_requests: list[rm.IpRequest] = []
        self._now = now
        self.fencing = fc.Fencing(
            fc.FencingConfig(
                config.stonith,
                config.stonith_command,
                config.fence_timeout_s,
                config.fence_retry_ms,
                config.fence_retry_max_ms,
            )
        )
        self._fence_takeover: str | None = None  # takeover waits for this node's fence
        self._fence_boot = False  # ... started by the start-up alone (see _alone_acquire)
        self._boot_wait = False  # start-up alone, unfenced: waiting for the peer/hb_takeover
        self._last_held = self.held

    # --- queries ------------------------------------------------------------

    def group_state(self, key: str) -> str:
        g = self.groups.get(key)
        if g is None:
            raise KeyError(f"no resource group {key!r} in haresources")
        return g.state

    @property
    def busy(self) -> bool:
        return self._op is not None or self._job is not None or bool(self._queue)

    def hold_bits(self) -> Hold:
        """The holdings we report in `rsc_hold` (see the module docstring)."""
        bits = Hold.NONE
        committed = self._committed_starts()
        for cls in (Hold.LOCAL, Hold.FOREIGN):
            members = [g for g in self.groups.values() if g.cls is cls]
            if not members:
                if self.claim & cls:
                    bits |= cls
            elif any(g.state in CLAIMED_STATES or g.key in committed for g in members):
                bits |= cls
        return bits

    @property
    def shutdown_stuck(self) -> bool:
        """A graceful stop waits for a stop-failed group (module docstring, "Stop failure")."""
        return self._shutdown_stuck and self.phase is Phase.SHUTTING_DOWN

    @property
    def held(self) -> str:
        """What `cl_status rscstatus` prints now."""
        if self.shutdown_stuck and not self.busy:
            return self.hold_bits().word
        if (
            self.phase in (Phase.INIT, Phase.PROBING, Phase.STARTING, Phase.SHUTTING_DOWN)
            or self.busy
            or self._standby is not None
            or self._legacy_requested
        ):
            return TRANSITION
        return self.hold_bits().word

    @property
    def stable(self) -> bool:
        return self.phase is Phase.STABLE

    def next_deadline(self, now: int) -> int | None:
        times = [
            t
            for t in (
                self._rqst_deadline,
                self._safety_deadline,
                self._shutdown_deadline,
                self._shutdown_retry_at if self.shutdown_stuck else None,
                self._crit_at,
                self._standby.deadline if self._standby is not None else None,
                self._op.deadline if self._op is not None else None,
                self._call.deadline if self._call is not None else None,
                self.fencing.next_deadline(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready view for the status feed and `hbeat status`."""
        sb = self._standby
        return {
            "held": self.held,
            "hold_bits": self.hold_bits().word,
            "phase": self.phase.value,
            "shutdown_stuck": self.shutdown_stuck,
            "auto_failback": self.config.auto_failback.value,
            "groups": {
                g.key: {
                    "node": g.home,
                    "state": g.state,
                    "class": g.cls.word,
                    "found": list(g.found),
                }
                for g in self.groups.values()
            },
            "peer": None
            if self.peer is None
            else {
                "name": self.peer.name,
                "alive": self.peer.alive,
                "hold": self.peer.hold.word if self.peer.hold_known else None,
                "stable": self.peer.stable,
            },
            "standby": None
            if sb is None
            else {"role": sb.role.value, "which": sb.which.word, "stage": sb.stage.name.lower()},
            "fencing": self.fencing.snapshot(),
            "boot_wait": self._boot_wait,
            "running_op": None
            if self._call is None
            else {
                "op_id": self._call.op_id,
                "group": self._call.key,
                "index": self._call.index,
                "action": self._call.action,
            },
        }

    # --- events -------------------------------------------------------------

    def start(self, now: int) -> list[Action]:
        """Probe every resource with `status` now, before comm-up (see the module docstring).

        Optional: `comm_up` starts the probe itself when it was not started."""
        if self.phase is not Phase.INIT or self._probed:
            return []
        return self._finish(self._begin_probe(), now)

    def comm_up(self, now: int) -> list[Action]:
        out: list[Action] = []
        if self.phase is Phase.INIT and not self._probed:
            out += self._begin_probe()
        if self.phase is Phase.PROBING:
            self._was_up = True
            self._comm_up_pending = True
            return self._finish(out, now)
        if self.phase is not Phase.INIT:
            return self._finish(out, now)
        return self._finish(out + self._comm_up_now(now), now)

    def _begin_probe(self) -> list[Action]:
        self.phase = Phase.PROBING
        steps = [_Step(g.key, False, probe=True) for g in self._ordered(Hold.ALL)]
        self._enqueue(_Job("probe", steps, self._probe_done))
        return []

    def _probe_done(self) -> list[Action]:
        """Every group was probed: carry out what waited for it (comm-up, answers)."""
        self._probed = True
        if self.phase is not Phase.PROBING:
            return []
        self.phase = Phase.INIT
        out: list[Action] = []
        if self._comm_up_pending:
            self._comm_up_pending = False
            out += self._comm_up_now(self._now)
        peer = self.peer
        if self._starting_unanswered:
            self._starting_unanswered = False
            out.append(self._report())
        deferred, self._deferred_ip_requests = self._deferred_ip_requests, []
        if peer is not None:
            for req in deferred:
                out += self._on_ip_request(peer, req)
        return out

    def _comm_up_now(self, now: int) -> list[Action]:
        out: list[Action] = []
        self._was_up = True
        peer = self.peer
        live = peer is not None and peer.alive
        if self.nice:
            if live:
                self.phase = Phase.STARTING
                self._safety_deadline = now + 3 * self.config.rqstdelay_ms
                out.append(SendMessage(rm.starting_fields()))
            else:
                self.phase = Phase.STABLE
                self._initial_reason = "mach_down" if peer is not None else "T_RESOURCES(us)"
                out += self._alone_acquire(now)
        else:
            self.phase = Phase.STABLE
            if live:
                assert peer is not None
                out += self._resolve_found(incumbent=False)[0]
                for g in self._ordered(Hold.LOCAL):
                    # A group adopted here is requested too: the peer must stop any copy.
                    if g.state in (STOPPED, RUNNING, PARTIAL):
                        self._legacy_requested.add(g.key)
                        out.append(SendMessage(rm.ip_request_fields(g.key)))
                self.claim |= Hold.LOCAL
            else:
                out += self._alone_acquire(now)
        return out

    def _alone_acquire(self, now: int) -> list[Action]:
        peer = self.peer
        if (
            peer is not None
            and self._needs_fencing(peer)
            and not self.fencing.configured
            and self.config.boot_takeover == "fenced"
        ):
            # Every link down at start-up: the peer may be alive and running
            # everything. Without a device to fence it we take nothing.
            self.phase = Phase.INIT
            self._boot_wait = True
            self._initial_reason = None
            return [
                Log(
                    Level.CRIT,
                    f"{peer.name} is not heard and no STONITH device is configured: not "
                    f"taking over any resource group (boot_takeover fenced). Waiting for "
                    f"{peer.name}; if it is down, run hb_takeover here.",
                )
            ]
        out = self._resolve_found(incumbent=False)[0]
        if peer is not None:
            self._fence_boot = True
            return out + self._death_flow(peer, now)
        self.claim = Hold.ALL
        self._enqueue(self._req_our_job(initial="T_RESOURCES(us)"))
        return out

    def message(self, node: str, env: Envelope, now: int, local: bool = False) -> list[Action]:
        out: list[Action] = []
        if local or node == self.me or self.phase is Phase.DONE:
            return out
        try:
            msg = rm.parse_resource_message(env)
        except MessageError as exc:
            out.append(Log(Level.ERROR, str(exc)))
            return self._finish(out, now)
        if msg is None:
            return out
        peer = self.peer
        if peer is None or node != peer.name:
            out.append(Log(Level.ERROR, f"resource message from unknown node {node}"))
            return self._finish(out, now)
        peer.alive = True
        if self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER):
            out += self._message_while_leaving(peer, msg, now)
        elif isinstance(msg, rm.Starting):
            out += self._on_starting(peer, now)
        elif isinstance(msg, rm.ResourceReport):
            out += self._on_report(peer, msg, now)
        elif isinstance(msg, rm.AskResources):
            out += self._on_ask(peer, msg, now)
        elif isinstance(msg, rm.HbTakeover):
            out += self._on_hb_takeover(peer, msg, now)
        elif isinstance(msg, rm.IpRequest):
            out += self._on_ip_request(peer, msg)
        elif isinstance(msg, rm.IpRequestResp):
            out += self._on_ip_request_resp(peer, msg)
        elif isinstance(msg, rm.Shutdone):
            out += self._on_shutdone(peer, now)
        # stonith reports from the peer need no action
        return self._finish(out, now)

    def node_dead(self, node: str, now: int) -> list[Action]:
        out: list[Action] = []
        peer = self.peer
        if peer is None or node != peer.name or self.phase is Phase.DONE:
            return out
        peer.alive = False
        peer.stable = False
        peer.fresh_report = False
        if self.phase in (Phase.INIT, Phase.PROBING):
            peer.dead_before_comm_up = True
            return self._finish(out, now)
        if self.phase is Phase.WAIT_TAKEOVER:
            return self._finish(out + self._shutdown_complete(), now)
        if self.phase is Phase.SHUTTING_DOWN:
            return self._finish(out, now)
        self._legacy_requested.clear()
        if self._standby is not None:
            self._standby = None
        if self.phase is Phase.STARTING:
            self.phase = Phase.STABLE
            self._rqst_deadline = None
            self._safety_deadline = None
        out += self._death_flow(peer, now)
        return self._finish(out, now)

    def node_up(self, node: str, now: int) -> list[Action]:
        out: list[Action] = []
        if self.peer is not None and node == self.peer.name:
            self.peer.alive = True
            out += self._peer_heard(self.peer, now, "it is alive again")
        return self._finish(out, now)

    def fence_done(self, op_id: int, rc: int | None, now: int) -> list[Action]:
        """The exit code of a `RunFence` (None: timed out, killed or not run)."""
        self._now = now
        return self._finish(self._fence_actions(self.fencing.done(op_id, rc, now), now), now)

    def peer_restarted(self, node: str, now: int) -> list[Action]:
        """The peer runs a new generation: what it held is unknown until it reports."""
        peer = self.peer
        if peer is None or node != peer.name:
            return []
        peer.alive = True
        peer.stable = False
        peer.fresh_report = False
        out = self._peer_heard(peer, now, "it restarted")
        return self._finish(out + self._cancel_standby_with_peer(), now)

    def node_returned_after_partition(self, node: str, now: int) -> list[Action]:
        out: list[Action] = []
        peer = self.peer
        if peer is None or node != peer.name:
            return out
        out += self._peer_heard(peer, now, "it is alive again (partition)")
        if self.phase is not Phase.STABLE:
            return self._finish(out, now)
        peer.alive = True
        if self.nice:
            out.append(SendMessage(rm.resource_fields(self.hold_bits(), True)))
        else:
            foreign = [
                g
                for g in self._ordered(Hold.FOREIGN, reverse=True)
                if g.state in (RUNNING, PARTIAL)
            ]
            if foreign:
                out.append(Log(Level.ERROR, "Both machines own foreign resources!"))
                self.claim &= ~Hold.FOREIGN
                self._enqueue(_Job("partition heal", [_Step(g.key, False) for g in foreign]))
        return self._finish(out, now)

    def script_done(self, op_id: int, rc: int | None, output: str, now: int) -> list[Action]:
        self._now = now
        call = self._call
        if call is None or call.op_id != op_id:
            return [Log(Level.WARN, f"Ignoring result of unknown or abandoned operation {op_id}")]
        return self._finish(self._script_result(rc, output, now), now)

    def standby(self, which: str, now: int) -> list[Action]:
        out: list[Action] = []
        if which == "failback":
            which = "foreign"
        hold = STANDBY_WORDS.get(which)
        if hold is None:
            raise ValueError(f"bad standby set [{which}]: expected all, local, foreign or failback")
        if not self.nice:
            out.append(Log(Level.ERROR, "Standby mode only implemented when nice_failback on"))
            return self._finish(out, now)
        out.append(Log(Level.INFO, f"Going standby [{hold.word}]."))
        out += self._ask_standby(hold, now)
        return self._finish(out, now)

    def takeover(self, which: str, now: int) -> list[Action]:
        out: list[Action] = []
        wire = "local" if which == "failback" else which
        hold = STANDBY_WORDS.get(wire)
        if hold is None:
            raise ValueError(
                f"bad takeover set [{which}]: expected all, local, foreign or failback"
            )
        if not self.nice:
            out.append(Log(Level.ERROR, "Standby mode only implemented when nice_failback on"))
            return self._finish(out, now)
        if self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE):
            return self._finish(out, now)
        peer = self.peer
        if peer is not None and self.fencing.pending(peer.name):
            out.append(
                Log(
                    Level.WARN,
                    f"hb_takeover: {peer.name} is being fenced; its resources are taken over "
                    f"once STONITH reports it reset.",
                )
            )
            return self._finish(out, now)
        if self._boot_wait and peer is not None and not peer.alive:
            # The administrator's explicit decision (docs/fencing.md, boot_takeover).
            self._boot_wait = False
            self.phase = Phase.STABLE
            out.append(
                Log(
                    Level.WARN,
                    f"hb_takeover: taking over without fencing {peer.name} (never heard "
                    f"since start-up), as asked.",
                )
            )
        for g in self.groups.values():
            if g.cls & hold and g.state == FAILED:
                out += self._set_state(g, STOPPED)
                g.handoff_pending = False
                g.handoff_logged = False
            elif g.cls & hold and g.state == STOP_FAILED:
                # Still possibly running here: held, and completed here by the acquisition.
                out.append(
                    Log(
                        Level.INFO,
                        f"hb_takeover: resource group {g.key} (stop-failed) will be completed "
                        f"here.",
                    )
                )
                out += self._set_state(g, PARTIAL)
        if peer is not None and peer.alive:
            out.append(Log(Level.INFO, f"Asking {peer.name} to give up [{which}] resources."))
            out.append(SendMessage(rm.hb_takeover_fields(wire)))
        elif self.phase is Phase.STABLE:
            self.claim |= hold
            out.append(Log(Level.INFO, f"No other node is up: acquiring [{which}] resources."))
            steps = [_Step(g.key, True) for g in self._ordered(hold)]
            self._enqueue(_Job("takeover", steps, self._after_simple_acquire))
        return self._finish(out, now)

    def shutdown(self, now: int) -> list[Action]:
        """Graceful stop; called again while `shutdown_stuck`, it retries the failed stops."""
        out: list[Action] = []
        if self.shutdown_stuck:
            return self._finish(self._retry_stuck_shutdown(now, "shutdown requested again"), now)
        if self._shutdown_requested or self.phase is Phase.DONE:
            return out
        self._shutdown_requested = True
        self.phase = Phase.SHUTTING_DOWN
        self._standby = None
        self._rqst_deadline = None
        self._safety_deadline = None
        self._legacy_requested.clear()
        self._queue.clear()
        if self._job is not None:
            self._job.cancelled = True
        if self._op is not None:
            out.append(
                Log(Level.INFO, "Shutdown delayed until current resource activity finishes.")
            )
        return self._finish(out, now)

    def tick(self, now: int) -> list[Action]:
        self._now = now
        out: list[Action] = []
        call = self._call
        if call is not None and now >= call.deadline:
            g = self.groups[call.key]
            rsc = g.group.resources[call.index]
            out.append(
                Log(
                    Level.ERROR,
                    f"No result from the executor for {rsc.text} {call.action} (operation "
                    f"{call.op_id}): counting it as failed",
                )
            )
            out += self._script_result(None, "", now)
        op = self._op
        if op is not None and op.deadline is not None and now >= op.deadline:
            out += self._op_steps(op.tick(now), now)
        if self._rqst_deadline is not None and now >= self._rqst_deadline:
            self._rqst_deadline = None
            if self.phase is Phase.STARTING:
                out.append(Log(Level.INFO, "local resource transition completed."))
                out += self._become_stable("T_RESOURCES(us)")
        if self._safety_deadline is not None and now >= self._safety_deadline:
            self._safety_deadline = None
            if self.phase is Phase.STARTING:
                name = self.peer.name if self.peer is not None else "?"
                out.append(
                    Log(
                        Level.WARN,
                        f"No resource report from {name}: completing the resource "
                        f"transition without it.",
                    )
                )
                out.append(Log(Level.INFO, "local resource transition completed."))
                out += self._become_stable("T_RESOURCES(us)")
        sb = self._standby
        if sb is not None and sb.deadline is not None and now >= sb.deadline:
            self._standby = None
            out.append(Log(Level.INFO, "No reply to standby request.  Standby request cancelled."))
        if self._shutdown_deadline is not None and now >= self._shutdown_deadline:
            out.append(
                Log(Level.WARN, "No takeover confirmation from the other node: stopping anyway.")
            )
            out += self._shutdown_complete()
        if self._crit_at is not None and now >= self._crit_at:
            out += self._stop_failed_reminder(now)
        out += self._fence_actions(self.fencing.tick(now), now)
        retry_at = self._shutdown_retry_at
        if self.shutdown_stuck and retry_at is not None and now >= retry_at:
            out += self._retry_stuck_shutdown(now, "periodic retry")
        return self._finish(out, now)

    # --- peer messages ------------------------------------------------------

    def _report(self, info: str | None = None) -> SendMessage:
        return SendMessage(rm.resource_fields(self.hold_bits(), self.stable, info))

    def _on_starting(self, peer: _Peer, now: int) -> list[Action]:
        peer.stable = False
        peer.released = False
        peer.leaving = False
        peer.fresh_report = False
        out = self._cancel_standby_with_peer()
        if self.config.auto_failback is AutoFailback.ON:
            self.failback_pending = True
        for g in self.groups.values():
            g.from_peer_failure = False
        if self.phase is Phase.PROBING:
            self._starting_unanswered = True  # answered when we know what runs here
        else:
            out.append(self._report())
        return out

    def _cancel_standby_with_peer(self) -> list[Action]:
        if self._standby is None:
            return []
        self._standby = None
        return [Log(Level.WARN, "Standby request cancelled: the other node restarted.")]

    def _on_report(self, peer: _Peer, rep: rm.ResourceReport, now: int) -> list[Action]:
        out: list[Action] = []
        if not rep.full:
            if rep.info == rm.INFO_MACH_DOWN:
                peer.hold |= rep.hold
                peer.hold_known = True
            return out
        peer.hold = rep.hold
        peer.hold_known = True
        peer.stable = rep.stable
        peer.fresh_report = rep.stable
        if rep.info == rm.INFO_SHUTDOWN:
            peer.leaving = True
            peer.stable = False
            peer.fresh_report = False
        sb = self._standby
        if sb is not None and sb.role is SbRole.TAKER and sb.stage is SbStage.WAIT_RELEASE:
            if rep.info == rm.INFO_STANDBY:
                sb.release_seen = True
            elif sb.release_seen and rep.stable and rep.hold & sb.which:
                # The asker began releasing, then reported itself stable and still
                # holding part of the set, without `done`: it aborted its standby (a
                # stop failed there, "Stop failure" rule 4). Nothing is handed to us.
                self._standby = None
                out.append(
                    Log(
                        Level.WARN,
                        f"Standby takeover of [{sb.which.word}] resources from {peer.name} "
                        f"cancelled: {peer.name} still holds [{rep.hold.word}] resources.",
                    )
                )
        if self.phase is Phase.STARTING:
            if rep.stable:
                out.append(Log(Level.INFO, "remote resource transition completed."))
                out += self._become_stable("T_RESOURCES(them)")
            elif self._rqst_deadline is None:
                self._rqst_deadline = now + self.config.rqstdelay_ms
        return out

    def _become_stable(self, reason: str) -> list[Action]:
        self.phase = Phase.STABLE
        self._rqst_deadline = None
        self._safety_deadline = None
        self._initial_reason = reason
        peer = self.peer
        out, adopted, releasing = self._resolve_found(incumbent=reason == "T_RESOURCES(them)")
        tail: Callable[[], list[Action]]
        if peer is not None and peer.alive and peer.hold & Hold.FOREIGN:
            # The peer holds our groups. One we adopted here (both started at once and
            # we are its preferred node) is completed by _reconcile_own once the peer
            # reports it released its copy.
            self._initial_reason = None

            def tail() -> list[Action]:
                return [
                    self._report(),
                    Log(Level.INFO, f"Initial resource acquisition complete ({reason})"),
                ]

            job = None
        else:
            self.claim |= Hold.LOCAL

            def tail() -> list[Action]:
                return [self._report()]

            job = self._req_our_job(initial=reason)
        if releasing:
            # Our transition completes when the stale copies are gone: only then
            # do we report isstable=1 (the peer must not see them as ours).
            self._enqueue(_Job("report", [], tail))
        if adopted & Hold.FOREIGN:
            self._enqueue(self._complete_foreign_job())
        if job is not None:
            self._enqueue(job)
        return out if releasing else out + tail()

    def _req_our_job(self, initial: str | None = None) -> _Job:
        steps = [
            _Step(g.key, True, (SendMessage(rm.ip_request_resp_fields(self.me, g.key, True)),))
            for g in self._ordered(Hold.LOCAL)
        ]

        def done() -> list[Action]:
            out: list[Action] = []
            started = any(self.groups[s.key].state == RUNNING for s in steps)
            if initial is not None:
                out.append(
                    Log(
                        Level.INFO,
                        "Local Resource acquisition completed."
                        if started
                        else "Local Resource acquisition completed. (none)",
                    )
                )
            if self.nice:
                out.append(self._report(rm.INFO_REQ_OUR))
            if initial is not None:
                out.append(Log(Level.INFO, f"Initial resource acquisition complete ({initial})"))
            return out

        return _Job("req_our_resources", steps, done)

    def _on_ask(self, peer: _Peer, ask: rm.AskResources, now: int) -> list[Action]:
        if not self.nice:
            return [Log(Level.ERROR, "Standby mode only implemented when nice_failback on")]
        sb = self._standby
        if ask.info == rm.ASK_ME:
            return self._peer_wants_standby(peer, ask.which, now)
        if ask.info == rm.ASK_OTHER:
            if sb is not None and sb.role is SbRole.ASKER and sb.stage is SbStage.WAIT_OTHER:
                return self._release_for_standby(peer, sb)
        elif sb is not None and sb.role is SbRole.TAKER and sb.stage is SbStage.WAIT_RELEASE:
            return self._acquire_for_standby(peer, sb)
        elif sb is not None and sb.role is SbRole.ASKER and sb.stage is SbStage.WAIT_DONE:
            self._standby = None
            return [
                Log(
                    Level.INFO,
                    f"Other node completed standby takeover of {sb.which.word} resources.",
                ),
                self._report(),
            ]
        stage = sb.stage if sb is not None else SbStage.NONE
        return [
            Log(
                Level.ERROR,
                f"Ignored standby message '{ask.info}' from {peer.name} in state {int(stage)}",
            )
        ]

    def _standby_blocked(self, who: str, which: Hold, now: int) -> list[Action]:
        sb = self._standby
        if sb is not None:
            left = max(0, (sb.deadline - now + 999) // 1000) if sb.deadline is not None else 0
            return [
                Log(
                    Level.WARN,
                    f"Standby in progress- new request from {who} ignored [{left} seconds left]",
                )
            ]
        peer = self.peer
        if peer is not None and peer.alive and not peer.stable:
            return [
                Log(
                    Level.WARN,
                    f"standby message [{which.word}] from {who} ignored.  Other side is in flux.",
                )
            ]
        if self.phase is not Phase.STABLE:
            return [
                Log(
                    Level.WARN,
                    f"standby message [{which.word}] from {who} ignored.  local resources in flux.",
                )
            ]
        return []

    def _peer_wants_standby(self, peer: _Peer, which: Hold, now: int) -> list[Action]:
        out: list[Action] = [Log(Level.INFO, f"{peer.name} wants to go standby [{which.word}]")]
        blocked = self._standby_blocked(peer.name, which, now)
        if blocked:
            return out + blocked
        mine = which.mirrored()
        bad = [g.key for g in self._ordered(mine) if g.state in (FAILED, STOP_FAILED)]
        if bad:
            out.append(
                Log(
                    Level.WARN,
                    f"standby message [{which.word}] from {peer.name} ignored: resource group "
                    f"{bad[0]} failed on this node.",
                )
            )
            return out
        self._standby = _Standby(SbRole.TAKER, which, SbStage.WAIT_RELEASE)
        out.append(SendMessage(rm.ask_resources_fields(which, rm.ASK_OTHER)))
        return out

    def _ask_standby(self, which: Hold, now: int) -> list[Action]:
        blocked = self._standby_blocked(self.me, which, now)
        if blocked:
            return blocked
        self._standby = _Standby(
            SbRole.ASKER, which, SbStage.WAIT_OTHER, now + self.config.standby_timeout_ms
        )
        return [
            SendMessage(rm.ask_resources_fields(which, rm.ASK_ME)),
            Log(Level.INFO, f"{self.me} wants to go standby [{which.word}]"),
        ]

    def _release_for_standby(self, peer: _Peer, sb: _Standby) -> list[Action]:
        sb.stage = SbStage.RELEASING
        sb.deadline = None
        word = sb.which.word
        self.claim &= ~sb.which
        left = self.hold_bits() & ~sb.which
        out: list[Action] = [
            Log(Level.INFO, f"standby: {peer.name} can take our {word} resources"),
            SendMessage(rm.resource_fields(left, False, rm.INFO_STANDBY)),
            Log(Level.INFO, f"give up {word} HA resources (standby)."),
        ]
        # retry_failed: a group stop-failed here is stopped again (hb_standby again is
        # how the administrator says "I fixed it, hand it over").
        steps = [
            _Step(g.key, False, retry_failed=True) for g in self._ordered(sb.which, reverse=True)
        ]
        released = [
            g.key
            for g in self._ordered(sb.which)
            if g.state in CLAIMED_STATES or g.key in self._committed_starts()
        ]

        def done() -> list[Action]:
            if self._standby is not sb:
                return []
            failed = self._stop_failed(sb.which)
            if failed:
                return self._abort_standby(peer, sb, failed, released)
            sb.stage = SbStage.WAIT_DONE
            return [
                Log(Level.INFO, f"{word} HA resource release completed (standby)."),
                SendMessage(rm.ask_resources_fields(sb.which, rm.ASK_DONE)),
                Log(Level.INFO, f"Local standby process completed [{word}]."),
            ]

        self._enqueue(_Job("standby release", steps, done))
        return out

    def _abort_standby(
        self, peer: _Peer, sb: _Standby, failed: list[_Group], released: list[str]
    ) -> list[Action]:
        """Our standby release left groups stop-failed: no `done` (module docstring,
        "Stop failure" rule 4). The stable report ends the peer's wait."""
        self._standby = None
        names = " ".join(g.key for g in failed)
        out: list[Action] = [
            Log(
                Level.CRIT,
                f"Standby [{sb.which.word}] aborted: resource group(s) {names} could not be "
                f"stopped here and stay held by this node; {peer.name} will not take them.",
            ),
            self._report(),
        ]
        out += self._hand_over_stopped(released, "standby")
        return out

    def _acquire_for_standby(self, peer: _Peer, sb: _Standby) -> list[Action]:
        sb.stage = SbStage.ACQUIRING
        mine = sb.which.mirrored()
        self.claim |= mine
        out: list[Action] = [
            Log(Level.INFO, f"standby: acquire [{sb.which.word}] resources from {peer.name}"),
            Log(Level.INFO, f"acquire {mine.word} HA resources (standby)."),
        ]
        steps = [_Step(g.key, True) for g in self._ordered(mine)]

        def done() -> list[Action]:
            if self._standby is sb:
                self._standby = None
            return [
                Log(Level.INFO, f"{mine.word} HA resource acquisition completed (standby)."),
                SendMessage(rm.ask_resources_fields(sb.which, rm.ASK_DONE)),
                Log(Level.INFO, f"Standby resource acquisition done [{sb.which.word}]."),
                self._report(),
            ]

        self._enqueue(_Job("standby acquire", steps, done))
        return out

    def _on_hb_takeover(self, peer: _Peer, msg: rm.HbTakeover, now: int) -> list[Action]:
        if not self.nice:
            return [Log(Level.ERROR, "Standby mode only implemented when nice_failback on")]
        swapped = {"all": Hold.ALL, "local": Hold.FOREIGN, "foreign": Hold.LOCAL}
        which = swapped.get(msg.which, Hold.FOREIGN)  # failback: see module docstring
        return [
            Log(Level.INFO, f"Going standby [{which.word}]."),
            *self._ask_standby(which, now),
        ]

    def _on_ip_request(self, peer: _Peer, req: rm.IpRequest) -> list[Action]:
        g = self.groups.get(req.key)
        if g is None:
            return [Log(Level.ERROR, f"ip-request from {peer.name} for unknown group [{req.key}]")]
        if self.phase is Phase.PROBING:
            self._deferred_ip_requests.append(req)  # answered when we know what runs here
            return []
        if g.state == STOP_FAILED:
            return self._refuse_ip_request(peer, g)
        if g.state in HELD_STATES or g.key in self._committed_starts():

            def done() -> list[Action]:
                if g.state == STOP_FAILED:
                    return self._refuse_ip_request(peer, g)
                return [SendMessage(rm.ip_request_resp_fields(peer.name, g.key, True))]

            self._enqueue(_Job("ip-request", [_Step(g.key, False)], done))
            return []
        return [SendMessage(rm.ip_request_resp_fields(peer.name, g.key, False))]

    def _refuse_ip_request(self, peer: _Peer, g: _Group) -> list[Action]:
        return [
            Log(
                Level.CRIT,
                f"Refusing ip-request from {peer.name} for resource group {g.key}: it could "
                f"not be stopped here.",
            ),
            SendMessage(rm.ip_request_resp_fields(peer.name, g.key, True, ok=False)),
        ]

    def _on_ip_request_resp(self, peer: _Peer, resp: rm.IpRequestResp) -> list[Action]:
        if resp.dest != self.me:
            return []
        if self.phase is not Phase.STABLE:
            return [
                Log(
                    Level.WARN,
                    f"ip-request-resp from {peer.name} for [{resp.key}] ignored: resource "
                    f"state is {self.phase.value}",
                )
            ]
        g = self.groups.get(resp.key)
        if g is None:
            return [
                Log(Level.ERROR, f"ip-request-resp from {peer.name} for unknown group [{resp.key}]")
            ]
        requested = g.key in self._legacy_requested
        self._legacy_requested.discard(g.key)
        if not resp.ok:
            return [
                Log(
                    Level.WARN,
                    f"{peer.name} could not give up resource group {g.key} (its stop failed "
                    f"there): not taking it.",
                )
            ]
        if g.state in (FAILED, STOP_FAILED):
            return [
                Log(
                    Level.WARN,
                    f"Not taking resource group {g.key} from {peer.name}: it failed on this node.",
                )
            ]
        if (g.state in HELD_STATES and g.state != PARTIAL) or g.key in self._committed_starts():
            return []
        if not requested and resp.weown:
            g.from_peer_failure = True
        self._enqueue(_Job("ip-request-resp", [_Step(g.key, True)], self._after_simple_acquire))
        return []

    def _after_simple_acquire(self) -> list[Action]:
        return [self._report()] if self.nice else []

    def _on_shutdone(self, peer: _Peer, now: int) -> list[Action]:
        peer.hold = Hold.NONE
        peer.hold_known = True
        peer.stable = False
        peer.released = True
        peer.leaving = True
        peer.fresh_report = False
        self._legacy_requested.clear()
        self._standby = None
        out: list[Action] = [Log(Level.INFO, f"Received shutdown notice from '{peer.name}'.")]
        if self.phase in (Phase.INIT, Phase.PROBING):
            return out
        if self.phase is Phase.STARTING:
            self.phase = Phase.STABLE
            self._rqst_deadline = None
            self._safety_deadline = None
        out += self._resolve_found(incumbent=False)[0]
        self._enqueue(self._takeover_job(peer.name, after_shutdone=True))
        return out

    def _message_while_leaving(
        self, peer: _Peer, msg: rm.ResourceMessage, now: int
    ) -> list[Action]:
        if isinstance(msg, rm.Starting):
            peer.stable = False
            return [self._report()]
        if isinstance(msg, rm.Shutdone):
            peer.released = True
            peer.hold = Hold.NONE
            return []
        if isinstance(msg, rm.HbTakeover) and self.shutdown_stuck:
            return self._retry_stuck_shutdown(now, f"hb_takeover from {peer.name}")
        confirmed = (isinstance(msg, rm.ResourceReport) and msg.info == rm.INFO_MACH_DOWN) or (
            isinstance(msg, rm.AskResources) and msg.info == rm.ASK_DONE
        )
        if confirmed and self.phase is Phase.WAIT_TAKEOVER:
            return self._shutdown_complete()
        return []

    # --- death and takeover -------------------------------------------------

    def _needs_fencing(self, peer: _Peer) -> bool:
        if self.nice:
            return not (peer.released or (peer.hold_known and peer.hold is Hold.NONE))
        return not peer.released

    def _death_flow(self, peer: _Peer, now: int) -> list[Action]:
        found = self._resolve_found(incumbent=False)[0]  # the peer is dead: adopt all
        unneeded = not self._needs_fencing(peer)
        out: list[Action] = found
        released = peer.released
        if unneeded:
            self._fence_boot = False
            out.append(Log(Level.INFO, f"Dead node {peer.name} gave up resources."))
            out.append(SendMessage(rm.stonith_fields(peer.name, "unneeded")))
        elif self.fencing.configured:
            # Nothing of the peer's (nor ours: it may hold them) starts before a
            # device reports it reset (docs/fencing.md).
            self._fence_takeover = peer.name
            return out + self._fence_actions(self.fencing.begin(peer.name, now), now)
        else:
            self._fence_boot = False
            out += [
                SendMessage(rm.stonith_fields(peer.name, "n_stnth")),
                Log(Level.WARN, "No STONITH device configured."),
                Log(Level.WARN, "Shared disks are not protected."),
                Log(Level.INFO, f"Resources being acquired from {peer.name}."),
            ]
        peer.hold = Hold.NONE
        peer.hold_known = True
        needs_work = any(
            g.state in (STOPPED, FAILED, PARTIAL) and g.key not in self._committed_starts()
            for g in self.groups.values()
        )
        if not released or needs_work:
            self._enqueue(self._takeover_job(peer.name, after_shutdone=False))
        return out

    def _fence_actions(self, actions: list[fc.FenceAction], now: int) -> list[Action]:
        """Carry out what the fencing machine decided."""
        out: list[Action] = []
        for a in actions:
            if isinstance(a, fc.StonithReport):
                out.append(SendMessage(rm.stonith_fields(a.node, a.result)))
            elif isinstance(a, fc.Fenced):
                out += self._after_fence(a, now)
            else:
                out.append(a)
        return out

    def _after_fence(self, fenced: fc.Fenced, now: int) -> list[Action]:
        peer = self.peer
        if peer is None or fenced.node != peer.name or self._fence_takeover != peer.name:
            return []
        self._fence_takeover = None
        if fenced.cancelled or self.phase not in (Phase.STABLE, Phase.STARTING):
            return []
        self._fence_boot = False
        out: list[Action] = [Log(Level.INFO, f"Resources being acquired from {peer.name}.")]
        peer.alive = False
        peer.stable = False
        peer.hold = Hold.NONE
        peer.hold_known = True
        self._enqueue(self._takeover_job(peer.name, after_shutdone=False))
        return out

    def _peer_heard(self, peer: _Peer, now: int, why: str) -> list[Action]:
        """The peer is alive: a fence not done yet is called off, a start-up wait ends."""
        out: list[Action] = []
        if self._fence_takeover == peer.name and self.fencing.pending(peer.name):
            out += self._fence_actions(self.fencing.cancel(peer.name, why), now)
            self._fence_takeover = None
        if (self._fence_boot and self._fence_takeover is None) or self._boot_wait:
            # We took nothing at start-up: negotiate with the peer as at comm-up.
            self._fence_boot = False
            self._boot_wait = False
            if self.phase in (Phase.STABLE, Phase.INIT) and not self.busy:
                self.phase = Phase.INIT
                out += self._comm_up_now(now)
        elif self.nice and self.phase is Phase.STABLE:
            # A peer we held for dead may run what we took over (a start-up
            # alone, unfenced): our report makes both audit their holdings,
            # as after a partition (which sends it too; a second is harmless).
            out.append(SendMessage(rm.resource_fields(self.hold_bits(), True)))
        return out

    def _takeover_job(self, dead: str, *, after_shutdone: bool) -> _Job:
        self.claim = Hold.ALL
        steps = [
            _Step(g.key, True, (Log(Level.INFO, f"Taking over resource group {g.key}"),), True)
            for g in self._ordered(Hold.ALL)
            if g.home == dead
        ]
        steps += [
            _Step(
                g.key,
                True,
                (SendMessage(rm.ip_request_resp_fields(self.me, g.key, True)),),
                True,
            )
            for g in self._ordered(Hold.LOCAL)
        ]
        initial = self._initial_reason if self._initial_reason == "mach_down" else None

        def done() -> list[Action]:
            out: list[Action] = []
            if self.nice:
                out.append(self._report(rm.INFO_REQ_OUR))
                if after_shutdone:
                    out.append(SendMessage(rm.ask_resources_fields(Hold.ALL, rm.ASK_DONE)))
                out.append(SendMessage(rm.mach_down_fields()))
            out.append(Log(Level.INFO, f"mach_down takeover complete for node {dead}."))
            if initial is not None:
                self._initial_reason = None
                out.append(Log(Level.INFO, f"Initial resource acquisition complete ({initial})"))
            return out

        return _Job("mach_down", steps, done)

    # --- jobs and script results --------------------------------------------

    def _ordered(self, cls: Hold, *, reverse: bool = False) -> list[_Group]:
        gs = [g for g in self.groups.values() if g.cls & cls]
        return list(reversed(gs)) if reverse else gs

    def _enqueue(self, job: _Job) -> None:
        self._queue.append(job)

    def _would_run(self, step: _Step) -> bool:
        g = self.groups[step.key]
        if step.probe:
            return self.phase is Phase.PROBING
        if step.start:
            if self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE):
                return False
            return g.state in (STOPPED, PARTIAL) or (g.state == FAILED and step.retry_failed)
        if g.state == STOP_FAILED:
            return step.retry_failed  # only an explicit retry (standby, shutdown) stops it again
        return g.state in (RUNNING, STARTING, PARTIAL) or not g.probed

    def _committed_starts(self) -> set[str]:
        keys: set[str] = set()
        jobs = ([self._job] if self._job is not None else []) + list(self._queue)
        for job in jobs:
            if job.cancelled:
                continue
            for step in job.steps[job.index :]:
                if step.start and self._would_run(step):
                    keys.add(step.key)
        return keys

    def _pump(self, now: int) -> list[Action]:
        self._now = now
        out: list[Action] = []
        while self._op is None:
            job = self._job
            if job is None:
                if not self._queue:
                    break
                job = self._queue.popleft()
                self._job = job
            if job.cancelled or job.index >= len(job.steps):
                self._job = None
                if not job.cancelled and job.on_done is not None:
                    out += job.on_done()
                continue
            step = job.steps[job.index]
            job.index += 1
            if not self._would_run(step):
                continue
            out += list(step.pre)
            out += self._begin_op(step, now)
        return out

    def _begin_op(self, step: _Step, now: int) -> list[Action]:
        g = self.groups[step.key]
        if step.probe:
            kind = go.Kind.PROBE
        else:
            kind = go.Kind.START if step.start else go.Kind.STOP
            g.undecided = False  # a start or stop settles what the probe found
        op = go.GroupOp(
            g.group,
            kind,
            stop_retry_max=self.config.stop_retry_max,
            stop_retry_delay_ms=self.config.stop_retry_delay_ms,
        )
        self._op = op
        self._op_key = g.key
        out = [] if step.probe else self._set_state(g, STARTING if step.start else STOPPING)
        return out + self._op_steps(op.begin(now), now)

    def _op_steps(self, steps: list[go.Step], now: int) -> list[Action]:
        out: list[Action] = []
        key = self._op_key
        op = self._op
        assert key is not None and op is not None
        g = self.groups[key]
        for st in steps:
            if isinstance(st, go.OpLog):
                out.append(Log(st.level, st.text))
            elif isinstance(st, go.Call):
                if st.action == go.STOP and g.state == STARTING:
                    out += self._set_state(g, STOPPING)
                timeout = {
                    go.START: self.config.start_timeout_s,
                    go.STOP: self.config.stop_timeout_s,
                }.get(st.action, self.config.status_timeout_s)
                op_id = self._next_op_id
                self._next_op_id += 1
                self._call = _Call(
                    op_id,
                    key,
                    st.index,
                    st.action,
                    now + round(timeout * 1000) + self.config.result_grace_ms,
                )
                out.append(RunScript(op_id, key, st.index, st.action, timeout))
            else:
                out += self._op_finished(g, op, st)
        return out

    def _op_finished(self, g: _Group, op: go.GroupOp, fin: go.Finished) -> list[Action]:
        self._op = None
        self._op_key = None
        self._call = None
        kind = op.kind
        leaving = self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE)
        if kind is not go.Kind.START:
            g.releasing = False
        if fin.outcome is go.Outcome.PROBED:
            return self._probed_group(g, op)
        if fin.outcome is go.Outcome.STARTED:
            return self._set_state(g, RUNNING)
        if fin.outcome is go.Outcome.STOPPED:
            return self._set_state(g, STOPPED)
        if fin.outcome is go.Outcome.START_FAILED:
            g.handoff_pending = not leaving
            g.handoff_logged = False
            return self._set_state(g, FAILED)
        # STOP_FAILED: it may still run here, so it stays ours (module docstring, "Stop
        # failure"): never handed on, not even after a failed start's rollback.
        g.handoff_pending = False
        g.handoff_logged = False
        what = "a failed start" if kind is go.Kind.START else "a release"
        return [
            *self._set_state(g, STOP_FAILED),
            Log(Level.CRIT, f"Resource group {g.key} could not be stopped after {what}."),
            self._stop_failed_advice(g),
        ]

    def _probed_group(self, g: _Group, op: go.GroupOp) -> list[Action]:
        g.probed = True
        found = op.found
        if found is go.ResourceStatus.STOPPED or g.state != STOPPED:
            return []
        g.found = tuple(
            r.text
            for r, st in zip(g.group.resources, op.statuses, strict=True)
            if st is not go.ResourceStatus.STOPPED
        )
        g.undecided = True
        if found is go.ResourceStatus.RUNNING:
            log = Log(Level.INFO, f"Resource group {g.key} is already running here.")
            return [log, *self._set_state(g, RUNNING)]
        log = Log(
            Level.WARN,
            f"Resource group {g.key} is partly running here (not stopped: {' '.join(g.found)}).",
        )
        return [log, *self._set_state(g, PARTIAL)]

    # --- adoption of what the probe found -----------------------------------

    def _release_reason(self, g: _Group, incumbent: bool) -> str | None:
        """Why a group found running here must be stopped, or None to adopt it."""
        peer = self.peer
        if peer is None or not peer.alive or peer.released:
            return None
        if not self.nice:
            if g.cls is Hold.LOCAL:
                return None
            return f"its home node {peer.name} is up (auto_failback legacy)"
        if not peer.hold_known or not peer.hold & g.cls.mirrored():
            return None
        if incumbent:
            return f"{peer.name} holds it"
        if g.home != self.me:
            return f"{peer.name} holds it too and is its preferred node"
        return None

    def _resolve_found(self, *, incumbent: bool) -> tuple[list[Action], Hold, bool]:
        """Adopt or release every group the probe found (module docstring, "Adoption").

        Returns the logs, the classes adopted, and whether a release job was queued."""
        out: list[Action] = []
        adopted = Hold.NONE
        stale: list[_Group] = []
        for g in self.groups.values():
            if not g.undecided:
                continue
            g.undecided = False
            why = self._release_reason(g, incumbent)
            if why is None:
                adopted |= g.cls
                self.claim |= g.cls
                out.append(
                    Log(Level.INFO, f"Adopting resource group {g.key}: it keeps running here.")
                    if g.state == RUNNING
                    else Log(
                        Level.INFO,
                        f"Adopting resource group {g.key}: its other resources will be started.",
                    )
                )
                continue
            g.releasing = True
            stale.append(g)
            out += [
                Log(Level.CRIT, f"Resource {text} is active, and should not be!")
                for text in g.found
            ]
            out.append(
                Log(Level.WARN, f"Releasing resource group {g.key} found running here: {why}.")
            )
        if stale:
            self._enqueue(_Job("release found", [_Step(g.key, False) for g in reversed(stale)]))
        return out, adopted, bool(stale)

    def _complete_foreign_job(self) -> _Job:
        """Having adopted a foreign group, we hold the foreign class: run all of it."""
        steps = [_Step(g.key, True) for g in self._ordered(Hold.FOREIGN)]
        return _Job("adopt", steps, self._after_simple_acquire)

    def _script_result(self, rc: int | None, output: str, now: int) -> list[Action]:
        op = self._op
        self._call = None
        if op is None:
            return []
        return self._op_steps(op.result(rc, output, now), now)

    def _set_state(self, g: _Group, new: str) -> list[Action]:
        old = g.state
        if old == new:
            return []
        g.state = new
        if new == STOP_FAILED and self._crit_at is None:
            self._crit_at = self._now + self.config.stop_failed_crit_ms
        return [GroupStateChanged(g.key, old, new)]

    # --- stop failures (module docstring, "Stop failure") --------------------

    def _stop_failed(self, cls: Hold = Hold.ALL) -> list[_Group]:
        return [g for g in self._ordered(cls) if g.state == STOP_FAILED]

    def _stop_failed_advice(self, g: _Group) -> Log:
        """CRIT: what a stop-failed group means and what the administrator can do."""
        peer = self.peer
        head = f"Resource group {g.key} may still be running here: this node keeps holding it"
        if self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER):
            how = (
                f"the shutdown waits for it. Stop its resources by hand: the stop is retried "
                f"every {self.config.shutdown_retry_ms // 1000} s and on SIGTERM"
            )
        elif not self.nice:
            how = "stop its resources by hand, then restart hbeat here (its shutdown retries it)"
        elif peer is None:
            how = "stop its resources by hand, then run hb_takeover here to start it again"
        else:
            how = (
                f"stop its resources by hand, then run hb_standby here (or hb_takeover on "
                f"{peer.name}) to hand it over, or hb_takeover here to run it here"
            )
        if peer is not None:
            head += f" and {peer.name} is not let take it over"
        return Log(Level.CRIT, f"{head}; {how}.")

    def _stop_failed_reminder(self, now: int) -> list[Action]:
        failed = self._stop_failed()
        if not failed or self.phase is Phase.DONE:
            self._crit_at = None
            return []
        self._crit_at = now + self.config.stop_failed_crit_ms
        return [self._stop_failed_advice(g) for g in failed]

    def _hand_over_stopped(self, keys: list[str], why: str) -> list[Action]:
        """Give the peer, one by one, groups we stopped but cannot hand over by the
        protocol that stopped them (because a stop-failed group holds up that protocol)."""
        peer = self.peer
        if peer is None or not peer.alive or peer.released:
            return []
        out: list[Action] = []
        for key in keys:
            g = self.groups[key]
            if g.state != STOPPED:
                continue
            out.append(Log(Level.WARN, f"Handing resource group {key} to {peer.name} ({why})."))
            out.append(SendMessage(rm.ip_request_resp_fields(peer.name, key, True)))
        return out

    # --- settling -----------------------------------------------------------

    def _finish(self, out: list[Action], now: int) -> list[Action]:
        """Run whatever became possible, then report a changed rscstatus."""
        for _ in range(1000):
            before = (len(out), len(self._queue), id(self._job), id(self._op))
            out += self._pump(now)
            if not self.busy:
                out += self._settle(now)
            if (len(out), len(self._queue), id(self._job), id(self._op)) == before:
                break
        held = self.held
        if held != self._last_held:
            self._last_held = held
            out.append(HeldChanged(held))
        return out

    def _settle(self, now: int) -> list[Action]:
        """Decisions taken only when no job runs (one at a time, in this order)."""
        if self.phase is Phase.SHUTTING_DOWN:
            return self._shutdown_release(now)
        if self.phase is not Phase.STABLE:
            return []
        peer = self.peer
        if self.nice and peer is not None and peer.alive and peer.fresh_report:
            peer.fresh_report = False
            out = self._audit(peer)
            if out:
                return out
        out = self._handoffs(peer)
        if out or self._queue:
            return out
        if self._standby is not None:
            return []
        if (
            self.nice
            and self.failback_pending
            and peer is not None
            and peer.alive
            and peer.stable
            and not peer.leaving
        ):
            self.failback_pending = False
            if any(g.state == RUNNING for g in self._ordered(Hold.FOREIGN)):
                return self._ask_standby(Hold.FOREIGN, now)
        return self._reconcile_own(peer)

    def _audit(self, peer: _Peer) -> list[Action]:
        if self._standby is not None:
            return []
        out: list[Action] = []
        if peer.hold & Hold.LOCAL:
            mine = [
                g
                for g in self._ordered(Hold.FOREIGN, reverse=True)
                if g.state in (RUNNING, PARTIAL) and not g.from_peer_failure and not g.releasing
            ]
            if mine:
                out.append(Log(Level.ERROR, "Both machines own foreign resources!"))
                self.claim &= ~Hold.FOREIGN
                self._enqueue(
                    _Job("audit", [_Step(g.key, False) for g in mine], self._after_simple_acquire)
                )
        conflict = False
        if peer.hold & Hold.FOREIGN:
            locals_ = self._ordered(Hold.LOCAL)
            if any(g.state == RUNNING for g in locals_) and not any(
                g.state in (FAILED, STOP_FAILED) for g in locals_
            ):
                conflict = True
                out.append(Log(Level.ERROR, "Both machines own our resources!"))
                # The peer releases its copies of our groups only when a
                # stable report of ours shows we hold them (its own audit,
                # above). After a one-sided partition (we were frozen past
                # deadtime; only the peer saw a partition) we would otherwise
                # never send one and both would keep the groups for good.
                # Once per conflicting report of the peer (the audit runs once
                # per fresh report): after an asymmetric partition our first
                # answer was lost (the peer could not hear us), so the report
                # the peer sends when it hears us again must get one too. The
                # peer's answer stops its copies or claims nothing new: no loop.
                if self.stable:
                    peer.told_we_own_ours = True
                    out.append(SendMessage(rm.resource_fields(self.hold_bits(), True)))
        if not conflict:
            peer.told_we_own_ours = False
        return out

    def _handoffs(self, peer: _Peer | None) -> list[Action]:
        out: list[Action] = []
        for g in self.groups.values():
            if not g.handoff_pending:
                continue
            if g.state != FAILED:
                g.handoff_pending = False
                continue
            if g.from_peer_failure:
                g.handoff_pending = False
                out.append(
                    Log(
                        Level.ERROR,
                        f"Resource group {g.key} failed on both nodes: it is not running anywhere.",
                    )
                )
                continue
            ready = (
                peer is not None
                and peer.alive
                and not peer.leaving
                and (peer.stable or not self.nice)
                and self._standby is None
            )
            if ready:
                assert peer is not None
                g.handoff_pending = False
                out.append(
                    Log(
                        Level.WARN,
                        f"Resource group {g.key} could not be started here: handing it to "
                        f"{peer.name}.",
                    )
                )
                out.append(SendMessage(rm.ip_request_resp_fields(peer.name, g.key, True)))
            elif not g.handoff_logged and (peer is None or not peer.alive):
                g.handoff_logged = True
                out.append(
                    Log(
                        Level.ERROR,
                        f"Resource group {g.key} could not be started and no other node can "
                        f"take it: it is not running anywhere.",
                    )
                )
        return out

    def _reconcile_own(self, peer: _Peer | None) -> list[Action]:
        if not self.nice or not self.claim & Hold.LOCAL:
            return []
        if (
            peer is not None
            and peer.alive
            and (not peer.stable or peer.leaving or peer.hold & Hold.FOREIGN)
        ):
            return []
        if any(g.state in (STOPPED, PARTIAL) for g in self._ordered(Hold.LOCAL)):
            self._enqueue(self._req_our_job())
        return []

    # --- our shutdown -------------------------------------------------------

    def _shutdown_release(self, now: int) -> list[Action]:
        if self._release_queued or self._job is not None or self._op is not None:
            return []
        self._release_queued = True
        self.claim = Hold.NONE
        steps = [
            _Step(g.key, False, retry_failed=True)
            for g in self._ordered(Hold.ALL, reverse=True)
            if g.state in (RUNNING, STARTING, PARTIAL, STOP_FAILED) or not g.probed
        ]
        released = [s.key for s in reversed(steps) if self.groups[s.key].state in CLAIMED_STATES]
        # 3.0.6 says rsc_hold=none here; a group already stop-failed is still ours.
        still = Hold.NONE
        for g in self._stop_failed():
            still |= g.cls
        out: list[Action] = [
            Log(Level.INFO, "Giving up all HA resources."),
            SendMessage(rm.resource_fields(still, False, rm.INFO_SHUTDOWN)),
        ]
        self._queue.append(_Job("shutdown", steps, lambda: self._shutdown_released(released)))
        return out

    def _shutdown_released(self, released: list[str]) -> list[Action]:
        """The shutdown's stops are over: complete it, or wait for stop-failed groups."""
        now = self._now
        failed = self._stop_failed()
        if failed:
            return self._shutdown_blocked(failed, released, now)
        res: list[Action] = []
        if self._shutdown_stuck:
            self._shutdown_stuck = False
            self._shutdown_retry_at = None
            res.append(Log(Level.INFO, "The failed stops succeeded: completing the shutdown."))
        res += [
            Log(Level.INFO, "All HA resources relinquished."),
            SendMessage(rm.shutdone_fields()),
        ]
        peer = self.peer
        if self._was_up and peer is not None and peer.alive and not peer.released:
            res.append(Log(Level.INFO, "Waiting to allow resource takeover to complete"))
            self.phase = Phase.WAIT_TAKEOVER
            self._shutdown_deadline = now + self.config.shutdown_wait_ms
            return res
        return res + self._shutdown_complete()

    def _shutdown_blocked(
        self, failed: list[_Group], released: list[str], now: int
    ) -> list[Action]:
        """Stop-failed groups hold the shutdown up ("Stop failure" rule 5)."""
        self._shutdown_retry_at = now + self.config.shutdown_retry_ms
        retry_s = self.config.shutdown_retry_ms // 1000
        names = " ".join(g.key for g in failed)
        out: list[Action] = [self._report(rm.INFO_SHUTDOWN)]
        if self._shutdown_stuck:
            out.append(
                Log(
                    Level.CRIT,
                    f"Shutdown still blocked: resource group(s) {names} could not be stopped; "
                    f"retrying in {retry_s} s.",
                )
            )
            return out
        self._shutdown_stuck = True
        peer = self.peer
        other = peer.name if peer is not None else "another node"
        out += [
            Log(
                Level.CRIT,
                f"Shutdown cannot complete: resource group(s) {names} could not be stopped and "
                f"may still be running here. Not sending shutdone: {other} will not take "
                f"them over while this node runs. Retrying the stops every {retry_s} s and "
                f"on SIGTERM.",
            ),
            Log(
                Level.CRIT,
                f"If hbeat is killed instead (systemd's TimeoutStopSec, 15 min in "
                f"hbeat.service), {other} takes every group over after deadtime as after a "
                f"crash, with {names} possibly still running here: stop them by hand, and "
                f"configure STONITH so that a crashed node is fenced.",
            ),
        ]
        out += self._hand_over_stopped(released, "shutdown")
        return out

    def _retry_stuck_shutdown(self, now: int, why: str) -> list[Action]:
        if self.busy:
            return [Log(Level.INFO, f"Shutdown: {why}; the stops are being retried already.")]
        failed = self._stop_failed()
        self._shutdown_retry_at = None
        steps = [_Step(g.key, False, retry_failed=True) for g in reversed(failed)]
        self._queue.append(_Job("shutdown retry", steps, lambda: self._shutdown_released([])))
        return [
            Log(
                Level.INFO,
                f"Shutdown: {why}: retrying the stop of {' '.join(g.key for g in failed)}.",
            )
        ]

    def _shutdown_complete(self) -> list[Action]:
        self.phase = Phase.DONE
        self._shutdown_deadline = None
        return [ShutdownComplete()]


__all__ = [
    "FAILED",
    "HELD_STATES",
    "PARTIAL",
    "RUNNING",
    "STARTING",
    "STOPPED",
    "STOPPING",
    "STOP_FAILED",
    "TRANSITION",
    "Action",
    "GroupStateChanged",
    "HeldChanged",
    "Log",
    "Phase",
    "Resources",
    "ResourcesConfig",
    "RunScript",
    "SendMessage",
    "ShutdownComplete",
]
