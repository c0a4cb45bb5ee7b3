"""The resource machine's job runner: one group operation at a time, pure and clock-injected.

Owns the queue of jobs (ordered lists of group starts, stops and start-up
probes), the group operation running now (a `groupops.GroupOp`), its script
call, the deadlines of both and the operation ids. It decides nothing about
ownership: whether a step still makes sense is asked of the caller, and what
an operation did is handed back as events. Times are integer monotonic ms.

Interface (the policy in `resources` is its only user; docs/resources.md,
"Job runner"):

* `enqueue(job)`; `cancel_pending()` drops the queue and the current job (an
  operation already running finishes); `busy`, `op_running`,
  `pending_steps()` (steps not yet begun of jobs not cancelled).
* `advance(would_run)`, with no operation running: the next `Step` to begin
  (skipping those `would_run` rejects), a finished `Job` (the caller runs its
  `on_done`), or None when the queue is empty.
* `begin(group, step, now)`, `result(op_id, rc, verdict, now)` (the
  executor's verdict, hbeat.ipc.executor.judge) and
  `tick(now)` return `RunnerEvent`s in order: `Log`, `RunScript` (hand it
  to the executor) and, last, `OpFinished`. `result` returns None for an
  unknown or abandoned `op_id`; `tick` fails a call whose result is overdue.
* `next_deadline()`, `snapshot()` (a `RunnerSnapshot`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from hbeat.config.model import ResourceGroup
from hbeat.ipc.executor import Outcome as Verdict
from hbeat.logfmt import Level

from . import groupops as go
from .rscactions import Action, Log, RunScript


@dataclass
class Step:
    """Start (or stop, or probe, or monitor) group `key`; `pre` is emitted just before
    it begins. `first`: a restart's start or stop of resources first..top only."""

    key: str
    start: bool
    pre: tuple[Action, ...] = ()
    retry_failed: bool = False
    probe: bool = False
    monitor: bool = False
    first: int | None = None

    @property
    def kind(self) -> go.Kind:
        if self.probe:
            return go.Kind.PROBE
        if self.monitor:
            return go.Kind.MONITOR
        return go.Kind.START if self.start else go.Kind.STOP


@dataclass
class Job:
    """Steps run one after the other; `on_done` (policy code) when all are over."""

    name: str
    steps: list[Step]
    on_done: Callable[[], list[Action]] | None = None
    index: int = 0
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class OpFinished:
    """The operation on group `key` is over (`found`/`statuses`: a probe's findings;
    `failed_index`: the resource a monitor found failed; `first`: a restart's)."""

    key: str
    kind: go.Kind
    outcome: go.Outcome
    found: go.ResourceStatus | None = None
    statuses: tuple[go.ResourceStatus, ...] = ()
    cannot_run: str | None = None  # why the group cannot run here (OCF 5/6), if so
    failed_index: int | None = None
    first: int | None = None


RunnerEvent = Log | RunScript | OpFinished


@dataclass(frozen=True, slots=True)
class RunnerTimers:
    """Script timeouts (s) and what to wait beyond them for a result (ms)."""

    start_timeout_s: float = 120.0
    stop_timeout_s: float = 120.0
    status_timeout_s: float = 30.0
    result_grace_ms: int = 10000
    stop_retry_max: int = 10
    stop_retry_delay_ms: int = 1000

    def timeout_s(self, action: str) -> float:
        if action == go.START:
            return self.start_timeout_s
        if action == go.STOP:
            return self.stop_timeout_s
        return self.status_timeout_s


@dataclass
class CallView:
    """The script call in flight: counted as failed at `deadline_ms` without a result."""

    op_id: int
    index: int
    resource: str
    action: str
    issued_ms: int
    timeout_s: float
    deadline_ms: int


@dataclass
class OpView:
    """The group operation running now (`retry_at_ms`: a failed stop waits to be retried)."""

    group: str
    kind: str
    job: str
    started_ms: int
    retry_at_ms: int | None
    call: CallView | None


@dataclass
class RunnerSnapshot:
    op: OpView | None
    queued: list[str] = field(default_factory=list)  # job names, current first

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Running:
    op: go.GroupOp
    key: str
    job: str
    started: int
    call: CallView | None = None


