"""`make demo`: a live two-node cluster on this machine, showing a failover.

Two nodes, otter and weasel, each in its own network namespace, joined by a
veth pair (their `eth1`) and a socat pty pair (the null-modem cable), run
real `hbeat run` processes with a one-resource group homed on weasel. The
demo shows their status live, kills weasel's whole daemon with SIGKILL,
measures how long otter takes to declare it dead and to start the group,
and cleans everything up.

As root it creates the namespaces directly. Without root it re-runs itself
inside an unprivileged user namespace (`unshare --user --map-root-user`),
where it may create network namespaces of its own: nothing on the host
changes either way, and all traffic stays inside the demo's namespaces.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from hbeat.control import ControlClient, ControlError, DaemonUnreachable
from hbeat.feedclient import FeedClient

NODES = ("otter", "weasel")
ADDRS = {"otter": "10.77.0.1", "weasel": "10.77.0.2"}
SERVICE = """#!/bin/sh
# DemoService NAME start|stop|status: a stand-in service whose state is a file.
state="@STATE_DIR@/$HA_CURHOST.$1.running"
case "$2" in
  start)  date +%s.%N > "$state"; echo "$1 started on $HA_CURHOST";;
  stop)   rm -f "$state";;
  status) if [ -f "$state" ]; then echo "$1 is running"; exit 0; fi
          echo "$1 is stopped"; exit 3;;
  *)      echo "usage: $0 NAME start|stop|status" >&2; exit 2;;
