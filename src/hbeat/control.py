"""The control API envelope: one JSON shape for every request and reply.

Requests and replies travel over ZeroMQ, ROUTER in the supervisor, REQ-style
DEALER in clients, on one of two sockets in the runtime directory:

* `control` (mode 0600, and the kernel's peer credentials must say root):
  every command, standby and takeover included (hb_standby, hb_takeover);
* `query` (mode 0660, group haclient; root or a member of haclient): the
  read-only commands (`READ_ONLY`), for cl_status, `hbeat status` and tools.

The envelope:

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
    NOT_PERMITTED = 8  # a command that changes the cluster, asked on the query socket
    INTERNAL = 99


class ControlError(Exception):
    def __init__(self, errno: ControlErrno, message: str) -> None:
        super().__init__(message)
        self.errno = ControlErrno(errno)
        self.message = message


class DaemonUnreachable(Exception):
    """No supervisor answered on the control socket."""


class AccessDenied(Exception):
    """The socket exists but this user may not use it: not "stopped"."""


CONTROL = "control"
QUERY = "query"
READ_ONLY = frozenset({"snapshot", "help", "history"})
"""Commands the query socket accepts: they only read the daemon's state."""


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


def control_endpoint(runtime_dir: Path, socket: str = CONTROL) -> str:
    return f"ipc://{runtime_dir / socket}"


def check_access(path: Path) -> None:
    """DaemonUnreachable when nothing is at `path` (or we may not even look),
    AccessDenied when it is there but this user may not connect to it."""
    try:
        os.stat(path)
    except FileNotFoundError:
        raise DaemonUnreachable(f"no control socket at {path}") from None
    except PermissionError:
        raise AccessDenied(f"permission denied on {path.parent}: only root and the"
                           f" haclient group may use hbeat's sockets") from None
    except OSError as exc:
        raise DaemonUnreachable(f"{path}: {exc.strerror}") from None
    if not os.access(path, os.R_OK | os.W_OK):
        who = ("only root may ask for this" if path.name == CONTROL
               else "only root and the haclient group may use it")
        raise AccessDenied(f"permission denied on {path}: {who}")


class ControlClient:
    """A blocking client: one request, one reply, with a deadline. `socket`
    is CONTROL (root, every command) or QUERY (haclient, read-only ones)."""

    def __init__(self, runtime_dir: Path, timeout_ms: int = 5000,
                 socket: str = CONTROL) -> None:
        self.runtime_dir = runtime_dir
        self.timeout_ms = timeout_ms
        self.socket = socket

    @property
    def path(self) -> Path:
        return self.runtime_dir / self.socket

    def socket_exists(self) -> bool:
        return self.path.exists()

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        import zmq

        check_access(self.path)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(control_endpoint(self.runtime_dir, self.socket))
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
