"""Resource-group ownership policy: a pure, clock-injected state machine.

`Resources` decides, for the local node of a one- or two-node haresources
cluster, which groups run here and when, speaking heartbeat 3.0.6's
resource messages (`rscmessages`, docs/heartbeat-protocol.md §5). It is fed
events and returns actions (`rscactions`); it never reads a clock, sleeps
or does I/O. Times are integer monotonic ms. It owns the group states, the
holdings and which job runs when: start-up probe and negotiation, takeover
after the peer's death, standby, split-brain convergence, stop failures and
our shutdown. Its collaborators (docs/resources.md, module map) hold the
rest: `jobrunner` (script calls), `standbyexchange`, `shutdownflow`,
`rscstartup` (negotiation timers), `legacyrequests` (ip-request),
`fencegate` (the fencing gate, over `fencing`), `rscpeer` (the peer's
reports), `convergence`, `handoff`, `acquisition`, `adoption`,
`stopfailure`, `cannotrun` (groups that cannot run here), `rscsnapshot`
and `rscmonitor` (resource monitoring, over `monitorpolicy`).

Events: `start`, `comm_up`, `message`, `node_dead`, `node_up`,
`peer_restarted`, `node_returned_after_partition`, `script_done`,
`fence_done`, `standby`, `takeover`, `shutdown`, `tick` at `next_deadline`.
Queries: `held`, `hold_bits`, `group_state`, `busy`, `stable`,
`shutdown_stuck`, `snapshot`. The full specification is docs/resources.md.
"""

from __future__ import annotations

import enum

from hbeat.config.model import AutoFailback
from hbeat.ipc.executor import Outcome as Verdict
from hbeat.logfmt import Level

from . import acquisition as aq
from . import adoption, cannotrun, handoff
from . import convergence as cv
from . import fencing as fc
from . import groupops as go
from . import legacyrequests as lr
from . import monitorpolicy as mp
from . import rscgroups as rg
from . import rscmessages as rm
from . import rscmonitor as rmon
from . import rscsnapshot as snap
from . import standbyexchange as sx
from . import stopfailure as sf
from .fencegate import FenceGate
from .jobrunner import Job, JobRunner, OpFinished, RunnerEvent, Step
from .messages import Envelope
from .rscactions import (
    CLAIMED_STATES,
    FAILED,
    HELD_STATES,
    PARTIAL,
    RUNNING,
    STARTING,
    STOP_FAILED,
    STOPPED,
    STOPPING,
    TRANSITION,
    Action,
    GroupStateChanged,
    HeldChanged,
    Log,
    RunScript,
    SendMessage,
    ShutdownComplete,
)
from .rscconfig import ResourcesConfig
from .rscmonitor import Monitor
from .rscpeer import PeerState, accept
from .rscsnapshot import ResourcesView
from .rscstartup import LOCAL, REMOTE, Negotiation
from .shutdownflow import ShutdownFlow

Hold = rm.Hold
STANDBY_WORDS = sx.STANDBY_WORDS


class Phase(enum.Enum):
    INIT = "init"
    PROBING = "probing"
    STARTING = "starting"
    STABLE = "stable"
    SHUTTING_DOWN = "shutting-down"
    WAIT_TAKEOVER = "wait-takeover"
    DONE = "done"


# --- the machine ------------------------------------------------------------


