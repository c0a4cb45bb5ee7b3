"""The supervisor's side of the resource executor (`hbeat: executor`).

Turns the resource machine's RunScript actions into `run` requests on the
worker bus (held back until the executor says `ready`, so calls made while
it starts or restarts are not lost), logs what the executor reports in
heartbeat's words (`Running ...`, `Return code N from ...`, each output
line under its resource's name), and hands each result back as
(op id, exit code or None, verdict). The verdict is the executor's (it
knows the kind of call): nothing here judges a call again. The messages
are hbeat/ipc/executor.py.
"""

from __future__ import annotations

from collections.abc import Callable

from hbeat.config.model import ClusterConfig, Resource
from hbeat.ipc.bus import BusError, Error, Fatal, Hello, Stop
from hbeat.ipc.executor import (
    Bye,
    ExecutorReady,
    ExecutorSetup,
    Outcome,
    Output,
    RunRequest,
    RunResult,
    Started,
    check_action,
    encode_setup,
)
from hbeat.logfmt import Level

EXECUTOR = "executor"

Send = Callable[[list[bytes]], None]
LogFn = Callable[[Level, str], None]
Done = Callable[[int, int | None, Outcome], None]


class ExecutorLink:
    def __init__(self, config: ClusterConfig, send: Send, log: LogFn, done: Done) -> None:
        self.config = config
        self._send = send
        self._log = log
        self._done = done
        self.ready = False
        self.pid = 0
        self._pending: list[RunRequest] = []
        self._label: dict[int, str] = {}

    def _to_executor(self, parts: list[bytes]) -> None:
        self._send([EXECUTOR.encode(), *parts])

    def run(self, op_id: int, group_key: str, index: int, action: str, timeout_s: float,
            resource: Resource) -> None:
        request = RunRequest(op_id, group_key, index, check_action(action), timeout_s,
                             resource=resource)
        self._label[op_id] = resource.text
        if self.ready:
            self._to_executor(request.encode())
        else:
            self._pending.append(request)

    def setup(self) -> ExecutorSetup:
        lg = self.config.logging
        return {
            "config_dir": self.config.config_dir,
            "node": self.config.node_name,
            "env": dict(self.config.hacf.env),
            "logging": {"logfile": lg.logfile, "debugfile": lg.debugfile,
                        "logfacility": lg.syslog_facility, "debug": lg.debug},
        }

    def lost(self) -> None:
        """The executor died: hold new requests until its successor is ready.
        (The resource machine times out calls whose result never comes.)"""
        self.ready = False

    def stop(self) -> None:
        if self.ready:
            self._to_executor(Stop().encode())

    def on_message(self, verb: bytes, parts: list[bytes]) -> None:
        """`parts` starts with the verb (BusError when it is malformed)."""
        if verb == b"hello":
            self.pid = Hello.decode(parts).pid
            self._to_executor(encode_setup(self.setup()))
        elif verb == b"ready":
            ExecutorReady.decode(parts)
            self.ready = True
            for request in self._pending:
                self._to_executor(request.encode())
            self._pending.clear()
        elif verb == b"started":
            self._log(Level.INFO, f"Running {Started.decode(parts).command}")
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
        self._log(level, f"{self._label.get(op_id, 'resource')}: {out.line}")

    def _on_result(self, result: RunResult) -> None:
        if not isinstance(result.id, int):
            raise BusError(f"bus message 'result': id {result.id!r} is not one of ours")
        op_id = result.id
        self._label.pop(op_id, None)
        rc = result.rc
        command = result.command or result.group
        if result.error:
            self._log(Level.ERROR, f"{command}: {result.error}")
        elif result.timed_out:
            self._log(Level.ERROR, f"{command} timed out after {result.duration_s} s; "
                                   "its process group was killed")
        elif rc not in (0, None) and result.action != "status":
            self._log(Level.ERROR, f"Return code {rc} from {command}")
        self._done(op_id, rc, result.status)
