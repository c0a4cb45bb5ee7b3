"""The supervisor's side of the resource executor (`hbeat: executor`).

Turns the resource machine's RunScript actions into `run` requests on the
worker bus (held back until the executor says `ready`, so calls made while
it starts or restarts are not lost), logs what the executor reports in
heartbeat's words (`Running ...`, `Return code N from ...`), keeps the first
lines of each call's output (old scripts report status as text), and hands
each result back as (op id, exit code or None, output). The bus protocol is
documented in workers/executor.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hbeat.bus import BusError, pack, unpack_json
from hbeat.config.model import ClusterConfig, Logging, Resource
from hbeat.logfmt import Level
from workers.scriptrun import resource_to_json

EXECUTOR = "executor"
MAX_OUTPUT_KEPT = 64  # lines of a call's output kept to judge its status

Send = Callable[[list[bytes]], None]
LogFn = Callable[[Level, str], None]
Done = Callable[[int, int | None, str], None]


class ExecutorLink:
    def __init__(self, config: ClusterConfig, send: Send, log: LogFn, done: Done) -> None:
        self.config = config
        self._send = send
        self._log = log
        self._done = done
        self.ready = False
        self.pid = 0
        self.debug: int | None = None  # the debug level once USR1/USR2 or a reload set it
        self._pending: list[dict[str, Any]] = []
        self._output: dict[int, list[str]] = {}
        self._label: dict[int, str] = {}

    def _to_executor(self, verb: bytes, body: dict[str, Any]) -> None:
        self._send([EXECUTOR.encode(), *pack(verb, body)])

    def run(self, op_id: int, group_key: str, index: int, action: str, timeout_s: float,
            resource: Resource) -> None:
        request = {
            "id": op_id, "group": group_key, "index": index, "action": action,
            "timeout_s": timeout_s, "resource": resource_to_json(resource),
        }
        self._output[op_id] = []
        self._label[op_id] = resource.text
        if self.ready:
            self._to_executor(b"run", request)
        else:
            self._pending.append(request)

    def setup(self) -> dict[str, Any]:
        return {
            "config_dir": self.config.config_dir,
            "node": self.config.node_name,
            "env": dict(self.config.hacf.env),
            "logging": self._logging(self.config.logging, self.debug),
        }

    @staticmethod
    def _logging(lg: Logging, debug: int | None) -> dict[str, Any]:
        return {"logfile": lg.logfile, "debugfile": lg.debugfile,
                "logfacility": lg.syslog_facility,
                "debug": lg.debug if debug is None else debug}

    def set_logging(self, lg: Logging, debug: int) -> None:
        """New logging or debug level (SIGHUP, SIGUSR1/2) for the scripts'
        HA_LOGFILE, HA_DEBUGLOG, HA_LOGFACILITY and HA_debug; a restarted
        executor gets them in its setup."""
        self.debug = debug
        if self.ready:
            self._to_executor(b"logging", self._logging(lg, debug))

    def lost(self) -> None:
        """The executor died: hold new requests until its successor is ready.
        (The resource machine times out calls whose result never comes.)"""
        self.ready = False

    def stop(self) -> None:
        if self.ready:
            self._send([EXECUTOR.encode(), b"stop", b"{}"])

    def on_message(self, verb: bytes, parts: list[bytes]) -> None:
        body = unpack_json(parts[1], verb.decode(errors="replace")) if len(parts) > 1 else {}
        if verb == b"hello":
            self.pid = int(body.get("pid", self.pid))
            self._to_executor(b"setup", self.setup())
        elif verb == b"ready":
            self.ready = True
            for request in self._pending:
                self._to_executor(b"run", request)
            self._pending.clear()
        elif verb == b"started":
            self._log(Level.INFO, f"Running {body.get('command')}")
        elif verb == b"output":
            self._on_output(body)
        elif verb == b"result":
            self._on_result(body)
        elif verb in (b"fatal", b"error"):
            self._log(Level.ERROR, f"executor: {body.get('error')}")
        elif verb == b"bye":
            self.ready = False
        else:
            raise BusError(f"unknown verb {verb!r}")

    def _on_output(self, body: dict[str, Any]) -> None:
        line = str(body.get("line", ""))
        op_id = int(body.get("id", -1))
        kept = self._output.get(op_id)
        if kept is not None and len(kept) < MAX_OUTPUT_KEPT:
            kept.append(line)
        level = Level.INFO if body.get("stream") == "stdout" else Level.WARN
        self._log(level, f"{self._label.get(op_id, 'resource')}: {line}")

    def _on_result(self, body: dict[str, Any]) -> None:
        op_id = int(body["id"])
        output = "\n".join(self._output.pop(op_id, []))
        self._label.pop(op_id, None)
        rc = body.get("rc")
        command = body.get("command") or body.get("group")
        if body.get("error"):
            self._log(Level.ERROR, f"{command}: {body['error']}")
        elif body.get("timed_out"):
            self._log(Level.ERROR, f"{command} timed out after {body.get('duration_s')} s; "
                                   "its process group was killed")
        elif rc not in (0, None) and body.get("action") != "status":
            self._log(Level.ERROR, f"Return code {rc} from {command}")
        self._done(op_id, None if rc is None else int(rc), output)
