"""The executor's side of the bus: its run request, its result, the few other
messages it exchanges with the supervisor, and the one verdict of a call.

The verbs and their fields are documented in docs/processes.md ("The
executor's messages"). `judge` is the one place where a call's exit code and
output become its outcome: the executor computes it, because only it knows
the kind of call (a haresources script, resource.d or init.d, or an OCF
agent's `monitor`), and sends it in the result's `status`; the supervisor's
group operations act on that verdict and never judge a call again. The
executor's liveness is not a message: it renews a lease file
(hbeat/ipc/leasefile.py) on the turns of its loop, on the schedule below.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

from hbeat.config.haresources import parse_resource
from hbeat.config.model import Problem, Resource
from hbeat.ipc.bus import (
    BusError,
    body_of,
    get_bool,
    get_int,
    get_number,
    get_opt_int,
    get_opt_str,
    get_str,
    pack,
)

Action = Literal["start", "stop", "status"]
ACTIONS: tuple[Action, ...] = ("start", "stop", "status")
Outcome = Literal["ok", "failed", "running", "stopped", "not-installed", "not-configured"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "running", "stopped", "not-installed",
                                 "not-configured")
CANNOT_RUN: frozenset[Outcome] = frozenset({"not-installed", "not-configured"})
"""Status verdicts meaning: the resource does not run on this node and cannot."""

EXECUTOR_LEASE_S = 15.0
"""How far ahead the executor renews its lease: a supervisor that finds it run
out kills the executor as hung (found within this long of its last renewal)."""
EXECUTOR_RENEW_S = 5.0
"""The executor's loop turns at least this often while idle, to renew the lease;
a busier turn renews it once EXECUTOR_RENEW_S / 16 has passed since the last."""
EXECUTOR_LEASE_NS = int(EXECUTOR_LEASE_S * 1_000_000_000)

_NOT_RUNNING = re.compile(r"[Nn][Oo][Tt] .*[Rr]unning", re.DOTALL)
_RUNNING = re.compile(r"[Rr]unning|OK")


class CallError(ValueError):
    """A call that cannot be made; the message says which file or field and why."""

    missing: Literal["not-installed", "not-configured"] | None = None
    """Set when the call cannot be made because something the resource needs
    is missing on this node: a `status` call then has that verdict, as the
    script or agent itself would have exited 5 or 6 (`verdict_unmade`)."""


class NotInstalled(CallError):
    """The resource script or OCF agent is missing or not executable here."""

    missing = "not-installed"


class NotConfigured(CallError):
    """The resource's configuration is missing here (an OCF instance file)."""

    missing = "not-configured"


def check_action(action: str) -> Action:
    for known in ACTIONS:
        if action == known:
            return known
    raise CallError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")


# --- the verdict ----------------------------------------------------------------


class CallKind(enum.Enum):
    """How a call's answer is read."""

    SCRIPT = "script"
    """A haresources resource script (resource.d or init.d, also the OCF
    wrapper for start/stop): LSB exit codes plus heartbeat's text convention
    for `status`."""
    OCF_MONITOR = "ocf-monitor"
    """An OCF agent's `monitor` (the status of `OCF::agent::instance`): its
    exit code alone (0 running, 7 not running), whatever it prints."""


class OcfCode(enum.IntEnum):
    """The OCF resource agent exit codes (and what Pacemaker calls them)."""

    OCF_SUCCESS = 0
    OCF_ERR_GENERIC = 1
    OCF_ERR_ARGS = 2
    OCF_ERR_UNIMPLEMENTED = 3
    OCF_ERR_PERM = 4
    OCF_ERR_INSTALLED = 5
    OCF_ERR_CONFIGURED = 6
    OCF_NOT_RUNNING = 7
    OCF_RUNNING_PROMOTED = 8
    OCF_FAILED_PROMOTED = 9
    OCF_DEGRADED = 190
    OCF_DEGRADED_PROMOTED = 191


_OCF_RUNNING = frozenset({0, 8, 190, 191})
_SCRIPT_STOPPED = frozenset({3, 7})


