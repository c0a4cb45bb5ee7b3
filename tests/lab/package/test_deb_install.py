"""The Debian package, installed and used as an administrator would.

`make deb` builds the .deb; it is installed with dpkg into a minimal Debian
12 root (debootstrap --variant=minbase, its Depends pre-included: see
testroot.py), one overlay of that root per lab node, each node's commands
run chrooted into its own overlay inside the node's namespaces. Only the
installed files are used: /etc/init.d/heartbeat, /usr/sbin/heartbeat,
/usr/bin/hbeat and cl_status, and hbeat's own resource.d wrappers
(Filesystem on a loop device, IPaddr2 on the lab interface) over the OCF
agents of resource-agents, with heartbeat absent.

The story: both nodes start; otter holds the group; the seed's failover
test (`/etc/init.d/heartbeat restart` on the holder) moves it to weasel;
weasel crashes (link cut, every process killed) and otter takes the group
back. Then the package is purged on both nodes, and nothing of it may be
left: no process, no file (the overlay's upper layer holds every change
made to the root; only dpkg's own records and the haclient group stay).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.harness import Lab, Node, wait_for

from .testroot import bookworm_root, first_alternatives

REPO = Path(__file__).resolve().parents[3]
SECRET = "7a0c4f1e9d8b2a6c5e3f1d0b9a8c7e6f"
MOUNTPOINT = "/srv/data"
# Paths an install and purge may leave changed in the root: dpkg's and
# debconf's own records, logs, and the haclient group (Debian keeps system
# groups on purge).
ALLOWED_LEFTOVERS = re.compile(
    r"^/(var/lib/dpkg(/.*)?|var/log/(dpkg\.log|alternatives\.log)|var/cache/debconf(/.*)?"
    r"|etc/(group|gshadow|group-|gshadow-)|etc/ld\.so\.cache|var/cache/ldconfig(/.*)?)$")


def sh(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300,
                          **kwargs)  # type: ignore[call-overload]


@contextlib.contextmanager
def loop_device(image: Path) -> Iterator[str]:
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    sh(["mkfs.ext4", "-q", "-F", str(image)])
    dev = sh(["losetup", "--find", "--show", str(image)]).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


class InstalledNode:
    """A lab node whose commands run chrooted into its overlay of the test root."""

    def __init__(self, node: Node, base: Path) -> None:
        self.node = node
        self.base = base
        d = node.dir / "deb"
        self.upper, self.work, self.root = d / "upper", d / "work", d / "root"
        for p in (self.upper, self.work, self.root):
            p.mkdir(parents=True)
        node.run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={base},upperdir={self.upper},workdir={self.work}",
                  str(self.root)])
        r = str(self.root)
        node.run(["mount", "-t", "proc", "proc", f"{r}/proc"])
        node.run(["mount", "--rbind", "/sys", f"{r}/sys"])
        node.run(["mount", "--rbind", "/dev", f"{r}/dev"])
        node.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", f"{r}/run"])
        node.run(["mount", "-t", "tmpfs", "tmpfs", f"{r}/tmp"])

    def run(self, *argv: str, check: bool = True,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return self.node.run(["chroot", str(self.root), "env", "-i",
                              "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", *argv],
                             check=check, timeout=timeout)

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        res = subprocess.run(
            self.node.enter(["chroot", str(self.root), "sh", "-c",
                             f'umask 077; cat > "$0" && chmod {mode:o} "$0"', path]),
            input=text, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr

    def holds(self, vip: str) -> bool:
        mounted = self.node.run(["findmnt", "-n", f"{self.root}{MOUNTPOINT}"],
                                check=False).returncode == 0
        addrs = subprocess.run(["ip", "-n", self.node.netns, "-4", "-o", "addr", "show",
                                "dev", "eth1"], capture_output=True, text=True).stdout
        return mounted and f" {vip}/" in addrs

    def releases(self, vip: str) -> bool:
        mounted = self.node.run(["findmnt", "-n", f"{self.root}{MOUNTPOINT}"],
                                check=False).returncode == 0
        addrs = subprocess.run(["ip", "-n", self.node.netns, "-4", "-o", "addr", "show",
                                "dev", "eth1"], capture_output=True, text=True).stdout
        return not mounted and f" {vip}/" not in addrs

    def log(self) -> str:
        res = self.run("cat", "/var/log/ha-log", check=False)
        return res.stdout[-6000:]

    def leftovers(self) -> list[str]:
        """Everything the overlay records as changed, minus what dpkg keeps."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.upper):
            rel = os.path.relpath(dirpath, self.upper)
            rel_dir = "/" if rel == "." else "/" + rel
            for name in filenames + [d for d in dirnames
                                     if os.path.islink(os.path.join(dirpath, d))]:
                path = rel_dir.rstrip("/") + "/" + name
                if not ALLOWED_LEFTOVERS.match(path):
                    out.append(path)
            for name in dirnames:
                path = rel_dir.rstrip("/") + "/" + name
                if not (self.base / path.lstrip("/")).exists() \
                        and not ALLOWED_LEFTOVERS.match(path):
                    out.append(path + "/")
        return sorted(out)


