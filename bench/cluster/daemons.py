"""One interface over a two-node cluster of hbeat or of real heartbeat 3.0.6 in a lab.

`BenchCluster(kind, lab, profile, ...)` writes the same ha.cf for both kinds
(the harness's `ha_cf` plus `realtime on|off`), optionally one resource
group `otter BenchProbe::svc1`, and runs the daemons with the harness's
`HbeatNode` (tests/harness/hbeatnode.py) or `HeartbeatNode`
(tests/harness/heartbeat_lab.py). `crash(name)` is a kill -9 of every
process on the node, the same for both kinds. `BenchProbe` is a resource
script that appends `<CLOCK_REALTIME s.ns> <node> <name> <action>` to a file
in the lab directory (one file for the whole lab): the resource start time
is taken by the script, not by either daemon.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness import HeartbeatConfig, HeartbeatNode, Lab, SerialCable, wait_for
from tests.harness.hbeatnode import HbeatConfig, HbeatNode
from tests.harness.heartbeat_lab import authkeys_text, ha_cf

NODES = ("otter", "weasel")
TTY = "/run/ttyS0"
PROBE = "BenchProbe"
KINDS = ("hbeat", "heartbeat")


@dataclass(frozen=True)
class Profile:
    name: str
    keepalive: str
    deadtime: str
    warntime: str
    initdead: str
    keepalive_ms: int
    deadtime_ms: int


CLASSIC = Profile("classic", "1", "10", "5", "20", 1000, 10_000)
FAST = Profile("fast", "100ms", "500ms", "300ms", "2", 100, 500)

PROBE_TEXT = """#!/bin/sh
# BenchProbe (bench/cluster/daemons.py): a haresources-style resource script
# that records every call with a CLOCK_REALTIME nanosecond timestamp.
name=${{1:-default}}
action=${{2:-}}
state=/run/benchprobe.$name
echo "$(date +%s.%N) $(uname -n) $name $action" >> {events}
case "$action" in
start) : > "$state"; exit 0;;
stop) rm -f "$state"; exit 0;;
status|monitor)
    if [ -f "$state" ]; then echo "$name is running"; exit 0; fi
    echo "$name is stopped"; exit 3;;
*) echo "usage: $0 <name> {{start|stop|status}}" >&2; exit 2;;
esac
"""


@dataclass(frozen=True)
class ProbeEvent:
    time_ns: int
    node: str
    name: str
    action: str


def read_probe_events(path: Path) -> list[ProbeEvent]:
    """The probe's records; a malformed line raises naming the file and line."""
    out = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if len(parts) != 4 or "." not in parts[0]:
            raise ValueError(f"{path}:{lineno}: not '<s.ns> <node> <name> <action>': {line!r}")
        sec, _, frac = parts[0].partition(".")
        out.append(ProbeEvent(int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9]),
                              parts[1], parts[2], parts[3]))
    return out


def hacf_text(profile: Profile, *, realtime: bool, serial: bool = False,
              baud: int = 115200, auto_failback: str = "off",
              extra: Sequence[str] = ()) -> str:
    return ha_cf(
        list(NODES), keepalive=profile.keepalive, deadtime=profile.deadtime,
        warntime=profile.warntime, initdead=profile.initdead, baud=baud,
        serial=[TTY] if serial else [], media=["bcast eth1"], auto_failback=auto_failback,
        extra=[f"realtime {'on' if realtime else 'off'}", *extra],
    )