def judge(action: Action, rc: int | None, stdout: str,
          kind: CallKind = CallKind.SCRIPT) -> Outcome:
    """The outcome of a call. `rc` is None when the script did not exit by
    itself (timeout, signal, could not be executed).

    start and stop: `ok` for exit 0, else `failed`. status (docs/resources.md,
    "Exit codes"):

    ====================  ==========  ===================================  ===============
    exit code             kind        stdout                               status
    ====================  ==========  ===================================  ===============
    0                     SCRIPT      matches `[Nn][Oo][Tt] .*[Rr]unning`  stopped
    0                     SCRIPT      anything else (also nothing)         running
    0, 8, 190, 191        OCF         anything                             running
    3 (LSB) or 7 (OCF)    SCRIPT      anything                             stopped
    7                     OCF         anything                             stopped
    5 (OCF_ERR_INSTALLED)   any       anything                             not-installed
    6 (OCF_ERR_CONFIGURED)  any       anything                             not-configured
    any other code        any         anything                             failed
    none (timeout, signal,  any       -                                    failed
    could not execute)
    ====================  ==========  ===================================  ===============

    `failed` means "possibly running: must be stopped"; `not-installed` and
    `not-configured` (`CANNOT_RUN`) mean "not running here, and cannot run
    here": hbeat's wrappers pass the agent's OCF code through, and LSB init
    scripts use 5 and 6 for the same two meanings. An OCF monitor's 3
    (OCF_ERR_UNIMPLEMENTED) is an error, as Pacemaker reads it.
    """
    if action != "status":
        return "ok" if rc == 0 else "failed"
    if rc == OcfCode.OCF_ERR_INSTALLED:
        return "not-installed"
    if rc == OcfCode.OCF_ERR_CONFIGURED:
        return "not-configured"
    if kind is CallKind.OCF_MONITOR:
        if rc in _OCF_RUNNING:
            return "running"
        return "stopped" if rc == OcfCode.OCF_NOT_RUNNING else "failed"
    if rc == 0:
        return "stopped" if _NOT_RUNNING.search(stdout) else "running"
    return "stopped" if rc in _SCRIPT_STOPPED else "failed"


def verdict_unmade(action: Action, error: CallError) -> Outcome:
    """The verdict of a call that could not be made: a `status` of a resource
    whose script, agent or instance file is missing here is `not-installed`
    or `not-configured` (as Pacemaker's executor reports a missing agent),
    anything else `failed`."""
    if action == "status" and error.missing is not None:
        return error.missing
    return "failed"


def is_failure(outcome: Outcome) -> bool:
    """Whether a verdict is a failure of the call (`failed`, or a status saying
    the resource cannot run here), for the metrics."""
    return outcome == "failed" or outcome in CANNOT_RUN


def rc_name(rc: int | None) -> str:
    """`exit 5, OCF_ERR_INSTALLED` for a known OCF code, `exit 42`, or `no exit code`."""
    if rc is None:
        return "no exit code"
    try:
        return f"exit {rc}, {OcfCode(rc).name}"
    except ValueError:
        return f"exit {rc}"


def cannot_run_text(outcome: Outcome, rc: int | None) -> str:
    """How a `CANNOT_RUN` status is said in the log and the snapshot."""
    installed = outcome == "not-installed"
    what = "not installed" if installed else "not configured"
    if rc is None:  # the executor could not make the call (verdict_unmade)
        name = OcfCode.OCF_ERR_INSTALLED if installed else OcfCode.OCF_ERR_CONFIGURED
        return f"{what} ({name.name}: its script, agent or instance file is missing here)"
    return f"{what} ({rc_name(rc)})"


def heartbeat_verdict(stdout: str) -> Literal["running", "stopped"]:
    """What heartbeat 3.0.6 concludes from a status call's stdout (exit code
    ignored): reported beside the verdict so a disagreement can be seen."""
    if _NOT_RUNNING.search(stdout):
        return "stopped"
    return "running" if _RUNNING.search(stdout) else "stopped"