def logs(*nodes: InstalledNode) -> str:
    return "\n".join(f"--- {n.node.name} ---\n{n.log()[-2500:]}" for n in nodes)


def hacf(node_names: list[str]) -> str:
    return "\n".join([
        "keepalive 500ms", "deadtime 4", "warntime 2", "initdead 8", "udpport 694",
        "bcast eth1", "auto_failback off", *[f"node {n}" for n in node_names],
        "logfile /var/log/ha-log", "logfacility none", "hbeat_logname heartbeat", ""])


def test_install_failover_purge(deb: Path, lab_factory: object) -> None:
    depends = sh(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    base = bookworm_root(first_alternatives(depends))
    lab: Lab = lab_factory(2)  # type: ignore[operator]
    vip = f"10.{lab.subnet}.0.100"
    with loop_device(lab.dir / "disk.img") as disk:
        nodes = {}
        for name in ("otter", "weasel"):
            nodes[name] = InstalledNode(lab[name], base)
        otter, weasel = nodes["otter"], nodes["weasel"]
        for n in nodes.values():
            n.node.run(["cp", str(deb), f"{n.root}/tmp/hbeat.deb"])
            res = n.run("dpkg", "-i", "/tmp/hbeat.deb", check=False, timeout=120)
            assert res.returncode == 0, f"dpkg -i failed:\n{res.stdout}\n{res.stderr}"
            # The commands are the package's, on the usual paths.
            for cmd in ("/usr/bin/hbeat", "/usr/bin/cl_status", "/usr/bin/hb_standby",
                        "/usr/bin/hb_takeover", "/usr/sbin/heartbeat", "/etc/init.d/heartbeat",
                        "/usr/lib/hbeat/resource.d/IPaddr2", "/usr/lib/hbeat/resource.d/Filesystem",
                        "/lib/systemd/system/hbeat.service"):
                n.run("test", "-x" if "systemd" not in cmd else "-f", cmd)
            assert n.run("heartbeat", "-s", check=False).stdout == \
                "heartbeat is stopped. No process\n"
            # systemd must not make a heartbeat.service of the compatibility script.
            assert n.run("readlink", "/lib/systemd/system/heartbeat.service").stdout == \
                "/dev/null\n"
            n.run("mkdir", "-p", MOUNTPOINT)
            n.write("/etc/ha.d/ha.cf", hacf(["otter", "weasel"]))
            n.write("/etc/ha.d/authkeys", f"auth 1\n1 sha1 {SECRET}\n", 0o600)
            n.write("/etc/ha.d/haresources",
                    f"otter Filesystem::{disk}::{MOUNTPOINT}::ext4 IPaddr2::{vip}/24/eth1\n")
            n.write("/etc/default/hbeat", "HBEAT_RESOURCE_TIMERS=rqstdelay_ms=2000\n")
            check = n.run("hbeat", "check", check=False)
            assert check.returncode == 0, check.stdout + check.stderr
            assert "/usr/lib/hbeat/resource.d/Filesystem" in check.stdout, check.stdout

        for n in nodes.values():
            res = n.run("/etc/init.d/heartbeat", "start", check=False, timeout=60)
            assert res.returncode == 0, res.stdout + res.stderr + n.log()
        wait_for(lambda: otter.holds(vip), 40, what="otter holding the group",
                 describe=lambda: logs(otter, weasel))
        assert weasel.releases(vip)
        for name, n in nodes.items():
            status = n.run("heartbeat", "-s", check=False)
            assert status.returncode == 0
            assert re.fullmatch(rf"heartbeat OK \[pid \d+ et al\] is running on {name} "
                                rf"\[{name}\]\.\.\.\n", status.stdout), status.stdout
        assert otter.run("cl_status", "rscstatus").stdout.strip() == "local"
        assert otter.run("cl_status", "nodestatus", "weasel").stdout.strip() == "active"
        # hbeat_logname heartbeat: the log monitors' "heartbeat:" lines.
        assert re.search(r" otter heartbeat: \[\d+\]: info: ", otter.log()), otter.log()
        otter.run("sh", "-c", f"echo from-otter > {MOUNTPOINT}/marker && sync")

        # The seed's failover test: restart heartbeat on the holder.
        res = otter.run("/etc/init.d/heartbeat", "restart", check=False, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr + otter.log()
        wait_for(lambda: weasel.holds(vip), 40, what="weasel holding the group",
                 describe=lambda: logs(otter, weasel))
        assert otter.releases(vip)
        assert weasel.run("cat", f"{MOUNTPOINT}/marker").stdout == "from-otter\n"
        wait_for(lambda: otter.run("cl_status", "nodestatus", "weasel",
                                   check=False).stdout.strip() == "active", 30,
                 what="otter back in the cluster")
        # The daemon flags of heartbeat: -k stops, no flag starts, -r reloads, -V.
        assert otter.run("heartbeat", "-k", check=False, timeout=120).returncode == 0
        assert otter.run("heartbeat", "-s", check=False).returncode == 3
        assert otter.run("/etc/init.d/heartbeat", "status", check=False).stdout == \
            "heartbeat is stopped. No process\n"
        res = otter.run("heartbeat", check=False, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        reload = otter.run("heartbeat", "-r", check=False)
        assert reload.returncode == 0 and "rereads its configuration" in reload.stderr, reload
        wait_for(lambda: "info: Configuration unchanged." in otter.log(),
                 10, what="otter rereading its configuration on SIGHUP",
                 describe=lambda: logs(otter))
        assert re.fullmatch(r"3\.0\.6-compatible hbeat 0\.1\.0-1\n",
                            otter.run("heartbeat", "-V").stdout)
        wait_for(lambda: weasel.run("cl_status", "nodestatus", "otter",
                                    check=False).stdout.strip() == "active", 30,
                 what="otter back in the cluster after heartbeat -k and heartbeat",
                 describe=lambda: logs(otter, weasel))
        assert weasel.holds(vip) and otter.releases(vip)

        # weasel crashes: link down, every process killed.
        lab.cut("weasel")
        weasel.node.kill_all()
        dead = weasel.run("heartbeat", "-s", check=False)  # heartbeat's stale pid file code
        assert (dead.returncode, dead.stdout) == (1, "heartbeat is stopped. No process\n")
        wait_for(lambda: otter.run("cl_status", "rscstatus", check=False).stdout.strip()
                 == "all" and otter.holds(vip), 40, what="otter taking the group over",
                 describe=lambda: logs(otter))
        assert otter.run("cat", f"{MOUNTPOINT}/marker").stdout == "from-otter\n"
        # The dead node's mount and address stay in its namespaces, as in a
        # crashed machine's memory; its "reboot" clears them.
        weasel.node.run(["umount", "-l", f"{weasel.root}{MOUNTPOINT}"], check=False)

        # Purge: the running daemon is stopped by the package (no systemd
        # here: its prerm runs /etc/init.d/heartbeat stop), then nothing is left.
        for n in nodes.values():
            res = n.run("dpkg", "--purge", "hbeat", check=False, timeout=120)
            assert res.returncode == 0, res.stdout + res.stderr
        assert otter.releases(vip), "purge left the group running on otter"
        for name, n in nodes.items():
            assert n.node.processes() == [], (name, n.node.describe_processes())
            for path in ("/etc/ha.d/ha.cf", "/etc/ha.d/authkeys", "/etc/ha.d/haresources",
                         "/var/log/ha-log"):  # the administrator's files, not the package's
                n.run("rm", "-f", path)
            n.run("rmdir", MOUNTPOINT)
            n.node.run(["umount", "-R", str(n.root)], check=False)
            assert n.leftovers() == [], name
