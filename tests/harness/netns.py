"""The lab: N cluster nodes on one machine, each in its own namespaces.

Every node gets a network namespace `hbl<labid>-<node>` with `lo` and `eth1`
(10.<subnet>.0.<n>/24), plugged by a veth pair into a bridge `br0` that lives
in the lab's own switch namespace `hbl<labid>-sw`; no interface of the host
is touched and no packet leaves these namespaces. Each node also has a
"holder" process (`sleep infinity`) that owns a UTS namespace whose hostname
is the node's name and a private mount namespace; everything run on the node
(`Node.run`, `Node.spawn`) enters the holder's net, mount and UTS namespaces
with nsenter, so `uname -n` says `otter` and `Node.private("/run")` mounts
are seen by every process of that node and by nothing else.

Cleanup (`Lab.close`, also run on a failed test by the fixture) stops the
impairment relays (impair.py), kills every process in every lab namespace,
deletes the namespaces and the lab directory.
`sweep_stale_labs()` does the same for labs whose owning process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from . import impair as _impair
from .capture import Capture
from .procs import (
    HarnessError,
    Proc,
    cmdline,
    comm,
    kill_until_gone,
    ns_inode,
    pids_in_ns,
    process_start_ticks,
    run,
)
from .pty import SerialCable
from .waiting import wait_for

NODE_NAMES = ("otter", "weasel", "ferret", "badger", "marten", "stoat", "mink", "ermine")
PREFIX = "hbl"
NETNS_DIR = Path("/run/netns")
BASE_DIR = Path(os.environ.get("HBEAT_LAB_DIR", "/tmp/hbeat-labs"))
_LAB_NETNS = re.compile(rf"^{PREFIX}([0-9a-f]{{6}})-")
CLIENT = "client"
CLIENT_HOST = 250


class Closeable(Protocol):
    def close(self) -> None: ...


def netns_ident(netns: str) -> str:
    """'net:[inode]' of a named network namespace (as /proc/PID/ns/net reads)."""
    return f"net:[{os.stat(NETNS_DIR / netns).st_ino}]"


def _netns_pids(netns: str) -> list[int]:
    try:
        ident = netns_ident(netns)
    except FileNotFoundError:
        return []
    return pids_in_ns("net", ident)


def _delete_netns(netns: str) -> None:
    kill_until_gone(lambda: _netns_pids(netns), what=f"processes in netns {netns}")
    if (NETNS_DIR / netns).exists():
        run(["ip", "netns", "del", netns])


class Node:
    """One host of the lab: its namespaces, address, and the processes run on it."""

    def __init__(self, lab: Lab, name: str, host: int) -> None:
        self.lab = lab
        self.name = name
        self.host = host
        self.netns = f"{lab.prefix}{name}"
        self.iface = "eth1"
        self.ip = f"10.{lab.subnet}.0.{host}"
        self.dir = lab.dir / "nodes" / name
        self.holder: Proc | None = None
        self._private: dict[str, Path] = {}

    # --- namespaces -------------------------------------------------------

    def _create(self) -> None:
        run(["ip", "netns", "add", self.netns])
        run([
            "ip", "link", "add", "eth1", "netns", self.netns, "type", "veth",
            "peer", "name", self.name, "netns", self.lab.switch,
        ])  # fmt: skip
        sw = ["ip", "-n", self.lab.switch, "link", "set", self.name]
        run([*sw, "master", "br0"])
        run([*sw, "up"])
        inside = ["ip", "-n", self.netns]
        run([*inside, "addr", "add", f"{self.ip}/24", "brd", "+", "dev", "eth1"])
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "link", "set", "eth1", "up"])
        self.dir.mkdir(parents=True, exist_ok=True)
        holder = Proc(
            [
                "ip", "netns", "exec", self.netns,
                "unshare", "--uts", "--mount", "--propagation", "private", "--",
                "sh", "-c", 'hostname "$0" && exec sleep infinity', self.name,
            ],
            self.dir / "holder.log",
            name=f"{self.name} holder",
        )  # fmt: skip
        self.holder = holder

        def started() -> bool:
            holder.check_alive(f"creating node {self.name}")
            return comm(holder.pid) == "sleep"

        wait_for(started, 10, what=f"namespace holder of {self.name}")

    @property
    def holder_pid(self) -> int:
        if self.holder is None or not self.holder.alive():
            raise HarnessError(f"node {self.name} has no live namespace holder")
        return self.holder.pid

    def enter(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run in this node's net, mount and UTS namespaces."""
        return [
            "nsenter", f"--target={self.holder_pid}", "--net", "--mount", "--uts", "--",
            *argv,
        ]  # fmt: skip

    def netns_argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run in this node's network namespace only."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command on the node and return its result."""
        return run(self.enter(argv), check=check, timeout=timeout, env=env)

    def spawn(
        self, argv: Sequence[str], *, name: str | None = None, env: Mapping[str, str] | None = None
    ) -> Proc:
        """Start a long-running process on the node; output goes to
        `<node dir>/logs/<name>.log`. It is killed at lab cleanup at the latest."""
        label = name or Path(argv[0]).name
        return Proc(self.enter(argv), self.dir / "logs" / f"{label}.log", env=env, name=label)

    def private(self, target: str, *, mode: int = 0o755) -> Path:
        """Bind-mount a fresh per-node directory over `target` for this node
        only, and return its host path (files put there show up at `target`)."""
        if not target.startswith("/"):
            raise HarnessError(f"private mount target must be absolute, got {target!r}")
        if target in self._private:
            return self._private[target]
        host = self.dir / "root" / target.strip("/").replace("/", "_")
        host.mkdir(parents=True, exist_ok=True)
        host.chmod(mode)
        self.run(["mount", "--bind", str(host), target])
        self._private[target] = host
        return host

    def host_path(self, path: str) -> Path:
        """Where a file the node sees at `path` lives on the host (private mounts
        resolved); raises if `path` is not under a private mount."""
        for target, host in sorted(self._private.items(), key=lambda kv: -len(kv[0])):
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return host / os.path.relpath(path, target)
        raise HarnessError(f"{path} is not under a private mount of {self.name}")

    # --- processes --------------------------------------------------------

    def processes(self) -> list[int]:
        """Every process running on the node (in its mount namespace), holder excluded."""
        if self.holder is None:
            return []
        ident = ns_inode(self.holder.pid, "mnt")
        if ident is None:
            return []
        return [p for p in pids_in_ns("mnt", ident) if p != self.holder.pid]

    def kill_all(self, sig: int = signal.SIGKILL) -> list[int]:
        """Send `sig` to every process on the node (a node "crash" with SIGKILL)."""
        pids = self.processes()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def describe_processes(self) -> list[str]:
        return [f"{pid} {cmdline(pid)}" for pid in self.processes()]

    # --- network ----------------------------------------------------------

    def ping(self, ip: str, *, timeout: float = 1.0) -> bool:
        """One ICMP echo from this node to `ip`; True if answered within `timeout`."""
        res = run(
            self.netns_argv(["ping", "-n", "-q", "-c", "1", "-W", f"{timeout:g}", ip]),
            check=False,
            timeout=timeout + 10,
        )
        return res.returncode == 0

    def link_up(self) -> bool:
        out = run(["ip", "-n", self.netns, "-o", "link", "show", "eth1"]).stdout
        return ",UP" in out or "<UP" in out

    def __repr__(self) -> str:
        return f"Node({self.name}, {self.ip}, netns={self.netns})"


