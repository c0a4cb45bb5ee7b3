"""The executor worker (`hbeat: executor`): runs resource scripts for the supervisor.

    python -m workers.executor --bus ipc:///run/hbeat/private/bus --name executor

It never blocks on a script: every call is a child in its own session and
process group (`start_new_session`), its stdout/stderr are non-blocking
pipes in the same ZeroMQ poller as the bus, and exits are collected with
`waitpid` when SIGCHLD wakes the loop. Calls of different groups run in
parallel; calls of one group run one at a time, in arrival order. The
executor is a child subreaper, so what a script leaves behind is reaped
here instead of piling up as zombies. It exits when the supervisor dies
(parent-death signal SIGTERM) after killing the process groups of the calls
still running, or after a `stop`. How argv, environment and outcome are
decided is workers/scriptrun.py.

Its bus messages (run request, result, started, output, ready, bye) are
typed in hbeat/ipc/executor.py and listed in docs/processes.md; the
verdict of each call is hbeat.ipc.executor.judge, told the kind of call.
Its liveness is a lease file the supervisor names in `setup`
(hbeat/ipc/leasefile.py): renewed before `ready`, then from the same loop
that reads the bus, which turns at least every EXECUTOR_RENEW_S to do so.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from hbeat.config.probe import SystemProbe
from hbeat.ipc.bus import BusError, Error, Fatal, Hello, Stop, drain, unpack_json
from hbeat.ipc.executor import (
    ACTIONS,
    EXECUTOR_LEASE_NS,
    EXECUTOR_RENEW_S,
    Bye,
    CallError,
    CallKind,
    ExecutorReady,
    Outcome,
    Output,
    OutputLimits,
    RunRequest,
    RunResult,
    Started,
    check_action,
    heartbeat_verdict,
    judge,
    positive_number,
    verdict_unmade,
)
from hbeat.ipc.leasefile import LeaseFile, LeaseFileError
from hbeat.schedslice import shorten_slice
from workers import scriptrun
from workers.procinit import die_with_parent, set_title
from workers.scriptrun import Call, Settings

PR_SET_CHILD_SUBREAPER = 36
VERSION = 1
DEFAULT_LIMITS = {"max_lines": 200, "max_bytes": 64 * 1024, "max_line_bytes": 4096}
DEFAULT_KILL_GRACE_S = 5.0
DEFAULT_TIMEOUT_S = 300.0
STATUS_TEXT_MAX = 64 * 1024
MAX_LINGERING = 64
RENEW_AFTER_NS = int(EXECUTOR_RENEW_S * 1_000_000_000) // 16
"""A turn renews the lease only when this long has passed since the last renewal."""
STREAMS = ("stdout", "stderr")


def log(level: str, message: str) -> None:
    print(f"{level}: executor: {message}", file=sys.stderr, flush=True)


def prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        log("WARN", f"prctl({option}) failed: {os.strerror(err)}")


def script_child_setup() -> None:
    """In the forked child, before exec: a resource script and the services it
    starts are ordinary processes. The daemon runs with oom_score_adj -1000
    (the unit's OOMScoreAdjust) so the OOM killer spares the cluster's brain;
    a database started by a script must not inherit that and become the one
    process the kernel can never reclaim. Raising the value needs no privilege.
    Only async-signal-safe calls here (open/write/close)."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, b"0")
    except OSError:
        pass
    finally:
        os.close(fd)


OOM_ADJ = "/proc/self/oom_score_adj"


def _write_oom(value: int) -> None:
    fd = os.open(OOM_ADJ, os.O_WRONLY)
    try:
        os.write(fd, b"%d" % value)
    finally:
        os.close(fd)


class ChildOom:
    """Scripts start at oom_score_adj 0 without code in the forked child.

    `script_child_setup` as a `preexec_fn` makes subprocess fork the whole
    interpreter and run Python in the child before exec (6-9 ms a spawn on
    the loaded 2-vCPU bench machine, against 0.2-2 ms without: bench/README.md,
    "Where the milliseconds go"). Without a preexec_fn, subprocess uses vfork,
    and the child inherits our value: so around each spawn the executor sets
    its own value to 0 and back (the executor is single-threaded: nothing
    else runs meanwhile). When it cannot (no /proc, or lowering the value
    back is refused), it falls back to the preexec_fn for good."""

    def __init__(self) -> None:
        try:
            with open(OOM_ADJ, "rb") as f:
                self.own: int | None = int(f.read().strip() or b"0")
        except (OSError, ValueError):
            self.own = None
        self.fallback = False

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        own = self.own
        if own is None or self.fallback:
            return subprocess.Popen(argv, preexec_fn=script_child_setup, **kwargs)
        if own == 0:
            return subprocess.Popen(argv, **kwargs)
        try:
            _write_oom(0)
        except OSError:
            self.fallback = True
            return subprocess.Popen(argv, preexec_fn=script_child_setup, **kwargs)
        try:
            return subprocess.Popen(argv, **kwargs)
        finally:
            try:
                _write_oom(own)
            except OSError as exc:
                self.fallback = True
                log("WARN", f"could not set oom_score_adj back to {own} after starting a "
                            f"script ({exc.strerror}): the executor stays at 0")


@dataclass
class Limits:
    max_lines: int
    max_bytes: int
    max_line_bytes: int

    @classmethod
    def from_setup(cls, body: Any) -> Limits:
        merged = dict(DEFAULT_LIMITS)
        if body is not None:
            if not isinstance(body, dict):
                raise CallError("setup: 'limits' must be an object")
            for key, value in body.items():
                if key not in merged:
                    raise CallError(f"setup: unknown limit {key!r}")
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise CallError(f"setup: limit {key} must be a positive integer")
                merged[key] = value
        return cls(**merged)


@dataclass
class Job:
    """One run request, from arrival to its result (and its output's end)."""

    rid: str | int
    group: str
    index: int | None
    action: str
    timeout_s: float
    request: RunRequest | None = None
    call: Call | None = None
    argv: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0
    started: float = 0.0
    spawn_ns: int | None = None  # CLOCK_REALTIME, for the bench and the journal
    exit_ns: int | None = None
    deadline: float = 0.0
    kill_at: float | None = None
    sigkill_sent: bool = False
    timed_out: bool = False
    killed_by_stop: bool = False
    wait_status: int | None = None
    ended: float = 0.0
    fds: dict[int, str] = field(default_factory=dict)
    files: dict[int, Any] = field(default_factory=dict)
    partial: dict[str, bytearray] = field(default_factory=dict)
    stdout_text: bytearray = field(default_factory=bytearray)
    lines_sent: int = 0
    bytes_sent: int = 0
    output_lines: int = 0
    output_bytes: int = 0
    truncated: bool = False
    finished: bool = False


class Executor:
    def __init__(self, name: str, bus: zmq.Socket[bytes], setup: dict[str, Any],
                 wake_fd: int) -> None:
        self.name = name
        self.bus = bus
        config_dir = setup.get("config_dir")
        local_funcs = (os.path.join(config_dir, "shellfuncs")
                       if isinstance(config_dir, str) else None)
        default_funcs = local_funcs if local_funcs and os.path.isfile(local_funcs) else None
        self.settings: Settings = scriptrun.settings_from_setup(setup, default_funcs)
        self.limits = Limits.from_setup(setup.get("limits"))
        self.oom = ChildOom()
        self.kill_grace_s = positive_number(setup.get("kill_grace_s", DEFAULT_KILL_GRACE_S),
                                            "setup: kill_grace_s")
        self.default_timeout_s = positive_number(
            setup.get("default_timeout_s", DEFAULT_TIMEOUT_S), "setup: default_timeout_s")
        self.env = scriptrun.build_env(self.settings, os.environ)
        self.lease = open_lease(setup.get("lease"))
        self.renewed_ns = 0
        self.probe = SystemProbe(init_dir=self.settings.init_dir,
                                 lib_resource_dir=self.settings.lib_resource_dir,
                                 ocf_dir=self.settings.ocf_agents_dir)
        self.wake_fd = wake_fd
        self.poller = zmq.Poller()
        self.poller.register(bus, zmq.POLLIN)
        self.poller.register(wake_fd, zmq.POLLIN)
        self.queues: dict[str, deque[Job]] = {}
        self.running: dict[str, Job] = {}  # group -> its running job
        self.by_pid: dict[int, Job] = {}
        self.by_fd: dict[int, Job] = {}
        self.lingering: deque[Job] = deque()
        self.ids: set[Any] = set()
        self.stopping = False
        self.cancelled: list[Any] = []
        self.killed: list[Any] = []

    # --- bus ---------------------------------------------------------------

    def on_bus(self) -> None:
        for parts in drain(self.bus):
            verb = parts[0]
            try:
                body = unpack_json(parts[1], verb.decode("ascii", "replace")) if len(
                    parts) == 2 else None
            except BusError as exc:
                self.bus.send_multipart(Error(str(exc)).encode())
                continue
            if body is None:
                self.bus.send_multipart(
                    Error(f"bus message {verb!r}: expected [verb, JSON]").encode())
            elif verb == b"run":
                self.on_run(body)
            elif verb == b"stop":
                try:
                    stop = Stop.decode(parts)
                except BusError as exc:
                    self.bus.send_multipart(Error(str(exc)).encode())
                    continue
                self.on_stop(stop.kill)
            elif verb == b"logging":
                self.on_logging(body)
            else:
                self.bus.send_multipart(Error(f"unknown verb {verb!r}").encode())

    def on_logging(self, body: dict[str, Any]) -> None:
        """New logging settings or debug level for the calls started from now on."""
        try:
            self.settings = scriptrun.with_logging(self.settings, body)
        except CallError as exc:
            self.bus.send_multipart(Error(str(exc)).encode())
            return
        self.env = scriptrun.build_env(self.settings, os.environ)

    def on_run(self, body: dict[str, Any]) -> None:
        try:
            rid = RunRequest.request_id(body)
        except CallError as exc:
            self.bus.send_multipart(Error(str(exc)).encode())
            return
        index = body.get("index")
        job = Job(rid=rid, group=str(body.get("group", "")),
                  index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                  action=str(body.get("action", "")), timeout_s=self.default_timeout_s)
        try:
            if rid in self.ids:
                raise CallError(f"run: id {rid!r} is already queued or running")
            if self.stopping:
                raise CallError("run: the executor is stopping")
            job.request = RunRequest.from_json(body)
        except CallError as exc:
            self.send_result(job, error=str(exc))
            return
        if job.request.timeout_s is not None:
            job.timeout_s = job.request.timeout_s
        self.ids.add(rid)
        self.queues.setdefault(job.group, deque()).append(job)
        self.start_next(job.group)

    def on_stop(self, kill: bool) -> None:
        self.stopping = True
        for queue in self.queues.values():
            while queue:
                job = queue.popleft()
                self.cancelled.append(job.rid)
                self.ids.discard(job.rid)
                self.send_result(job, error="cancelled: the executor was told to stop")
        if kill:
            now = time.monotonic()
            for job in self.running.values():
                if job.kill_at is None:
                    job.killed_by_stop = True
                    self.killed.append(job.rid)
                    self.terminate(job, now)

    # --- starting ----------------------------------------------------------

    def prepare(self, job: Job) -> tuple[tuple[str, ...], dict[str, str]]:
        request = job.request
        assert request is not None  # only well-formed requests are queued
        action = request.action
        if request.argv is not None:
            argv = request.argv
            if not os.path.isabs(argv[0]):
                raise CallError(f"run: argv[0] {argv[0]!r} must be an absolute path")
            state = self.probe.script_state(argv[0])
            if state != "ok":
                raise CallError(f"cannot execute {argv[0]}: {state.replace('-', ' ')}")
            job.call = Call(action, argv, argv[0], CallKind.SCRIPT)
            return job.call.argv, self.env
        assert request.resource is not None
        job.call = scriptrun.build_call(request.resource, action, self.settings, self.probe)
        env = self.env
        if job.call.extra_env:
            env = {**env, **dict(job.call.extra_env)}
        return job.call.argv, env

    def start_next(self, group: str) -> None:
        while group not in self.running and self.queues.get(group):
            job = self.queues[group].popleft()
            try:
                argv, env = self.prepare(job)
            except CallError as exc:
                self.ids.discard(job.rid)
                self.send_result(job, error=str(exc), unmade=exc)
                continue
            job.argv = argv
            job.started = time.monotonic()
            try:
                proc = self.oom.popen(
                    list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=env, cwd="/", close_fds=True,
                    start_new_session=True,
                )
            except OSError as exc:
                self.ids.discard(job.rid)
                self.send_result(job, error=exec_error(argv[0], exc))
                continue
            # vfork: Popen returns once the child has exec'd. From here on the
            # time is the script's own (its exit_ns is the reaping).
            job.spawn_ns = time.time_ns()
            job.proc, job.pid = proc, proc.pid
            job.deadline = job.started + job.timeout_s
            for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
                assert pipe is not None
                fd = pipe.fileno()
                os.set_blocking(fd, False)
                job.fds[fd] = stream
                job.files[fd] = pipe
                job.partial[stream] = bytearray()
                self.by_fd[fd] = job
                self.poller.register(fd, zmq.POLLIN)
            self.running[group] = job
            self.by_pid[job.pid] = job
            self.bus.send_multipart(Started(
                job.rid, job.group, job.index, job.action, job.pid, argv,
                job.call.describe() if job.call else "").encode())

    # --- output ------------------------------------------------------------

    def read_fd(self, fd: int) -> None:
        job = self.by_fd.get(fd)
        if job is None:
            return
        stream = job.fds[fd]
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                log("WARN", f"reading {stream} of call {job.rid}: {exc}")
                data = b""
            if not data:
                self.close_fd(job, fd)
                return
            job.output_bytes += len(data)
            if stream == "stdout" and len(job.stdout_text) < STATUS_TEXT_MAX:
                job.stdout_text += data[: STATUS_TEXT_MAX - len(job.stdout_text)]
            buf = job.partial[stream]
            buf += data
            while True:
                cut = buf.find(b"\n")
                if cut < 0:
                    if len(buf) >= self.limits.max_line_bytes:
                        cut = self.limits.max_line_bytes
                        self.emit(job, stream, bytes(buf[:cut]))
                        del buf[:cut]
                        continue
                    break
                if cut > self.limits.max_line_bytes:
                    cut = self.limits.max_line_bytes
                    self.emit(job, stream, bytes(buf[:cut]))
                    del buf[:cut]
                    continue
                self.emit(job, stream, bytes(buf[:cut]))
                del buf[: cut + 1]

    def close_fd(self, job: Job, fd: int) -> None:
        stream = job.fds.pop(fd)
        rest = job.partial.get(stream)
        if rest:
            self.emit(job, stream, bytes(rest))
            rest.clear()
        self.poller.unregister(fd)
        del self.by_fd[fd]
        job.files.pop(fd).close()
        if job.finished and not job.fds:
            with contextlib.suppress(ValueError):
                self.lingering.remove(job)

    def emit(self, job: Job, stream: str, raw: bytes) -> None:
        job.output_lines += 1
        if job.truncated:
            return
        if (job.lines_sent >= self.limits.max_lines
                or job.bytes_sent + len(raw) > self.limits.max_bytes):
            job.truncated = True
            self.bus.send_multipart(Output(
                job.rid, "executor",
                f"output truncated: more than {self.limits.max_lines} lines or "
                f"{self.limits.max_bytes} bytes").encode())
            return
        job.lines_sent += 1
        job.bytes_sent += len(raw)
        line = raw.decode("utf-8", "replace").removesuffix("\r")
        self.bus.send_multipart(
            Output(job.rid, "stdout" if stream == "stdout" else "stderr", line).encode())

    # --- processes ---------------------------------------------------------

    def reap(self) -> None:
        now = time.monotonic()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue  # something a script left behind: we are its subreaper
            job.wait_status = status
            job.ended = now
            job.exit_ns = time.time_ns()
            if job.proc is not None:
                job.proc.returncode = os.waitstatus_to_exitcode(status)

    def terminate(self, job: Job, now: float) -> None:
        signal_group(job.pid, signal.SIGTERM)
        job.kill_at = now + self.kill_grace_s

    def check_timers(self, now: float) -> None:
        for job in list(self.running.values()):
            if job.kill_at is None and job.wait_status is None and now >= job.deadline:
                job.timed_out = True
                self.terminate(job, now)
            if job.kill_at is not None and not job.sigkill_sent and now >= job.kill_at:
                signal_group(job.pid, signal.SIGKILL)
                job.sigkill_sent = True

    def finish_ready(self) -> None:
        for group, job in list(self.running.items()):
            if job.wait_status is None:
                continue
            if job.kill_at is not None and not job.sigkill_sent and group_alive(job.pid):
                continue  # SIGTERM sent: wait for the whole group, or SIGKILL it
            for fd in list(job.fds):
                self.read_fd(fd)
            del self.running[group]
            self.ids.discard(job.rid)
            self.complete(job)
            self.start_next(group)

    def complete(self, job: Job) -> None:
        status = job.wait_status
        assert status is not None
        rc: int | None = None
        sig: int | None = None
        if os.WIFEXITED(status):
            rc = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        error = None
        if job.timed_out:
            rc = None
            error = f"timed out after {job.timeout_s:g} s: process group {job.pid} killed"
        elif job.killed_by_stop:
            rc = None
            error = "killed: the executor was told to stop"
        elif sig is not None:
            error = f"killed by signal {sig} ({signal.Signals(sig).name})"
        job.finished = True
        if job.fds:
            self.lingering.append(job)
            while len(self.lingering) > MAX_LINGERING:
                old = self.lingering.popleft()
                for fd in list(old.fds):
                    self.close_fd(old, fd)
        self.send_result(job, rc=rc, sig=sig, error=error)

    def send_result(self, job: Job, *, rc: int | None = None, sig: int | None = None,
                    error: str | None = None, unmade: CallError | None = None) -> None:
        """`unmade`: why the call could not be made (its verdict: `verdict_unmade`)."""
        call = job.call
        stdout = job.stdout_text.decode("utf-8", "replace")
        kind = call.kind if call else CallKind.SCRIPT
        status: Outcome = "failed"
        if job.action in ACTIONS and unmade is not None:
            status = verdict_unmade(check_action(job.action), unmade)
        elif job.action in ACTIONS:
            status = judge(check_action(job.action), None if error else rc, stdout, kind)
        hb_status = None
        if job.action == "status" and call is not None and kind is CallKind.SCRIPT and job.proc:
            hb_status = heartbeat_verdict(stdout)
        duration = (job.ended - job.started) if job.ended else 0.0
        self.bus.send_multipart(RunResult(
            id=job.rid, group=job.group, index=job.index, action=job.action, rc=rc,
            signal=sig, status=status, heartbeat_status=hb_status, timed_out=job.timed_out,
            duration_s=round(duration, 6), error=error, argv=job.argv,
            command=call.describe() if call else "", output_lines=job.output_lines,
            output_bytes=job.output_bytes, truncated=job.truncated,
            spawn_ns=job.spawn_ns if job.proc is not None else None,
            exit_ns=job.exit_ns).encode())

    # --- loop --------------------------------------------------------------

    def renew_lease(self, now_ns: int) -> None:
        """Let the lease run to EXECUTOR_LEASE_S after `now_ns`."""
        self.lease.renew(now_ns + EXECUTOR_LEASE_NS)
        self.renewed_ns = now_ns

    def keep_lease(self, now_ns: int) -> None:
        """A turn's renewal: skipped when the last was less than RENEW_AFTER_NS ago."""
        if now_ns - self.renewed_ns >= RENEW_AFTER_NS:
            self.renew_lease(now_ns)

    def next_timeout_ms(self, now: float) -> int:
        # Turn by the lease's next renewal at the latest, even with nothing to
        # do: rounded down (any turn renews it), the timers below rounded up.
        renew_ms = max(0, int((self.renewed_ns / 1e9 + EXECUTOR_RENEW_S - now) * 1000))
        due: list[float] = []
        for job in self.running.values():
            if job.kill_at is None:
                due.append(job.deadline)
            elif not job.sigkill_sent:
                # wait for the group to empty: look again soon, SIGKILL at kill_at
                due.append(min(job.kill_at, now + 0.02))
        if not due:
            return renew_ms
        return min(renew_ms, max(0, int((min(due) - now) * 1000) + 1))

    def drain_wakeups(self) -> bool:
        """Empty the signal wake-up pipe; True if SIGTERM arrived."""
        term = False
        while True:
            try:
                data = os.read(self.wake_fd, 256)
            except BlockingIOError:
                return term
            if not data:
                return term
            term = term or signal.SIGTERM in data

    def run(self) -> int:
        while True:
            now = time.monotonic()
            events = dict(self.poller.poll(self.next_timeout_ms(now)))
            self.keep_lease(time.monotonic_ns())
            if self.wake_fd in events and self.drain_wakeups():
                self.shutdown()
                return 0
            for fd in list(events):
                if isinstance(fd, int) and fd != self.wake_fd:
                    self.read_fd(fd)
            self.reap()
            self.check_timers(time.monotonic())
            self.finish_ready()
            if self.bus in events:
                self.on_bus()
            if self.stopping and not self.running:
                self.bus.send_multipart(Bye(tuple(self.cancelled), tuple(self.killed)).encode())
                return 0

    def shutdown(self) -> None:
        """The supervisor is gone (or we were told to die): kill every running call."""
        jobs = list(self.running.values())
        if jobs:
            log("WARN", f"terminating {len(jobs)} running resource script(s)")
        for job in jobs:
            signal_group(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + min(self.kill_grace_s, 2.0)
        while time.monotonic() < deadline:
            self.reap()
            if not any(group_alive(job.pid) for job in jobs):
                break
            select.select([self.wake_fd], [], [], 0.02)
            self.drain_wakeups()
        for job in jobs:
            signal_group(job.pid, signal.SIGKILL)
        self.reap()


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exec_error(path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOEXEC:
        return (f"cannot execute {path}: {reason} (not a binary and no #! line; "
                "heartbeat's shell would have run it with /bin/sh)")
    return f"cannot execute {path}: {reason}"


def open_lease(path: Any) -> LeaseFile:
    """The lease file named by setup's `lease` (CallError if it is unusable)."""
    if not isinstance(path, str) or not path:
        raise CallError(f"setup: 'lease' must be the path of the executor's lease file, "
                        f"not {path!r}")
    try:
        return LeaseFile.open(Path(path))
    except LeaseFileError as exc:
        raise CallError(f"setup: 'lease': {exc}") from exc


def make_wakeup_pipe() -> int:
    """Signals wake the poller through this pipe (signal number as the byte).
    Only SIGTERM ends the executor. SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 are
    the supervisor's (a terminal's Ctrl-C or hang-up reaches the whole process
    group; the supervisor stops the groups, then the executor): they are
    caught and dropped, not ignored, so the scripts the executor starts get
    the default dispositions back at exec."""
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGINT, signal.SIGHUP,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda *_: None)
    fcntl.fcntl(rfd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
    return rfd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="workers.executor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bus", required=True, help="the supervisor's worker bus endpoint")
    ap.add_argument("--name", default="executor", help="bus identity (default: executor)")
    args = ap.parse_args(argv)
    set_title(args.name)
    wake_fd = make_wakeup_pipe()
    if not die_with_parent():
        return 0  # the supervisor died before we could follow it
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    # A takeover's scripts start when this process wakes for the request: a
    # short slice under load, as the supervisor's; the scripts do not inherit it.
    problem = shorten_slice(reset_on_fork=True)
    if problem:
        log("WARN", f"{args.name}: {problem}")
    ctx = zmq.Context()
    bus = ctx.socket(zmq.DEALER)
    bus.setsockopt(zmq.IDENTITY, args.name.encode())
    bus.setsockopt(zmq.LINGER, 1000)
    bus.connect(args.bus)
    try:
        bus.send_multipart(Hello(os.getpid(), args.name, VERSION).encode())
        poller = zmq.Poller()
        poller.register(bus, zmq.POLLIN)
        poller.register(wake_fd, zmq.POLLIN)
        deadline = time.monotonic() + 10.0
        while True:
            left = deadline - time.monotonic()
            events = dict(poller.poll(max(0, int(left * 1000))))
            if wake_fd in events:
                rfd_term = False
                with contextlib.suppress(BlockingIOError):
                    rfd_term = signal.SIGTERM in os.read(wake_fd, 256)
                if rfd_term:
                    return 0
            if bus in events:
                break
            if left <= 0:
                log("ERROR", "no setup from the supervisor within 10 s")
                return 1
        parts = bus.recv_multipart()
        if parts[0] != b"setup" or len(parts) != 2:
            log("ERROR", f"expected setup, got {parts[0]!r}")
            bus.send_multipart(Fatal(f"expected setup, got {parts[0]!r}").encode())
            return 2
        try:
            setup = unpack_json(parts[1], "setup")
            executor = Executor(args.name, bus, setup, wake_fd)
        except (BusError, CallError) as exc:
            log("ERROR", str(exc))
            bus.send_multipart(Fatal(str(exc)).encode())
            return 2
        executor.renew_lease(time.monotonic_ns())  # before `ready`: the lease is ours
        lim = executor.limits
        bus.send_multipart(ExecutorReady(
            os.getpid(), OutputLimits(max_lines=lim.max_lines, max_bytes=lim.max_bytes,
                                      max_line_bytes=lim.max_line_bytes),
            executor.kill_grace_s, executor.default_timeout_s).encode())
        return executor.run()
    finally:
        bus.close()
        ctx.term()


if __name__ == "__main__":
    # Its calls are reaped and its bus closed: no interpreter finalization
    # for the supervisor's stop to wait on (bench/README.md, "Operations").
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