# --- the run request ------------------------------------------------------------


def optional_str(body: Mapping[str, Any], key: str, where: str) -> str | None:
    """`body[key]` when it is a string, None when absent or null; CallError otherwise."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CallError(f"{where}: '{key}' must be a string, not {type(value).__name__}")
    return value


def resource_to_json(resource: Resource) -> dict[str, Any]:
    """The `resource` object of a run request for a configured resource."""
    return {"text": resource.text, "script": resource.script, "args": list(resource.args),
            "path": resource.path}


def resource_from_json(body: Mapping[str, Any]) -> Resource:
    """A run request's `resource`: {"script", "args", "path"?, "text"?} or just {"text"}."""
    text = optional_str(body, "text", "resource")
    script = optional_str(body, "script", "resource")
    path = optional_str(body, "path", "resource")
    if script is None:
        if not text:
            raise CallError("resource: needs 'script' (with 'args') or 'text'")
        problems: list[Problem] = []
        parsed = parse_resource(text, 0, "resource", problems)
        if parsed is None:
            raise CallError("; ".join(p.message for p in problems))
        return Resource(text, parsed.script, parsed.args, 0, path)
    args = body.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) and a for a in args):
        raise CallError(f"resource {script}: 'args' must be a list of non-empty strings")
    if not script or "/" in script or script in (".", ".."):
        raise CallError(f"resource: script name {script!r} must be a plain file name")
    return Resource(text or "::".join((script, *args)), script, tuple(args), 0, path)