class Lab:
    """A set of nodes on one bridge; a context manager. See the module docstring.

    `nodes` is a count (names taken from NODE_NAMES) or a list of names.
    `client=True` adds a node named "client" at .250 with no special role.
    """

    def __init__(
        self,
        nodes: int | Sequence[str] = 2,
        *,
        client: bool = False,
        subnet: int = 99,
        base_dir: Path | None = None,
        keep: bool | None = None,
    ) -> None:
        names = list(NODE_NAMES[:nodes]) if isinstance(nodes, int) else list(nodes)
        if isinstance(nodes, int) and not 1 <= nodes <= len(NODE_NAMES):
            raise HarnessError(f"a lab has 1..{len(NODE_NAMES)} nodes, not {nodes}")
        if len(set(names)) != len(names) or CLIENT in names:
            raise HarnessError(f"node names must be unique and not {CLIENT!r}: {names}")
        for n in names:
            if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", n):
                raise HarnessError(f"node name {n!r}: use 1-12 lowercase letters/digits")
        if not 0 <= subnet <= 255:
            raise HarnessError(f"subnet must be 0..255 (10.<subnet>.0.0/24), not {subnet}")
        self.id = secrets.token_hex(3)
        self.prefix = f"{PREFIX}{self.id}-"
        self.switch = f"{self.prefix}sw"
        self.subnet = subnet
        self.dir = (base_dir or BASE_DIR) / self.id
        self.keep = os.environ.get("HBEAT_LAB_KEEP") == "1" if keep is None else keep
        self.nodes: dict[str, Node] = {n: Node(self, n, i) for i, n in enumerate(names, start=1)}
        self.client: Node | None = Node(self, CLIENT, CLIENT_HOST) if client else None
        self._closeables: list[Closeable] = []
        self._started = False

    # --- life cycle -------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def all_nodes(self) -> list[Node]:
        return [*self.nodes.values(), *([self.client] if self.client else [])]

    def start(self) -> Lab:
        """Create the switch, the nodes and their links."""
        if self._started:
            return self
        self._started = True
        self.dir.mkdir(parents=True, exist_ok=False)
        pid = os.getpid()
        (self.dir / "owner").write_text(f"{pid} {process_start_ticks(pid)}\n")
        try:
            run(["ip", "netns", "add", self.switch])
            sw = ["ip", "-n", self.switch]
            run([*sw, "link", "add", "br0", "type", "bridge", "stp_state", "0"])
            run([*sw, "link", "set", "lo", "up"])
            run([*sw, "link", "set", "br0", "up"])
            for node in self.all_nodes():
                node._create()
        except BaseException:
            self.close()
            raise
        return self

    def add_closeable(self, thing: Closeable) -> None:
        """Have `thing.close()` called (in reverse order) when the lab closes."""
        self._closeables.append(thing)

    def close(self) -> None:
        """Tear everything down; safe to call twice and after a partial start."""
        errors: list[str] = []
        while self._closeables:
            thing = self._closeables.pop()
            try:
                thing.close()
            except Exception as exc:  # keep tearing down; report at the end
                errors.append(f"closing {thing!r}: {exc}")
        for node in self.all_nodes():
            with contextlib.suppress(Exception):
                _impair.stop_relay(self.switch_port(node))
            with contextlib.suppress(Exception):
                node.kill_all()
        for netns in self.namespaces():
            try:
                _delete_netns(netns)
            except Exception as exc:
                errors.append(f"deleting netns {netns}: {exc}")
        for node in self.all_nodes():
            if node.holder is not None:
                node.holder.stop(signal.SIGKILL)
        if not self.keep and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise HarnessError("lab cleanup failed:\n" + "\n".join(errors))

    def namespaces(self) -> list[str]:
        """Every existing network namespace of this lab."""
        return [n for n in list_netns() if n.startswith(self.prefix)]

    # --- access -----------------------------------------------------------

    def node(self, name: str) -> Node:
        if name == CLIENT and self.client is not None:
            return self.client
        try:
            return self.nodes[name]
        except KeyError:
            raise HarnessError(f"no node {name!r} in this lab ({', '.join(self.nodes)})") from None

    def __getitem__(self, name: str) -> Node:
        return self.node(name)

    # --- faults -----------------------------------------------------------

    def cut(self, name: str, *, at: str = "node") -> None:
        """Take a node's link down: `eth1` inside the node (`at="node"`), or its
        bridge port in the switch (`at="switch"`: eth1 stays up but loses carrier)."""
        self._set_link(name, at, "down")

    def restore(self, name: str, *, at: str = "node") -> None:
        """Undo `cut`."""
        self._set_link(name, at, "up")

    def _set_link(self, name: str, at: str, state: str) -> None:
        node = self.node(name)
        if at == "node":
            run(["ip", "-n", node.netns, "link", "set", "eth1", state])
        elif at == "switch":
            run(["ip", "-n", self.switch, "link", "set", node.name, state])
        else:
            raise HarnessError(f"cut/restore at 'node' or 'switch', not {at!r}")

    def impair(
        self,
        name: str,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay_ms: float = 0.0,
        seed: int = _impair.DEFAULT_SEED,
        force_relay: bool = False,
    ) -> str:
        """Impair packets a node sends on eth1 (percentages, delay in ms); see
        impair.py. Returns the mechanism used: 'netem', 'nft' or 'relay' (no
        netem here and reorder/delay asked, or `force_relay`: a relay in the
        switch namespace re-sends the node's IPv4 UDP, its decisions made
        reproducible by `seed`). Replaces an earlier impairment of the node."""
        node = self.node(name)
        return _impair.impair(
            node.netns, "eth1", loss=loss, duplicate=duplicate, reorder=reorder,
            delay_ms=delay_ms, switch=self.switch_port(node), seed=seed,
            force_relay=force_relay,
        )  # fmt: skip

    def clear_impairment(self, name: str) -> None:
        """Undo `impair` on a node (harmless when it is not impaired)."""
        node = self.node(name)
        _impair.clear(node.netns, "eth1", switch=self.switch_port(node))

    def switch_port(self, node: Node) -> _impair.SwitchPort:
        """Where `node`'s frames enter the bridge (for the impairment relay)."""
        return _impair.SwitchPort(
            netns=self.switch, port=node.name, log=self.dir / "switch" / f"relay-{node.name}.log"
        )

    # --- cables and captures ------------------------------------------------

    def serial_cable(self, a: str, b: str, *, name: str = "ttyS0") -> SerialCable:
        """An open null-modem cable between nodes `a` and `b` (socat runs in
        the switch namespace; its ends are symlinks under the lab directory)."""
        self.node(a), self.node(b)
        cable = SerialCable(
            a, b, self.dir, name=name,
            launch=lambda argv: ["ip", "netns", "exec", self.switch, *argv],
        )  # fmt: skip
        self.add_closeable(cable)
        return cable.open()

    def capture(self, name: str, *, bpf: str = "", iface: str = "eth1") -> Capture:
        """A started tcpdump on a node's interface; `stop()` returns the pcap."""
        node = self.node(name)
        captures = self.dir / "captures"
        captures.mkdir(exist_ok=True)
        n = len(list(captures.glob(f"{name}-*.pcap"))) + 1
        cap = Capture(
            captures / f"{name}-{n:02d}.pcap", iface=iface, bpf=bpf, launch=node.netns_argv
        )
        self.add_closeable(cap)
        return cap.start()

    # --- diagnostics --------------------------------------------------------

    def diagnostics(self, tail: int = 40) -> str:
        """The last lines of every process log in the lab (for failure reports)."""
        parts = [f"lab {self.id} at {self.dir}"]
        for log in sorted(self.dir.rglob("*.log")) if self.dir.exists() else []:
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {log.relative_to(self.dir)} ---\n" + "\n".join(lines))
        return "\n".join(parts)


