"""The supervisor process (`hbeat: supervisor`): wires membership to the world.

It owns three ZeroMQ sockets under the runtime directory (the worker bus,
the control API, the status feed), the sequence board, the worker pool and
one `Membership`, and, when ha.cf says so, the watchdog device (petted on
each turn of its loop), the respawn clients and this node's side of DRBD
peer outdating (docs/self-fencing.md). Its loop waits on those sockets until the
nearest deadline (membership's next death or retransmission, a worker
restart, the lease renewal, the systemd watchdog, the next pet or respawn),
feeds what arrived into membership, and carries out the actions that come
back. It never blocks on anything else and never runs a resource script.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

import linklayer
from hbeat import __version__
from hbeat.config.fencing import watchdog_timeout_s
from hbeat.config.model import ClusterConfig, Mcast, Medium, Serial, Ucast
from hbeat.config.probe import SystemProbe
from hbeat.control import (
    CONTROL,
    QUERY,
    READ_ONLY,
    ControlErrno,
    ControlError,
    make_error,
    make_reply,
    parse_request,
)
from hbeat.ipc.bus import (
    BusError,
    Error,
    Fatal,
    Hello,
    Junk,
    LinkReady,
    LinkSetup,
    MediumSpec,
    RejectCount,
    Rejected,
    Rx,
    Send,
    Sent,
    Status,
    Stop,
    Warm,
    Warn,
    decode_link_report,
    drain,
)
from hbeat.ipc.executor import Outcome, is_failure
from hbeat.ipc.heardboard import HeardBoard
from hbeat.ipc.journal import Kind
from hbeat.ipc.keepalive import KeepaliveContent, content_key
from hbeat.ipc.leasefile import LeaseFile
from hbeat.ipc.seqboard import COUNT_AT, LEASE_AT, MAGIC, SENT_RING, SIZE, SeqBoard
from hbeat.lease import lease_ms, renew_due, renew_every_ms
from hbeat.logfmt import Level
from hbeat.schedslice import set_timer_slack, shorten_slice
from hbeat.sdnotify import Notifier
from linklayer.errors import FrameError
from linklayer.leasepoll import LeasePlan, LeasePoll
from supervisor import fencing as fc
from supervisor import journalhooks as jh
from supervisor import membership as mb
from supervisor import outdate as od
from supervisor import resources as rs
from supervisor import rscmessages as rm
from supervisor.clients import Clients
from supervisor.commands import ControlCommands, build_snapshot
from supervisor.executorlink import EXECUTOR, LEASE_FILE, ExecutorLink
from supervisor.feed import Feed
from supervisor.generation import bump_generation, load_or_create_uuid
from supervisor.journal import Journal
from supervisor.logsink import LogSink
from supervisor.messages import Envelope, MessageError
from supervisor.metricsink import make_metrics
from supervisor.peerstate import PeerStore
from supervisor.pinglink import PING_WORKER, PingLink
from supervisor.quietlinks import Keepalive, QuietLinks, quiet_gap_ms
from supervisor.restartpolicy import RestartPolicy
from supervisor.rscactions import MonitorEvent
from supervisor.rundir import (
    PRIVATE,
    AlreadyRunning,
    DirectoryError,
    InstanceLock,
    bind_restricted,
    client_gid,
    prepare_dir,
)
from supervisor.selffence import fence_reason
from supervisor.signals import Signals
from supervisor.wakeup import coarse_poll_ms
from supervisor.watchdog import Watchdog, WatchdogError
from supervisor.workerpool import WorkerPool
from supervisor.zwait import ZmqWait

if TYPE_CHECKING:
    from supervisor.feedtcp import TcpFeed

SNAPSHOT_EVERY_S = 10.0
SNAPSHOT_EARLY_S = 2.0
"""A turn this close to the next snapshot publishes it then, rather than the
loop waking for it alone (the peers' periodic acks make such turns)."""
CONTENTS_KEPT = 64  # keepalive contents remembered for the keepalive log
# How often the loop offers the peers' records (generation, ts) to the peer
# store, which writes them when a generation changed or every SAVE_EVERY_MS;
# a peer's state change or restart offers them at once.
PEER_RECORDS_EVERY_MS = 1000
# The workers are reaped when SIGCHLD says one ended (supervisor/signals.py),
# and at least this often, whatever a signal disposition may have become.
REAP_EVERY_S = 10.0
# Group states in which a group may be running here (self-fencing, docs/self-fencing.md).
RUNNING_HERE = frozenset({"starting", "running", "stopping", "stop-failed", "partial"})
EXIT_FENCED = 1
BUS_BATCH = 256  # worker messages handled per loop turn at most
HELD_FRAMES = 64  # frames kept for a link that is not open yet
# Test and tuning hook: `name=value,...` overriding ResourcesConfig timers, e.g.
# HBEAT_RESOURCE_TIMERS="start_timeout_s=3,stop_retry_max=2,rqstdelay_ms=2000".
RESOURCE_TIMERS_ENV = "HBEAT_RESOURCE_TIMERS"
# Debug hooks (control command `debug-stall`) exist only when the daemon was
# started with HBEAT_DEBUG=1 in its environment.
DEBUG_ENV = "HBEAT_DEBUG"
RESOURCE_TIMERS = (
    "rqstdelay_ms", "standby_timeout_ms", "stop_retry_max", "stop_retry_delay_ms",
    "start_timeout_s", "stop_timeout_s", "status_timeout_s", "result_grace_ms",
    "shutdown_wait_ms", "stop_failed_crit_ms", "shutdown_retry_ms",
    "fence_timeout_s", "fence_retry_ms", "fence_retry_max_ms",
)


# `drbdadm` for peer outdating: $HBEAT_DRBDADM (a test hook), else the first found.
DRBDADM_ENV = "HBEAT_DRBDADM"
DRBDADM_PATHS = ("/usr/sbin/drbdadm", "/sbin/drbdadm")
OUTDATE_TIMEOUT_S = 10.0


def drbdadm_path() -> str:
    override = os.environ.get(DRBDADM_ENV)
    if override:
        return override
    return next((p for p in DRBDADM_PATHS if os.access(p, os.X_OK)), DRBDADM_PATHS[0])


# The supervisor's sleeps end this close to when they were asked to end
# (default 50 us): its last sleep to a peer's deadline (supervisor/wakeup.py).
TIMER_SLACK_NS = 5_000


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def worker_name(medium: Medium) -> str:
    """A unique process name per medium line: `bcast eth1`, `ucast eth1 10.0.0.2`."""
    if isinstance(medium, Ucast):
        return f"ucast {medium.interface} {medium.peer}"
    if isinstance(medium, Mcast):
        return f"mcast {medium.interface} {medium.group}"
    if isinstance(medium, Serial):
        return f"serial {medium.device}"
    return f"bcast {medium.interface}"


def medium_spec(medium: Medium, media: tuple[Medium, ...] = ()) -> MediumSpec:
    name = worker_name(medium)
    if isinstance(medium, Serial):
        return MediumSpec("serial", name, medium.device, baud=medium.baud)
    if isinstance(medium, Ucast):
        peers = tuple(sorted({m.peer for m in media if isinstance(m, Ucast)
                              and m.interface == medium.interface} | {medium.peer}))
        return MediumSpec("ucast", name, medium.interface, medium.port, peer=medium.peer,
                          accept_from=peers)
    if isinstance(medium, Mcast):
        return MediumSpec("mcast", name, medium.interface, medium.port, group=medium.group,
                          ttl=medium.ttl, loop=medium.loop)
    return MediumSpec("bcast", name, medium.interface, medium.port)


def resource_timers(text: str) -> dict[str, float]:
    """Parse $HBEAT_RESOURCE_TIMERS (`name=value,...`, names from RESOURCE_TIMERS:
    `_s` values are seconds and may be fractional, the others whole numbers)."""
    timers: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in RESOURCE_TIMERS:
            raise ValueError(f"{RESOURCE_TIMERS_ENV}: {item!r} is not name=value with a name "
                             f"among {', '.join(RESOURCE_TIMERS)}")
        try:
            number = float(value) if name.endswith("_s") else int(value)
        except ValueError:
            raise ValueError(f"{RESOURCE_TIMERS_ENV}: {name}={value!r} is not a "
                             f"{'number' if name.endswith('_s') else 'whole number'}") from None
        if number < 0 or (number == 0 and name != "stop_retry_max"):
            least = "0 or more" if name == "stop_retry_max" else "positive"
            raise ValueError(f"{RESOURCE_TIMERS_ENV}: {name} must be {least}, not {value}")
        timers[name] = number
    return timers


@dataclass
class Options:
    runtime_dir: Path
    state_dir: Path
    foreground: bool = True


class Supervisor:
    def __init__(self, config: ClusterConfig, options: Options) -> None:
        self.config = config
        self.options = options
        self.node = config.node_name
        self.log_sink = LogSink(self.node, config.logging, entity=config.logging.program)
        self.notifier = Notifier()
        self.running = True
        self.ready_sent = False
        timers = config.timers
        self.keepalive_ms = timers.keepalive_ms
        self.lease_ms = lease_ms(timers.keepalive_ms, timers.deadtime_ms)
        self.workers_by_name = {worker_name(md): md for md in config.media}
        # A link is a (node, link name) pair, as in heartbeat: several media on
        # one interface (one ucast line per peer) are one link `eth1`.
        self.link_names = tuple(dict.fromkeys(md.name for md in config.media))
        self.worker_ready: set[str] = set()
        self.held_frames: dict[str, deque[Send]] = {}
        """Frames for links not open yet, sent when they open (bounded)."""
        self.last_sent_seq = 0
        self.sent_read = 0  # entries of the board's keepalive log read so far
        self.contents: dict[int, KeepaliveContent] = {}
        """The keepalive contents handed to the workers, by content_key (the
        newest CONTENTS_KEPT): what a keepalive log entry names."""
        self.counters = {"rx_frames": 0, "rx_quiet": 0, "rx_rejected": 0, "rx_junk_bytes": 0,
                         "bus_errors": 0, "loop_turns": 0}
        self.quiet = QuietLinks()
        """The peers' keepalives the workers recorded on their heard boards
        instead of forwarding them (docs/processes.md, "Quiet keepalives")."""
        self.heard_boards: dict[str, HeardBoard] = {}
        self.warmed_for: int | None = None
        """The membership deadline the link workers were last woken for."""
        self.bus_lost: dict[str, int] = {}
        self.backlog_since_ms: int | None = None
        self.torn_since_ms: int | None = None
        """Since when a heard board slot could not be read (see `run`)."""
        self.started_wall = time.time()
        self.settle_until_ms = 0  # no membership deadlines before this (after a stall)
        # A status call's spawn and exit stamps, when the journal left it out,
        # until the start of that resource that follows it (_script_done).
        self.status_stamps: dict[tuple[Any, Any], tuple[int, int | None]] = {}
        self.last_turn_ms = 0
        self.groups = {g.key: g for g in config.groups}
        self.resources: rs.Resources | None = None
        self.commands = ControlCommands(self)
        self.executor = ExecutorLink(
            config, self._bus_send, self.log,
            self._executor_done,
            fence_done=self._fence_done,
        )
        self.stop_requests = 0
        self.retry_shutdown = False
        self.shutdown_started = False
        self.resource_timers: dict[str, float] = {}
        self.debug = os.environ.get(DEBUG_ENV) == "1"
        self.stall_ms = 0  # debug-stall: block the loop this long ...
        self.stall_every_s = 0.0  # ... this often (0 ms: off)
        self.next_stall = 0.0
        self.watchdog: Watchdog | None = None
        self.fenced = False  # self-fenced: release everything, exit EXIT_FENCED
        # ipfail is built in (supervisor/pinglink.py): its respawn line is never run.
        self.clients = Clients(tuple(c for c in config.hacf.clients if not c.is_ipfail),
                               self.log, self.fence_self)
        self.outdater = od.Outdater(self.node)
        self.partition_seen_ms: int | None = None  # last stall, death or heal seen here
        self.metrics_write_failed = False
        # counted from the start when an output is configured (prometheus_client
        # is imported only then); the membership counters are read when scraped
        hacf = config.hacf
        self.metrics_exported = (hacf.metrics_listen is not None
                                 or hacf.metrics_textfile is not None)
        self.metrics = make_metrics(
            self.metrics_exported,
            config.nodes, tuple(self.groups), lambda: self.membership.counters.as_dict(),
            ping_nodes=tuple(p.name for p in config.hacf.ping_nodes))
        self.ping = PingLink(config, self)

    # --- metrics (docs/metrics.md) -----------------------------------------

    def _start_metrics(self) -> None:
        """Metrics are always counted; served or written only when ha.cf asks."""
        listen = self.config.hacf.metrics_listen
        if listen is not None:
            try:
                self.metrics.serve(*listen)
            except OSError as exc:
                self.log(Level.ERROR, f"metrics: cannot listen on {listen[0]}:{listen[1]}: "
                                      f"{exc.strerror or exc}; no metrics endpoint")
            else:
                self.log(Level.INFO, f"metrics: http://{listen[0]}:{listen[1]}/metrics")

    def _write_metrics(self) -> None:
        path = self.config.hacf.metrics_textfile
        if path is not None:
            try:
                self.metrics.write_textfile(path)
            except OSError as exc:
                if not self.metrics_write_failed:
                    self.log(Level.ERROR, f"metrics: cannot write {path}: {exc}")
                self.metrics_write_failed = True
            else:
                self.metrics_write_failed = False

    def _script_done(self, op: int, rc: int | None, verdict: Outcome) -> None:
        self.metrics.on_script_done(op, rc is None or is_failure(verdict), now_ms())
        decision, took, info = self.journal.op_finished("script", op, now_ms())
        # With the executor's CLOCK_REALTIME stamps of the call's exec and exit:
        # the scripts' own share of a takeover (bench/cluster/scenarios.py).
        result = self.executor.last_result
        if result is not None and result.id == op and result.spawn_ns is not None:
            info["spawn_ns"], info["exit_ns"] = result.spawn_ns, result.exit_ns
        where = (info.get("group"), info.get("resource"))
        # A status call is worth a line when it fails, or finds a group running
        # at start-up (adopted); a monitor's probe (quiet) never: its failure is
        # the monitor-failed cause that follows. The start that follows a status
        # left out carries its stamps (status_spawn_ns, status_exit_ns).
        quiet = info.pop("quiet", False)
        if not quiet and (
                info.get("action") != "status" or is_failure(verdict) or (
                verdict == "running" and self.journal.why_of(decision) == "startup")):
            status = self.status_stamps.pop(where, None)
            if status is not None and info.get("action") == "start":
                info["status_spawn_ns"], info["status_exit_ns"] = status
            self.journal.record(Kind.SCRIPT, decision=decision, duration_ms=took, rc=rc,
                                verdict=verdict, **info)
        elif not quiet and info.get("action") == "status" and "spawn_ns" in info:
            self.status_stamps[where] = (info["spawn_ns"], info["exit_ns"])
            while len(self.status_stamps) > 64:  # statuses no start followed
                del self.status_stamps[next(iter(self.status_stamps))]
        with self.journal.within(decision):
            self._to_resources(lambda r, now: r.script_done(op, rc, verdict, now))

    def _fence_done(self, op: int, rc: int | None) -> None:
        decision, took, info = self.journal.op_finished("fence", op, now_ms())
        self.journal.record(Kind.FENCE, node=info.pop("node", None), decision=decision,
                            rc=rc, duration_ms=took, **info)
        with self.journal.within(decision):
            self._to_resources(lambda r, now: r.fence_done(op, rc, now))

    # --- logging and the bus ------------------------------------------------

    def _bus_send(self, parts: list[bytes]) -> None:
        self.bus.send_multipart(parts)

    def log(self, level: Level, text: str) -> None:
        self.log_sink.log(level, text)

    # --- the ping link's host (supervisor/pinglink.py) ----------------------

    def send_to_worker(self, name: str, parts: list[bytes]) -> None:
        self.bus.send_multipart([name.encode(), *parts])

    def send_cluster(self, fields: tuple[linklayer.Field, ...]) -> None:
        self.apply(self.membership.send(fields, now_ms()))

    def ping_changed(self, node: str, old: str, new: str) -> None:
        self.feed.node(node, old, new, "ping node answers" if new == "ping"
                       else f"no ping answer for {self.config.timers.deadping_ms} ms (deadping)")
        self.metrics.on_ping_node(node, new == "ping")

    def standby(self, which: str) -> None:
        if self.resources is not None:
            jh.ipfail_request(self.journal, self.node, which, self.ping.ipfail)
            self.apply_resources(self.resources.standby(which, now_ms()))

    def resources_state(self) -> tuple[bool, str] | None:
        if self.resources is None or self.shutdown_started:
            return None
        return self.resources.stable, self.resources.held

    # --- setup --------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        """Raises DirectoryError (a link, a file, another owner) or AlreadyRunning."""
        rd = self.options.runtime_dir
        prepare_dir(rd, 0o750)
        # root and the haclient group may use the sockets (as heartbeat's API).
        # No such group, or one not mapped in a user namespace: root only.
        with contextlib.suppress(KeyError, OSError):
            os.chown(rd, 0, grp.getgrnam("haclient").gr_gid)
        prepare_dir(self.options.state_dir, 0o700)
        self.instance_lock = InstanceLock(rd)
        self.instance_lock.acquire()

    def _bind(self) -> None:
        rd = self.options.runtime_dir
        private = rd / PRIVATE
        prepare_dir(private, 0o700)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        owners = {0, os.geteuid()}
        clients = client_gid()
        self.bus = self.ctx.socket(zmq.ROUTER)
        self.bus.setsockopt(zmq.LINGER, 0)
        bind_restricted(self.bus, private / "bus", uids=owners)
        self.control = self.ctx.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        bind_restricted(self.control, rd / CONTROL, uids=owners)
        self.query = self.ctx.socket(zmq.ROUTER)
        self.query.setsockopt(zmq.LINGER, 0)
        bind_restricted(self.query, rd / QUERY, uids=owners, gid=clients)
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        bind_restricted(pub, rd / "status", uids=owners, gid=clients)
        with contextlib.suppress(FileNotFoundError):
            (rd / "bus").unlink()  # left by an older version
        self.feed = Feed(pub)
        self.tcp_feed: TcpFeed | None = None
        spec = self.config.hacf.status_tcp
        if spec is not None:
            from supervisor.feedtcp import TcpFeed  # zmq.auth's thread, only when asked for

            try:
                self.tcp_feed = TcpFeed(self.ctx, spec)
            except (zmq.ZMQError, OSError, ValueError) as exc:
                self.log(Level.ERROR, f"status_tcp: cannot offer the feed on {spec.endpoint}: "
                                      f"{exc}; the ipc feed works as usual")
            else:
                self.feed.add_socket(self.tcp_feed.socket)
                how = "CURVE" if spec.curve else "INSECURE, no authentication"
                self.log(Level.INFO, f"status feed also on {spec.endpoint} ({how})")

    def _start_membership(self) -> None:
        state = self.options.state_dir
        generation = bump_generation(state, log=self.log)
        self.journal = Journal(state, self.log)  # docs/journal.md
        self.journal.load()
        self.journal.start()
        self.journal.record(Kind.STARTUP, f"generation {generation}",
                            node=self.config.node_name, generation=generation)
        uuid = load_or_create_uuid(state)
        self.peer_store = PeerStore(state, self.log)
        records = self.peer_store.load(self.config.peers)
        timers = self.config.timers
        hacf = self.config.hacf
        now = now_ms()
        self.board = SeqBoard.create(
            self.options.runtime_dir / PRIVATE / "seqboard",
            t0_ns=time.monotonic_ns(),
            interval_ns=timers.keepalive_ms * 1_000_000,
            generation=generation,
            lease_ns=time.monotonic_ns() + self.lease_ms * 1_000_000,
        )
        # The loop's sleep keeps the lease renewed (linklayer/leasepoll.py).
        self.lease_board = LeasePoll(self.board.path, size=SIZE, magic=MAGIC, lease_at=LEASE_AT,
                                     count_at=COUNT_AT)
        self.membership = mb.Membership(
            mb.MembershipConfig(
                local=self.node,
                nodes=self.config.nodes,
                media=self.link_names,
                keepalive_ms=timers.keepalive_ms,
                deadtime_ms=timers.deadtime_ms,
                warntime_ms=timers.warntime_ms,
                initdead_ms=timers.initdead_ms,
                max_rexmit_delay_ms=hacf.max_rexmit_delay_ms,
                hopfudge=hacf.hopfudge,
                max_clock_skew_ms=hacf.max_clock_skew_ms,
            ),
            generation=generation,
            uuid=uuid,
            now=now,
            wall_s=time.time(),
            rng=random.Random(),
            allocate_seq=self.board.allocate,
            issued_seq=self.board.issued,
            records=records,
        )
        self.uuid = uuid
        self.generation = generation
        self.log(Level.INFO, f"Heartbeat generation: {generation}")
        pair = self.config.resource_nodes
        if self.config.groups and self.config.node_name not in pair:
            self.log(Level.INFO, f"No resources run here: haresources homes its groups on "
                                 f"{' and '.join(pair)}, which take them over from each "
                                 f"other; this node is a member only.")
        elif self.config.groups:
            # ResourcesConfig checks what haresources mode can run (two nodes).
            overrides = self.resource_timers
            if overrides:
                self.log(Level.INFO, f"{RESOURCE_TIMERS_ENV}: resource timers {overrides}")
            stonith = SystemProbe().stonith_command() if self.config.stonith_devices else None
            self.resources = rs.Resources(
                rs.ResourcesConfig.from_cluster(
                    self.config, **overrides,
                    **({"stonith_command": stonith} if stonith else {}),  # type: ignore[arg-type]
                ), now)
            # Probe what runs here (status of every resource) while membership
            # waits for comm-up: found groups are adopted or released then.
            self.apply_resources(self.resources.start(now))

    def _start_workers(self) -> None:
        self.pool = WorkerPool(f"ipc://{self.options.runtime_dir / PRIVATE / 'bus'}")
        deadtime_s = self.config.timers.deadtime_ms / 1000
        for name in self.workers_by_name:
            self.pool.add(name, "workers.link", RestartPolicy.for_deadtime(deadtime_s),
                          keyring=lambda: self.config.keyring)
        if self.resources is not None:
            self.executor.lease = LeaseFile.create(self.options.runtime_dir / PRIVATE / LEASE_FILE)
            self.pool.add(EXECUTOR, "workers.executor", RestartPolicy.for_deadtime(deadtime_s))
        if self.ping.enabled:
            self.pool.add(PING_WORKER, "workers.ping", RestartPolicy.for_deadtime(deadtime_s))
        self.pool.start_all(time.monotonic())

    # --- keepalive content --------------------------------------------------

    def keepalive_content(self) -> KeepaliveContent:
        ka = self.membership.keepalive_content(now_ms())
        return KeepaliveContent(
            st=ka.st, dt_ms=ka.dt_ms, protocol=ka.protocol, src=self.node,
            srcuuid=self.uuid, hg=self.generation, ttl=self.membership.config.ttl,
            status_seq=ka.status_seq,
        )

    def _handed_out(self, content: KeepaliveContent) -> KeepaliveContent:
        """Remember `content` (given to a worker) for the keepalive log."""
        key = content_key(content)
        self.contents.pop(key, None)
        self.contents[key] = content
        while len(self.contents) > CONTENTS_KEPT:
            del self.contents[next(iter(self.contents))]
        return content

    def read_sent_log(self) -> None:
        """The keepalives the workers logged on the board since the last call,
        into the retransmission history (as a `sent` report would put them).
        One 8-byte read when nothing is new: it runs on every turn of the
        loop and before the workers' messages are handled, so a peer's
        retransmission request finds every keepalive sent before it."""
        if self.board.sent_count() == self.sent_read:
            return
        self.sent_read, entries, lost = self.board.sent_since(self.sent_read)
        if lost:
            self.log(Level.WARN, f"{lost} keepalives were not kept for retransmission "
                                 "(the supervisor was behind the workers' log)")
        for entry in entries:
            content = self.contents.get(entry.content_key)
            if content is None:
                self.log(Level.ERROR, f"keepalive {entry.seq}: built from a content this "
                                      "supervisor did not hand out; not kept for "
                                      "retransmission")
                continue
            self.on_sent(Sent(entry.seq, entry.ts, entry.ld, entry.tick, True, content))

    def _setup_for(self, name: str) -> LinkSetup:
        # Messages numbered before the ones held for it went to the worker
        # this one replaces (or nowhere): its keepalives must not wait for them.
        held = [order.seq for order in self.held_frames.get(name, ()) if order.seq]
        before = min(held) - 1 if held else self.board.read().msg_seq
        return LinkSetup(
            medium=medium_spec(self.workers_by_name[name], self.config.hacf.media),
            board=str(self.options.runtime_dir / PRIVATE / "seqboard"),
            status=self._handed_out(self.keepalive_content()),
            realtime=self.config.hacf.realtime,
            rtprio=self.config.hacf.rtprio,
            # Metrics count every keepalive of every link and every message
            # received, our own echoes too: only then does each worker report
            # all of them (otherwise one report per tick: docs/processes.md).
            report_all=self.metrics_exported,
            messages_before=before,
            heard=self._new_heard_board(name),
            quiet_gap_ms=quiet_gap_ms(self.keepalive_ms, self.membership.config.warntime),
        )

    def _new_heard_board(self, name: str) -> str:
        """A new, empty heard board for the worker of `name` starting now
        (""; no quiet keepalives when every frame is to be reported)."""
        old = self.heard_boards.pop(name, None)
        if old is not None:
            old.close()
        self.quiet.reset(name)
        if self.metrics_exported:
            return ""
        index = list(self.workers_by_name).index(name)
        board = HeardBoard.create(self.options.runtime_dir / PRIVATE / f"heard{index}")
        self.heard_boards[name] = board
        return str(board.path)

    def _warm_links(self) -> None:
        """A peer may be declared dead in under FINE_NS: wake the link workers
        (asleep in their C waits while the keepalives were quiet) so that the
        `stonith` frame finds their interpreters warm (hbeat/ipc/bus.py, Warm)."""
        body = Warm().encode()
        for name in self.worker_ready:
            self.bus.send_multipart([name.encode(), *body])

    def read_heard_boards(self) -> bool:
        """The quiet keepalives the workers recorded since the last call, to
        membership as the messages they stand for (a run that began after a
        frame still on the bus waits for it: supervisor/quietlinks.py).
        Returns whether every slot was read (False: a worker was writing one,
        or stopped while it did)."""
        whole = True
        resynced = self.quiet.resynced
        for name, board in self.heard_boards.items():
            runs = board.runs()
            whole = whole and not board.torn
            for _slot, run in runs:
                keepalives = self.quiet.on_board(name, run, time.monotonic_ns())
                if keepalives:
                    self._apply_quiet(keepalives, self.workers_by_name[name].name)
            if self.quiet.resynced != resynced:
                resynced = self.quiet.resynced
                self.log(Level.WARN, f"{name}: quiet keepalives applied without a frame the "
                                     "worker sent before them (lost on the bus)")
        return whole

    def read_before_judging(self) -> int:
        """What silence is judged on includes the quiet keepalives: read the
        boards. A slot being written (or whose worker stopped while writing
        it) may hold the keepalive that keeps a peer alive, so no one is
        judged silent until it is read, for at most a keepalive interval.
        Returns the time (ms) to judge at."""
        whole = self.read_heard_boards()
        now = now_ms()
        if whole:
            self.torn_since_ms = None
        else:
            if self.torn_since_ms is None:
                self.torn_since_ms = now
            if now - self.torn_since_ms < self.keepalive_ms:
                self.settle_until_ms = max(self.settle_until_ms, now + 1)
        return now

    def _apply_quiet(self, keepalives: list[Keepalive], medium: str) -> None:
        mono, wall = time.monotonic_ns(), time.time()
        for ka in keepalives:
            self.counters["rx_quiet"] += 1
            self.apply(self.membership.receive(ka.fields, medium, ka.heard_ns // 1_000_000,
                                               wall_s=wall - (mono - ka.heard_ns) / 1e9))

    # --- actions ------------------------------------------------------------

    def _send_frame(self, fields: tuple[linklayer.Field, ...], seq: int) -> None:
        """Send a stamped message on every medium; `seq`: the number taken
        for it now (0 for none, and for a retransmission), with which each
        worker writes it before any keepalive numbered above it."""
        keyring = self.config.keyring
        encoded: dict[str, bytes] = {}
        for name, medium in self.workers_by_name.items():
            form = "classic" if isinstance(medium, Serial) else "netstring"
            if form not in encoded:
                encoder = linklayer.encode_classic if form == "classic" else (
                    linklayer.encode_netstring)
                encoded[form] = encoder(list(fields), keyring)
            if name in self.worker_ready:
                self.bus.send_multipart([name.encode(), *Send(encoded[form], seq).encode()])
            else:
                # Not open yet (start-up) or restarting: sent when it is, so a
                # message goes out on every medium, as heartbeat's does.
                held = self.held_frames.setdefault(name, deque(maxlen=HELD_FRAMES))
                held.append(Send(encoded[form], seq))

    def _push_keepalive_content(self) -> None:
        body = Status(self._handed_out(self.keepalive_content())).encode()
        for name in self.worker_ready:
            self.bus.send_multipart([name.encode(), *body])

    def apply(self, actions: list[mb.Action]) -> None:
        """Carry out membership's actions; cluster events also reach resources.

        A death's takeover (the `stonith` frame, the first script) is ordered
        before what only reports the death (feed, metrics, status line): those
        follow in the same turn, a fraction of a millisecond later. Its log
        and journal lines are held until the orders are out
        (`_hold_writers`)."""
        reports: list[Callable[[], None]] = []
        held = any(isinstance(action, mb.NodeDead) for action in actions)
        if held:
            self._hold_writers()
        try:
            self._apply(actions, reports)
        finally:
            if held:
                self._release_writers()
        for deferred in reports:
            deferred()

    def _hold_writers(self) -> None:
        """Until `_release_writers`, the log and journal lines of this turn wait
        in memory, in order and stamped with their time: their writer threads
        would otherwise wake now and compete for the interpreter with the
        death's takeover orders (docs/processes.md, "A death's orders first")."""
        self.log_sink.holdback.hold()
        self.journal.holdback.hold()

    def _release_writers(self) -> None:
        self.journal.holdback.release()
        self.log_sink.holdback.release()

    def _apply(self, actions: list[mb.Action], reports: list[Callable[[], None]]) -> None:
        for action in actions:
            if isinstance(action, mb.Log):
                self.log(action.level, action.text)
            elif isinstance(action, mb.SendMessage):
                self._send_frame(action.fields, action.seq or 0)
            elif isinstance(action, mb.Resend):
                self._send_frame(action.fields, 0)
            elif isinstance(action, mb.KeepaliveChanged):
                self._push_keepalive_content()
            elif isinstance(action, mb.NodeStateChanged):
                info = self.membership.nodes.get(action.node)
                # The journal first: the takeover's steps cite this decision.
                jh.node_changed(self.journal, self.node, action, {
                    md: li.last_heard for md, li in (info.links.items() if info else ())},
                    now_ms(), time.time_ns())
                if action.new == mb.DEAD:
                    reports.append(functools.partial(self._report_node, action))
                else:
                    self._report_node(action)
                if action.old == mb.DEAD and action.new != mb.DEAD:
                    self.ping.peer_up(action.node)
                    # Back from the dead, in whatever state it first reports
                    # (a restarted peer says `init` first): only membership
                    # tells the resource machine that a peer lives.
                    self._to_resources(lambda r, now, n=action.node: r.node_up(n, now))
            elif isinstance(action, mb.LinkStateChanged):
                self.feed.link(action.node, action.medium, action.old, action.new)
                self.metrics.on_link(action.node, action.medium, action.new)
            elif isinstance(action, mb.CommUp):
                self.feed.cluster("comm-up")
                for peer in self.config.peers:
                    self.ping.peer_up(peer)
                self._to_resources(lambda r, now: r.comm_up(now))
            elif isinstance(action, mb.NodeDead):
                self.partition_seen_ms = now_ms()
                died_ms = now_ms()
                # The fencing verdict's `stonith` frame first, then the takeover job's
                # first steps (resources.node_dead in two calls).
                self._to_resources(lambda r, now, n=action.node: r.node_dead_orders(n, now))
                self._to_resources(lambda r, now: r.settle(now))
                self._release_writers()  # the orders are out
                for deferred in reports:
                    deferred()
                reports.clear()
                self.feed.cluster("node-dead", node=action.node)
                self.ping.peer_dead(action.node)
                if action.node in self.config.resource_nodes:
                    self.metrics.on_node_dead(died_ms)
                # After the takeover's orders (the stonith frame, the first
                # script): saving waits for the disk (two fsyncs).
                self.peer_store.update(self.membership.peer_records(), now_ms(), force=True)
            elif isinstance(action, mb.PeerRestarted):
                self.peer_store.update(self.membership.peer_records(), now_ms())
                self.journal.record(Kind.PEER_RESTARTED, node=action.node, old=action.old_gen,
                                    new=action.new_gen)
                # its count is stale and it forgot ours
                self.ping.peer_dead(action.node)
                self.ping.peer_up(action.node)
                self.feed.cluster(
                    "peer-restarted", node=action.node, old_generation=action.old_gen,
                    new_generation=action.new_gen,
                )
                self._to_resources(lambda r, now, n=action.node: r.peer_restarted(n, now))
            elif isinstance(action, mb.PartitionHealed):
                self.journal.record(Kind.PARTITION_HEALED, node=action.node)
                self.partition_seen_ms = now_ms()
                self.feed.cluster("partition", node=action.node)
                self._to_resources(
                    lambda r, now, n=action.node: r.node_returned_after_partition(n, now))
            elif isinstance(action, mb.Deliver):
                if not action.local and action.node != self.node:
                    self._journal_peer_request(action.node, action.message)
                    self._check_fence(action.message)
                    self._outdate_message(action.message)
                    self._ping_message(action.message)
                self._to_resources(
                    lambda r, now, a=action: r.message(a.node, a.message, now, local=a.local))

    def _report_node(self, change: mb.NodeStateChanged) -> None:
        """What tells the world a peer's state changed: feed, metrics, the
        status line (and the peer records, saved here unless it died: the
        death's NodeDead saves them after the takeover)."""
        self.feed.node(change.node, change.old, change.new, change.reason)
        self.metrics.on_node(change.node, change.new)
        if change.old == mb.DEAD:
            self.metrics.on_node_back()
        self._status_line()
        if change.new != mb.DEAD:
            self.peer_store.update(self.membership.peer_records(), now_ms())

    def _to_resources(self, event: Any) -> None:
        if self.resources is not None:
            self.apply_resources(event(self.resources, now_ms()))

    def apply_resources(self, actions: list[rs.Action]) -> None:
        for action in actions:
            if isinstance(action, mb.Log):
                self.log(action.level, action.text)
            elif isinstance(action, rs.SendMessage):
                self.apply(self.membership.send(action.fields, now_ms()))
            elif isinstance(action, rs.RunScript):
                group = self.groups[action.group_key]
                self.journal.op_started(
                    "script", action.op_id, now_ms(), group=action.group_key,
                    resource=group.resources[action.resource_index].text, action=action.action,
                    quiet=action.quiet)
                self.metrics.on_script_start(
                    action.op_id, group.resources[action.resource_index].script,
                    action.action, now_ms())
                self.executor.run(action.op_id, action.group_key, action.resource_index,
                                  action.action, action.timeout_s,
                                  group.resources[action.resource_index], quiet=action.quiet)
            elif isinstance(action, rs.GroupStateChanged):
                self.feed.resource(action.group_key, action.old, action.new, self.node)
                if action.new not in (rs.STARTING, rs.STOPPING):
                    self.journal.record(Kind.GROUP, group=action.group_key, old=action.old,
                                        new=action.new, why=self.journal.current_why)
                if action.new == rs.STOP_FAILED and self.watchdog is not None:
                    # heartbeat reboots a node whose stop failed; we reset it through
                    # the watchdog (without one, the group stays claimed here).
                    self.watchdog.stop_petting(f"Resource group {action.group_key}: stop "
                                               "failed")
                self.metrics.on_group(action.group_key, action.new, now_ms())
            elif isinstance(action, rs.HeldChanged):
                self.feed.cluster("held", held=action.held)
            elif isinstance(action, MonitorEvent):
                self.feed.monitor(action.group_key, action.event, action.resource,
                                  action.reason, action.restarts, self.node)
                self.metrics.on_monitor(action.group_key, action.event)
                jh.monitor_event(self.journal, action)
            elif isinstance(action, rs.ShutdownComplete):
                self.running = False
            elif isinstance(action, fc.RunFence):
                self.journal.op_started("fence", action.op_id, now_ms(), node=action.node,
                                        plugin=jh.fence_plugin(action.argv))
                self.executor.run_fence(action.op_id, action.node, action.argv,
                                        action.timeout_s)
            elif isinstance(action, fc.FenceStateChanged):
                self.feed.fence(action.node, action.old, action.new)

    # --- self-fencing (docs/self-fencing.md) -------------------------------------

    def _open_watchdog(self) -> bool:
        device = self.config.hacf.watchdog
        if device is None:
            return True
        timers = self.config.timers
        timeout_s = watchdog_timeout_s(timers)
        if timeout_s is None:  # hbeat check refuses this configuration
            self.log(Level.ERROR, f"watchdog {device}: deadtime too short for a watchdog "
                                  "timeout; heartbeat not started.")
            return False
        try:
            self.watchdog = Watchdog.open(device, timeout_s, timers.deadtime_ms,
                                          timers.keepalive_ms, self.log)
        except WatchdogError as exc:
            self.log(Level.ERROR, f"{exc}; heartbeat not started.")
            return False
        return True

    def _running_here(self) -> bool:
        res = self.resources
        return res is not None and any(
            res.group_state(key) in RUNNING_HERE for key in self.groups)

    def _journal_peer_request(self, node: str, message: Envelope) -> None:
        try:
            msg = rm.parse_resource_message(message)
        except MessageError:  # resources logs malformed messages itself
            return
        jh.peer_request(self.journal, node, msg, time.time())

    def _check_fence(self, message: Envelope) -> None:
        try:
            msg = rm.parse_resource_message(message)
        except MessageError:  # resources logs malformed messages itself
            return
        if msg is None:
            return
        why = fence_reason(self.node, msg, self._running_here())
        if why is None:
            return
        now = now_ms()
        self._note_turn(now)  # a stall that ended while this turn ran counts too
        seen = self.partition_seen_ms
        if seen is not None and now - seen < 2 * self.config.timers.deadtime_ms:
            # Not an asymmetric partition: we stalled, or lost and found the peer
            # ourselves. Both nodes hear each other again (the sign may be a
            # retransmission from the partition), and the partition rules of
            # resources.py settle who keeps each group.
            self.log(Level.WARN, f"{why}: not fencing: this node stalled or was "
                                 "partitioned itself just now; the partition rules "
                                 "decide who keeps each group.")
            return
        self.fence_self(why)

    def fence_self(self, why: str) -> None:
        """Stop feeding the watchdog (if any) and release every group at once; then
        wait for the reset (watchdog) or exit with EXIT_FENCED so that systemd
        restarts hbeat (no watchdog)."""
        if self.fenced:
            return
        self.fenced = True
        self.journal.record(Kind.SELF_FENCE, why, watchdog=self.watchdog is not None)
        self.log(Level.CRIT, f"Self-fencing: {why}.")
        if self.watchdog is not None:
            self.watchdog.stop_petting("Self-fencing")
        else:
            self.log(Level.CRIT, "No watchdog configured: stopping every resource group "
                                 "here now, then restarting hbeat.")
        if not self.stop_requests:
            self.stop_requests = 1

    # --- DRBD peer outdating (supervisor/outdate.py) ------------------------

    def _executor_done(self, op_id: int, rc: int | None, verdict: Outcome) -> None:
        if op_id < 0:
            self.apply_outdate(self.outdater.outdate_done(op_id, rc))
        else:
            self._script_done(op_id, rc, verdict)

    def _outdate_message(self, message: Envelope) -> None:
        try:
            msg = od.parse(message)
        except MessageError as exc:
            self.log(Level.ERROR, str(exc))
            return
        if isinstance(msg, od.Request):
            self.apply_outdate(self.outdater.on_request(msg))
        elif isinstance(msg, od.Answer):
            self.apply_outdate(self.outdater.on_answer(msg, now_ms()))

    def _ping_message(self, message: Envelope) -> None:
        try:
            self.ping.message(message, now_ms())
        except MessageError as exc:
            self.log(Level.ERROR, str(exc))

    def apply_outdate(self, effects: list[od.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, od.Note):
                self.log(effect.level, effect.text)
            elif isinstance(effect, od.Send):
                self.apply(self.membership.send(effect.fields, now_ms()))
            elif self.resources is None:  # no executor on a node without groups
                self.log(Level.ERROR, f"cannot run drbdadm outdate {effect.resource}: this "
                                      "node runs no resource groups (no executor)")
                self.apply_outdate(self.outdater.outdate_done(effect.op_id, None))
            else:
                drbdadm = drbdadm_path()
                self.executor.run_argv(effect.op_id, "drbd-outdate",
                                       [drbdadm, "outdate", effect.resource],
                                       f"drbdadm outdate {effect.resource}",
                                       OUTDATE_TIMEOUT_S)

    def _status_line(self) -> None:
        ms = self.membership
        parts = [f"{n}: {ms.node_status(n)}" for n in self.config.nodes]
        self.notifier.status(f"{self.node} {ms.local_status}; " + ", ".join(parts))

    # --- inputs -------------------------------------------------------------

    def on_bus(self) -> bool:
        """Handle what the workers sent, at most BUS_BATCH messages: the loop
        must come round (lease, deadlines, control) however much arrives.
        True when messages were left for the next turn."""
        handled = 0
        boards_read = False
        self.read_sent_log()
        for parts in drain(self.bus):
            handled += 1
            if len(parts) < 2:
                continue
            ident, verb = parts[0].decode(errors="replace"), parts[1]
            if verb == Rx.VERB and not boards_read:
                # What the boards hold was heard before the frames now read
                # (a run heard after a frame still queued waits for it): a
                # peer's quiet keepalives on one link come before its frame
                # on another, as a restarted peer's last keepalives of its
                # old generation before its first status of the new one.
                boards_read = True
                self.read_heard_boards()
            try:
                self._bus_message(ident, verb, parts[1:])
            except (BusError, FrameError, KeyError, ValueError) as exc:
                self.counters["bus_errors"] += 1
                self.log(Level.ERROR, f"bad message '{verb.decode(errors='replace')}' "
                                      f"from worker {ident}: {exc}")
            if handled >= BUS_BATCH:
                return True
        return False

    def on_rejected(self, ident: str, report: Rejected) -> None:
        """A worker's summary (at most one a second): one log line per reason,
        one feed event, counters by reason; never a line per datagram."""
        by_code: dict[str, list[RejectCount]] = {}
        for count in report.counts:
            by_code.setdefault(count.code, []).append(count)
            self.counters["rx_rejected"] += count.count
            key = f"rx_rejected_{count.code.lower()}"
            self.counters[key] = self.counters.get(key, 0) + count.count
            self.metrics.on_rejected(ident, count.code, count.count)
        if report.lost > self.bus_lost.get(ident, 0):
            self.log(Level.WARN, f"{ident}: {report.lost - self.bus_lost.get(ident, 0)} messages"
                                 f" dropped on the way to the supervisor (it was behind)")
        self.bus_lost[ident] = report.lost
        if self.config.hacf.log_badpack:
            for code, counts in by_code.items():
                n = sum(c.count for c in counts)
                sources = ", ".join(f"{c.peer} ({c.count})" for c in counts[:3])
                more = f" and {len(counts) - 3} more" if len(counts) > 3 else ""
                self.log(Level.WARN, f"{ident}: rejected {n} packet{'s' if n != 1 else ''}"
                                     f" ({code}) from {sources}{more}: {counts[0].example}")
        self.feed.cluster("rejected-packets", medium=ident, total=report.total, lost=report.lost,
                          counts=[{"code": c.code, "peer": c.peer, "count": c.count,
                                   "example": c.example} for c in report.counts])

    def _bus_message(self, ident: str, verb: bytes, parts: list[bytes]) -> None:
        """`parts` starts with the verb."""
        if ident == EXECUTOR and self.resources is not None:
            if verb == Hello.VERB and Hello.decode(parts).pid != self.pool.slots[EXECUTOR].pid:
                self.log(Level.WARN, f"bus: hello as {ident} from pid {Hello.decode(parts).pid},"
                                     f" but that worker is pid {self.pool.slots[EXECUTOR].pid}:"
                                     " ignored")
                return
            self.executor.on_message(verb, parts)
            slot = self.pool.slots[EXECUTOR]
            slot.pid = self.executor.pid or slot.pid
            slot.state = "running" if self.executor.ready else slot.state
            return
        if ident == PING_WORKER and self.ping.enabled:
            if verb == Hello.VERB and Hello.decode(parts).pid != self.pool.slots[PING_WORKER].pid:
                self.log(Level.WARN, f"bus: hello as {ident} from pid {Hello.decode(parts).pid},"
                                     f" but that worker is pid {self.pool.slots[PING_WORKER].pid}:"
                                     " ignored")
                return
            self.ping.on_message(parts, now_ms())
            self.pool.slots[PING_WORKER].state = "running"
            return
        if ident not in self.workers_by_name:
            raise BusError("unknown worker")
        slot = self.pool.slots[ident]
        report = decode_link_report(parts)
        if isinstance(report, Rx):
            self.on_rx(ident, report)
        elif isinstance(report, Sent):
            if report.late_us is not None:
                self.metrics.on_keepalive_sent(ident, report.late_us)
            self.on_sent(report)
        elif isinstance(report, Rejected):
            self.on_rejected(ident, report)
        elif isinstance(report, Junk):
            self.counters["rx_junk_bytes"] += report.count
        elif isinstance(report, Hello):
            if report.pid != slot.pid:
                self.log(Level.WARN, f"bus: hello as {ident} from pid {report.pid}, but that"
                                     f" worker is pid {slot.pid}: ignored")
                return
            self.bus.send_multipart([ident.encode(), *self._setup_for(ident).encode()])
        elif isinstance(report, LinkReady):
            slot.state = "running"
            self.worker_ready.add(ident)
            self.log(Level.INFO, f"{ident}: link open (pid {slot.pid}).")
            for order in self.held_frames.pop(ident, ()):
                self.bus.send_multipart([ident.encode(), *order.encode()])
            if not self.ready_sent and self.worker_ready >= set(self.workers_by_name):
                self.ready_sent = True
                self.log_sink.flush()  # what led to readiness is in the log first
                self.notifier.ready(f"{self.node}: all {len(self.worker_ready)} links open")
        elif isinstance(report, Fatal | Error | Warn):
            level = Level.WARN if isinstance(report, Warn) else Level.ERROR
            error = report.error
            # Medium errors already name their medium ("bcast eth1: send to ...").
            self.log(level, error if error.startswith(f"{ident}: ") else f"{ident}: {error}")
            if isinstance(report, Fatal):
                self.worker_ready.discard(ident)
                slot.last_error = error

    def on_rx(self, ident: str, report: Rx) -> None:
        """A frame from worker `ident`: the quiet keepalives of its sender that
        came before it first (docs/processes.md, "Quiet keepalives")."""
        decoded = linklayer.decode(report.frame, None)  # the worker verified it
        self.counters["rx_frames"] += 1
        medium = self.workers_by_name[ident].name
        before = self.quiet.on_rx(ident, decoded.fields, report.recv_ns, report.before)
        if before:
            self._apply_quiet(before, medium)
        self.apply(self.membership.receive(decoded.fields, medium,
                                           report.recv_ns // 1_000_000, wall_s=time.time()))

    def on_sent(self, sent: Sent) -> None:
        """A link worker sent keepalive `sent.seq` (the first record of that
        seq counts, from the board's keepalive log or a `sent` report): keep
        it for retransmission, as it went on the wire."""
        if sent.seq > self.last_sent_seq:
            self.last_sent_seq = sent.seq
            self.membership.keepalive_sent(sent.fields(), now_ms())

    def on_control(self, sock: zmq.Socket[bytes], read_only: bool) -> None:
        self.read_heard_boards()  # answers say what the quiet keepalives say too
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            parts = [f.bytes for f in frames]
            envelope, raw = parts[:-1], parts[-1]
            rid = ""
            command = ""
            try:
                rid, command, args = parse_request(raw)
                if read_only and command not in READ_ONLY:
                    raise ControlError(ControlErrno.NOT_PERMITTED,
                                       f"{command!r} changes the cluster: only root may ask"
                                       f" for it (on the control socket)")
                if not read_only:
                    jh.local_request(self.journal, self.node, command, args,
                                     jh.peer_credentials(frames[-1]))
                result = self.commands.run(command, args)
                reply = make_reply(rid, result)
            except ControlError as exc:
                if command in jh.MOVING_COMMANDS and not read_only:
                    self.journal.record(Kind.REFUSED, exc.message)
                reply = make_error(rid, exc.errno, exc.message)
            except Exception as exc:  # a bug must not take the cluster down
                self.log(Level.ERROR, f"control command failed: {exc!r}")
                reply = make_error(rid, ControlErrno.INTERNAL, repr(exc))
            sock.send_multipart([*envelope, reply])

    def _debug_stall(self, mono: float) -> None:
        if mono >= self.next_stall:
            time.sleep(self.stall_ms / 1000)  # the point: block everything here
            self.next_stall = max(self.next_stall + self.stall_every_s, time.monotonic())

    def snapshot(self) -> dict[str, Any]:
        return build_snapshot(self)

    # --- loop ---------------------------------------------------------------

    def _stop(self, *_: object) -> None:
        # Only a flag: the loop starts the graceful handover (resources are
        # released and the peer takes over before we exit). A later signal
        # retries the stops when the shutdown is stuck on a group that would
        # not stop (exiting then would let the peer start it on top of ours);
        # otherwise it stops at once, as heartbeat's emergency shutdown does.
        self.stop_requests += 1
        if self.resources is None:
            self.running = False
        elif self.stop_requests > 1:
            if self.resources.shutdown_stuck:
                self.retry_shutdown = True
            else:
                self.running = False

    def _begin_shutdown(self) -> None:
        self.shutdown_started = True
        if not self.fenced:  # a self-fence is its own decision, with its stops
            self.journal.record(Kind.SHUTDOWN, "asked to stop")
        self.log(Level.INFO, "Heartbeat shutdown in progress.")
        self.notifier.stopping()
        if self.resources is not None:
            self.apply_resources(self.resources.shutdown(now_ms()))

    def run(self) -> int:
        try:
            self.resource_timers = resource_timers(os.environ.get(RESOURCE_TIMERS_ENV, ""))
        except ValueError as exc:
            self.log(Level.ERROR, f"{exc}; heartbeat not started.")
            return 2
        try:
            self._prepare_dirs()
        except AlreadyRunning as exc:
            self.log(Level.ERROR, f"hbeat already running [pid {exc.pid}].")
            return 1
        except DirectoryError as exc:
            self.log(Level.ERROR, f"{exc}; heartbeat not started.")
            return 1
        if not self._open_watchdog():
            return 1
        self._bind()
        self._start_membership()
        self._start_metrics()
        self.signals = Signals(self, self._stop)  # HUP, USR1/USR2, TERM/INT, PIPE
        self.log(Level.INFO, f"Configuration validated. Starting hbeat {__version__}")
        # A peer's death is decided when this loop wakes at its deadline: under
        # load a plain SCHED_OTHER wake-up waits for the running tasks' slices
        # (hbeat/schedslice.py). Nothing we start inherits it.
        problem = shorten_slice(reset_on_fork=True)
        if problem:
            self.log(Level.WARN, f"supervisor: {problem}")
        problem = set_timer_slack(TIMER_SLACK_NS)  # its last sleep to a deadline: wakeup.py
        if problem:
            self.log(Level.WARN, f"supervisor: {problem}")
        self._start_workers()
        self.apply(self.membership.start(now_ms()))
        plan = LeasePlan(lease_ns=self.lease_ms * 1_000_000, every_ns=1)
        waiter = ZmqWait((self.bus, self.control, self.query), (self.signals.rfd,),
                         lease=(self.lease_board, plan))
        next_renew = 0
        next_peer_records = 0
        usec = self.notifier.watchdog_usec
        watchdog_every = usec / 2_000_000 if usec else 0.0
        next_watchdog = time.monotonic()
        next_snapshot = time.monotonic() + 1.0
        snapshot_early = 0.0
        next_reap = 0.0
        self.last_turn_ms = now_ms()
        while self.running:
            self.counters["loop_turns"] += 1
            if self.stall_ms:
                self._debug_stall(time.monotonic())
            self.signals.process()
            now = now_ms()
            self._note_turn(now)
            self.read_sent_log()
            renew_every = renew_every_ms(self.lease_ms)  # a reload may change the lease
            if renew_due(now, next_renew, renew_every):
                self.board.renew_lease(time.monotonic_ns() + self.lease_ms * 1_000_000)
                next_renew = now + renew_every
            if self.watchdog is not None:
                self.watchdog.pet(now)
            self.clients.poll(now)
            mono = time.monotonic()
            if watchdog_every and mono >= next_watchdog:
                self.notifier.watchdog()
                next_watchdog = mono + watchdog_every
            if mono >= next_snapshot - snapshot_early:
                self.read_heard_boards()
                self.feed.snapshot(self.snapshot())
                self._write_metrics()
                next_snapshot = mono + SNAPSHOT_EVERY_S
                snapshot_early = SNAPSHOT_EARLY_S  # the first one: a second after start-up
            # A worker's death raises SIGCHLD, whose wake-up ends the poll;
            # every REAP_EVERY_S the workers are asked anyway.
            reap = self.signals.take_child_exit() or mono >= next_reap
            if reap:
                next_reap = mono + REAP_EVERY_S
            for level, text in self.pool.poll(mono, reap=reap):
                self.log(level, text)
                if level is Level.ERROR:
                    self._forget_dead_workers()
            hung = self.executor.tick(mono)
            if hung is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(hung, signal.SIGKILL)  # the pool reaps and restarts it
            # Inputs first, then due deadlines: after a stall (GC, SIGSTOP) the
            # frames that arrived meanwhile must count before anyone is
            # declared dead for silence.
            if self.stop_requests and not self.shutdown_started:
                self._begin_shutdown()
            elif self.retry_shutdown and self.resources is not None:
                self.retry_shutdown = False
                self.log(Level.INFO, "Shutdown requested again: retrying the failed stops.")
                self.apply_resources(self.resources.shutdown(now_ms()))
            deadline = self._next_deadline(now)
            if deadline is not None and deadline - now < 2 * self.keepalive_ms:
                # Near a deadline: the quiet keepalives may have moved it.
                self.read_heard_boards()
                deadline = self._next_deadline(now)
            waits = [int((next_snapshot - mono) * 1000) + 1]
            fine_ns: int | None = None  # the deadline is this close: sleep to it
            if deadline is not None:
                left_ns = deadline * 1_000_000 - time.monotonic_ns()
                coarse = coarse_poll_ms(left_ns)
                if coarse is None:
                    fine_ns = left_ns
                waits.append(0 if coarse is None else coarse)
            restart = self.pool.next_deadline()
            if restart is not None:
                waits.append(int((restart - mono) * 1000) + 1)
            lease_end = self.executor.next_deadline()  # the executor's, as last read
            if lease_end is not None:
                waits.append(int((lease_end - mono) * 1000) + 1)
            if watchdog_every:
                waits.append(int((next_watchdog - mono) * 1000) + 1)
            if self.stall_ms:
                waits.append(int((self.next_stall - mono) * 1000) + 1)
            pet = self.watchdog.next_deadline() if self.watchdog is not None else None
            if pet is not None:
                waits.append(pet - now)
            respawn = self.clients.next_deadline()
            if respawn is not None:
                waits.append(respawn - now)
            # The sleep renews the lease whenever it is due (in C, without
            # waking this loop: docs/processes.md, "The lease kept while
            # waiting"), and ends early when half the keepalive log is unread.
            renew_every = renew_every_ms(self.lease_ms)
            plan.lease_ns = self.lease_ms * 1_000_000
            plan.every_ns = min(renew_every, SENT_RING // 4 * self.keepalive_ms) * 1_000_000
            plan.next_renew_ns = next_renew * 1_000_000
            plan.count_at_least = self.sent_read + SENT_RING // 2
            plan.stall_ns = self.lease_ms * 1_000_000
            # A stall during this turn (SIGSTOP while it ran) is seen here,
            # before the wait's own wake-ups stand for turns of the loop.
            awake_ns = time.monotonic_ns()
            self._note_turn(awake_ns // 1_000_000)
            events = waiter.wait(min(waits), awake_ns)  # a signal ends it
            next_renew = -(-plan.next_renew_ns // 1_000_000)
            # The sleep's wake-ups were turns of this loop too (it renewed the
            # lease), up to a stall it saw: _note_turn below sees that one.
            self.last_turn_ms = max(self.last_turn_ms, waiter.awake_ns // 1_000_000)
            if not events and fine_ns is not None and fine_ns > 0 and deadline is not None:
                # Nothing came in and the deadline is under FINE_NS away: sleep
                # to it, then the next turn takes the inputs first, as always.
                if deadline != self.warmed_for and deadline == self.membership.next_deadline(now):
                    self.warmed_for = deadline
                    self._warm_links()
                time.sleep(max(0, deadline * 1_000_000 - time.monotonic_ns()) / 1e9)
                continue
            # A stall (SIGSTOP) ends inside the poll: notice it before the frames
            # queued meanwhile are handled (self-fencing must know, _check_fence).
            self._note_turn(now_ms())
            if self.signals.rfd in events:
                self.signals.drain()
            if self.bus in events and self.on_bus():
                # More is waiting: frames still queued may be the very
                # keepalives that keep a peer alive, so no one is judged
                # silent while a backlog drains, for at most a keepalive
                # interval (a flood cannot postpone a real death for long).
                turn = now_ms()
                if self.backlog_since_ms is None:
                    self.backlog_since_ms = turn
                if turn - self.backlog_since_ms < self.keepalive_ms:
                    self.settle_until_ms = max(self.settle_until_ms, turn + 1)
            else:
                self.backlog_since_ms = None
            if self.control in events:
                self.on_control(self.control, read_only=False)
            if self.query in events:
                self.on_control(self.query, read_only=True)
            now = self.read_before_judging()
            self._note_turn(now)
            deadline = self.membership.next_deadline(now)
            if deadline is not None and deadline <= now and now >= self.settle_until_ms:
                self.apply(self.membership.tick(now))
            if self.resources is not None:
                due = self.resources.next_deadline(now)
                if due is not None and due <= now:
                    self.apply_resources(self.resources.tick(now))
            self.ping.tick(now)
            if now >= next_peer_records:
                self.peer_store.update(self.membership.peer_records(), now)
                next_peer_records = now + PEER_RECORDS_EVERY_MS
        return self.shutdown()

    def retime(self, keepalive_ms: int, deadtime_ms: int) -> None:
        """New keepalive/deadtime (a reload): the lease and the workers'
        restart delays follow them."""
        self.keepalive_ms = keepalive_ms
        self.lease_ms = lease_ms(keepalive_ms, deadtime_ms)
        self.board.renew_lease(time.monotonic_ns() + self.lease_ms * 1_000_000)
        self.ping.retime(keepalive_ms, self.config.timers.deadping_ms)
        cap_s = RestartPolicy.for_deadtime(deadtime_ms / 1000).cap_s
        for slot in self.pool.slots.values():
            slot.policy.cap_s = cap_s

    def _note_turn(self, now: int) -> None:
        """Notice a stall of this loop (SIGSTOP, a long pause of the host;
        otherwise a turn, or a wake-up of the wait in between, comes at least
        every half lease: `last_turn_ms` follows the wait's). The frames our
        workers received meanwhile are still making their way through the bus,
        one worker's pipe at a time: judge no peer silent before a keepalive
        interval has let them in, and the executor (perhaps frozen with us)
        not before it could renew its lease."""
        if now - self.last_turn_ms > self.lease_ms:
            self.settle_until_ms = now + self.keepalive_ms
            self.partition_seen_ms = now  # our own silence: see _check_fence
            self.executor.after_stall(time.monotonic())
        self.last_turn_ms = now

    def _next_deadline(self, now: int) -> int | None:
        membership = self.membership.next_deadline(now)
        if membership is not None:
            membership = max(membership, self.settle_until_ms)
        due = [membership]
        if self.resources is not None:
            due.append(self.resources.next_deadline(now))
        due.append(self.ping.next_deadline())
        known = [d for d in due if d is not None]
        return min(known) if known else None

    def _forget_dead_workers(self) -> None:
        for name, slot in self.pool.slots.items():
            if slot.state != "running":
                self.worker_ready.discard(name)
                if name == EXECUTOR:
                    self.executor.lost()

    def shutdown(self) -> int:
        if not self.shutdown_started:
            self.notifier.stopping()
            self.log(Level.INFO, "Heartbeat shutdown in progress.")
        if self.watchdog is not None:
            # Before anything that may wait (clients, workers): the loop no longer
            # pets it. A self-fenced node leaves it running (no 'V').
            self.watchdog.close()
        self.clients.stop_all()
        self.peer_store.update(self.membership.peer_records(), now_ms(), force=True)
        self.executor.stop()
        for name in self.worker_ready:
            self.bus.send_multipart([name.encode(), *Stop().encode()])
        self.pool.stop_all()
        self.board.renew_lease(0)
        self.lease_board.close()
        for sock in (self.bus, self.control, self.query, self.feed.socket):
            sock.close()
        if self.tcp_feed is not None:
            self.tcp_feed.close()
        self.ctx.term()
        rd = self.options.runtime_dir
        self.executor.close()
        for path in (rd / PRIVATE / "bus", rd / CONTROL, rd / QUERY, rd / "status",
                     rd / PRIVATE / "seqboard", rd / PRIVATE / LEASE_FILE):
            path.unlink(missing_ok=True)
        for board in self.heard_boards.values():
            board.close()
            board.path.unlink(missing_ok=True)
        self.journal.close()
        self.log(Level.INFO, f"{self.node} Heartbeat shutdown complete.")
        dog = self.watchdog
        if dog is not None and not dog.petting:
            # Self-fenced (or a stop failed): the reset is due. Exiting would let
            # systemd start hbeat again, whose first write would cancel it.
            wait_s = 2 * dog.timeout_s + 5
            self.log(Level.CRIT, f"Waiting for watchdog {dog.path} to reset this node "
                                 f"(up to {wait_s} s).")
            time.sleep(wait_s)
            self.log(Level.CRIT, f"watchdog {dog.path} did not reset this node within "
                                 f"{wait_s} s: check the device (docs/self-fencing.md).")
            return EXIT_FENCED
        return EXIT_FENCED if self.fenced else 0
