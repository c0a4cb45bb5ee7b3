"""The control API envelope: one JSON shape for every request and reply.

Requests and replies travel over ZeroMQ (`ipc://<runtime-dir>/control`,
ROUTER in the supervisor, REQ-style DEALER in clients):

    request  {"v": 1, "id": "<any>", "command": "nodestatus", "args": {...}}
    reply    {"v": 1, "id": "<same>", "ok": true,  "result": {...}}
             {"v": 1, "id": "<same>", "ok": false, "errno": 3, "error": "..."}

`errno` values are stable (ControlErrno); `error` is for humans. Clients
(cl_status, hbeat status, hb_standby, external tools) use `ControlClient`.
"""

from __future__ import annotations

import enum
import json
import os
import uuid
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1


class ControlErrno(enum.IntEnum):
    BAD_REQUEST = 1  # not JSON, wrong shape, wrong version
    UNKNOWN_COMMAND = 2
    BAD_ARGUMENT = 3  # missing or invalid argument
    NO_SUCH_NODE = 4
    NO_SUCH_LINK = 5
    NO_SUCH_PARAMETER = 6
    REFUSED = 7  # valid request the cluster state does not allow now
    INTERNAL = 99


class ControlError(Exception):
    def __init__(self, errno: ControlErrno, message: str) -> None:
        super().__init__(message)
        self.errno = ControlErrno(errno)
        self.message = message


class DaemonUnreachable(Exception):
    """No supervisor answered on the control socket."""


def make_request(command: str, args: dict[str, Any] | None = None) -> tuple[str, bytes]:
    rid = uuid.uuid4().hex[:12]
    body = {"v": PROTOCOL_VERSION, "id": rid, "command": command, "args": args or {}}
    return rid, json.dumps(body).encode()


def parse_request(raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """(id, command, args) or ControlError(BAD_REQUEST)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(ControlErrno.BAD_REQUEST, f"request is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError(ControlErrno.BAD_REQUEST, "request must be a JSON object")
    if body.get("v") != PROTOCOL_VERSION:
        raise ControlError(
            ControlErrno.BAD_REQUEST,
            f"unsupported protocol version {body.get('v')!r}"
            f" (this daemon speaks {PROTOCOL_VERSION})",
        )
    command, args = body.get("command"), body.get("args", {})
    if not isinstance(command, str) or not isinstance(args, dict):
        raise ControlError(
            ControlErrno.BAD_REQUEST, "request needs 'command' (str), 'args' (object)"
        )
    return str(body.get("id", "")), command, args


def make_reply(rid: str, result: dict[str, Any]) -> bytes:
    return json.dumps({"v": PROTOCOL_VERSION, "id": rid, "ok": True, "result": result}).encode()


def make_error(rid: str, errno: ControlErrno, message: str) -> bytes:
    return json.dumps(
        {"v": PROTOCOL_VERSION, "id": rid, "ok": False, "errno": int(errno), "error": message}
    ).encode()


def control_endpoint(runtime_dir: Path) -> str:
    return f"ipc://{runtime_dir / 'control'}"


class ControlClient:
    """A blocking client: one request, one reply, with a deadline."""

    def __init__(self, runtime_dir: Path, timeout_ms: int = 5000) -> None:
        self.runtime_dir = runtime_dir
        self.timeout_ms = timeout_ms

    def socket_exists(self) -> bool:
        return (self.runtime_dir / "control").exists()

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        import zmq

        if not self.socket_exists():
            raise DaemonUnreachable(f"no control socket at {self.runtime_dir / 'control'}")
        if not os.access(self.runtime_dir / "control", os.R_OK | os.W_OK):
            raise DaemonUnreachable(f"permission denied on {self.runtime_dir / 'control'}")
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(control_endpoint(self.runtime_dir))
            rid, raw = make_request(command, args)
            sock.send_multipart([b"", raw])
            deadline_left = self.timeout_ms
            while True:
                if not sock.poll(deadline_left):
                    raise DaemonUnreachable(f"no reply within {self.timeout_ms} ms")
                parts = sock.recv_multipart()
                reply = json.loads(parts[-1])
                if reply.get("id") == rid:
                    break
        finally:
            sock.close()
        if reply.get("ok"):
            result = reply.get("result", {})
            return result if isinstance(result, dict) else {}
        raise ControlError(ControlErrno(reply.get("errno", 99)), str(reply.get("error", "")))
