"""A real Linux-HA heartbeat 3.0.6 (the Debian package) running on a lab node.

Heartbeat has its paths compiled in: /etc/ha.d (ha.cf, authkeys, haresources,
harc, rc.d/, resource.d/, and /etc/ha.d/shellfuncs, which comes from the
resource-agents package and is handed to scripts as HA_FUNCS), /var/lib/heartbeat
(hb_uuid, hb_generation, hostcache, the FIFO), /run/heartbeat (the API socket
cl_status uses), /run/heartbeat.pid, /run/lock (the serial port's UUCP lock),
and the logfile named in ha.cf (here /var/log/ha-log). So each node gets those
directories privately, in its own mount namespace: fresh per-node directories
are bind-mounted over /etc/ha.d, /var/lib/heartbeat, /run and /var/log, and
filled with copies of the package's own files (every file of the host's
/etc/ha.d, the /var/lib/heartbeat skeleton with its owners, the tmpfiles.d
layout of /run/heartbeat), plus the test's ha.cf, authkeys (mode 600),
haresources and resource scripts. Nothing on the host is changed, and two
nodes never share a uuid, a pid file or a lock.

The hostname heartbeat takes as its node name comes from the node's UTS
namespace; serial ports are symlinks in the private /run (e.g. /run/ttyS0)
to a SerialCable end, which heartbeat accepts: it stat()s through the link
and finds the pty's character device.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .netns import Node
from .procs import HarnessError, Proc
from .waiting import LogWatcher, wait_for

HEARTBEAT = "/usr/libexec/heartbeat/heartbeat"
CL_STATUS = "/usr/bin/cl_status"
HA_D = Path("/etc/ha.d")
VAR_LIB = Path("/var/lib/heartbeat")
LOGFILE = "/var/log/ha-log"
DEBUGFILE = "/var/log/ha-debug"
# The configuration of the lab the interop captures were made in (tests/data/interop).
INTEROP_CONFIG = Path(__file__).resolve().parents[1] / "data" / "interop" / "config"
RUN_DIRS = ("heartbeat", "heartbeat/ccm", "heartbeat/crm", "heartbeat/dopd", "crm")


def ha_cf(
    nodes: Sequence[str],
    *,
    keepalive: str = "1",
    deadtime: str = "10",
    warntime: str = "5",
    initdead: str = "20",
    udpport: int = 694,
    baud: int = 9600,
    media: Sequence[str] = ("bcast eth1",),
    serial: Sequence[str] = (),
    auto_failback: str = "off",
    extra: Sequence[str] = (),
) -> str:
    """An ha.cf in the shape of the interop lab's (tests/data/interop/config/ha.cf)."""
    lines = [
        "# written by tests/harness/heartbeat_lab.py",
        f"logfile {LOGFILE}",
        f"debugfile {DEBUGFILE}",
        "logfacility none",
        f"keepalive {keepalive}",
        f"deadtime {deadtime}",
        f"warntime {warntime}",
        f"initdead {initdead}",
        f"udpport {udpport}",
    ]
    if serial:
        lines.append(f"baud {baud}")
        lines += [f"serial {port}" for port in serial]
    lines += list(media)
    lines += [f"auto_failback {auto_failback}", "crm off"]
    lines += list(extra)
    lines += [f"node {n}" for n in nodes]
    return "\n".join(lines) + "\n"


def authkeys_text(method: str = "sha1", secret: str = "secret", index: int = 1) -> str:
    """authkeys text: `auth N` then `N method [secret]` (crc takes no key)."""
    key = "" if method == "crc" else f" {secret}"
    return f"auth {index}\n{index} {method}{key}\n"


@dataclass
class HeartbeatConfig:
    """What goes into a node's private /etc/ha.d."""

    ha_cf: str
    authkeys: str
    haresources: str = ""
    resource_scripts: Mapping[str, Path] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


