"""Running our `hbeat run` on a harness lab node, as heartbeat_lab runs the real one.

`HbeatNode(lab["otter"], HbeatConfig(ha_cf, authkeys), ttys={"/run/ttyS0": cable.path("otter")})`
gives the node the same private layout a real heartbeat node has: a private
`/run` (serial ports are symlinks there to cable ends, so ha.cf can say
`serial /run/ttyS0` on both kinds of node and cl_status names the link
identically) and a private `/var/log` (ha.cf's `logfile /var/log/ha-log` lands
there); `ip netns exec` already gave the node a /sys of its own network
namespace, so the configuration check sees `eth1`. Configuration, runtime and
state directories are plain host directories under the node's lab directory,
so the test process reaches the control API and the status feed from the host.

Helpers: `start(env=, wait=True)`, `stop()`, `terminate()` + `wait_stopped()`
(SIGTERM without waiting, then wait), `kill()` (kill -9 of every hbeat
process on the node), `cl_status(*args)` (our cl_status, run on the node),
`client()` / `snapshot()` (control API), `wait_running()` /
`wait_answering()`, `resources()`, `group_states()`, `workers()`,
`feed()` (a `FeedLog` on the status feed), `wait_active(peers)`,
`wait_links(...)`, `log_watcher()`.

`FeedLog` records every message of a node's status feed, read through
`hbeat.feedclient.FeedClient` (the client `hbeat watch` uses), with the time
it arrived; it waits for messages with deadlines, in order (`wait`,
`wait_event`) or among everything received (`seen_or_wait`, `wait_topic`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbeat.control import ControlClient, DaemonUnreachable
from hbeat.feedclient import FeedClient, FeedMessage

from .netns import Node
from .procs import HarnessError, Proc, cmdline
from .waiting import LogWatcher, WaitTimeout, wait_for

VENV_BIN = Path(sys.executable).parent
HBEAT = str(VENV_BIN / "hbeat")
CL_STATUS = str(VENV_BIN / "cl_status")
LOGFILE = "/var/log/ha-log"


@dataclass
class HbeatConfig:
    """What goes into the node's configuration directory."""

    ha_cf: str
    authkeys: str
    haresources: str = ""
    env: dict[str, str] = field(default_factory=dict)
    """Added to the daemon's environment (e.g. HBEAT_RESOURCE_TIMERS)."""


def describe(msg: FeedMessage) -> str:
    """A short form of a feed message for failure reports."""
    body = {k: v for k, v in msg.body.items() if k != "schema"}
    if msg.topic == "snapshot":
        body = {"local_status": body.get("local_status"),
                "nodes": [(n.get("name"), n.get("status")) for n in body.get("nodes", [])]}
    return f"<{msg.topic} {json.dumps(body, sort_keys=True)}>"


class FeedLog:
    """Every message of a node's status feed, kept in arrival order (`messages`)."""

    def __init__(self, runtime_dir: Path, label: str = "") -> None:
        self.label = label or str(runtime_dir)
        self.client = FeedClient(runtime_dir)
        self.messages: list[FeedMessage] = []
        self._cursor = 0

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(topic, body) of every message so far (call `drain()` first for the newest)."""
        return [(m.topic, m.body) for m in self.messages]

    def _pull(self, timeout_s: float) -> bool:
        """Read what arrives within `timeout_s` (at least one message if any); True if any."""
        first = self.client.receive(max(0.0, timeout_s))
        if first is None:
            return False
        self.messages.append(first)
        self.messages.extend(self.client.pending())
        return True

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """Read what has arrived; returns the new (topic, body) pairs."""
        start = len(self.messages)
        self.messages.extend(self.client.pending())
        return [(m.topic, m.body) for m in self.messages[start:]]

    def changes(self) -> list[tuple[str, dict[str, Any]]]:
        """Every node and link event so far (snapshots and cluster events left out)."""
        self.drain()
        return [(t, b) for t, b in self.events if t.startswith(("node.", "link."))]

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
                last = ", ".join(describe(m) for m in self.messages[-12:])
                raise WaitTimeout(f"{self.label}: timed out after {timeout:g} s waiting for "
                                  f"{what}; last messages: [{last}]")
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

    def wait_topic(self, topic_prefix: str, timeout: float,
                   match: Callable[[dict[str, Any]], bool] = lambda _b: True) -> dict[str, Any]:
        """Wait for a message (already received or new) whose topic starts with
        `topic_prefix` and whose body satisfies `match`; returns the body."""

        def found() -> dict[str, Any] | None:
            self.drain()
            for msg in self.messages:
                if msg.topic.startswith(topic_prefix) and match(msg.body):
                    return msg.body
            return None

        return wait_for(found, timeout, what=f"status feed event {topic_prefix}*",
                        describe=lambda: [m.topic for m in self.messages[-20:]])

    def collect(self, duration: float) -> list[FeedMessage]:
        """Every message that arrives during the next `duration` seconds (to
        show that something does NOT happen in a window)."""
        start = len(self.messages)
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self._pull(left)
        self._cursor = len(self.messages)
        return self.messages[start:]

    def sync(self, control: ControlClient, timeout: float = 10.0) -> FeedMessage:
        """Ask for a snapshot on the feed until one arrives; return it (the
        messages before it are kept, and the cursor moves past the snapshot)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(DaemonUnreachable):
                self.client.request_snapshot(control)
            try:
                return self.wait(lambda m: m.topic == "snapshot",
                                 min(0.3, max(0.01, deadline - time.monotonic())),
                                 "a snapshot")
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise

    def close(self) -> None:
        self.client.close()