class BenchCluster:
    """Two nodes of one kind in `lab` (which should have a client for captures)."""

    def __init__(self, kind: str, lab: Lab, profile: Profile, *, realtime: bool = False,
                 serial: bool = False, resource: bool = False,
                 env: Mapping[str, str] | None = None, auto_failback: str = "off",
                 hbeat_extra: Sequence[str] = ()) -> None:
        """`hbeat_extra`: ha.cf lines only hbeat reads (heartbeat 3.0.6 would
        refuse them), e.g. `boot_takeover initdead`."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.lab = lab
        self.profile = profile
        self.hacf = hacf_text(profile, realtime=realtime, serial=serial,
                              auto_failback=auto_failback,
                              extra=hbeat_extra if kind == "hbeat" else ())
        self.events = lab.dir / "probe-events.log"
        self.cable: SerialCable | None = lab.serial_cable(*NODES) if serial else None
        haresources = f"{NODES[0]} {PROBE}::svc1\n" if resource else ""
        probe = lab.dir / PROBE
        probe.write_text(PROBE_TEXT.format(events=self.events))
        probe.chmod(0o755)
        keys = authkeys_text("sha1", "secret")
        self.nodes: dict[str, HbeatNode | HeartbeatNode] = {}
        for name in NODES:
            ttys = {TTY: self.cable.path(name)} if self.cable is not None else {}
            if kind == "hbeat":
                node = HbeatNode(lab[name], HbeatConfig(self.hacf, keys, haresources,
                                                        env=dict(env or {})), ttys=ttys)
                node.prepare()
                if resource:
                    shutil.copy2(probe, node.config_dir / "resource.d" / PROBE)
                self.nodes[name] = node
            else:
                config = HeartbeatConfig(ha_cf=self.hacf, authkeys=keys, haresources=haresources,
                                         resource_scripts={PROBE: probe} if resource else {},
                                         env=dict(env or {}))
                self.nodes[name] = HeartbeatNode(lab[name], config, ttys=ttys)

    def start(self, names: Sequence[str] = NODES, *, wait: bool = True) -> None:
        for name in names:
            node = self.nodes[name]
            if isinstance(node, HeartbeatNode):
                node.start()
            else:
                node.start(wait=wait)  # with wait, until its control API answers

    def terminate(self, name: str) -> int:
        """SIGTERM to the daemon (`systemctl stop`); CLOCK_REALTIME ns just before."""
        node = self.nodes[name]
        t = time.time_ns()
        if isinstance(node, HeartbeatNode):
            os.kill(node.master_pid(), signal.SIGTERM)
        else:
            node.terminate()
        return t

    def wait_gone(self, name: str, timeout: float = 60.0) -> int:
        """Until every daemon process of the node has exited; CLOCK_REALTIME ns then."""
        node = self.nodes[name]
        wait_for(lambda: not node.pids(), timeout, interval=0.01,
                 what=f"{self.kind} on {name} to stop")
        t = time.time_ns()
        proc = node.proc
        if proc is not None:
            proc.popen.wait(10)
        return t

    def wait_active(self, timeout: float = 60.0) -> None:
        for name, node in self.nodes.items():
            node.wait_active([n for n in NODES if n != name], timeout=timeout)

    def pids(self, name: str) -> list[int]:
        return self.nodes[name].pids()

    def log_text(self, name: str) -> str:
        return self.nodes[name].log()

    def crash(self, name: str) -> int:
        """kill -9 of every process on the node; returns CLOCK_REALTIME ns just before."""
        node = self.lab[name]
        t = time.time_ns()
        node.kill_all(signal.SIGKILL)
        wait_for(lambda: not node.processes(), 15, what=f"{name}'s processes to die",
                 describe=node.describe_processes)
        proc = self.nodes[name].proc
        if proc is not None:
            proc.popen.wait(10)
        # A crashed host reboots with an empty /run: forget the probe's state.
        for state in node.host_path("/run").glob("benchprobe.*"):
            state.unlink()
        return t

    def control(self, name: str, command: str, **args: object) -> dict[str, object]:
        node = self.nodes[name]
        if not isinstance(node, HbeatNode):
            raise ValueError("the control API is hbeat's")
        from hbeat.control import ControlClient

        return ControlClient(node.runtime_dir, timeout_ms=5000).call(command, **args)


def count_lines(text: str, needle: str) -> int:
    return sum(1 for line in text.splitlines() if needle in line)