esac
"""


def say(text: str = "") -> None:
    print(text, flush=True)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Lab:
    """The namespaces, cable and daemons of the demo; `close()` removes all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.holders: dict[str, subprocess.Popen[bytes]] = {}
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        self.cable: subprocess.Popen[bytes] | None = None
        self.secret = secrets.token_hex(16)

    def nsenter(self, node: str) -> list[str]:
        return ["nsenter", "-t", str(self.holders[node].pid), "-n", "--"]

    def build_network(self) -> None:
        for node in NODES:
            # A sleeping process holds each node's network namespace.
            self.holders[node] = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            own = os.readlink("/proc/self/ns/net")
            if all(os.readlink(f"/proc/{h.pid}/ns/net") != own for h in self.holders.values()):
                break
            time.sleep(0.01)
        o, w = (str(self.holders[n].pid) for n in NODES)
        run("ip", "link", "add", "eth1", "netns", o, "type", "veth", "peer", "name", "eth1",
            "netns", w)
        for node in NODES:
            ns = self.nsenter(node)
            run(*ns, "ip", "link", "set", "lo", "up")
            run(*ns, "ip", "addr", "add", f"{ADDRS[node]}/24", "brd", "+", "dev", "eth1")
            run(*ns, "ip", "link", "set", "eth1", "up")

    def build_cable(self) -> bool:
        if shutil.which("socat") is None:
            return False
        ends = [self.root / f"tty-{n}" for n in NODES]
        self.cable = subprocess.Popen(
            ["socat", *(f"pty,raw,echo=0,link={e}" for e in ends)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return wait_for(lambda: all(e.exists() for e in ends), 5)

    def write_config(self, node: str, serial: bool) -> Path:
        etc = self.root / node / "etc"
        (etc / "resource.d").mkdir(parents=True)
        media = [f"serial {self.root / f'tty-{node}'}"] if serial else []
        (etc / "ha.cf").write_text("\n".join([
            "# hbeat demo: fast timers so the failover is quick to watch",
            "keepalive 500ms", "deadtime 3", "warntime 1500ms", "initdead 6",
            "udpport 694", "baud 19200", *media, "bcast eth1",
            "auto_failback off", f"logfile {self.root / node / 'ha-log'}",
            "node otter", "node weasel", "",
        ]))
        (etc / "haresources").write_text("weasel DemoService::web\n")
        keys = etc / "authkeys"
        keys.write_text(f"auth 1\n1 sha1 {self.secret}\n")
        keys.chmod(0o600)
        script = etc / "resource.d" / "DemoService"
        # hbeat runs scripts with a clean environment, as heartbeat does: the
        # state directory is written into the script itself.
        script.write_text(SERVICE.replace("@STATE_DIR@", str(self.root)))
        script.chmod(0o755)
        return etc

    def start(self, node: str, serial: bool) -> None:
        etc = self.root / node / "etc"
        if not etc.exists():
            etc = self.write_config(node, serial)
        out = open(self.root / node / "daemon.out", "ab")  # noqa: SIM115 - owned by the Popen
        self.daemons[node] = subprocess.Popen(
            [*self.nsenter(node), sys.executable, "-m", "hbeat", "run",
             "--config-dir", str(etc), "--node-name", node,
             "--runtime-dir", str(self.runtime(node)),
             "--state-dir", str(self.root / node / "state")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def runtime(self, node: str) -> Path:
        return self.root / node / "run"

    def kill(self, node: str) -> None:
        """SIGKILL the node's supervisor and every worker (its process group)."""
        proc = self.daemons.pop(node)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        for proc in self.daemons.values():
            with _quiet():
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.daemons.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in [*self.holders.values(), *([self.cable] if self.cable else [])]:
            proc.kill()
            proc.wait()


def _quiet() -> suppress:
    """For signalling processes that may already be gone."""
    return suppress(ProcessLookupError, PermissionError)


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def snapshot(lab: Lab, node: str) -> dict[str, Any] | None:
    try:
        return ControlClient(lab.runtime(node), timeout_ms=1000).call("snapshot")
    except (DaemonUnreachable, ControlError, OSError):
        return None


def show(lab: Lab) -> None:
    for node in NODES:
        snap = snapshot(lab, node)
        if snap is None:
            say(f"  {node:7s} (not running)")
            continue
        peers = "  ".join(
            f"{n['name']}={n['status']}"
            + "".join(f" [{lk['name'].rsplit('/', 1)[-1]}:{lk['status']}]" for lk in n["links"])
            for n in snap["nodes"] if n["name"] != node
        )
        held = snap["resources"]["held"]
        groups = ", ".join(f"{g['key']}={g['state']}" for g in snap["resources"]["groups"])
        say(f"  {node:7s} {snap['local_status']:7s} holds {held:10s} {groups:28s} sees {peers}")


def holder(lab: Lab) -> str | None:
    for node in lab.daemons:
        snap = snapshot(lab, node)
        if snap and any(g["state"] == "running" for g in snap["resources"]["groups"]):
            return node
    return None


class FeedWatch:
    """Prints one node's status feed events as they arrive, with timestamps."""

    def __init__(self, lab: Lab, node: str) -> None:
        self.feed = FeedClient(lab.runtime(node))
        self.node = node

    def drain(self, until: Callable[[dict[str, Any], str], bool], timeout: float,
              t0: float) -> dict[str, Any] | None:
        for msg in self.feed.messages(timeout):
            if msg.topic != "snapshot":
                desc = {k: v for k, v in msg.body.items() if k not in ("schema", "at")}
                say(f"  +{time.time() - t0:6.2f}s {self.node}: {msg.topic} {desc}")
            if until(msg.body, msg.topic):
                return msg.body
        return None


def demo(keep: bool) -> int:
    root = Path(tempfile.mkdtemp(prefix="hbeat-demo-"))
    lab = Lab(root)
    try:
        say("hbeat demo: two nodes, otter and weasel, in network namespaces of their own")
        lab.build_network()
        serial = lab.build_cable()
        say(f"  ethernet: veth pair eth1 {ADDRS['otter']} <-> {ADDRS['weasel']}")
        say("  serial:   " + ("socat pty pair (null-modem cable)" if serial
                             else "none (socat is not installed)"))
        say("  resource: DemoService::web, home node weasel; auto_failback off")
        for node in NODES:
            lab.start(node, serial)
        say("\nstarting both daemons; waiting for them to see each other and for weasel "
            "to take its group (start-up negotiation takes about 10 s, as in heartbeat)...")
        if not wait_for(lambda: holder(lab) == "weasel", 45, 0.25):
            say("ERROR: the cluster did not come up; logs are in " + str(root))
            show(lab)
            keep = True
            return 1
        show(lab)
        watch = FeedWatch(lab, "otter")
        time.sleep(0.3)  # let the subscription settle before the event we measure
        say("\nkilling weasel's whole daemon (supervisor and workers) with SIGKILL...")
        t0 = time.time()
        lab.kill("weasel")
        dead = watch.drain(lambda e, t: t == "node.weasel" and e.get("new") == "dead", 30, t0)
        started = watch.drain(
            lambda e, t: t.startswith("resource.") and e.get("new") == "running", 30, t0)
        say()
        if dead is None or started is None:
            say("ERROR: otter did not take over; logs are in " + str(root))
            keep = True
            return 1
        say(f"otter declared weasel dead {dead['at'] - t0:.2f} s after the kill "
            f"(deadtime 3 s, counted from weasel's last keepalive)")
        say(f"otter had the group running {started['at'] - t0:.2f} s after the kill")
        show(lab)
        say("\nlast lines of otter's log (heartbeat's words, so grep habits keep working):")
        for line in (root / "otter" / "ha-log").read_text().splitlines()[-8:]:
            say("  " + line)
        return 0
    finally:
        lab.close()
        if keep:
            say(f"\nlab files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            say("\ncleaned up: daemons stopped, namespaces and files removed.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hbeat.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the lab directory afterwards")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if os.geteuid() != 0 and not args.inside:
        say("not root: running the demo inside an unprivileged user namespace")
        cmd = ["unshare", "--user", "--map-root-user", "--net", "--fork",
               sys.executable, "-m", "hbeat.demo", "--inside"]
        if args.keep:
            cmd.append("--keep")
        return subprocess.call(cmd)
    return demo(args.keep)


if __name__ == "__main__":
    sys.exit(main())