class Resources:
    """The resource ownership machine of one node. See docs/resources.md."""

    def __init__(self, config: ResourcesConfig, now: int) -> None:
        self.config = config
        self.me = config.local
        self.nice = config.auto_failback.nice_failback
        others = [n for n in config.nodes if n != self.me]
        self.peer: PeerState | None = PeerState(others[0]) if others else None
        self.groups = rg.table(config.groups, self.me)
        self.phase = Phase.INIT
        self.claim = Hold.NONE
        self.failback_pending = False
        # Legacy: a partition healed (or the peer declared us dead) while we
        # ran on; the foreign groups we run go back once no job runs (a
        # takeover under way first brings its groups up, as the audit waits
        # for it with auto_failback on/off).
        self._give_back_foreign = False
        # Legacy: the queued answers to the peer's ip-requests; its death or
        # restart voids them (that peer no longer waits for them).
        self._peer_requests: list[Job] = []
        self._nego = Negotiation(config.rqstdelay_ms)
        self._sx = sx.StandbyExchange(self.me, config.standby_timeout_ms)
        self._legacy = lr.LegacyRequests()
        self._runner = JobRunner(config.runner_timers())
        self._leave = ShutdownFlow(config.shutdown_wait_ms, config.shutdown_retry_ms)
        self._crit = sf.Reminder(config.stop_failed_crit_ms)
        self._initial_reason: str | None = None
        self._was_up = False
        self._probed = False
        self._comm_up_pending = False
        self._starting_unanswered = False
        self._now = now
        self._gate = FenceGate(fc.Fencing(config.fencing_config()), config.boot_takeover)
        self.fencing = self._gate.fencing
        spec = config.monitor
        self._monitor = None if spec is None else Monitor(spec, self.groups)
        self._last_held = self.held

    # --- queries ------------------------------------------------------------

    def group_state(self, key: str) -> str:
        g = self.groups.get(key)
        if g is None:
            raise KeyError(f"no resource group {key!r} in haresources")
        return g.state

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def hold_bits(self) -> Hold:
        """The holdings we report in `rsc_hold` (docs/resources.md)."""
        return rg.hold_bits(self.groups.values(), self.claim, self._committed_starts())

    @property
    def shutdown_stuck(self) -> bool:
        """A graceful stop waits for a stop-failed group (docs/resources.md, "Stop failure")."""
        return self._leave.stuck and self.phase is Phase.SHUTTING_DOWN

    @property
    def held(self) -> str:
        """What `cl_status rscstatus` prints now."""
        if self.shutdown_stuck and not self.busy:
            return self.hold_bits().word
        if (
            self.phase in (Phase.INIT, Phase.PROBING, Phase.STARTING, Phase.SHUTTING_DOWN)
            or self._runner.busy_beyond(rmon.QUIET_JOBS)
            or self._sx.active
            or self._legacy.requested
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
                *self._nego.deadlines(),
                *self._leave.deadlines(self.shutdown_stuck),
                self._crit.at,
                self._sx.deadline,
                self._runner.next_deadline(),
                self.fencing.next_deadline(),
                None if self._monitor is None else self._monitor.deadline(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def snapshot(self) -> ResourcesView:
        """A JSON-ready view for the status feed and `hbeat status` (`rscsnapshot`)."""
        run = self._runner.snapshot()
        peer = self.peer
        mon = self._monitor
        views = None if mon is None else {k: mon.view(k, self._now) for k in self.groups}
        return {
            "held": self.held,
            "hold_bits": self.hold_bits().word,
            "phase": self.phase.value,
            "shutdown_stuck": self.shutdown_stuck,
            "auto_failback": self.config.auto_failback.value,
            "groups": snap.groups(self.groups.values(), run, self._sx.current, views),
            "peer": None if peer is None else peer.view(),
            "standby": self._sx.snapshot(),
            "running_op": snap.running_op(run),
            "queue": run.queued,
            "fencing": self.fencing.snapshot(),
            "boot_wait": self._gate.boot_wait,
            "monitor": None if mon is None else mon.settings(),
        }

    # --- events -------------------------------------------------------------

    def start(self, now: int) -> list[Action]:
        """Probe every resource with `status` now, before comm-up (docs/resources.md).

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
        steps = [Step(g.key, False, probe=True) for g in self._ordered(Hold.ALL)]
        self._enqueue(Job("probe", steps, self._probe_done))
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
        deferred = self._legacy.take_deferred()
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
                self._nego.begin(now)
                out.append(SendMessage(rm.starting_fields()))
            else:
                self.phase = Phase.STABLE
                self._initial_reason = "mach_down" if peer is not None else LOCAL
                out += self._alone_acquire(now)
        else:
            self.phase = Phase.STABLE
            if live:
                assert peer is not None
                out += self._resolve_found(incumbent=False)[0]
                for g in self._ordered(Hold.LOCAL):
                    # A group adopted here is requested too: the peer must stop any copy.
                    if g.state in (STOPPED, RUNNING, PARTIAL):
                        out.append(self._legacy.request(g.key))
                self.claim |= Hold.LOCAL
            else:
                out += self._alone_acquire(now)
        return out

    def _alone_acquire(self, now: int) -> list[Action]:
        peer = self.peer
        if peer is not None:
            refused = self._gate.refuse_boot(peer.name, needed=peer.fencing_needed(nice=self.nice))
            if refused:
                self.phase = Phase.INIT
                self._initial_reason = None
                return refused
        out = self._resolve_found(incumbent=False)[0]
        if peer is not None:
            self._gate.boot = True
            return out + self._death_flow(peer, now)
        self.claim = Hold.ALL
        self._enqueue(self._req_our_job(initial=LOCAL))
        return out

    def message(self, node: str, env: Envelope, now: int, local: bool = False) -> list[Action]:
        if local or node == self.me or self.phase is Phase.DONE:
            return []
        peer = self.peer
        msg, errors = accept(env, node, peer)
        if msg is None or peer is None:
            return self._finish([*errors], now) if errors else []
        out: list[Action] = []
        if not peer.alive:
            # Only membership says a peer lives (node_up, peer_restarted, a heal);
            # it delivers nothing of a dead peer, so this is never a live one.
            out.append(Log(Level.WARN, f"resource message from {node}, which is dead: ignored"))
            return self._finish(out, now)
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
        elif isinstance(msg, rm.Stonith) and msg.node == self.me:
            out += self._sx.cancel_declared_dead(peer.name)
            out += self._stonith_of_us(msg.result)
        # the peer's other stonith reports need no action
        return self._finish(out, now)

    def node_dead(self, node: str, now: int) -> list[Action]:
        return self._finish(self.node_dead_orders(node, now), now)

    def node_dead_orders(self, node: str, now: int) -> list[Action]:
        """`node_dead` up to the fencing verdict (the `stonith` report, a
        fence) and the takeover job queued, without running it: the caller
        sends these first, then calls `settle` for the job's first steps
        (the same actions as `node_dead`, the message a little sooner)."""
        out: list[Action] = []
        peer = self.peer
        if peer is None or node != peer.name or self.phase is Phase.DONE:
            return out
        peer.alive = False
        peer.unsettled()
        self._give_back_foreign = False  # dead again: its groups are ours to take
        out += self._drop_peer_requests(peer.name, "died")
        if self.phase in (Phase.INIT, Phase.PROBING):
            peer.dead_before_comm_up = True
            return out
        if self.phase is Phase.WAIT_TAKEOVER:
            return out + self._shutdown_complete()
        if self.phase is Phase.SHUTTING_DOWN:
            return out
        self._legacy.clear()
        self._sx.clear()
        if self.phase is Phase.STARTING:
            self.phase = Phase.STABLE
            self._nego.clear()
        return out + self._death_flow(peer, now)

    def settle(self, now: int) -> list[Action]:
        """Run whatever became possible (after `node_dead_orders`)."""
        return self._finish([], now)

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
        # A new life: its past shutdown (shutdone, info=shutdown) is over too; in
        # legacy no `starting` message says so, and a later death went unfenced.
        peer.starting()
        self._give_back_foreign = False  # a new generation asks for its groups itself
        out = self._drop_peer_requests(peer.name, "restarted")
        out += self._peer_heard(peer, now, "it restarted")
        return self._finish(out + self._sx.cancel_peer_restarted(), now)

    def node_returned_after_partition(self, node: str, now: int) -> list[Action]:
        out: list[Action] = []
        peer = self.peer
        if peer is None or node != peer.name:
            return out
        out += self._peer_heard(peer, now, "it is alive again (partition)")
        self._declared_dead_by_peer()
        if self.phase is not Phase.STABLE:
            return self._finish(out, now)
        peer.alive = True
        if self.nice:
            out += self._ask_peer_report(peer)
        else:
            self._give_back_foreign = True
            # ... and ask for ours again, as at comm-up: a peer that saw no
            # partition (frozen past deadtime, our `stonith` report lost in the
            # cut) would otherwise run its copy of our group for good.
            out += [self._legacy.request(g.key) for g in self._ordered(Hold.LOCAL)
                    if g.state in (STOPPED, RUNNING, PARTIAL)]
        return self._finish(out, now)

    def _drop_peer_requests(self, peer: str, why: str) -> list[Action]:
        """The peer died or restarted: the ip-requests it made before are not
        answered (an answer to its old life started the group beside our
        takeover's copy; its new life asks again)."""
        jobs, self._peer_requests = self._peer_requests, []
        for job in jobs:
            job.cancelled = True
        keys = " ".join(step.key for job in jobs for step in job.steps)
        return [Log(Level.INFO, f"Dropping ip-request(s) of {peer} for {keys}: it {why} "
                                "since it asked.")] if jobs else []

    def _declared_dead_by_peer(self) -> None:
        """A group we run because the peer failed to start it is not given back
        on the peer's claim (convergence.audit); across a partition that
        reason is void: the peer declared us dead and started its groups
        again, so the partition rules alone decide who keeps each copy. Both
        sides of a partition heal come here, and so does a node frozen past
        deadtime, which saw no partition, on the peer's `stonith node=<us>`."""
        for g in self.groups.values():
            g.from_peer_failure = False

    def _stonith_of_us(self, result: str) -> list[Action]:
        """The peer's `stonith node=<us>`: it declared us dead while we ran on
        (frozen past deadtime, or cut off one way), which may be all we ever
        see of a partition. Unless its fence of us failed (`bad`, `badhost`:
        it takes nothing over until one succeeds), it takes everything over:
        legacy, we give back the groups we run for it, as at a heal, once no
        job runs; auto_failback on/off, the audit of its next report decides
        (its heal asks ours)."""
        self._declared_dead_by_peer()
        failed = result in (fc.RESULT_BAD, fc.RESULT_BADHOST)
        if self.nice or failed or self.phase is not Phase.STABLE:
            return []
        self._give_back_foreign = True
        return []

    def _give_back_partition_copies(self) -> list[Action]:
        """Legacy: the foreign groups we run are stopped (`partition_copies`)."""
        logs, foreign = cv.partition_copies(self._ordered(Hold.FOREIGN, reverse=True))
        if foreign:
            self.claim &= ~Hold.FOREIGN
            self._enqueue(Job("partition heal", [Step(k, False) for k in foreign]))
        return list(logs)

    def script_done(self, op_id: int, rc: int | None, verdict: Verdict,
                    now: int) -> list[Action]:
        self._now = now
        events = self._runner.result(op_id, rc, verdict, now)
        if events is None:
            return [Log(Level.WARN, f"Ignoring result of unknown or abandoned operation {op_id}")]
        return self._finish(self._runner_events(events), now)

    def standby(self, which: str, now: int) -> list[Action]:
        out: list[Action] = []
        hold = sx.standby_set(which)
        if not self.nice:
            return self._finish([sx.NOT_NICE], now)
        out.append(Log(Level.INFO, f"Going standby [{hold.word}]."))
        peer = self.peer
        if peer is None or not peer.alive:
            # 3.0.6 asks anyway and gives up after 10 s; a peer we hold dead (and
            # may be fencing) must not be handed our groups if it answers late.
            who = "there is no other node" if peer is None else f"{peer.name} is dead"
            out.append(Log(Level.WARN, f"Standby [{hold.word}] refused: {who}; nobody "
                                       "would take the resources over."))
            return self._finish(out, now)
        out += self._ask_standby(hold, now)
        return self._finish(out, now)

    def takeover(self, which: str, now: int) -> list[Action]:
        out: list[Action] = []
        wire, hold = sx.takeover_set(which)
        if not self.nice:
            return self._finish([sx.NOT_NICE], now)
        if self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE):
            return self._finish(out, now)
        peer = self.peer
        if peer is not None:
            held = self._gate.takeover_held(peer.name)
            if held:
                return self._finish(out + held, now)
            unfenced = self._gate.takeover_unfenced(peer.name, alive=peer.alive)
            if unfenced:
                self.phase = Phase.STABLE
                out += unfenced
        for g in self._ordered(hold):
            if (retaken := rg.retaken(g)) is not None:
                out += [*retaken[1], *self._set_state(g, retaken[0])]
        if peer is not None and peer.alive:
            out.append(Log(Level.INFO, f"Asking {peer.name} to give up [{which}] resources."))
            out.append(SendMessage(rm.hb_takeover_fields(wire)))
        elif self.phase is Phase.STABLE:
            self.claim |= hold
            out.append(Log(Level.INFO, f"No other node is up: acquiring [{which}] resources."))
            steps = [Step(g.key, True) for g in self._ordered(hold)]
            self._enqueue(Job("takeover", steps, self._after_simple_acquire))
        return self._finish(out, now)

    def shutdown(self, now: int) -> list[Action]:
        """Graceful stop; called again while `shutdown_stuck`, it retries the failed stops."""
        out: list[Action] = []
        if self.shutdown_stuck:
            return self._finish(self._retry_stuck_shutdown(now, "shutdown requested again"), now)
        if self._leave.requested or self.phase is Phase.DONE:
            return out
        self.phase = Phase.SHUTTING_DOWN
        self._sx.clear()
        self._nego.clear()
        self._legacy.clear()
        self._runner.cancel_pending()
        return self._finish(self._leave.request(self._runner.op_running), now)

    def tick(self, now: int) -> list[Action]:
        self._now = now
        out: list[Action] = self._runner_events(self._runner.tick(now))
        name = self.peer.name if self.peer is not None else "?"
        done = self._nego.expired(now, name, negotiating=self.phase is Phase.STARTING)
        if done is not None:
            out += [*done, *self._become_stable(LOCAL)]
        out += self._sx.tick(now)
        expired = self._leave.wait_expired(now)
        if expired:
            out += expired + self._shutdown_complete()
        if self._crit.due(now):
            out += self._stop_failed_reminder(now)
        out += self._fence_actions(self.fencing.tick(now), now)
        if self.shutdown_stuck and self._leave.retry_due(now):
            out += self._retry_stuck_shutdown(now, "periodic retry")
        if self._monitor is not None:
            self._monitor.take_due(now)  # queued by _settle when no job runs
        return self._finish(out, now)

    # --- peer messages ------------------------------------------------------

    def _report(self, info: str | None = None) -> SendMessage:
        return SendMessage(rm.resource_fields(self.hold_bits(), self.stable, info))

    def _on_starting(self, peer: PeerState, now: int) -> list[Action]:
        peer.starting()
        out = self._sx.cancel_peer_restarted()
        if self.config.auto_failback is AutoFailback.ON:
            self.failback_pending = True
        for g in self.groups.values():
            g.from_peer_failure = False
        if self.phase is Phase.PROBING:
            self._starting_unanswered = True  # answered when we know what runs here
        else:
            out.append(self._report())
        return out

    def _on_report(self, peer: PeerState, rep: rm.ResourceReport, now: int) -> list[Action]:
        was_stable = peer.stable
        if not peer.report(rep):
            return []
        out = self._sx.on_report(peer.name, rep, now)
        if self.phase is Phase.STARTING:
            done = self._nego.report(rep.stable, now)
            if done is not None:
                out += [*done, *self._become_stable(REMOTE)]
        elif self.phase is Phase.STABLE and rep.stable and not was_stable:
            # The peer's turn to stable is answered with our report, as 3.0.6
            # does: it may not know ours (it asks so after a partition heal).
            # So is the answer to our own asking: we cannot tell it from a
            # report that crossed an asking lost in a cut (the peer then held
            # us "in flux" for good). The peer holds us stable by then, so our
            # answer is not answered again.
            out.append(Log(Level.INFO, "remote resource transition completed."))
            out.append(self._report())
        return out

    def _become_stable(self, reason: str) -> list[Action]:
        self.phase = Phase.STABLE
        self._nego.clear()
        self._initial_reason = reason
        peer = self.peer
        out, adopted, releasing = self._resolve_found(incumbent=reason == REMOTE)
        # A peer that is stopping groups (it is leaving, or its last report is
        # a release's) may still run ours whatever it reports holding: wait for
        # its shutdone or next report, as _reconcile_own does.
        holds_ours = peer is not None and peer.alive and (
            bool(peer.hold & Hold.FOREIGN) or peer.leaving or not peer.hold_settled)
        job = None
        if holds_ours:
            # The peer holds our groups. One we adopted here (both started at once and
            # we are its preferred node) is completed by _reconcile_own once the peer
            # reports it released its copy.
            self._initial_reason = None
        else:
            self.claim |= Hold.LOCAL
            job = self._req_our_job(initial=reason)

        def tail() -> list[Action]:
            return [self._report(), *([aq.initial_complete(reason)] if holds_ours else [])]

        if releasing:
            # Our transition completes when the stale copies are gone: only then
            # do we report isstable=1 (the peer must not see them as ours).
            self._enqueue(Job("report", [], tail))
        if adopted & Hold.FOREIGN:
            self._enqueue(self._complete_foreign_job())
        if job is not None:
            self._enqueue(job)
        return out if releasing else out + tail()

    def _req_our_job(self, initial: str | None = None) -> Job:
        steps = aq.own_steps(self.me, [g.key for g in self._ordered(Hold.LOCAL)])

        def done() -> list[Action]:
            started = any(self.groups[s.key].state == RUNNING for s in steps)
            report = self._report(rm.INFO_REQ_OUR) if self.nice else None
            return aq.req_our_done(started=started, initial=initial, report=report)

        return Job("req_our_resources", steps, done)

    # --- standby (the exchange's stages: `standbyexchange`) -----------------

    def _on_ask(self, peer: PeerState, ask: rm.AskResources, now: int) -> list[Action]:
        if not self.nice:
            return [sx.NOT_NICE]
        if ask.info == rm.ASK_ME:
            return self._peer_wants_standby(peer, ask.which, now)
        step, sb, out = self._sx.answer(peer.name, ask.info)
        if step is sx.Next.RELEASE and sb is not None:
            return self._release_for_standby(peer, sb, now)
        if step is sx.Next.ACQUIRE and sb is not None:
            return self._acquire_for_standby(peer, sb, now)
        if step is sx.Next.COMPLETED:
            return [*out, self._report()]
        return out

    def _standby_blocked(self, who: str, which: Hold, now: int) -> list[Action]:
        peer = self.peer
        return self._sx.blocked(
            who,
            which,
            now,
            peer_in_flux=peer is not None and peer.alive and not peer.stable,
            local_in_flux=self.phase is not Phase.STABLE,
        )

    def _peer_wants_standby(self, peer: PeerState, which: Hold, now: int) -> list[Action]:
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
        return out + self._sx.accept(which, now)

    def _ask_standby(self, which: Hold, now: int) -> list[Action]:
        return self._standby_blocked(self.me, which, now) or self._sx.ask(which, now)

    def _release_for_standby(self, peer: PeerState, sb: sx.Standby, now: int) -> list[Action]:
        self.claim &= ~sb.which
        out = self._sx.releasing(peer.name, self.hold_bits() & ~sb.which, now)
        # retry_failed: a group stop-failed here is stopped again (hb_standby again is
        # how the administrator says "I fixed it, hand it over").
        steps = [
            Step(g.key, False, retry_failed=True) for g in self._ordered(sb.which, reverse=True)
        ]
        released = [
            g.key
            for g in self._ordered(sb.which)
            if g.state in CLAIMED_STATES or g.key in self._committed_starts()
        ]

        def done() -> list[Action]:
            if self._sx.current is not sb:
                return []
            failed = self._stop_failed(sb.which)
            if failed:
                # No `done` (docs/resources.md, "Stop failure" rule 4).
                names = " ".join(g.key for g in failed)
                res = self._sx.aborted(sb, peer.name, names, self._report())
                return res + self._hand_over_stopped(released, "standby")
            peer.hold_settled = False  # it acquires the set now: its last report is old
            return self._sx.released(sb, self._now)  # _pump's time

        self._enqueue(Job("standby release", steps, done))
        return out

    def _acquire_for_standby(self, peer: PeerState, sb: sx.Standby, now: int) -> list[Action]:
        mine = sb.which.mirrored()
        self.claim |= mine
        out = self._sx.acquiring(sb, peer.name, mine, now)
        steps = [Step(g.key, True) for g in self._ordered(mine)]
        self._enqueue(Job("standby acquire", steps, lambda: self._sx.acquired(sb, self._report())))
        return out

    def _on_hb_takeover(self, peer: PeerState, msg: rm.HbTakeover, now: int) -> list[Action]:
        if not self.nice:
            return [sx.NOT_NICE]
        which = sx.requested_set(msg.which)  # failback: see docs/resources.md
        return [
            Log(Level.INFO, f"Going standby [{which.word}]."),
            *self._ask_standby(which, now),
        ]

    # --- legacy requests ----------------------------------------------------

    def _on_ip_request(self, peer: PeerState, req: rm.IpRequest) -> list[Action]:
        g = self.groups.get(req.key)
        what = lr.on_request(
            None if g is None else g.state,
            committed=req.key in self._committed_starts(),
            probing=self.phase is Phase.PROBING,
        )
        if what is lr.Request.UNKNOWN or g is None:
            return [lr.unknown_request(peer.name, req.key)]
        if what is lr.Request.DEFER:
            self._legacy.deferred.append(req)  # answered when we know what runs here
        elif what is lr.Request.REFUSE:
            return lr.refusal(peer.name, g.key)
        elif what is lr.Request.RELEASE:

            def done() -> list[Action]:
                self._peer_requests.remove(job)
                return lr.after_release(peer.name, g.key, g.state)

            job = Job("ip-request", [Step(g.key, False)], done)
            self._peer_requests.append(job)
            self._enqueue(job)
        else:
            return [lr.answer(peer.name, g.key, weown=False)]
        return []

    def _on_ip_request_resp(self, peer: PeerState, resp: rm.IpRequestResp) -> list[Action]:
        if resp.dest != self.me:
            return []
        g = self.groups.get(resp.key)
        phase = None if self.phase is Phase.STABLE else self.phase.value
        verdict = lr.on_response(
            peer.name,
            resp,
            None if g is None else g.state,
            phase=phase,
            committed=resp.key in self._committed_starts(),
            requested=phase is None and g is not None and self._legacy.answered(resp.key),
        )
        if g is not None and g.state == FAILED and g.cannot_run and resp.ok and resp.weown:
            return [*cannotrun.refused_handoff(g, peer.name)]  # it runs nowhere
        if g is None or not verdict.take:
            return [*verdict.logs]
        if verdict.from_peer_failure:
            g.from_peer_failure = True
        self._enqueue(Job("ip-request-resp", [Step(g.key, True)], self._after_simple_acquire))
        return []

    def _after_simple_acquire(self) -> list[Action]:
        return [self._report()] if self.nice else []

    def _on_shutdone(self, peer: PeerState, now: int) -> list[Action]:
        peer.shutdone()
        self._legacy.clear()
        self._sx.clear()
        out: list[Action] = [Log(Level.INFO, f"Received shutdown notice from '{peer.name}'.")]
        if self.phase in (Phase.INIT, Phase.PROBING):
            return out
        if self.phase is Phase.STARTING:
            self.phase = Phase.STABLE
            self._nego.clear()
        out += self._resolve_found(incumbent=False)[0]
        self._enqueue(self._takeover_job(peer.name, after_shutdone=True))
        return out

    def _message_while_leaving(
        self, peer: PeerState, msg: rm.ResourceMessage, now: int
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

    def _death_flow(self, peer: PeerState, now: int) -> list[Action]:
        """The peer is dead: fencing verdict, then the takeover job. Every takeover
        caused by a death passes here (docs/resources.md, "Takeover and the fencing
        gate"): a fence-before-takeover step goes before the `_enqueue` below."""
        out = self._resolve_found(incumbent=False)[0]  # the peer is dead: adopt all
        released = peer.released
        needed = peer.fencing_needed(nice=self.nice)
        if self._gate.gated(needed=needed):
            # FENCING GATE: nothing of the peer's (nor ours: it may hold them)
            # starts before a device reports it reset (`_after_fence`).
            return out + self._fence_actions(self._gate.begin(peer.name, now), now)
        out += self._gate.unfenced(peer.name, needed=needed)
        peer.holds_nothing()
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
        may_take = self.phase in (Phase.STABLE, Phase.STARTING)
        out = self._gate.opened(fenced, None if peer is None else peer.name, may_take=may_take)
        if not out or peer is None:
            return out
        peer.alive = False
        peer.stable = False
        peer.holds_nothing()
        self._enqueue(self._takeover_job(peer.name, after_shutdone=False))
        return out

    def _peer_heard(self, peer: PeerState, now: int, why: str) -> list[Action]:
        """The peer is alive: a fence not done yet is called off, a start-up wait ends."""
        cancelled, took_nothing = self._gate.heard(peer.name, why)
        out = self._fence_actions(cancelled, now)
        if took_nothing:
            # We took nothing at start-up: negotiate with the peer as at comm-up.
            if self.phase in (Phase.STABLE, Phase.INIT) and not self.busy:
                self.phase = Phase.INIT
                out += self._comm_up_now(now)
        elif self.nice and self.phase is Phase.STABLE:
            # A peer we held for dead may run what we took over (a start-up
            # alone, unfenced): our report makes both audit their holdings,
            # and asks for the peer's (it may never have seen a partition).
            out += self._ask_peer_report(peer)
        return out

    def _ask_peer_report(self, peer: PeerState) -> list[Action]:
        """Our report, sent isstable=0 then isstable=1: a peer that holds us
        stable answers that turn to stable with its own report (3.0.6 does
        too), so we learn what a peer we held for dead holds and whether it is
        stable, even when nothing is doubly held and the peer saw no partition
        (docs/resources.md, "Split brain"). Once until its next full report."""
        if peer.report_asked:
            return []
        peer.report_asked = True
        hold = self.hold_bits()
        return [SendMessage(rm.resource_fields(hold, False)),
                SendMessage(rm.resource_fields(hold, True))]

    def _takeover_job(self, dead: str, *, after_shutdone: bool) -> Job:
        self.claim = Hold.ALL
        theirs = [g.key for g in self._ordered(Hold.ALL) if g.home == dead]
        steps = aq.takeover_steps(self.me, theirs, [g.key for g in self._ordered(Hold.LOCAL)])
        initial = self._initial_reason if self._initial_reason == "mach_down" else None

        def done() -> list[Action]:
            if initial is not None:
                self._initial_reason = None
            report = self._report(rm.INFO_REQ_OUR) if self.nice else None
            unable = [g for g in self.groups.values() if g.state == FAILED and g.cannot_run]
            return [*cannotrun.not_taken(unable, dead), *aq.takeover_done(
                dead, nice=self.nice, after_shutdone=after_shutdone, initial=initial, report=report
            )]

        return Job("mach_down", steps, done)

    # --- jobs and script results --------------------------------------------

    def _ordered(self, cls: Hold, *, reverse: bool = False) -> list[rg.Group]:
        return rg.ordered(self.groups.values(), cls, reverse=reverse)

    def _enqueue(self, job: Job) -> None:
        self._runner.enqueue(job)

    def _would_run(self, step: Step) -> bool:
        """Whether a queued step still makes sense when its turn comes."""
        leaving = self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE)
        probing = self.phase is Phase.PROBING
        return rg.would_run(step, self.groups[step.key], probing=probing, leaving=leaving)

    def _committed_starts(self) -> set[str]:
        return {
            step.key
            for step in self._runner.pending_steps()
            if step.start and self._would_run(step)
        }

    def _pump(self, now: int) -> list[Action]:
        """Begin queued steps until an operation runs or the queue is empty."""
        self._now = now
        out: list[Action] = []
        while (item := self._runner.advance(self._would_run)) is not None:
            if isinstance(item, Job):
                assert item.on_done is not None
                out += item.on_done()
                continue
            g = self.groups[item.key]
            out += list(item.pre)
            if not item.probe and not item.monitor:
                g.undecided = False  # a start or stop settles what the probe found
                out += self._set_state(g, STARTING if item.start else STOPPING)
            out += self._runner_events(self._runner.begin(g.group, item, now))
        return out

    def _runner_events(self, events: list[RunnerEvent]) -> list[Action]:
        """Turn what the runner reports into actions and group states."""
        out: list[Action] = []
        for ev in events:
            if isinstance(ev, OpFinished):
                out += self._op_finished(self.groups[ev.key], ev)
                continue
            if isinstance(ev, RunScript):
                g = self.groups[ev.group_key]
                if ev.action == go.STOP and g.state == STARTING:
                    out += self._set_state(g, STOPPING)  # a failed start rolls back
            out.append(ev)
        return out

    def _op_finished(self, g: rg.Group, fin: OpFinished) -> list[Action]:
        if fin.outcome is go.Outcome.PROBED:
            g.releasing = False
            return self._probed_group(g, fin)
        if fin.outcome is go.Outcome.MONITORED:
            return self._monitored(g, fin)
        leaving = self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER, Phase.DONE)
        new = rg.after_op(g, fin, leaving=leaving)
        out = self._set_state(g, new)
        if new == STOP_FAILED:
            out += [
                sf.failed_stop(g.key, after_start=fin.kind is go.Kind.START),
                self._stop_failed_advice(g),
            ]
        return out

    def _probed_group(self, g: rg.Group, op: OpFinished) -> list[Action]:
        found = adoption.probed(g, op.statuses, op.found)
        if found is None and op.cannot_run is not None and g.state == STOPPED:
            # OCF 5/6: not running here and cannot: failed here, never held (`cannotrun`).
            peer = self.peer.name if self.peer is not None else None
            return [*cannotrun.mark_found(g, op.cannot_run, peer), *self._set_state(g, FAILED)]
        return [] if found is None else [found.log, *self._set_state(g, found.state)]

    def _resolve_found(self, *, incumbent: bool) -> tuple[list[Action], Hold, bool]:
        """Adopt or release every group the probe found (docs/resources.md,
        "Start-up probe and adoption").

        Returns the logs, the classes adopted, and whether a release job was queued."""
        out, adopted, stale = adoption.resolve(
            self.groups.values(), self.me, nice=self.nice, peer=self.peer, incumbent=incumbent
        )
        self.claim |= adopted
        if stale:
            self._enqueue(Job("release found", [Step(g.key, False) for g in reversed(stale)]))
        return [*out], adopted, bool(stale)

    def _complete_foreign_job(self) -> Job:
        """Having adopted a foreign group, we hold the foreign class: run all of it."""
        steps = [Step(g.key, True) for g in self._ordered(Hold.FOREIGN)]
        return Job("adopt", steps, self._after_simple_acquire)

    def _set_state(self, g: rg.Group, new: str) -> list[Action]:
        old = g.state
        if old == new:
            return []
        g.state = new
        if new == STOP_FAILED:
            self._crit.arm(self._now)
        out: list[Action] = [GroupStateChanged(g.key, old, new)]
        if self._monitor is not None:
            out += self._monitor.state_changed(g.key, new, self._now)
        return out

    # --- stop failures (docs/resources.md, "Stop failure") --------------------

    def _stop_failed(self, cls: Hold = Hold.ALL) -> list[rg.Group]:
        return [g for g in self._ordered(cls) if g.state == STOP_FAILED]

    def _stop_failed_advice(self, g: rg.Group) -> Log:
        return sf.advice(
            g.key,
            self.peer.name if self.peer is not None else None,
            leaving=self.phase in (Phase.SHUTTING_DOWN, Phase.WAIT_TAKEOVER),
            nice=self.nice,
            retry_ms=self.config.shutdown_retry_ms,
        )

    def _stop_failed_reminder(self, now: int) -> list[Action]:
        failed = self._stop_failed()
        if not self._crit.again(now, any_left=bool(failed) and self.phase is not Phase.DONE):
            return []
        return [self._stop_failed_advice(g) for g in failed]

    def _hand_over_stopped(self, keys: list[str], why: str) -> list[Action]:
        """Give the peer, one by one, groups we stopped but cannot hand over by the
        protocol that stopped them (because a stop-failed group holds up that protocol)."""
        peer = self.peer
        if peer is None or not peer.alive or peer.released:
            return []
        stopped = [key for key in keys if self.groups[key].state == STOPPED]
        return [a for key in stopped for a in sf.handed_over(key, peer.name, why)]

    # --- settling -----------------------------------------------------------

    def _finish(self, out: list[Action], now: int) -> list[Action]:
        """Run whatever became possible, then report a changed rscstatus."""
        for _ in range(1000):
            before = (len(out), self._runner.marker())
            out += self._pump(now)
            if not self.busy:
                out += self._settle(now)
            if (len(out), self._runner.marker()) == before:
                break
        peer = self.peer
        if peer is not None and any(
            isinstance(a, SendMessage) and rm.hands_group_to(a.fields, peer.name) for a in out
        ):
            peer.hold_settled = False  # it starts what we handed it: its last report is old
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
        # A report that comes during a standby exchange is audited after it
        # (its hold is the peer's latest then): consumed unaudited, it left a
        # split brain healed during a standby to run on both nodes for good.
        if (self.nice and peer is not None and peer.alive and peer.fresh_report
                and not self._sx.active):
            peer.fresh_report = False
            out = self._audit(peer)
            if out:
                return out
        if self._give_back_foreign:
            self._give_back_foreign = False
            out = self._give_back_partition_copies()
            if out or self._runner.queued:
                return out
        out = self._handoffs(peer)
        if out or self._runner.queued:
            return out
        if self._sx.active:
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
        out = self._reconcile_own(peer)
        self._queue_probes()  # last: only when nothing else is to be done
        return out

    def _audit(self, peer: PeerState) -> list[Action]:
        """Split-brain convergence on a fresh stable report (`convergence`);
        never during a standby exchange (`_settle`)."""
        audit = cv.audit(
            peer.hold, self._ordered(Hold.FOREIGN, reverse=True), self._ordered(Hold.LOCAL)
        )
        out: list[Action] = [*audit.logs]
        if audit.give_back:
            self.claim &= ~Hold.FOREIGN
            steps = [Step(key, False) for key in audit.give_back]
            self._enqueue(Job("audit", steps, self._after_simple_acquire))
        if audit.ours_doubly_held and self.stable:
            # Told once per pair of holdings: when neither copy can go (a stop
            # failed on both sides), two nodes answering each other's answers
            # sent reports without end. A heal's report is answered anyway,
            # as the peer's turn to stable (`_on_report`).
            told = (peer.hold, self.hold_bits())
            if peer.told_we_own_ours != told:
                peer.told_we_own_ours = told
                out.append(SendMessage(rm.resource_fields(told[1], True)))
        elif not audit.ours_doubly_held:
            peer.told_we_own_ours = None
        return out

    def _handoffs(self, peer: PeerState | None) -> list[Action]:
        ready = peer is not None and peer.ready_for(nice=self.nice) and not self._sx.active
        gone = peer is None or not peer.alive
        out: list[Action] = []
        for g in self.groups.values():
            if g.handoff_pending:
                out += handoff.step(
                    g, None if peer is None else peer.name, ready=ready, peer_gone=gone
                )
        return out

    def _reconcile_own(self, peer: PeerState | None) -> list[Action]:
        if not self.nice or not self.claim & Hold.LOCAL:
            return []
        if (
            peer is not None
            and peer.alive
            and (not peer.stable or peer.leaving or not peer.hold_settled
                 or peer.hold & Hold.FOREIGN)
        ):
            return []
        if any(g.state in (STOPPED, PARTIAL) for g in self._ordered(Hold.LOCAL)):
            self._enqueue(self._req_our_job())
        return []

    # --- resource monitoring (docs/resources.md, "Monitoring"; `rscmonitor`) ----

    def _queue_probes(self) -> None:
        """Probe the groups whose monitor is due (only when no other job runs)."""
        mon = self._monitor
        if mon is None or self.busy:
            return
        steps = [Step(k, False, monitor=True) for k in mon.pending()
                 if self.groups[k].state == RUNNING]
        if steps:
            self._enqueue(Job(rmon.PROBE_JOB, steps))

    def _monitored(self, g: rg.Group, fin: OpFinished) -> list[Action]:
        mon = self._monitor
        assert mon is not None
        now = self._now
        if fin.failed_index is None:
            mon.passed(g.key, now)
            return []
        k = fin.failed_index
        rsc = g.group.resources[k].text
        pending = any(s.key == g.key for s in self._runner.pending_steps())
        moving = rmon.moving(self.phase.value, g.state, pending=pending,
                             standby=self._sx.active)
        if moving is not None:
            return mon.ignored(g.key, rsc, moving, now)
        peer = self.peer
        out, verdict = mon.failed(g.key, rsc, fin.statuses[-1], now,
                                  peer=None if peer is None else peer.name,
                                  unfit=self._peer_unfit(g))
        if verdict is mp.Verdict.HANDOVER:
            self._enqueue(Job("monitor handover", [Step(g.key, False)],
                              lambda: self._monitor_handed(g)))
        else:
            steps = [Step(g.key, False, first=k), Step(g.key, True, first=k)]
            self._enqueue(Job("monitor restart", steps, lambda: self._monitor_done(g)))
        return out

    def _monitor_done(self, g: rg.Group) -> list[Action]:
        if self._monitor is not None:
            self._monitor.done(g.key)
        return []

    def _peer_unfit(self, g: rg.Group) -> str | None:
        peer = self.peer
        fenced = peer is not None and self.fencing.pending(peer.name)
        return rmon.peer_unfit(peer, fenced=fenced, nice=self.nice, standby=self._sx.active,
                               from_peer=g.from_peer_failure)

    def _monitor_handed(self, g: rg.Group) -> list[Action]:
        """The hand-over's stop is over: give `g` to the peer, or start it again here."""
        mon = self._monitor
        assert mon is not None
        if g.state != STOPPED:  # the stop failed: "Stop failure" rules
            mon.done(g.key)
            return []
        unfit = self._peer_unfit(g)
        if unfit is not None or self.peer is None:
            out = mon.kept(g.key, unfit or "no peer", self._now)
            steps = [Step(g.key, True)]
            self._enqueue(Job("monitor restart", steps, lambda: self._monitor_done(g)))
            return out
        g.handoff_pending = False
        out = self._set_state(g, FAILED)
        return out + mon.handed(g.key, self.peer.name, self._now)

    # --- our shutdown -------------------------------------------------------

    def _shutdown_release(self, now: int) -> list[Action]:
        if self._leave.release_queued or self._runner.job_active:
            return []
        self.claim = Hold.NONE
        steps, released, still = rg.shutdown_stops(list(self.groups.values()))
        self._enqueue(Job("shutdown", steps, lambda: self._shutdown_released(released)))
        return self._leave.giving_up(still)

    def _shutdown_released(self, released: list[str]) -> list[Action]:
        """The shutdown's stops are over: complete it, or wait for stop-failed groups."""
        now = self._now
        failed = self._stop_failed()
        if failed:
            # Stop-failed groups hold the shutdown up ("Stop failure" rule 5).
            out: list[Action] = [self._report(rm.INFO_SHUTDOWN)]
            names = " ".join(g.key for g in failed)
            peer_name = self.peer.name if self.peer is not None else None
            logs, first = self._leave.blocked(now, names, peer_name)
            out += logs
            return out + self._hand_over_stopped(released, "shutdown") if first else out
        peer = self.peer
        wait = self._was_up and peer is not None and peer.alive and not peer.released
        res, done = self._leave.released(now, wait_for_peer=wait)
        if not done:
            self.phase = Phase.WAIT_TAKEOVER
            return res
        return res + self._shutdown_complete()

    def _retry_stuck_shutdown(self, now: int, why: str) -> list[Action]:
        if self.busy:
            return self._leave.already_retrying(why)
        failed = self._stop_failed()
        steps = [Step(g.key, False, retry_failed=True) for g in reversed(failed)]
        self._enqueue(Job("shutdown retry", steps, lambda: self._shutdown_released([])))
        return self._leave.retrying(why, " ".join(g.key for g in failed))

    def _shutdown_complete(self) -> list[Action]:
        self.phase = Phase.DONE
        return self._leave.complete()


__all__ = [
    "CLAIMED_STATES", "FAILED", "HELD_STATES", "PARTIAL", "RUNNING", "STARTING", "STOPPED",
    "STOPPING", "STOP_FAILED", "TRANSITION", "Action", "GroupStateChanged", "HeldChanged", "Log",
    "Phase", "Resources", "ResourcesConfig", "ResourcesView", "RunScript", "SendMessage",
    "ShutdownComplete"
]
