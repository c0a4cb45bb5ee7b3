"""The cluster the fault suite breaks: hbeat nodes with recorded stand-in resources.

`FaultCluster(lab, names, cable)` runs `hbeat run` on every node of `names`
with one ha.cf (keepalive 500ms, deadtime 3, warntime 2, initdead 8; media
`bcast eth1` plus `serial /run/ttyS0` on the cable's two nodes), one
resource group homed on each node of the resource pair, the first two of
`names` (`probe::<node>`, a recording stand-in from
tests/lab/failover/standins.py), and the failover tests' fast resource timers
($HBEAT_RESOURCE_TIMERS). Groups fail over within the pair (haresources
mode; see src/hbeat/config/checks.py); any further node is a member only,
holding no group but taking part in membership, cl_status and the audits.

It owns the life cycle the faults need: `crash(name)` (kill -9 of the node,
every process of it killed, its private /run wiped like a reboot),
`restart(name)`, per-node feed watchers renewed on every start, and the
supervisor/worker pids of a node.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hbeat.control import DaemonUnreachable
from tests.harness import Lab, SerialCable, ha_cf
from tests.harness.hbeatnode import FeedLog, HbeatConfig, HbeatNode
from tests.harness.procs import cmdline
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.failover.cluster import timers_env, wipe_run
from tests.lab.failover.standins import Records, write_standin

TTY = "/run/ttyS0"
TIMINGS = {"keepalive": "500ms", "deadtime": "3", "warntime": "2", "initdead": "8"}
DEADTIME_S = 3.0
SCRIPT = "probe"


def group_of(home: str) -> str:
    """The group key (and only resource) homed on `home`."""
    return f"{SCRIPT}::{home}"


class FaultCluster:
    """hbeat on `names`, one stand-in group homed on each node."""

    def __init__(self, lab: Lab, names: Sequence[str], cable: SerialCable | None) -> None:
        self.lab = lab
        self.names = list(names)
        self.cable = cable
        self.shared = lab.dir / "faults"
        self.control = self.shared / "control"
        self.control.mkdir(parents=True, exist_ok=True)
        self.records = Records(self.shared / "events.log")
        self.pair = self.names[:2]
        self.groups = [group_of(n) for n in self.pair]
        haresources = "".join(f"{n} {group_of(n)}\n" for n in self.pair)
        env = {"HBEAT_RESOURCE_TIMERS": timers_env()}
        self.nodes: dict[str, HbeatNode] = {}
        self.feeds: dict[str, FeedLog] = {}
        on_cable = set() if cable is None else {cable.a, cable.b}
        for name in self.names:
            serial = [TTY] if name in on_cable else []
            hacf = ha_cf(self.names, **TIMINGS, baud=38400, serial=serial,
                         media=["bcast eth1"], auto_failback="off")
            ttys = {TTY: cable.path(name)} if cable is not None and name in on_cable else {}
            node = HbeatNode(lab[name], HbeatConfig(hacf, SEED_AUTHKEYS, haresources, env=env),
                             ttys=ttys)
            node.prepare()
            write_standin(node.config_dir / "resource.d", SCRIPT, self.records.path,
                          self.control)
            self.nodes[name] = node

    def __getitem__(self, name: str) -> HbeatNode:
        return self.nodes[name]

    def pair_peer(self, name: str) -> str:
        """The other node of the resource pair."""
        if name not in self.pair:
            raise ValueError(f"{name} is not in the resource pair {self.pair}")
        return next(n for n in self.pair if n != name)

    def links_to_serial(self) -> list[str]:
        """The nodes at the ends of the serial cable."""
        return [] if self.cable is None else [self.cable.a, self.cable.b]

    def links(self, name: str) -> list[str]:
        """The links `name` has to its peers, as the snapshot names them."""
        out = ["eth1"]
        if self.cable is not None and name in (self.cable.a, self.cable.b):
            out.append(TTY)
        return out

    # --- life cycle ---------------------------------------------------------

    def start(self, names: Sequence[str] | None = None) -> None:
        for name in names or self.names:
            node = self.nodes[name]
            node.start()
            if name in self.feeds:
                self.feeds[name].close()
            self.feeds[name] = node.feed()

    def is_up(self, name: str) -> bool:
        proc = self.nodes[name].proc
        return proc is not None and proc.alive()

    def live(self) -> list[str]:
        return [n for n in self.names if self.is_up(n)]

    def crash(self, name: str) -> float:
        """kill -9 of the node and what a reboot does to its services and /run."""
        node = self.nodes[name]
        t = self.records.crash(name)
        node.kill()
        node.node.kill_all(signal.SIGKILL)
        wipe_run(node.node.host_path("/run"), keep=set(node.ttys))
        return t

    def restart(self, name: str) -> None:
        self.start([name])

    def supervisor_pid(self, name: str) -> int:
        for pid in self.nodes[name].pids():
            line = cmdline(pid)
            if line.startswith("hbeat: supervisor") or "hbeat run" in line:
                return pid
        raise AssertionError(f"no hbeat supervisor on {name}: {self.nodes[name].pids()}")

    def workers(self, name: str) -> dict[str, int]:
        """{worker name ("bcast eth1", "serial /run/ttyS0", "executor"): pid}."""
        snap = self.nodes[name].snapshot()
        return {w["name"]: int(w["pid"]) for w in snap["workers"]}

    def snapshot(self, name: str) -> dict[str, Any] | None:
        try:
            return self.nodes[name].snapshot()
        except DaemonUnreachable:
            return None

    def signal_pid(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.nodes[name].log().splitlines()[-lines:])

    def log_path(self, name: str) -> Path:
        return self.nodes[name].logfile
