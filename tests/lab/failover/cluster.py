"""An hbeat cluster (otter and weasel unless `nodes` says otherwise) with
recorded resources, for the failover tests.

`FailoverCluster(lab, haresources, auto_failback=...)` writes one ha.cf
(tests/lab/cluster/clusters.py timings: keepalive 500ms, deadtime 4, initdead 8;
`bcast eth1`), the seed's authkeys and the given haresources on every node,
puts recording stand-ins (tests/lab/failover/standins.py) for `scripts` into each
node's resource.d, and starts `hbeat run` with $HBEAT_RESOURCE_TIMERS set to
test timings (daemon.py: resource timers from the environment).

Helpers: `wait_holders({group: node})` waits until both snapshots agree on
who runs every group (and nobody is in transition), then `audit()`s;
`audit()` checks that every group is held by exactly one live node from each
live node's snapshot AND from the script records; `crash(name)` is kill -9
of the node's hbeat processes plus what a reboot does to its resources (the
stand-ins' state in its private /run is wiped); `restart(name)`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hbeat.control import DaemonUnreachable
from tests.harness import Lab, ha_cf, wait_for
from tests.harness.hbeatnode import FeedLog, HbeatConfig, HbeatNode
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.cluster.clusters import TIMINGS as CLUSTER_TIMINGS

from .standins import Records, write_standin

NODES = ("otter", "weasel")
DEADTIME_S = 4.0
STARTUP_DT_WINDOW_S = 5.0
HELD = frozenset({"starting", "running", "stopping"})
# Start-up negotiation waits RQSTDELAY (10 s in 3.0.6) for a stable peer; 2 s here.
TIMERS = {
    "rqstdelay_ms": 2000, "start_timeout_s": 10, "stop_timeout_s": 10,
    "status_timeout_s": 10, "stop_retry_max": 2, "stop_retry_delay_ms": 300,
    "result_grace_ms": 3000, "shutdown_wait_ms": 15000,
}  # fmt: skip
RESOURCE_D = Path("/etc/ha.d/resource.d")
VENV_BIN = Path(sys.executable).parent
HB_STANDBY = str(VENV_BIN / "hb_standby")
HB_TAKEOVER = str(VENV_BIN / "hb_takeover")


def wipe_run(run_dir: Path, keep: set[str]) -> None:
    """Empty a node's private /run (host directory `run_dir`) but for the
    serial-port symlinks in `keep` (node paths such as /run/ttyS0)."""
    for item in run_dir.iterdir():
        if f"/run/{item.name}" in keep:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def record_name(text: str) -> str:
    """The name a stand-in records for a haresources resource (a bare IP runs IPaddr)."""
    return f"IPaddr::{text}" if re.match(r"^\d+\.\d+\.\d+\.\d+", text) else text


def timers_env(overrides: Mapping[str, float] | None = None) -> str:
    timers = {**TIMERS, **(overrides or {})}
    return ",".join(f"{k}={v}" for k, v in timers.items())


class FailoverCluster:
    """otter and weasel running hbeat with recorded stand-in resources."""

    def __init__(self, lab: Lab, haresources: str, *, auto_failback: str = "off",
                 scripts: Iterable[str] = (), real_scripts: Iterable[str] = (),
                 timers: Mapping[str, float] | None = None,
                 nodes: Sequence[str] = NODES) -> None:
        self.lab = lab
        self.names = tuple(nodes)
        self.shared = lab.dir / "failover"
        self.control = self.shared / "control"
        self.control.mkdir(parents=True, exist_ok=True)
        self.records = Records(self.shared / "events.log")
        self.haresources = haresources
        self.env = {"HBEAT_RESOURCE_TIMERS": timers_env(timers)}
        self.nodes: dict[str, HbeatNode] = {}
        self.feeds: dict[str, FeedLog] = {}
        for name in self.names:
            node = HbeatNode(lab[name], self._config(name, auto_failback))
            node.prepare()
            for script in scripts:
                write_standin(node.config_dir / "resource.d", script, self.records.path,
                              self.control)
            for script in real_scripts:  # installed heartbeat resource.d scripts (IPaddr2, OCF)
                shutil.copy2(RESOURCE_D / script, node.config_dir / "resource.d" / script)
            self.nodes[name] = node

    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        hacf = ha_cf(list(self.names), **CLUSTER_TIMINGS, media=["bcast eth1"],
                     auto_failback=auto_failback)
        return HbeatConfig(hacf, SEED_AUTHKEYS, self.haresources, env=self.env)

    def __getitem__(self, name: str) -> HbeatNode:
        return self.nodes[name]

    def set_auto_failback(self, name: str, value: str) -> None:
        """Rewrite a (stopped) node's ha.cf with another auto_failback."""
        node = self.nodes[name]
        node.config = self._config(name, value)
        (node.config_dir / "ha.cf").write_text(node.config.ha_cf)

    # --- life cycle ---------------------------------------------------------

    def start(self, names: Sequence[str] | None = None) -> None:
        """Start hbeat on `names` and wait until they see each other active. Each
        node's status feed is subscribed at once (`self.feeds[name]`), before the
        start-up negotiation (RQSTDELAY) can let any group start."""
        names = self.names if names is None else names
        for name in names:
            self.nodes[name].start()
            self.feeds[name] = self.nodes[name].feed()
        for name in names:
            peers = [n for n in names if n != name]
            self.nodes[name].wait_active(peers, timeout=30)

    def live(self) -> list[HbeatNode]:
        return [n for n in self.nodes.values() if n.proc is not None and n.proc.alive()]

    def crash(self, name: str) -> float:
        """kill -9 of every hbeat process of `name`; then what the machine going
        down and rebooting does: every other process of the node is killed and its
        /run (a tmpfs on a real host) is emptied, so services and stand-ins are
        stopped. Returns the wall time of the crash."""
        node = self.nodes[name]
        t = self.records.crash(name)
        node.kill()
        node.node.kill_all(signal.SIGKILL)
        wipe_run(node.node.host_path("/run"), keep=set(node.ttys))
        return t

    # --- observing ----------------------------------------------------------

    def groups(self, name: str) -> dict[str, str]:
        return self.nodes[name].group_states()

    def held(self, name: str) -> str:
        return str(self.nodes[name].resources()["held"])

    def rscstatus(self, name: str) -> str:
        res = self.nodes[name].cl_status("rscstatus")
        assert res.returncode == 0, f"cl_status rscstatus on {name}: {res}"
        return res.stdout.strip()

    def holders_by_snapshot(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for node in self.live():
            for key, state in node.group_states().items():
                out.setdefault(key, set())
                if state in HELD:
                    out[key].add(node.name)
        return out

    def group_resources(self) -> dict[str, list[str]]:
        node = self.live()[0]
        return {g["key"]: list(g["resources"]) for g in node.resources()["groups"]}

    def wait_past_startup_window(self, name: str) -> None:
        """A starting node advertises deadtime + 2 s for its first 5 s (heartbeat
        does, and so do we): until `name` has been up longer than that."""
        started = self.nodes[name].snapshot()["started"]
        wait_for(lambda: time.time() - started > STARTUP_DT_WINDOW_S + 0.5, 10,
                 what=f"{name} past its start-up deadtime window")

    def wait_holders(self, expected: Mapping[str, str], timeout: float = 30.0,
                     *, ignore: frozenset[str] = frozenset(),
                     elsewhere: Mapping[str, str] | None = None) -> float:
        """Until every live node's snapshot shows group K running on expected[K] and
        stopped elsewhere (or in the state elsewhere[node], e.g. failed), with
        rscstatus settled (no transition); returns the time it took. Then audit()
        (resources in `ignore` are left out of the records)."""
        other_state = dict(elsewhere or {})
        t0 = time.monotonic()
        last: dict[str, Any] = {}

        def settled() -> bool:
            last.clear()
            for node in self.live():
                res = node.resources()
                states = {g["key"]: g["state"] for g in res["groups"]}
                last[node.name] = (res["held"], states)
                if res["held"] == "transition":
                    return False
                for key, holder in expected.items():
                    want = ("running" if node.name == holder
                            else other_state.get(node.name, "stopped"))
                    if states.get(key) != want:
                        return False
            return True

        wait_for(settled, timeout, interval=0.1, ignore=(DaemonUnreachable,),
                 what=f"groups held as {dict(expected)}", describe=lambda: dict(last))
        took = time.monotonic() - t0
        self.audit(expected, ignore=ignore)
        return took

    def audit(self, expected: Mapping[str, str] | None = None, *,
              ignore: frozenset[str] = frozenset()) -> None:
        """Every group held by exactly one live node (each snapshot, and the records
        of every resource of the group); never two nodes at once in the records."""
        live = {n.name for n in self.live()}
        snap = self.holders_by_snapshot()
        recs = self.records.holders()
        members = self.group_resources()
        for key, resources in members.items():
            holders = snap.get(key, set())
            assert len(holders) == 1 and holders <= live, (
                f"group {key}: held by {holders or 'nobody'} per the snapshots of {live}")
            if expected is not None and key in expected:
                assert holders == {expected[key]}, f"group {key}: {holders} != {expected[key]}"
            for text in resources:
                rsc = record_name(text)
                if rsc in ignore or not self._recorded(rsc):
                    continue
                assert recs.get(rsc, set()) == holders, (
                    f"resource {rsc} of group {key}: the records say it runs on "
                    f"{recs.get(rsc, set()) or 'no node'}, the snapshots on {holders}")
        overlaps = self.records.overlaps(ignore)
        assert not overlaps, f"two nodes held a resource at once: {overlaps}"

    def _recorded(self, rsc: str) -> bool:
        """Whether `rsc` is one of the recording stand-ins (real agents are not)."""
        script = rsc.split("::", 1)[0]
        path = self.nodes[self.names[0]].config_dir / "resource.d" / script
        return path.is_file() and "stand-in" in path.read_text(errors="replace")[:200]

    def run_on(self, name: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """A command on the node with HBEAT_RUNTIME_DIR pointing at its daemon."""
        env = {**os.environ, "HBEAT_RUNTIME_DIR": str(self.nodes[name].runtime_dir)}
        return self.nodes[name].node.run(list(argv), check=False, env=env)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.nodes[name].log().splitlines()[-lines:])