def list_netns() -> list[str]:
    """Names of every named network namespace on the host."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def _owner_alive(lab_dir: Path) -> bool:
    try:
        pid_s, ticks_s = (lab_dir / "owner").read_text().split()
    except (OSError, ValueError):
        return False
    ticks = process_start_ticks(int(pid_s))
    return ticks is not None and str(ticks) == ticks_s


def _being_created(lab_dir: Path, grace: float) -> bool:
    """A young lab directory without its owner file yet: another run (an
    xdist worker) has just made it and is about to write the file."""
    if (lab_dir / "owner").exists():
        return False
    try:
        return time.time() - lab_dir.stat().st_mtime < grace
    except FileNotFoundError:
        return False


def sweep_stale_labs(base_dir: Path | None = None, *, grace: float = 60.0) -> list[str]:
    """Remove labs left by killed runs: namespaces named hbl<id>-* and lab
    directories whose owning process is gone. A namespace with no lab
    directory at all, or a directory without its owner file, is only removed
    once it is older than `grace` seconds (another run may be creating it).
    Returns the lab ids removed."""
    base = base_dir or BASE_DIR
    by_lab: dict[str, list[str]] = {}
    for netns in list_netns():
        m = _LAB_NETNS.match(netns)
        if m:
            by_lab.setdefault(m.group(1), []).append(netns)
    if base.exists():
        for d in base.iterdir():
            if re.fullmatch(r"[0-9a-f]{6}", d.name):
                by_lab.setdefault(d.name, [])
    removed = []
    for lab_id, namespaces in sorted(by_lab.items()):
        lab_dir = base / lab_id
        if _owner_alive(lab_dir) or _being_created(lab_dir, grace):
            continue
        if not lab_dir.exists():
            young = [n for n in namespaces if time.time() - os.stat(NETNS_DIR / n).st_mtime < grace]
            if young:
                continue
        for netns in namespaces:
            _delete_netns(netns)
        shutil.rmtree(lab_dir, ignore_errors=True)
        removed.append(lab_id)
    return removed