def positive_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise CallError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RunRequest:
    """supervisor -> executor: run `action` of one resource (or of `argv`).
    Always answered by exactly one `RunResult` with the same id."""

    VERB: ClassVar[bytes] = b"run"
    id: str | int
    group: str
    index: int | None
    action: Action
    timeout_s: float | None = None
    resource: Resource | None = None
    """Looked up and built as heartbeat does."""
    argv: tuple[str, ...] | None = None
    """Executed as given (its last word should be the action)."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "group": self.group, "index": self.index,
                                "action": self.action}
        if self.timeout_s is not None:
            body["timeout_s"] = self.timeout_s
        if self.resource is not None:
            body["resource"] = resource_to_json(self.resource)
        if self.argv is not None:
            body["argv"] = list(self.argv)
        return body

    def encode(self) -> list[bytes]:
        return pack(self.VERB, self.to_json())

    @staticmethod
    def request_id(body: Mapping[str, Any]) -> str | int:
        rid = body.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            raise CallError(f"run: 'id' must be a string or integer: {dict(body)!r}")
        return rid

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RunRequest:
        """CallError (naming the field) when the request is malformed."""
        rid = cls.request_id(body)
        group = body.get("group")
        if not isinstance(group, str) or not group:
            raise CallError("run: 'group' must be a non-empty string")
        action = check_action(str(body.get("action", "")))
        timeout_s = (positive_number(body["timeout_s"], "run: timeout_s")
                     if "timeout_s" in body else None)
        if ("argv" in body) == ("resource" in body):
            raise CallError("run: give exactly one of 'resource' and 'argv'")
        index = body.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise CallError(f"run: 'index' must be an integer or null, not {index!r}")
        if "argv" in body:
            argv = body["argv"]
            if (not isinstance(argv, list) or not argv
                    or not all(isinstance(a, str) for a in argv)):
                raise CallError("run: 'argv' must be a non-empty list of strings")
            return cls(rid, group, index, action, timeout_s, argv=tuple(argv))
        resource = body["resource"]
        if not isinstance(resource, dict):
            raise CallError("run: 'resource' must be an object")
        return cls(rid, group, index, action, timeout_s, resource=resource_from_json(resource))


# --- what the executor reports ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    """executor -> supervisor: how a call ended."""

    VERB: ClassVar[bytes] = b"result"
    id: str | int
    group: str
    index: int | None
    action: str
    rc: int | None
    """The exit code, or None (timeout, killed, could not execute)."""
    signal: int | None
    status: Outcome
    """The verdict (`judge`): start/stop ok|failed, status running|stopped|failed."""
    heartbeat_status: Literal["running", "stopped"] | None
    """status calls of haresources scripts: what heartbeat 3.0.6 would have
    concluded from the text; None otherwise."""
    timed_out: bool
    duration_s: float
    error: str | None
    argv: tuple[str, ...]
    command: str
    output_lines: int
    output_bytes: int
    truncated: bool
    spawn_ns: int | None = None
    """CLOCK_REALTIME when the call's process had exec'd (the executor's spawn
    returned; None: never run)."""
    exit_ns: int | None = None
    """CLOCK_REALTIME when the executor reaped it: with spawn_ns, the call's
    own time as the executor saw it (docs/journal.md)."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {
            "id": self.id, "group": self.group, "index": self.index, "action": self.action,
            "rc": self.rc, "signal": self.signal, "status": self.status,
            "heartbeat_status": self.heartbeat_status, "timed_out": self.timed_out,
            "duration_s": self.duration_s, "error": self.error, "argv": list(self.argv),
            "command": self.command, "output_lines": self.output_lines,
            "output_bytes": self.output_bytes, "truncated": self.truncated,
            "spawn_ns": self.spawn_ns, "exit_ns": self.exit_ns,
        })

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> RunResult:
        v = "result"
        body = body_of(parts, v)
        rid = body.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            raise BusError(f"bus message 'result': field 'id' must be a string or "
                           f"integer, not {rid!r}")
        status = body.get("status")
        if status not in OUTCOMES:
            raise BusError(f"bus message 'result': field 'status' must be one of "
                           f"{', '.join(OUTCOMES)}, not {status!r}")
        hb = body.get("heartbeat_status")
        if hb not in ("running", "stopped", None):
            raise BusError(f"bus message 'result': field 'heartbeat_status' must be "
                           f"running, stopped or null, not {hb!r}")
        argv = body.get("argv", [])
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise BusError(f"bus message 'result': field 'argv' must be a list of "
                           f"strings, not {argv!r}")
        return cls(
            id=rid, group=get_str(body, v, "group", ""), index=get_opt_int(body, v, "index"),
            action=get_str(body, v, "action", ""), rc=get_opt_int(body, v, "rc"),
            signal=get_opt_int(body, v, "signal"), status=status, heartbeat_status=hb,
            timed_out=get_bool(body, v, "timed_out"),
            duration_s=get_number(body, v, "duration_s"), error=get_opt_str(body, v, "error"),
            argv=tuple(argv), command=get_str(body, v, "command", ""),
            output_lines=get_int(body, v, "output_lines", 0),
            output_bytes=get_int(body, v, "output_bytes", 0),
            truncated=get_bool(body, v, "truncated"),
            spawn_ns=get_opt_int(body, v, "spawn_ns"), exit_ns=get_opt_int(body, v, "exit_ns"),
        )


@dataclass(frozen=True, slots=True)
class Started:
    """executor -> supervisor: the call's process exists (pid = its process group)."""

    VERB: ClassVar[bytes] = b"started"
    id: str | int
    group: str
    index: int | None
    action: str
    pid: int
    argv: tuple[str, ...]
    command: str
    """The text for `info: Running ...`."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"id": self.id, "group": self.group, "index": self.index,
                                "action": self.action, "pid": self.pid,
                                "argv": list(self.argv), "command": self.command})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Started:
        v = "started"
        body = body_of(parts, v)
        rid = body.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            raise BusError(f"bus message 'started': field 'id' must be a string or "
                           f"integer, not {rid!r}")
        argv = body.get("argv", [])
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise BusError("bus message 'started': field 'argv' must be a list of strings")
        return cls(rid, get_str(body, v, "group", ""), get_opt_int(body, v, "index"),
                   get_str(body, v, "action", ""), get_int(body, v, "pid"), tuple(argv),
                   get_str(body, v, "command", ""))


Stream = Literal["stdout", "stderr", "executor"]


@dataclass(frozen=True, slots=True)
class Output:
    """executor -> supervisor: one line a call printed (without its newline)."""

    VERB: ClassVar[bytes] = b"output"
    id: str | int
    stream: Stream
    line: str

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"id": self.id, "stream": self.stream, "line": self.line})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Output:
        body = body_of(parts, "output")
        rid = body.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            raise BusError(f"bus message 'output': field 'id' must be a string or "
                           f"integer, not {rid!r}")
        stream = body.get("stream")
        if stream not in ("stdout", "stderr", "executor"):
            raise BusError(f"bus message 'output': field 'stream' must be stdout, stderr "
                           f"or executor, not {stream!r}")
        return cls(rid, stream, get_str(body, "output", "line"))


class OutputLimits(TypedDict):
    """How much of a call's output the executor forwards."""

    max_lines: int
    max_bytes: int
    max_line_bytes: int


