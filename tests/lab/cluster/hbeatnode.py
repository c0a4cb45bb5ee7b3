"""Running our `hbeat run` on a harness lab node, as heartbeat_lab runs the real one.

`HbeatNode(lab["otter"], HbeatConfig(ha_cf, authkeys), ttys={"/run/ttyS0": cable.path("otter")})`
gives the node the same private layout a real heartbeat node has: a private
`/run` (serial ports are symlinks there to cable ends, so ha.cf can say
`serial /run/ttyS0` on both kinds of node and cl_status names the link
identically) and a private `/var/log` (ha.cf's `logfile /var/log/ha-log` lands
there); `ip netns exec` already gave the node a /sys of its own network
namespace, so the configuration check sees `eth1`. Configuration, runtime and state
directories are plain host directories under the node's lab directory.

Helpers: `start()`, `stop()`, `terminate()` + `wait_stopped()` (SIGTERM without
waiting, then wait), `kill()` (kill -9 of every hbeat process on
the node), `cl_status(*args)` (our cl_status, run on the node),
`snapshot()` (control API), `resources()` and `group_states()` (its resource
part), `feed()` (a `FeedWatcher` on the status feed),
`wait_active(peers)`, `wait_links(peer, links, "up")`, `log_watcher()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from hbeat.control import ControlClient, DaemonUnreachable
from tests.harness import HarnessError, LogWatcher, Node, Proc, wait_for
from tests.harness.procs import cmdline

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


class FeedWatcher:
    """A SUB socket on a node's status feed; `events` holds (topic, body) in order."""

    def __init__(self, runtime_dir: Path) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(f"ipc://{runtime_dir / 'status'}")
        self.events: list[tuple[str, dict[str, Any]]] = []

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """Read what has arrived; returns the new events."""
        new = []
        while self.sock.poll(0):
            topic, body = self.sock.recv_multipart()
            new.append((topic.decode(), json.loads(body)))
        self.events += new
        return new

    def changes(self) -> list[tuple[str, dict[str, Any]]]:
        """Every node and link event so far (snapshots and cluster events left out)."""
        self.drain()
        return [(t, b) for t, b in self.events if t.startswith(("node.", "link."))]

    def wait(self, topic_prefix: str, timeout: float,
             match: Callable[[dict[str, Any]], bool] = lambda _b: True) -> dict[str, Any]:
        """Wait for an event (already received or new) whose topic starts with
        `topic_prefix` and whose body satisfies `match`; returns the body."""

        def found() -> dict[str, Any] | None:
            self.drain()
            for topic, body in self.events:
                if topic.startswith(topic_prefix) and match(body):
                    return body
            return None

        return wait_for(found, timeout, what=f"status feed event {topic_prefix}*",
                        describe=lambda: [t for t, _ in self.events[-20:]])

    def close(self) -> None:
        self.sock.close()


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
        self._feeds: list[FeedWatcher] = []
        node.lab.add_closeable(self)

    @property
    def name(self) -> str:
        return self.node.name

    def prepare(self) -> None:
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

    def start(self) -> HbeatNode:
        """Start `hbeat run` (returns at once: see wait_running / wait_active)."""
        self.prepare()
        if self.proc is not None and self.proc.alive():
            raise HarnessError(f"hbeat on {self.name} is already running")
        argv = [
            HBEAT, "run", "--config-dir", str(self.config_dir), "--node-name", self.name,
            "--runtime-dir", str(self.runtime_dir), "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        self.proc = self.node.spawn(argv, name="hbeat", env={**os.environ, **self.config.env})
        self.wait_running()
        return self

    def wait_running(self, timeout: float = 15.0) -> None:
        """Until the control API answers a snapshot."""

        def answers() -> bool:
            if self.proc is not None:
                self.proc.check_alive(f"waiting for hbeat on {self.name} to answer")
            self.snapshot()
            return True

        wait_for(answers, timeout, what=f"hbeat on {self.name} to answer snapshot",
                 ignore=(DaemonUnreachable,))

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
        """kill -9 of every hbeat process on the node (a crash)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
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

    def snapshot(self) -> dict[str, Any]:
        return ControlClient(self.runtime_dir, timeout_ms=3000).call("snapshot")

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = self.snapshot()["counters"]
        return counters

    def feed(self) -> FeedWatcher:
        watcher = FeedWatcher(self.runtime_dir)
        self._feeds.append(watcher)
        return watcher

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