class HbeatNode:
    """hbeat on a lab node: private dirs, start/stop/kill, cl_status, snapshots, feed."""

    def __init__(self, node: Node, config: HbeatConfig, *,
                 ttys: Mapping[str, Path] | None = None) -> None:
        self.node = node
        self.config = config
        self.ttys = dict(ttys or {})
        self.base = node.dir / "hbeat"
        self.config_dir = self.base / "etc"
        self.runtime_dir = self.base / "run"
        self.state_dir = self.base / "state"
        self.proc: Proc | None = None
        self._prepared = False
        self._feeds: list[FeedLog] = []
        node.lab.add_closeable(self)

    @property
    def name(self) -> str:
        return self.node.name

    def prepare(self) -> None:
        """Write the configuration directory and the node's private /run and /var/log."""
        if self._prepared:
            return
        node = self.node
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "ha.cf").write_text(self.config.ha_cf)
        keys = self.config_dir / "authkeys"
        keys.write_text(self.config.authkeys)
        keys.chmod(0o600)
        (self.config_dir / "haresources").write_text(self.config.haresources)
        (self.config_dir / "resource.d").mkdir(exist_ok=True)
        node.private("/run")
        for port, target in self.ttys.items():
            link = node.host_path(port)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        node.private("/var/log")
        self._prepared = True

    # --- life cycle ---------------------------------------------------------

    @property
    def logfile(self) -> Path:
        return self.node.host_path(LOGFILE)

    def log_watcher(self, *, from_start: bool = False) -> LogWatcher:
        """Follows the daemon's ha.cf logfile."""
        return LogWatcher(self.logfile, from_start=from_start)

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def argv(self) -> list[str]:
        return [
            HBEAT, "run", "--config-dir", str(self.config_dir), "--node-name", self.name,
            "--runtime-dir", str(self.runtime_dir), "--state-dir", str(self.state_dir),
        ]  # fmt: skip

    def start(self, env: Mapping[str, str] | None = None, *, wait: bool = True) -> HbeatNode:
        """Start `hbeat run` with the config's environment plus `env`; with
        `wait`, until the control API answers (see also wait_active)."""
        self.prepare()
        if self.proc is not None and self.proc.alive():
            raise HarnessError(f"hbeat on {self.name} is already running")
        self.proc = self.node.spawn(self.argv, name="hbeat",
                                    env={**os.environ, **self.config.env, **(env or {})})
        if wait:
            self.wait_running()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def wait_answering(self, timeout: float = 15.0) -> dict[str, Any]:
        """Until the control API answers a snapshot; that snapshot."""

        def answer() -> dict[str, Any]:
            if self.proc is not None:
                self.proc.check_alive(f"waiting for hbeat on {self.name} to answer")
            return self.client(500).call("snapshot")

        return wait_for(answer, timeout, what=f"hbeat on {self.name} to answer snapshot",
                        ignore=(DaemonUnreachable,))

    def wait_running(self, timeout: float = 15.0) -> None:
        self.wait_answering(timeout)

    def pids(self) -> list[int]:
        """Every hbeat process (supervisor and workers) on the node."""
        return [p for p in self.node.processes()
                if cmdline(p).startswith(("hbeat:", HBEAT)) or " -m workers." in cmdline(p)
                or "hbeat run" in cmdline(p)]

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.stop(signal.SIGTERM, timeout)
        wait_for(lambda: not self.pids(), timeout, what=f"hbeat on {self.name} to stop",
                 describe=self.node.describe_processes)

    def terminate(self) -> None:
        """SIGTERM to the supervisor (a graceful stop) without waiting for it."""
        if self.proc is None or not self.proc.alive():
            raise HarnessError(f"hbeat on {self.name} is not running")
        self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 30.0) -> int:
        """Until every hbeat process of the node is gone; the supervisor's exit code."""
        wait_for(lambda: not self.pids(), timeout, what=f"hbeat on {self.name} to stop",
                 describe=self.node.describe_processes)
        assert self.proc is not None
        return self.proc.popen.wait(5)

    def kill(self) -> None:
        """kill -9 of every hbeat process on the node (a crash). A crash stops
        them all at once: each is stopped (SIGSTOP) before any is killed, or
        a supervisor killed after its executor could log the executor's
        death first (the pids are in no particular order once they wrap)."""
        pids = self.pids()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        wait_for(lambda: not self.pids(), 10, what=f"hbeat on {self.name} to die",
                 describe=self.node.describe_processes)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(5)

    def close(self) -> None:
        for feed in self._feeds:
            feed.close()
        self._feeds.clear()
        if self.proc is not None and self.proc.alive():
            self.proc.stop(signal.SIGKILL, 5)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # --- asking the daemon --------------------------------------------------

    def cl_status(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """Our cl_status, run on the node against this daemon."""
        env = {**os.environ, "HBEAT_RUNTIME_DIR": str(self.runtime_dir)}
        return self.node.run([CL_STATUS, *args], check=False, timeout=timeout, env=env)

    def client(self, timeout_ms: int = 3000) -> ControlClient:
        return ControlClient(self.runtime_dir, timeout_ms=timeout_ms)

    def snapshot(self) -> dict[str, Any]:
        return self.client().call("snapshot")

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = self.snapshot()["counters"]
        return counters

    def workers(self) -> dict[str, dict[str, Any]]:
        return {w["name"]: w for w in self.snapshot()["workers"]}

    def feed(self) -> FeedLog:
        """A new subscriber on this node's status feed (closed with the node)."""
        log = FeedLog(self.runtime_dir, label=f"{self.name}'s feed")
        self._feeds.append(log)
        return log

    def resources(self) -> dict[str, Any]:
        """The snapshot's `resources`: {"held": rscstatus word, "groups": [...]}."""
        resources: dict[str, Any] = self.snapshot()["resources"]
        return resources

    def group_states(self) -> dict[str, str]:
        """{group key: state} from the snapshot."""
        return {g["key"]: g["state"] for g in self.resources()["groups"]}

    def node_states(self) -> dict[str, str]:
        return {n["name"]: n["status"] for n in self.snapshot()["nodes"]}

    def link_states(self) -> dict[tuple[str, str], str]:
        return {(n["name"], lk["name"]): lk["status"]
                for n in self.snapshot()["nodes"] for lk in n["links"]}

    def wait_active(self, peers: Sequence[str], timeout: float = 30.0) -> None:
        """Until the snapshot says every one of `peers` (and this node) is active."""
        last: dict[str, str] = {}

        def all_active() -> bool:
            if self.proc is not None:
                self.proc.check_alive(f"waiting for {self.name} to see {peers} active")
            snap = self.snapshot()
            last.clear()
            last.update({n["name"]: n["status"] for n in snap["nodes"]})
            last["(local)"] = snap["local_status"]
            return snap["local_status"] == "active" and all(
                last.get(p) == "active" for p in peers)

        wait_for(all_active, timeout, interval=0.1, ignore=(DaemonUnreachable,),
                 what=f"{self.name} to see {', '.join(peers)} active",
                 describe=lambda: f"{last}; log tail:\n" + "\n".join(
                     self.log().splitlines()[-15:]))

    def wait_links(self, expected: Mapping[tuple[str, str], str], timeout: float = 30.0) -> None:
        """Until every (node, link) of `expected` has its status."""
        last: dict[tuple[str, str], str] = {}

        def matches() -> bool:
            last.clear()
            last.update(self.link_states())
            return all(last.get(k) == v for k, v in expected.items())

        wait_for(matches, timeout, interval=0.1, ignore=(DaemonUnreachable,),
                 what=f"links on {self.name}: {dict(expected)}", describe=lambda: dict(last))

    def __repr__(self) -> str:
        return f"HbeatNode({self.name})"
