"""Start or stop one haresources group as a pure sequence of script calls.

`GroupOp` turns "start group G" / "stop group G" into the script calls
heartbeat's ResourceManager would make (docs/heartbeat-protocol.md §5.7), with
safer failure handling than 3.0.6's (docs/heartbeat-protocol.md §10 items 4, 5):

* **start** (`takegroup`): left to right. Each resource is first asked for
  its `status`; one that says RUNNING is skipped, one that says it cannot
  run here (NOT_INSTALLED, NOT_CONFIGURED: OCF exit 5 or 6) ends the start
  at once without calling its `start` (ERROR `Resource <rsc> not installed
  (exit 5, OCF_ERR_INSTALLED): ...`; `cannot_run` says why), any other
  answer leads to `start`. The first start that fails (exit status not 0, or no exit status:
  timeout, signal, could not run) logs `ERROR: Return code N from <script>`
  and `CRIT: Giving up resources due to failure of <rsc>`, then stops, right
  to left, the failed resource and every resource left of it (those it
  started and those it found already running: the group must be entirely
  down here before another node may run it). Resources right of the failed
  one were never touched and are not stopped. Outcome START_FAILED (or
  STOP_FAILED if one of those stops fails for good).
* **stop** (`givegroup`): right to left, no status check first (stop is
  idempotent for LSB and OCF scripts). A failed stop is retried up to
  `stop_retry_max` times (heartbeat: 10), `stop_retry_delay_ms` apart
  (heartbeat: 1 s), logging `Retrying failed stop operation [<rsc>]`. If the
  last retry fails too, `status` decides: STOPPED means the script is just
  not LSB-compliant (logged) and the sequence goes on; anything else ends the
  operation with STOP_FAILED, logged CRIT. The resources left of it are not
  stopped (they are what it depends on). Nothing here ever reboots; what a
  stop-failed group means for the cluster (it stays held here) is decided by
  `resources` (its "Stop failure" rules).

* **probe**: `status` of every resource, left to right, and nothing else
  (the start-up check of `resources`, what heartbeat's init script does with
  `ResourceManager verifyallidle`). A status that fails (FAILED below) is
  logged WARN and counts as "possibly running". Outcome PROBED; `statuses`
  holds one `ResourceStatus` per resource, and `found` says what the group
  as a whole is: STOPPED (every resource said stopped), RUNNING (every
  resource said running) or anything else (None: partly running or unknown).
  A resource whose status says it cannot run here (OCF exit 5 or 6) is not
  running: logged WARN, it counts as stopped for `found`, and `cannot_run`
  says why the group cannot run on this node.

* **monitor** (resource monitoring, docs/resources.md "Monitoring"):
  `status` of each resource, left to right, until one does not say
  RUNNING. Outcome MONITORED; `failed_index` is that resource (None: every
  one runs), logged ERROR with what its status said. Nothing is logged
  when every resource runs (a probe every few seconds would fill the log).
* **restart from resource k** (`first=k`, for a resource the monitor found
  failed): a stop with `first` stops only resources top..k, right to left,
  with the stop's retries and failure rule; a start with `first` starts
  only k..top, left to right, with the start's rules, and its rollback on
  failure stops the whole group (k-1..0 included: the group must be
  entirely down here before another node may run it).

Status of a resource: the verdict the executor sends with each result
(`hbeat.ipc.executor.judge`, made where the kind of call is known: a
haresources script by exit code and heartbeat's "not running" text, an OCF
monitor by exit code alone). RUNNING and STOPPED are taken as they are;
NOT_INSTALLED and NOT_CONFIGURED as above (in a stop's final status they
are "unknown": a resource that ran here and whose stop failed may still run);
FAILED (any other exit code, or none: timeout, signal, could not run)
counts as "not known to be running": a start follows, and a resource in
that state is stopped on rollback.

Usage: `begin(now)`, then feed the result of each `Call` (exit code and
verdict) to `result()` and
call `tick(now)` at `deadline` while a stop retry is waiting. Every method
returns `Step`s: `Call` (run this script action now; exactly one is
pending at a time), `OpLog` and finally `Finished`. Times are integer
monotonic milliseconds; nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hbeat.config.model import Resource, ResourceGroup
from hbeat.ipc.executor import Outcome as Verdict
from hbeat.ipc.executor import cannot_run_text
from hbeat.logfmt import Level

START = "start"
STOP = "stop"
STATUS = "status"

class ResourceStatus(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    NOT_INSTALLED = "not-installed"
    NOT_CONFIGURED = "not-configured"

    @property
    def cannot_run(self) -> bool:
        """Not running here, and cannot run here (OCF 5 or 6 from a status)."""
        return self in (ResourceStatus.NOT_INSTALLED, ResourceStatus.NOT_CONFIGURED)

    @property
    def not_running(self) -> bool:
        """Known not to run here: stopped, or unable to run."""
        return self is ResourceStatus.STOPPED or self.cannot_run


def resource_status(verdict: Verdict) -> ResourceStatus:
    """What the verdict of a `status` call says about its resource."""
    if verdict == "running":
        return ResourceStatus.RUNNING
    if verdict == "stopped":
        return ResourceStatus.STOPPED
    if verdict == "not-installed":
        return ResourceStatus.NOT_INSTALLED
    if verdict == "not-configured":
        return ResourceStatus.NOT_CONFIGURED
    return ResourceStatus.FAILED


class Kind(enum.Enum):
    START = "start"
    STOP = "stop"
    PROBE = "probe"
    MONITOR = "monitor"


class Outcome(enum.Enum):
    STARTED = "started"
    STOPPED = "stopped"
    START_FAILED = "start-failed"
    STOP_FAILED = "stop-failed"
    PROBED = "probed"
    MONITORED = "monitored"


@dataclass(frozen=True, slots=True)
class Call:
    """Run `<script> [args] <action>` for resource `index` of the group."""

    index: int
    action: str


@dataclass(frozen=True, slots=True)
class OpLog:
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The operation is over. `failed_index`: the resource whose start or stop failed."""

    outcome: Outcome
    failed_index: int | None = None