class JobRunner:
    """See the module docstring."""

    def __init__(self, timers: RunnerTimers) -> None:
        self.timers = timers
        self._queue: deque[Job] = deque()
        self._job: Job | None = None
        self._run: _Running | None = None
        self._next_op_id = 1

    # --- queries ------------------------------------------------------------

    @property
    def op_running(self) -> bool:
        return self._run is not None

    @property
    def busy(self) -> bool:
        """An operation runs, or a job is under way or queued."""
        return self._run is not None or self._job is not None or bool(self._queue)

    def busy_beyond(self, quiet: frozenset[str]) -> bool:
        """Busy with a job not named in `quiet` (a monitor's probes do not make the
        holdings a `transition`)."""
        jobs = ([self._job] if self._job is not None else []) + list(self._queue)
        return any(job.name not in quiet for job in jobs)

    @property
    def job_active(self) -> bool:
        """An operation runs or a job is under way (the queue aside)."""
        return self._run is not None or self._job is not None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def marker(self) -> tuple[int, int, int]:
        """Changes whenever the runner moved on (for the caller's settle loop)."""
        return (len(self._queue), id(self._job), id(self._run))

    def pending_steps(self) -> Iterator[Step]:
        jobs = ([self._job] if self._job is not None else []) + list(self._queue)
        for job in jobs:
            if not job.cancelled:
                yield from job.steps[job.index :]

    def next_deadline(self) -> int | None:
        run = self._run
        if run is None:
            return None
        call_at = run.call.deadline_ms if run.call is not None else None
        times = [t for t in (run.op.deadline, call_at) if t is not None]
        return min(times) if times else None

    def snapshot(self) -> RunnerSnapshot:
        queued = [j.name for j in ([self._job] if self._job else []) + list(self._queue)]
        run = self._run
        if run is None:
            return RunnerSnapshot(None, queued)
        op = OpView(run.key, run.op.kind.value, run.job, run.started, run.op.deadline, run.call)
        return RunnerSnapshot(op, queued)

    # --- the queue ----------------------------------------------------------

    def enqueue(self, job: Job) -> None:
        self._queue.append(job)

    def cancel_pending(self) -> None:
        self._queue.clear()
        if self._job is not None:
            self._job.cancelled = True

    def advance(self, would_run: Callable[[Step], bool]) -> Step | Job | None:
        """The next step to begin or the job just finished; None: nothing to do."""
        if self._run is not None:
            return None
        while True:
            job = self._job
            if job is None:
                if not self._queue:
                    return None
                job = self._queue.popleft()
                self._job = job
            if job.cancelled or job.index >= len(job.steps):
                self._job = None
                if not job.cancelled and job.on_done is not None:
                    return job
                continue
            step = job.steps[job.index]
            job.index += 1
            if would_run(step):
                return step

    # --- operations ---------------------------------------------------------

    def begin(self, group: ResourceGroup, step: Step, now: int) -> list[RunnerEvent]:
        if self._run is not None:
            raise RuntimeError(f"an operation on {self._run.key} is running already")
        op = go.GroupOp(
            group,
            step.kind,
            stop_retry_max=self.timers.stop_retry_max,
            stop_retry_delay_ms=self.timers.stop_retry_delay_ms,
            first=step.first,
        )
        job = self._job.name if self._job is not None else "-"
        self._run = _Running(op, group.key, job, now)
        return self._events(op.begin(now), now)

    def result(self, op_id: int, rc: int | None, verdict: Verdict,
               now: int) -> list[RunnerEvent] | None:
        run = self._run
        if run is None or run.call is None or run.call.op_id != op_id:
            return None
        return self._result(rc, verdict, now)

    def tick(self, now: int) -> list[RunnerEvent]:
        out: list[RunnerEvent] = []
        run = self._run
        if run is not None and run.call is not None and now >= run.call.deadline_ms:
            call = run.call
            out.append(
                Log(
                    Level.ERROR,
                    f"No result from the executor for {call.resource} {call.action} (operation "
                    f"{call.op_id}): counting it as failed",
                )
            )
            out += self._result(None, "failed", now)
        run = self._run
        if run is not None and run.op.deadline is not None and now >= run.op.deadline:
            out += self._events(run.op.tick(now), now)
        return out

    def _result(self, rc: int | None, verdict: Verdict, now: int) -> list[RunnerEvent]:
        run = self._run
        assert run is not None
        run.call = None
        return self._events(run.op.result(rc, verdict, now), now)

    def _events(self, steps: list[go.Step], now: int) -> list[RunnerEvent]:
        run = self._run
        assert run is not None
        out: list[RunnerEvent] = []
        for st in steps:
            if isinstance(st, go.OpLog):
                out.append(Log(st.level, st.text))
            elif isinstance(st, go.Call):
                timeout = self.timers.timeout_s(st.action)
                op_id = self._next_op_id
                self._next_op_id += 1
                run.call = CallView(
                    op_id,
                    st.index,
                    run.op.group.resources[st.index].text,
                    st.action,
                    now,
                    timeout,
                    now + round(timeout * 1000) + self.timers.result_grace_ms,
                )
                quiet = run.op.kind is go.Kind.MONITOR
                out.append(RunScript(op_id, run.key, st.index, st.action, timeout, quiet))
            else:
                self._run = None
                op = run.op
                probed = st.outcome is go.Outcome.PROBED
                out.append(
                    OpFinished(
                        run.key,
                        op.kind,
                        st.outcome,
                        op.found if probed else None,
                        tuple(op.statuses),
                        op.cannot_run,
                        st.failed_index if st.outcome is go.Outcome.MONITORED else None,
                        op.first,
                    )
                )
        return out


__all__ = [
    "CallView",
    "Job",
    "JobRunner",
    "OpFinished",
    "OpView",
    "RunnerEvent",
    "RunnerSnapshot",
    "RunnerTimers",
    "Step",
]
