"""A two-node hbeat cluster with a real cluster-glue STONITH device: the lab power switch.

`FencedCluster(lab, fencing=True)` installs tests/data/stonith/external/hbeatlab
into cluster-glue's plugin directory under a name of this lab's own
(`external/hbeatlab-<lab id>`, removed when the lab closes), gives it a
power-switch directory (`<lab>/power`: each node's namespace-holder pid, the
plugin's log, `broken` and `delay.<node>` switches, and `events.log` linked
to the stand-ins' records so a power-off ends the victim's holding
intervals), and runs hbeat on otter and weasel with
`stonith_host <node> external/hbeatlab-<id> <powerdir> <peer>` lines,
`bcast eth1` plus a serial cable, one recorded stand-in group homed on
weasel (`probe::weasel`) and fast timers. `fencing=False` writes no
stonith line (heartbeat's unfenced takeover). `extra` adds ha.cf lines.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.harness import Lab, SerialCable, ha_cf, wait_for
from tests.harness.hbeatnode import FeedLog, HbeatConfig, HbeatNode
from tests.harness.requirements import require_commands
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.failover.cluster import timers_env, wipe_run
from tests.lab.failover.standins import Records, write_standin

PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "data" / "stonith" / "external" / "hbeatlab"
PLUGIN_DIR = Path("/usr/lib/stonith/plugins/external")
TTY = "/run/ttyS0"
TIMINGS = {"keepalive": "500ms", "deadtime": "3", "warntime": "2", "initdead": "6"}
FENCE_TIMERS = {"fence_retry_ms": 1000, "fence_retry_max_ms": 2000, "fence_timeout_s": 20}
SCRIPT = "probe"
GROUP = "probe::weasel"
NAMES = ("otter", "weasel")


class _Plugin:
    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


class FencedCluster:
    def __init__(self, lab: Lab, *, fencing: bool = True, extra: Sequence[str] = (),
                 serial: bool = True) -> None:
        require_commands("stonith")
        self.lab = lab
        self.shared = lab.dir / "fencing"
        self.control = self.shared / "control"
        self.control.mkdir(parents=True, exist_ok=True)
        self.records = Records(self.shared / "events.log")
        self.power = lab.dir / "power"
        self.power.mkdir()
        (self.power / "events.log").symlink_to(self.records.path)
        self.type = f"external/hbeatlab-{lab.id}"
        plugin = PLUGIN_DIR / f"hbeatlab-{lab.id}"
        shutil.copy2(PLUGIN_SOURCE, plugin)
        plugin.chmod(0o755)
        lab.add_closeable(_Plugin(plugin))
        for name in NAMES:
            (self.power / f"{name}.holder").write_text(f"{lab[name].holder_pid}\n")
        self.cable: SerialCable | None = lab.serial_cable(*NAMES) if serial else None
        self.nodes: dict[str, HbeatNode] = {}
        self.feeds: dict[str, FeedLog] = {}
        env = {"HBEAT_RESOURCE_TIMERS": timers_env(FENCE_TIMERS)}
        for name in NAMES:
            peer = next(n for n in NAMES if n != name)
            lines = list(extra)
            if fencing:
                lines.append(f"stonith_host {name} {self.type} {self.power} {peer}")
            hacf = ha_cf(list(NAMES), **TIMINGS, baud=38400,
                         serial=[TTY] if serial else [], media=["bcast eth1"],
                         auto_failback="off", extra=lines)
            ttys = {TTY: self.cable.path(name)} if self.cable is not None else {}
            node = HbeatNode(lab[name], HbeatConfig(hacf, SEED_AUTHKEYS, f"weasel {GROUP}\n",
                                                    env=env), ttys=ttys)
            node.prepare()
            write_standin(node.config_dir / "resource.d", SCRIPT, self.records.path,
                          self.control)
            self.nodes[name] = node

        # What the fault suite's Auditor reads (tests/lab/faults/auditor.py).
        self.names = list(NAMES)
        self.pair = list(NAMES)
        self.groups = [GROUP]

    def __getitem__(self, name: str) -> HbeatNode:
        return self.nodes[name]

    def live(self) -> list[str]:
        return [n for n in self.names
                if self.nodes[n].proc is not None and self.nodes[n].proc.alive()]  # type: ignore[union-attr]

    def links(self, name: str) -> list[str]:
        return ["eth1", TTY] if self.cable is not None else ["eth1"]

    def log_path(self, name: str) -> Path:
        return self.nodes[name].logfile

    def snapshot(self, name: str) -> dict[str, Any] | None:
        try:
            return self.nodes[name].snapshot()
        except Exception:
            return None

    def holder(self) -> str | None:
        for name in self.live():
            if self.state(name) == "running":
                return name
        return None

    def reboot(self, name: str) -> None:
        """What the power switch's `on` and a boot do: kill what is left, wipe /run,
        start hbeat (the links must be back: a missing serial device is a config error)."""
        node = self.nodes[name]
        node.node.kill_all()
        if node.proc is not None:
            node.proc.stop()
        (self.power / f"{name}.off").unlink(missing_ok=True)
        wipe_run(node.node.host_path("/run"), keep=set(node.ttys))
        self.start([name], wait=False)

    def start(self, names: Sequence[str] = NAMES, *, wait: bool = True) -> None:
        for name in names:
            self.nodes[name].start()
            if name in self.feeds:
                self.feeds[name].close()
            self.feeds[name] = self.nodes[name].feed()
        if wait:
            for name in names:
                self.nodes[name].wait_active([n for n in names if n != name], timeout=30)

    def cut(self) -> float:
        """Both links between the nodes down (eth1 at the switch, the serial cable)."""
        t = time.time()
        self.lab.cut("weasel", at="switch")
        if self.cable is not None:
            self.cable.close()
        return t

    def restore(self) -> None:
        self.lab.restore("weasel", at="switch")
        if self.cable is not None:
            self.cable.reopen()

    def power_log(self) -> list[list[str]]:
        """The plugin's log: [time, fencing node, action, host, result] per operation."""
        path = self.power / "log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def state(self, name: str) -> str | None:
        return self.nodes[name].group_states().get(GROUP)

    def wait_state(self, name: str, state: str, timeout: float = 40.0) -> None:
        wait_for(lambda: self.state(name) == state, timeout,
                 what=f"{GROUP} {state} on {name}")

    def log_tail(self, name: str, lines: int = 60) -> str:
        return "\n".join(self.nodes[name].log().splitlines()[-lines:])