class HeartbeatNode:
    """heartbeat 3.0.6 on `node`: private dirs, start, cl_status, stop/kill, logs."""

    def __init__(
        self,
        node: Node,
        config: HeartbeatConfig,
        *,
        ttys: Mapping[str, Path] | None = None,
    ) -> None:
        self.node = node
        self.config = config
        self.ttys = dict(ttys or {})
        self.proc: Proc | None = None
        self._prepared = False
        node.lab.add_closeable(self)

    @property
    def name(self) -> str:
        return self.node.name

    # --- private file system ----------------------------------------------

    def prepare(self) -> None:
        """Bind the private directories and write the configuration."""
        if self._prepared:
            return
        node = self.node
        etc = node.private(str(HA_D))
        shutil.copytree(HA_D, etc, symlinks=True, dirs_exist_ok=True)
        (etc / "ha.cf").write_text(self.config.ha_cf)
        (etc / "authkeys").write_text(self.config.authkeys)
        (etc / "authkeys").chmod(0o600)
        (etc / "haresources").write_text(self.config.haresources)
        for name, src in self.config.resource_scripts.items():
            dst = etc / "resource.d" / name
            shutil.copyfile(src, dst)
            dst.chmod(0o755)

        lib = node.private(str(VAR_LIB))
        subprocess.run(["cp", "-a", f"{VAR_LIB}/.", str(lib)], check=True)
        for stale in ("hb_uuid", "hb_generation", "hostcache", "delhostcache", "fifo"):
            (lib / stale).unlink(missing_ok=True)

        run = node.private("/run")
        uid, gid = pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
        for d in RUN_DIRS:
            (run / d).mkdir(parents=True, exist_ok=True)
            (run / d).chmod(0o750)
            os.chown(run / d, uid, gid)
        (run / "lock").mkdir(mode=0o1777, exist_ok=True)
        (run / "lock").chmod(0o1777)
        (run / "resource-agents").mkdir(exist_ok=True)
        for port, target in self.ttys.items():
            link = node.host_path(port)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)

        node.private("/var/log")
        self._prepared = True

    # --- life cycle -----------------------------------------------------------

    @property
    def logfile(self) -> Path:
        return self.node.host_path(LOGFILE)

    def log_watcher(self, *, from_start: bool = False) -> LogWatcher:
        return LogWatcher(self.logfile, from_start=from_start)

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> HeartbeatNode:
        """Start `heartbeat -f` on the node (returns at once; see wait_active)."""
        self.prepare()
        if self.proc is not None and self.proc.alive():
            raise HarnessError(f"heartbeat on {self.name} is already running")
        env = {**os.environ, **self.config.env}
        self.proc = self.node.spawn([HEARTBEAT, "-f"], name="heartbeat", env=env)
        return self

    def cl_status(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """Run the real cl_status on the node (against this heartbeat's API socket)."""
        return self.node.run([CL_STATUS, *args], check=False, timeout=timeout)

    def nodestatus(self, peer: str) -> str:
        res = self.cl_status("nodestatus", peer)
        return res.stdout.strip() or f"(exit {res.returncode}: {res.stderr.strip()})"

    def wait_active(self, peers: Sequence[str], timeout: float = 30.0) -> None:
        """Wait until cl_status on this node reports every one of `peers` active."""

        def states() -> dict[str, str]:
            if self.proc is not None:
                self.proc.check_alive(f"waiting for {self.name} to see {peers} active")
            return {p: self.nodestatus(p) for p in peers}

        last: dict[str, str] = {}

        def all_active() -> bool:
            last.update(states())
            return all(v == "active" for v in last.values())

        wait_for(
            all_active,
            timeout,
            interval=0.2,
            what=f"cl_status on {self.name} to report {', '.join(peers)} active",
            describe=lambda: f"{last}; ha-log tail:\n" + "\n".join(self.log().splitlines()[-20:]),
        )

    def pids(self) -> list[int]:
        """Every heartbeat process on the node (master and I/O children)."""
        out = []
        for pid in self.node.processes():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith((b"heartbeat:", HEARTBEAT.encode())):
                out.append(pid)
        return out

    def master_pid(self) -> int:
        pidfile = self.node.host_path("/run/heartbeat.pid")
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise HarnessError(f"heartbeat on {self.name} has no pid file: {exc}") from exc

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM to the master control process); waits until
        every heartbeat process on the node has exited."""
        if not self.pids():
            return
        os.kill(self.master_pid(), signal.SIGTERM)
        wait_for(
            lambda: not self.pids(),
            timeout,
            interval=0.1,
            what=f"heartbeat on {self.name} to stop",
            describe=lambda: self.node.describe_processes(),
        )
        self._reap()

    def kill(self, *, whole_node: bool = True) -> None:
        """kill -9: every process of the node (a crash), or only the master."""
        if whole_node:
            self.node.kill_all(signal.SIGKILL)
            wait_for(lambda: not self.node.processes(), 10, what=f"{self.name} processes to die",
                     describe=self.node.describe_processes)  # fmt: skip
        else:
            os.kill(self.master_pid(), signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(5)

    def close(self) -> None:
        """Lab cleanup: kill whatever heartbeat left on the node."""
        self.node.kill_all(signal.SIGKILL)
        self._reap()

    def __repr__(self) -> str:
        return f"HeartbeatNode({self.name})"
