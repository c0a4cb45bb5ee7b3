"""Running real `hbeat run` nodes in a harness lab, and listening to them.

`HbeatNode` writes a node's seed configuration (tests/hbeat/config/seed.py) with
fast timers, a serial line at `/run/ttyS0` (a symlink, in the node's private
`/run`, to its end of the lab's socat cable) and `bcast eth1`, and runs the
supervisor inside the node's namespaces (tests/harness/netns.py). Its
runtime directory lives under the lab directory, so the test process reaches
the control API and the status feed from the host.

`FeedSubscriber` is a ZeroMQ SUB socket on a node's status feed that keeps
every message with the wall time it arrived, and waits for messages with
deadlines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from hbeat.control import ControlClient, DaemonUnreachable
from tests.harness import Lab, LogWatcher, Proc, SerialCable, WaitTimeout, wait_for
from tests.hbeat.config.seed import write_seed

HBEAT = str(Path(sys.executable).with_name("hbeat"))
KEEPALIVE_S = 0.5
DEADTIME_S = 3.0
TIMERS = {"keepalive": "500ms", "deadtime": "3", "warntime": "2", "initdead": "12"}
SERIAL = "/run/ttyS0"
STARTUP_DT_WINDOW_S = 5.0  # a node advertises deadtime + 2 s for its first 5 s


@dataclass(frozen=True)
class FeedMessage:
    topic: str
    body: dict[str, Any]
    received: float  # time.time() when the test read it

    def is_event(self, kind: str, name: str, new: str | None = None) -> bool:
        """`kind`.`name` (e.g. node weasel, link weasel.eth1), optionally with `new`."""
        return self.topic == f"{kind}.{name}" and (new is None or self.body.get("new") == new)

    def __repr__(self) -> str:
        body = {k: v for k, v in self.body.items() if k not in ("schema",)}
        if self.topic == "snapshot":
            body = {"local_status": body.get("local_status"),
                    "nodes": [(n["name"], n["status"]) for n in body.get("nodes", [])]}
        return f"<{self.topic} {json.dumps(body, sort_keys=True)}>"


class FeedSubscriber:
    """SUB on `ipc://<runtime>/status`, subscribed to everything.

    Connecting before the daemon binds is fine: ZeroMQ reconnects every 10 ms
    until the socket appears.
    """

    def __init__(self, runtime_dir: Path, label: str = "") -> None:
        self.runtime_dir = runtime_dir
        self.label = label or str(runtime_dir)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 10)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(f"ipc://{runtime_dir / 'status'}")
        self.messages: list[FeedMessage] = []
        self._cursor = 0

    def _pull(self, timeout_s: float) -> bool:
        """Read what arrives within `timeout_s` (at least one message if any); True if any."""
        if not self.sock.poll(max(0, int(timeout_s * 1000))):
            return False
        while True:
            try:
                topic, raw = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            self.messages.append(FeedMessage(topic.decode(), json.loads(raw), time.time()))

    def wait(self, predicate: Callable[[FeedMessage], bool], timeout: float,
             what: str) -> FeedMessage:
        """The first message from the cursor on that satisfies `predicate`; the
        cursor moves past it, so successive waits see events in order."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.messages):
                msg = self.messages[self._cursor]
                self._cursor += 1
                if predicate(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    f"{self.label}: timed out after {timeout:g} s waiting for {what}; "
                    f"last messages: {self.messages[-12:]!r}"
                )
            self._pull(min(left, 0.5))

    def wait_event(self, kind: str, name: str, new: str | None = None,
                   timeout: float = 10.0) -> FeedMessage:
        return self.wait(lambda m: m.is_event(kind, name, new), timeout,
                         f"{kind}.{name}" + (f" -> {new}" if new else ""))

    def seen_or_wait(self, kind: str, name: str, new: str | None = None,
                     timeout: float = 10.0) -> FeedMessage:
        """Like wait_event, but a matching message received earlier counts too
        (for events whose order relative to others does not matter)."""
        for msg in self.messages:
            if msg.is_event(kind, name, new):
                return msg
        return self.wait_event(kind, name, new, timeout)

    def collect(self, duration: float) -> list[FeedMessage]:
        """Every message that arrives during the next `duration` seconds (to
        show that something does NOT happen in a window)."""
        start = len(self.messages)
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self._pull(left)
        self._cursor = len(self.messages)
        return self.messages[start:]

    def sync(self, client: ControlClient, timeout: float = 10.0) -> FeedMessage:
        """Ask for a snapshot on the feed until one arrives (the subscription
        needs a moment to reach the publisher); return it."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(DaemonUnreachable):
                client.call("snapshot", publish=True)
            try:
                return self.wait(lambda m: m.topic == "snapshot",
                                 min(0.3, max(0.01, deadline - time.monotonic())),
                                 "a snapshot")
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise

    def close(self) -> None:
        self.sock.close()


class HbeatNode:
    """One hbeat node of a lab (configured, not yet started)."""

    def __init__(self, lab: Lab, name: str, cable: SerialCable,
                 timers: dict[str, str] | None = None) -> None:
        self.lab = lab
        self.name = name
        self.node = lab[name]
        base = self.node.dir / "hbeat"
        self.config_dir = base / "etc"
        self.runtime_dir = base / "run"
        self.state_dir = base / "state"
        self.logfile = base / "ha-log"
        run = self.node.private("/run")
        (run / "ttyS0").unlink(missing_ok=True)
        (run / "ttyS0").symlink_to(cable.path(name))
        write_seed(self.config_dir, node_name=name, nodes=tuple(lab.nodes), serial=SERIAL,
                   interfaces=("eth1",), overrides=timers or TIMERS,
                   extra=[f"logfile {self.logfile}"])
        self.proc: Proc | None = None
        lab.add_closeable(self)

    @property
    def argv(self) -> list[str]:
        return [HBEAT, "run", "--config-dir", str(self.config_dir), "--node-name", self.name,
                "--runtime-dir", str(self.runtime_dir), "--state-dir", str(self.state_dir)]

    def start(self, env: dict[str, str] | None = None) -> HbeatNode:
        self.proc = self.node.spawn(self.argv, name=f"hbeat-{self.name}",
                                    env={**os.environ, **(env or {})})
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def client(self, timeout_ms: int = 3000) -> ControlClient:
        return ControlClient(self.runtime_dir, timeout_ms=timeout_ms)

    def snapshot(self) -> dict[str, Any]:
        return self.client().call("snapshot")

    def wait_answering(self, timeout: float = 15.0) -> dict[str, Any]:
        def answer() -> dict[str, Any] | None:
            assert self.proc is not None
            self.proc.check_alive(f"waiting for {self.name}'s control API")
            return self.client(500).call("snapshot")

        return wait_for(answer, timeout, what=f"{self.name}'s control API",
                        ignore=(DaemonUnreachable,))

    def workers(self) -> dict[str, dict[str, Any]]:
        return {w["name"]: w for w in self.snapshot()["workers"]}

    def log_watcher(self) -> LogWatcher:
        return LogWatcher(self.logfile, from_start=True)

    def feed(self) -> FeedSubscriber:
        sub = FeedSubscriber(self.runtime_dir, label=f"{self.name}'s feed")
        self.lab.add_closeable(sub)
        return sub

    def close(self) -> None:
        if self.proc is not None and self.proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.stop(signal.SIGTERM, timeout=10)


class Cluster:
    """Two (or more) hbeat nodes in a lab, joined by bcast eth1 and one serial cable
    (the cable joins the first two nodes)."""

    def __init__(self, lab: Lab, timers: dict[str, str] | None = None) -> None:
        self.lab = lab
        names = list(lab.nodes)
        self.cable = lab.serial_cable(names[0], names[1])
        self.nodes = {n: HbeatNode(lab, n, self.cable, timers) for n in names}
        self.feeds: dict[str, FeedSubscriber] = {}

    def __getitem__(self, name: str) -> HbeatNode:
        return self.nodes[name]

    def start(self, env: dict[str, dict[str, str]] | None = None) -> Cluster:
        """Subscribe to every node's feed, then start every node."""
        for name, node in self.nodes.items():
            self.feeds[name] = node.feed()
        for name, node in self.nodes.items():
            node.start((env or {}).get(name))
        return self

    def wait_all_active(self, timeout: float = 20.0) -> None:
        """Every node sees every node active with every link up (via its control API)."""
        for name, node in self.nodes.items():
            node.wait_answering()

            def all_up(node: HbeatNode = node) -> bool:
                snap = node.snapshot()
                return all(
                    n["status"] == "active"
                    and (n["name"] == node.name or all(lk["status"] == "up" for lk in n["links"]))
                    for n in snap["nodes"]
                )

            def nodes(node: HbeatNode = node) -> object:
                try:
                    return node.snapshot()["nodes"]
                except DaemonUnreachable as exc:
                    return exc

            wait_for(all_up, timeout, what=f"{name}: every node active, every link up",
                     describe=nodes,
                     ignore=(DaemonUnreachable,))


def proc_state(pid: int) -> str | None:
    """The state letter of a process (R, S, T, Z, ...), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def exited(pids: Iterable[int]) -> bool:
    """Every pid is gone or a zombie (it exited; nobody reaped it yet)."""
    return all(proc_state(p) in (None, "Z", "X") for p in pids)