Step = Call | OpLog | Finished


def script_label(rsc: Resource) -> str:
    """How a resource's script is named in `Return code N from <script>`."""
    return rsc.path or rsc.script


class GroupOp:
    """One start or stop of one group. See the module docstring."""

    def __init__(
        self,
        group: ResourceGroup,
        kind: Kind,
        *,
        stop_retry_max: int = 10,
        stop_retry_delay_ms: int = 1000,
        first: int | None = None,
    ) -> None:
        if stop_retry_max < 0 or stop_retry_delay_ms < 0:
            raise ValueError("stop_retry_max and stop_retry_delay_ms must not be negative")
        if first is not None and not (
            kind in (Kind.START, Kind.STOP) and 0 <= first < len(group.resources)
        ):
            raise ValueError(f"a restart from resource {first} of group {group.key} is "
                             f"not a start or stop of one of its resources")
        self.group = group
        self.first = first
        self.kind = kind
        self.stop_retry_max = stop_retry_max
        self.stop_retry_delay_ms = stop_retry_delay_ms
        self.pending: Call | None = None
        self.deadline: int | None = None
        self.outcome: Outcome | None = None
        self.failed_index: int | None = None
        self.start_failed_index: int | None = None
        self._index = 0
        self._retries = 0
        self._rolling_back = False
        self._begun = False
        self.statuses: list[ResourceStatus] = []
        self.cannot_run: str | None = None
        """Why the group cannot run on this node (a resource's status said
        OCF_ERR_INSTALLED or OCF_ERR_CONFIGURED), e.g. `Filesystem::... not
        installed (exit 5, OCF_ERR_INSTALLED)`; None otherwise."""

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def _rsc(self, i: int) -> Resource:
        return self.group.resources[i]

    def _describe(self) -> str:
        return " ".join((self.group.node, *(r.text for r in self.group.resources)))

    def begin(self, now: int) -> list[Step]:
        if self._begun:
            raise RuntimeError(f"operation on group {self.group.key} already begun")
        self._begun = True
        if self.kind in (Kind.PROBE, Kind.MONITOR):
            self._index = 0
            return self._call(STATUS)
        if self.first is not None:
            return self._begin_restart(self.first)
        if self.kind is Kind.START:
            steps: list[Step] = [OpLog(Level.INFO, f"Acquiring resource group: {self._describe()}")]
            self._index = 0
            return steps + self._call(STATUS)
        steps = [OpLog(Level.INFO, f"Releasing resource group: {self._describe()}")]
        self._index = len(self.group.resources) - 1
        return steps + self._call(STOP)

    def _begin_restart(self, first: int) -> list[Step]:
        texts = [r.text for r in self.group.resources[first:]]
        if self.kind is Kind.START:
            what = "starting " + " ".join(texts)
            self._index = first
            call = STATUS
        else:
            what = "stopping " + " ".join(reversed(texts))
            self._index = len(self.group.resources) - 1
            call = STOP
        log = OpLog(Level.INFO, f"Restarting resource group {self.group.key}: {what}")
        return [log, *self._call(call)]

    def _call(self, action: str) -> list[Step]:
        call = Call(self._index, action)
        self.pending = call
        return [call]

    def _finish(self, outcome: Outcome, failed_index: int | None = None) -> list[Step]:
        self.pending = None
        self.deadline = None
        self.outcome = outcome
        self.failed_index = failed_index
        return [Finished(outcome, failed_index)]

    def result(self, rc: int | None, verdict: Verdict, now: int) -> list[Step]:
        """The pending call finished with exit status `rc` (None: it did not exit
        normally) and the executor's `verdict` on it."""
        call = self.pending
        if call is None:
            raise RuntimeError(f"no script call pending for group {self.group.key}")
        self.pending = None
        if self.kind is Kind.PROBE:
            return self._after_probe_status(rc, verdict)
        if self.kind is Kind.MONITOR:
            return self._after_monitor_status(rc, verdict)
        if call.action == STATUS and not self._stopping:
            return self._after_start_status(rc, verdict)
        if call.action == START:
            return self._after_start(rc)
        if call.action == STOP:
            return self._after_stop(rc, now)
        return self._after_stop_status(resource_status(verdict))

    @property
    def _stopping(self) -> bool:
        return self.kind is Kind.STOP or self._rolling_back

    def tick(self, now: int) -> list[Step]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self._call(STOP)

    # --- probe --------------------------------------------------------------

    @property
    def found(self) -> ResourceStatus | None:
        """After a probe: STOPPED or RUNNING when every resource agreed, else None."""
        if self.outcome is not Outcome.PROBED:
            raise RuntimeError(f"group {self.group.key} was not probed")
        if all(s.not_running for s in self.statuses):
            return ResourceStatus.STOPPED
        if all(s is ResourceStatus.RUNNING for s in self.statuses):
            return ResourceStatus.RUNNING
        return None

    def _after_probe_status(self, rc: int | None, verdict: Verdict) -> list[Step]:
        status = resource_status(verdict)
        self.statuses.append(status)
        steps: list[Step] = []
        if status.cannot_run:
            steps.append(self._cannot_run(rc, verdict, Level.WARN))
        elif status is ResourceStatus.FAILED:
            rsc = self._rsc(self._index)
            how = f"return code {rc}" if rc is not None else "no return code"
            steps.append(
                OpLog(
                    Level.WARN,
                    f"Status of {rsc.text} failed ({how}): counting it as possibly running",
                )
            )
        self._index += 1
        if self._index >= len(self.group.resources):
            return steps + self._finish(Outcome.PROBED)
        return steps + self._call(STATUS)

    # --- monitor ------------------------------------------------------------

    def _after_monitor_status(self, rc: int | None, verdict: Verdict) -> list[Step]:
        status = resource_status(verdict)
        self.statuses.append(status)
        if status is ResourceStatus.RUNNING:
            self._index += 1
            if self._index >= len(self.group.resources):
                return self._finish(Outcome.MONITORED)
            return self._call(STATUS)
        rsc = self._rsc(self._index)
        if status is ResourceStatus.STOPPED:
            how = "its status says it is not running"
        elif status.cannot_run:
            how = f"its status says it cannot run here: {cannot_run_text(verdict, rc)}"
        elif rc is not None:
            how = f"its status failed (return code {rc})"
        else:
            how = "its status gave no answer (timed out, killed or not run)"
        text = f"Resource {rsc.text} of group {self.group.key} failed its monitor: {how}"
        return [OpLog(Level.ERROR, text), *self._finish(Outcome.MONITORED, self._index)]

    # --- start --------------------------------------------------------------

    def _cannot_run(self, rc: int | None, verdict: Verdict, level: Level) -> OpLog:
        """Record and log that the current resource cannot run on this node."""
        rsc = self._rsc(self._index)
        why = f"{rsc.text} {cannot_run_text(verdict, rc)}"
        if self.cannot_run is None:
            self.cannot_run = why
        return OpLog(level, f"Resource {why}: it is not running on this node and cannot run "
                            f"here; resource group {self.group.key} cannot run on this node.")

    def _after_start_status(self, rc: int | None, verdict: Verdict) -> list[Step]:
        status = resource_status(verdict)
        if status is ResourceStatus.RUNNING:
            return self._next_start()
        if not status.cannot_run:
            return self._call(START)
        # Not installed / not configured here: no start, and nothing to stop for
        # it; what this start found or started left of it is stopped.
        steps: list[Step] = [self._cannot_run(rc, verdict, Level.ERROR)]
        self.start_failed_index = self._index
        self._rolling_back = True
        self._retries = 0
        return steps + self._next_stop()

    def _after_start(self, rc: int | None) -> list[Step]:
        if rc == 0:
            return self._next_start()
        rsc = self._rsc(self._index)
        label = script_label(rsc)
        first = (
            OpLog(Level.ERROR, f"Return code {rc} from {label}")
            if rc is not None
            else OpLog(Level.ERROR, f"No return code from {label} (timed out, killed or not run)")
        )
        steps: list[Step] = [
            first,
            OpLog(Level.CRIT, f"Giving up resources due to failure of {rsc.text}"),
        ]
        self.start_failed_index = self._index
        self._rolling_back = True
        self._retries = 0
        return steps + self._call(STOP)

    def _next_start(self) -> list[Step]:
        self._index += 1
        if self._index >= len(self.group.resources):
            return self._finish(Outcome.STARTED)
        return self._call(STATUS)

    # --- stop ---------------------------------------------------------------

    def _after_stop(self, rc: int | None, now: int) -> list[Step]:
        if rc == 0:
            return self._next_stop()
        rsc = self._rsc(self._index)
        if self._retries < self.stop_retry_max:
            self._retries += 1
            self.deadline = now + self.stop_retry_delay_ms
            return [OpLog(Level.INFO, f"Retrying failed stop operation [{rsc.text}]")]
        return self._call(STATUS)

    def _after_stop_status(self, status: ResourceStatus) -> list[Step]:
        rsc = self._rsc(self._index)
        if status is ResourceStatus.STOPPED:
            return [
                OpLog(Level.ERROR, f"Resource script for {rsc.text} probably not LSB-compliant."),
                OpLog(
                    Level.WARN,
                    f"{rsc.text}: stop failed but status says stopped; carrying on",
                ),
                *self._next_stop(),
            ]
        return [
            OpLog(
                Level.CRIT,
                f"Resource STOP failure: {rsc.text} of group {self.group.key} still "
                f"{_stop_status_words(status)} "
                f"after {self.stop_retry_max} retries. Not rebooting: the group is marked "
                f"stop-failed and stays held by this node (no other node is let start it); "
                f"clean it up by hand.",
            ),
            *self._finish(Outcome.STOP_FAILED, self._index),
        ]

    def _next_stop(self) -> list[Step]:
        self._retries = 0
        self._index -= 1
        floor = self.first if self.first is not None and not self._rolling_back else 0
        if self._index < floor:
            if self._rolling_back:
                return self._finish(Outcome.START_FAILED, self.start_failed_index)
            return self._finish(Outcome.STOPPED)
        return self._call(STOP)


def _stop_status_words(status: ResourceStatus) -> str:
    """How a stop-failed resource's last status is said in the CRIT line."""
    if status is ResourceStatus.RUNNING:
        return "running"
    if status.cannot_run:
        return f"in an unknown state (its status says {status.value})"
    return "in an unknown state"


__all__ = [
    "START",
    "STATUS",
    "STOP",
    "Call",
    "Finished",
    "GroupOp",
    "Kind",
    "OpLog",
    "Outcome",
    "ResourceStatus",
    "Step",
    "resource_status",
    "script_label",
]