@dataclass(frozen=True, slots=True)
class ExecutorReady:
    """executor -> supervisor: setup accepted."""

    VERB: ClassVar[bytes] = b"ready"
    pid: int
    limits: OutputLimits
    kill_grace_s: float
    default_timeout_s: float

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"pid": self.pid, "limits": dict(self.limits),
                                "kill_grace_s": self.kill_grace_s,
                                "default_timeout_s": self.default_timeout_s})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> ExecutorReady:
        v = "ready"
        body = body_of(parts, v)
        raw = body.get("limits")
        if not isinstance(raw, dict):
            raise BusError(f"bus message 'ready': field 'limits' must be an object, "
                           f"not {raw!r}")
        limits = OutputLimits(max_lines=get_int(raw, v, "max_lines"),
                        max_bytes=get_int(raw, v, "max_bytes"),
                        max_line_bytes=get_int(raw, v, "max_line_bytes"))
        return cls(get_int(body, v, "pid"), limits, get_number(body, v, "kill_grace_s"),
                   get_number(body, v, "default_timeout_s"))


@dataclass(frozen=True, slots=True)
class Bye:
    """executor -> supervisor, last after `stop`: what was cancelled or killed."""

    VERB: ClassVar[bytes] = b"bye"
    cancelled: tuple[str | int, ...] = ()
    killed: tuple[str | int, ...] = ()

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"cancelled": list(self.cancelled), "killed": list(self.killed)})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> Bye:
        body = body_of(parts, "bye")
        lists = []
        for name in ("cancelled", "killed"):
            value = body.get(name, [])
            if not isinstance(value, list):
                raise BusError(f"bus message 'bye': field '{name}' must be a list")
            lists.append(tuple(value))
        return cls(lists[0], lists[1])


class ExecutorLogging(TypedDict, total=False):
    logfile: str | None
    debugfile: str | None
    logfacility: str | None
    debug: int


class ExecutorSetup(TypedDict, total=False):
    """supervisor -> executor `setup` (answered by ready or fatal). The
    executor checks it field by field (workers/scriptrun.settings_from_setup;
    `lease`, `limits` and the times in workers/executor.py)."""

    config_dir: str
    node: str
    resource_dir: str
    lib_resource_dir: str
    init_dir: str
    ocf_root: str
    funcs: str
    env: dict[str, str]
    logging: ExecutorLogging
    lease: str
    """Required: the path of the lease file (hbeat/ipc/leasefile.py) the
    executor renews to EXECUTOR_LEASE_S ahead, at least every EXECUTOR_RENEW_S."""
    limits: dict[str, int]
    kill_grace_s: float
    default_timeout_s: float


def encode_setup(setup: ExecutorSetup) -> list[bytes]:
    return pack(b"setup", setup)


def encode_logging(logging: ExecutorLogging) -> list[bytes]:
    """supervisor -> executor `logging`: setup's `logging` again, for the calls
    started from now on (the configuration was reread, or USR1/USR2 moved the
    debug level). The executor checks it as setup's
    (workers/scriptrun.with_logging) and answers a bad one with `error`."""
    return pack(b"logging", logging)
