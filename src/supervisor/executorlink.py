"""The supervisor's side of the resource executor (`hbeat: executor`).

Turns the resource machine's RunScript actions into `run` requests on the
worker bus (held back until the executor says `ready`, so calls made while
it starts or restarts are not lost), logs what the executor reports in
heartbeat's words (`Running ...`, `Return code N from ...`, each output
line under its resource's name), and hands each result back as
(op id, exit code or None, verdict). The verdict is the executor's (it
knows the kind of call): nothing here judges a call again. STONITH calls
(`run_fence`: cluster-glue's `stonith` command, docs/fencing.md) go through
the same executor as `argv` runs in a group of their own (`STONITH <node>`),
in an op-id space of their own, and come back through `fence_done(op id,
exit code or None)`; their command line is never logged (it may hold a
device password). The messages are hbeat/ipc/executor.py.

When the executor dies, the calls it was running fail at once (not at their
timeout): their process groups are killed, so an orphaned start cannot go
on behind a rollback stop, and each is reported `failed` with no exit code:
the resource machine then counts the group as possibly running and stops
or probes it through the next executor. A hung executor is found by its
lease (hbeat/ipc/leasefile.py, in the file the daemon creates and hands in
as `lease`): the executor renews it from the loop that reads its bus, and
`tick()`, on any turn of the supervisor's loop, reads it and says when to
kill an executor whose lease has run out (EXECUTOR_LEASE_S after its last
renewal). `next_deadline()` is that expiry: the loop wakes for it only when
no other turn came first, and in steady state one always does, so the
executor's health never wakes the supervisor.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

from hbeat.config.model import ClusterConfig, Logging, Resource
from hbeat.ipc.bus import BusError, Error, Fatal, Hello, Stop
from hbeat.ipc.executor import (
    EXECUTOR_LEASE_S,
    EXECUTOR_RENEW_S,
    Bye,
    ExecutorLogging,
    ExecutorReady,
    ExecutorSetup,
    Outcome,
    Output,
    RunRequest,
    RunResult,
    Started,
    check_action,
    encode_logging,
    encode_setup,
)
from hbeat.ipc.leasefile import LeaseFile
from hbeat.logfmt import Level

EXECUTOR = "executor"
LEASE_FILE = "executor.lease"
"""The lease file's name, in the runtime directory's private part (next to the bus)."""

Send = Callable[[list[bytes]], None]
LogFn = Callable[[Level, str], None]
Done = Callable[[int, int | None, Outcome], None]
FenceDone = Callable[[int, int | None], None]
FENCE_OP_BASE = 1 << 40  # fence op ids live above every resource op id


class ExecutorLink:
    def __init__(self, config: ClusterConfig, send: Send, log: LogFn, done: Done,
                 fence_done: FenceDone | None = None, lease: LeaseFile | None = None) -> None:
        self.config = config
        self.lease = lease
        """The executor's lease file; set before the executor is started (None:
        no executor on this node, nothing to watch)."""
        self._expiry_ns: int | None = None  # the lease's end as `tick` last read it
        self._grace_ns = 0
        """Not judged before this (time.monotonic_ns()): set after a stall of
        the supervisor's own loop (`after_stall`)."""
        self._send = send
        self._log = log
        self._done = done
        self._fence_done = fence_done
        self.last_result: RunResult | None = None
        """The result `done` is being called for (its spawn and exit stamps)."""
        self.ready = False
        self.pid = 0
        self.debug: int | None = None  # the debug level once USR1/USR2 or a reload set it
        self._pending: list[RunRequest] = []
        self._label: dict[int, str] = {}
        self._secret: dict[int, tuple[str, ...]] = {}
        self._quiet: set[int] = set()  # monitor probes: their chatter is debug output
        self._in_flight: dict[int, int | None] = {}
        """Calls sent to the executor and not answered: op id -> process group."""

    def _to_executor(self, parts: list[bytes]) -> None:
        self._send([EXECUTOR.encode(), *parts])

    def run(self, op_id: int, group_key: str, index: int, action: str, timeout_s: float,
            resource: Resource, *, quiet: bool = False) -> None:
        """`quiet`: a monitor's probe (every few seconds): its `Running` line and its
        output go to the debug log; what it concludes is logged by the caller."""
        request = RunRequest(op_id, group_key, index, check_action(action), timeout_s,
                             resource=resource)
        self._label[op_id] = resource.text
        if quiet:
            self._quiet.add(op_id)
        if self.ready:
            self._in_flight[op_id] = None
            self._to_executor(request.encode())
        else:
            self._pending.append(request)

    def run_argv(self, op_id: int, group: str, argv: list[str], label: str,
                 timeout_s: float) -> None:
        """Run a command that is not a resource script (`drbdadm outdate r0`):
        `argv` as given (the action only labels it); `label` names it in log lines."""
        request = RunRequest(op_id, group, None, "start", timeout_s, argv=tuple(argv))
        self._label[op_id] = label
        if self.ready:
            self._in_flight[op_id] = None
            self._to_executor(request.encode())
        else:
            self._pending.append(request)

    def run_fence(self, op_id: int, node: str, argv: tuple[str, ...], timeout_s: float) -> None:
        """Run cluster-glue's stonith for the fencing machine (its own op-id space)."""
        wire_id = FENCE_OP_BASE + op_id
        request = RunRequest(wire_id, f"STONITH {node}", 0, check_action("start"), timeout_s,
                             argv=argv)
        self._label[wire_id] = f"stonith {node}"
        # What the device's configuration says is blanked out of its output.
        self._secret[wire_id] = tuple(
            argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-p", "-F") and argv[i + 1])
        if self.ready:
            self._in_flight[wire_id] = None
            self._to_executor(request.encode())
        else:
            self._pending.append(request)

    def setup(self) -> ExecutorSetup:
        if self.lease is None:
            raise RuntimeError("the executor's lease file was not created")
        return {
            "config_dir": self.config.config_dir,
            "node": self.config.node_name,
            "env": dict(self.config.hacf.env),
            "logging": self._logging(self.config.logging, self.debug),
            "lease": str(self.lease.path),
        }

    @staticmethod
    def _logging(lg: Logging, debug: int | None) -> ExecutorLogging:
        return {"logfile": lg.logfile, "debugfile": lg.debugfile,
                "logfacility": lg.syslog_facility,
                "debug": lg.debug if debug is None else debug}

    def set_logging(self, lg: Logging, debug: int) -> None:
        """New logging or debug level (SIGHUP, SIGUSR1/2) for the scripts'
        HA_LOGFILE, HA_DEBUGLOG, HA_LOGFACILITY and HA_debug; a restarted
        executor gets them in its setup."""
        self.debug = debug
        if self.ready:
            self._to_executor(encode_logging(self._logging(lg, debug)))

    def lost(self) -> None:
        """The executor died: hold new requests until its successor is ready,
        and fail the calls it was running now (their process groups killed)."""
        self.ready = False
        in_flight, self._in_flight = self._in_flight, {}
        for op_id, pgid in in_flight.items():
            if pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            label = self._label.pop(op_id, "a resource script")
            self._quiet.discard(op_id)
            if op_id >= FENCE_OP_BASE:  # a stonith call: failed, the fence is retried
                self._secret.pop(op_id, None)
                self._log(Level.ERROR, f"executor died while running {label}"
                                       f"{f' (process group {pgid} killed)' if pgid else ''}")
                if self._fence_done is not None:
                    self._fence_done(op_id - FENCE_OP_BASE, None)
                continue
            self._log(Level.ERROR, f"executor died while running {label}"
                                   f"{f' (process group {pgid} killed)' if pgid else ''}:"
                                   " its outcome is unknown, the group counts as possibly"
                                   " running")
            self._done(op_id, None, "failed")

    def tick(self, now: float) -> int | None:
        """Read the executor's lease (`now`: time.monotonic()); the pid to kill
        when it has run out (hung: the pool restarts it), else None."""
        if not self.ready or self.lease is None:
            return None
        until = self.lease.until_ns()
        now_ns = round(now * 1e9)
        if now_ns < max(until, self._grace_ns):
            self._expiry_ns = max(until, self._grace_ns)
            return None
        self._log(Level.ERROR, f"executor (pid {self.pid}) has not renewed its lease for"
                               f" {EXECUTOR_LEASE_S:g} s (hung): killing it")
        # Killed: nothing goes to it any more, and it is judged no further. Its
        # calls fail when the pool reaps it (lost); new ones wait for the next.
        self.ready = False
        self._expiry_ns = None
        return self.pid or None

    def next_deadline(self) -> float | None:
        """When the loop must wake for `tick` at the latest: the lease's end, in
        time.monotonic() seconds (None: no executor ready to watch). Any
        earlier turn's `tick` reads the lease again and moves it."""
        if not self.ready or self.lease is None:
            return None
        if self._expiry_ns is None:
            self._expiry_ns = max(self.lease.until_ns(), self._grace_ns)
        return self._expiry_ns / 1e9

    def after_stall(self, now: float) -> None:
        """The supervisor's own loop was stopped or starved (a frozen VM, a
        cgroup freeze: the executor may have been frozen with it and not had a
        chance to renew): the executor gets one renewal interval from `now`
        (time.monotonic()) before its lease is judged."""
        self._grace_ns = round((now + EXECUTOR_RENEW_S) * 1e9)
        self._expiry_ns = None

    def close(self) -> None:
        """Unmap the lease file (at shutdown, after the executor stopped)."""
        if self.lease is not None:
            self.lease.close()
            self.lease = None

    def stop(self) -> None:
        if self.ready:
            self._to_executor(Stop().encode())

    def on_message(self, verb: bytes, parts: list[bytes]) -> None:
        """`parts` starts with the verb (BusError when it is malformed)."""
        if verb == b"hello":
            self.pid = Hello.decode(parts).pid
            # A new executor: nothing is ready until it says so, and what its
            # predecessor left in the lease file is wiped before the setup lets
            # it renew (it renews before `ready`), so no stale lease is read.
            self.ready = False
            self._expiry_ns = None
            if self.lease is not None:
                self.lease.renew(0)
            self._to_executor(encode_setup(self.setup()))
        elif verb == b"ready":
            ExecutorReady.decode(parts)
            self.ready = True
            self._expiry_ns = None
            for request in self._pending:
                if isinstance(request.id, int):
                    self._in_flight[request.id] = None
                self._to_executor(request.encode())
            self._pending.clear()
        elif verb == b"started":
            started = Started.decode(parts)
            if isinstance(started.id, int) and started.id in self._in_flight:
                self._in_flight[started.id] = started.pid
            if not (isinstance(started.id, int) and started.id >= FENCE_OP_BASE):
                quiet = isinstance(started.id, int) and started.id in self._quiet
                self._log(Level.DEBUG if quiet else Level.INFO, f"Running {started.command}")
        elif verb == b"output":
            self._on_output(Output.decode(parts))
        elif verb == b"result":
            self._on_result(RunResult.decode(parts))
        elif verb == b"fatal":
            self._log(Level.ERROR, f"executor: {Fatal.decode(parts).error}")
        elif verb == b"error":
            self._log(Level.ERROR, f"executor: {Error.decode(parts).error}")
        elif verb == b"bye":
            Bye.decode(parts)
            self.ready = False
        else:
            raise BusError(f"unknown verb {verb!r}")

    def _on_output(self, out: Output) -> None:
        op_id = out.id if isinstance(out.id, int) else -1
        level = Level.INFO if out.stream == "stdout" else Level.WARN
        if op_id in self._quiet:
            level = Level.DEBUG
        line = out.line
        for secret in self._secret.get(op_id, ()):
            line = line.replace(secret, "[device parameters]")
        self._log(level, f"{self._label.get(op_id, 'resource')}: {line}")

    def _on_result(self, result: RunResult) -> None:
        if not isinstance(result.id, int):
            raise BusError(f"bus message 'result': id {result.id!r} is not one of ours")
        op_id = result.id
        self._label.pop(op_id, None)
        self._secret.pop(op_id, None)
        self._in_flight.pop(op_id, None)
        self._quiet.discard(op_id)
        rc = result.rc
        command = result.command or result.group
        fence = op_id >= FENCE_OP_BASE
        if fence:
            command = result.group  # never the command line: it may hold a password
        if result.error:
            self._log(Level.ERROR, f"{command}: {result.error}")
        elif result.timed_out:
            self._log(Level.ERROR, f"{command} timed out after {result.duration_s} s; "
                                   "its process group was killed")
        elif rc not in (0, None) and result.action != "status" and not fence:
            self._log(Level.ERROR, f"Return code {rc} from {command}")
        if fence:
            if self._fence_done is not None:
                self._fence_done(op_id - FENCE_OP_BASE, rc)
            return
        self.last_result = result
        try:
            self._done(op_id, rc, result.status)
        finally:
            self.last_result = None
