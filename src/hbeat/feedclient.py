"""The one client of a node's status feed (docs/status-feed.md).

`FeedClient(runtime_dir)` is a ZeroMQ SUB socket on `ipc://<runtime>/status`
(connecting before the daemon binds is fine: ZeroMQ reconnects until the
socket appears). `receive(timeout)` returns the next `FeedMessage` (topic,
JSON body, local receive time) or None when the time ran out; a malformed
message is skipped and handed to `on_bad` (default: dropped), so one bad
message never stops a reader. `sync(control, timeout)` asks the daemon for a
snapshot on the feed (control command `snapshot` with `publish: true`),
repeating until one arrives: a new subscription needs a moment to reach the
publisher, and events before the first snapshot have no context.

`FeedClient(..., endpoint="tcp://HOST:PORT", curve=CurveKeys(...))` follows
a remote node's TCP feed instead (ha.cf `status_tcp`); a remote client cannot
`sync` (the control API is local) and waits for the periodic snapshot.

Used by `hbeat watch`, the demo and the tests; `hbeat status` uses the
control API only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from hbeat.control import ControlClient
from hbeat.statusview import ViewError, parse_feed_message

SNAPSHOT_RETRY_S = 0.5


@dataclass(frozen=True)
class CurveKeys:
    """A CURVE client's keys: the node's public key and this client's pair."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def load(cls, server_key_file: str, client_secret_file: str) -> CurveKeys:
        """From zmq.auth certificate files; ValueError says which file is wrong."""
        import zmq.auth

        try:
            server_public, _ = zmq.auth.load_certificate(server_key_file)
            public, secret = zmq.auth.load_certificate(client_secret_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read a CURVE key: {exc}") from None
        if secret is None:
            raise ValueError(f"--curve-key {client_secret_file} holds no secret key "
                             "(give the .key_secret file)")
        return cls(server_public, public, secret)


class FeedTimeout(TimeoutError):
    """`sync` gave up: no snapshot arrived on the feed in time."""


@dataclass(frozen=True)
class FeedMessage:
    topic: str
    body: dict[str, Any]
    received: float
    """time.time() when the client read it."""

    @property
    def kind(self) -> str:
        """The topic family: `snapshot`, `node`, `link`, `cluster` or `resource`."""
        return self.topic.split(".", 1)[0]

    def is_event(self, kind: str, name: str, new: str | None = None) -> bool:
        """`kind`.`name` (node weasel, link weasel.eth1, ...), optionally with `new`."""
        return self.topic == f"{kind}.{name}" and (new is None or self.body.get("new") == new)


class FeedClient:
    """A subscriber on one node's status feed."""

    def __init__(self, runtime_dir: Path | str, *, prefixes: Iterable[str] = ("",),
                 reconnect_ms: int = 10,
                 on_bad: Callable[[ViewError], None] | None = None,
                 endpoint: str | None = None, curve: CurveKeys | None = None) -> None:
        self.endpoint = endpoint or f"ipc://{Path(runtime_dir) / 'status'}"
        self.on_bad = on_bad
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RECONNECT_IVL, reconnect_ms)
        for prefix in prefixes:
            self.sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        if curve is not None:
            self.sock.curve_serverkey = curve.server_public
            self.sock.curve_publickey = curve.public
            self.sock.curve_secretkey = curve.secret
        self.sock.connect(self.endpoint)

    def receive(self, timeout: float | None) -> FeedMessage | None:
        """The next well-formed message, waiting at most `timeout` seconds
        (None: for ever, 0: only what has already arrived)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                wait_ms: int | None = None
            else:
                left = deadline - time.monotonic()
                wait_ms = max(0, int(left * 1000) + (1 if left > 0 else 0))
            if not self.sock.poll(wait_ms):
                return None
            parts = self.sock.recv_multipart()
            try:
                topic, body = parse_feed_message(parts)
            except ViewError as exc:
                if self.on_bad is not None:
                    self.on_bad(exc)
                continue
            return FeedMessage(topic, body, time.time())

    def pending(self) -> Iterator[FeedMessage]:
        """Every message already received, without waiting."""
        while (msg := self.receive(0)) is not None:
            yield msg

    def messages(self, timeout: float | None = None) -> Iterator[FeedMessage]:
        """Messages as they arrive, until `timeout` seconds from now (None: for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = self.receive(left)
            if msg is None:
                return
            yield msg

    def request_snapshot(self, control: ControlClient) -> None:
        """Ask the daemon to publish a snapshot on the feed (raises
        DaemonUnreachable / ControlError as ControlClient.call does)."""
        control.call("snapshot", publish=True)

    def sync(self, control: ControlClient, timeout: float | None,
             retry: float = SNAPSHOT_RETRY_S,
             skipped: Callable[[FeedMessage], None] | None = None) -> FeedMessage:
        """Ask for a snapshot on the feed every `retry` seconds until one
        arrives; return it. Messages read before it go to `skipped`. Raises
        FeedTimeout after `timeout` seconds (None: never), and what
        `request_snapshot` raises."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise FeedTimeout(f"no snapshot on {self.endpoint} after {timeout:g} s")
            self.request_snapshot(control)
            ask_again = time.monotonic() + retry
            if deadline is not None:
                ask_again = min(deadline, ask_again)
            while (left := ask_again - time.monotonic()) > 0:
                msg = self.receive(left)
                if msg is None:
                    break
                if msg.topic == "snapshot":
                    return msg
                if skipped is not None:
                    skipped(msg)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
