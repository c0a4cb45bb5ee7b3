"""What the configuration checks need to know about this machine.

`SystemProbe` answers: which network interfaces exist (asked of the kernel
for the caller's network namespace: /sys/class/net shows the namespace that
mounted sysfs, which is wrong under `ip netns exec`/`nsenter -n`),
whether a path is a character device (or a FIFO, for a watchdog
stand-in), whether a path is an executable regular file, which users
exist, where init scripts, hbeat's packaged resource scripts and
OCF agents live, and what cluster-glue's `stonith` command offers (its
path, the device types of `stonith -L`, the parameter names of `stonith -t
TYPE -n`). The real machine
is the default; tests may fix the interface set and point the directories
at a temporary tree, while files and devices are always looked at for real.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
from pathlib import Path

from hbeat.config.paths import DEFAULT_LIB_RESOURCE_DIR

STONITH_PATHS = ("/usr/sbin/stonith", "/sbin/stonith", "/usr/bin/stonith")


class SystemProbe:
    def __init__(self, *, interfaces: frozenset[str] | None = None,
                 init_dir: str = "/etc/init.d",
                 lib_resource_dir: str | None = DEFAULT_LIB_RESOURCE_DIR,
                 ocf_dir: str = "/usr/lib/ocf/resource.d",
                 sys_net: str = "/sys/class/net",
                 stonith: str | None = None) -> None:
        self._interfaces = interfaces
        self._stonith = stonith
        self.init_dir = init_dir
        self.lib_resource_dir = lib_resource_dir
        self.ocf_dir = ocf_dir
        self.sys_net = sys_net

    def interfaces(self) -> frozenset[str]:
        if self._interfaces is not None:
            return self._interfaces
        try:
            return frozenset(name for _index, name in socket.if_nameindex())
        except OSError:
            try:
                return frozenset(os.listdir(self.sys_net))
            except OSError:
                return frozenset()

    def device_kind(self, path: str) -> str:
        """'char', 'missing' or 'other'."""
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return "missing"
        return "char" if stat.S_ISCHR(mode) else "other"

    def watchdog_kind(self, path: str) -> str:
        """'char', 'fifo' (a test harness' stand-in), 'missing' or 'other'."""
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return "missing"
        if stat.S_ISCHR(mode):
            return "char"
        return "fifo" if stat.S_ISFIFO(mode) else "other"

    def user_ids(self, name: str) -> tuple[int, int] | None:
        """(uid, primary gid) of a user, or None when there is no such user."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid

    def script_state(self, path: str) -> str:
        """'ok' (executable regular file), 'missing', 'not-file' or 'not-executable'."""
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return "missing"
        if not stat.S_ISREG(mode):
            return "not-file"
        return "ok" if os.access(path, os.X_OK) else "not-executable"

    def list_dir(self, path: str) -> list[str]:
        """The names in directory `path`, sorted; [] if it is missing or unreadable."""
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def file_sha256(self, path: str) -> str | None:
        """A file's SHA-256 (hex); "not-a-file" for a directory etc.; None if missing."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return "not-a-file"
            # Imported here: only a node with hook files pays for OpenSSL's
            # set-up (about 2 MiB per node: docs/processes.md, "Memory").
            import hashlib

            with open(path, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return None

    def write_exposure(self, path: str) -> str | None:
        """Who besides root (or the user asking) can change `path`, in words, or None.

        A file that root runs or trusts (ha.cf, haresources, resource scripts)
        must not be writable by group or others, nor belong to another user:
        whoever can write it runs code as root on the next failover."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        who = []
        if info.st_mode & stat.S_IWGRP:
            try:
                who.append(f"group {grp.getgrgid(info.st_gid).gr_name}")
            except KeyError:
                who.append(f"group {info.st_gid}")
        if info.st_mode & stat.S_IWOTH:
            who.append("others")
        if info.st_uid not in (0, os.geteuid()):
            who.append(f"its owner uid {info.st_uid}")
        return " and ".join(who) or None

    def ocf_agents(self, agent: str) -> list[str]:
        """Every `<ocf_dir>/<provider>/<agent>` that is an executable file."""
        root = Path(self.ocf_dir)
        try:
            providers = sorted(p for p in root.iterdir() if p.is_dir())
        except OSError:
            return []
        return [str(p / agent) for p in providers
                if self.script_state(str(p / agent)) == "ok"]

    # ------------------------------------------------------------ STONITH
    def stonith_command(self) -> str | None:
        """Path of cluster-glue's `stonith` command, or None when it is not installed."""
        if self._stonith is not None:
            return self._stonith if self.script_state(self._stonith) == "ok" else None
        for path in STONITH_PATHS:
            if self.script_state(path) == "ok":
                return path
        return shutil.which("stonith")

    def _stonith_out(self, args: list[str]) -> str | None:
        command = self.stonith_command()
        if command is None:
            return None
        try:
            res = subprocess.run([command, *args], capture_output=True, text=True,
                                 timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout if res.returncode == 0 else None

    def stonith_types(self) -> frozenset[str] | None:
        """What `stonith -L` lists (None: it could not be run)."""
        out = self._stonith_out(["-L"])
        return None if out is None else frozenset(out.split())

    def stonith_config_names(self, device_type: str) -> tuple[str, ...] | None:
        """The parameter names of `stonith -t TYPE -n`, in order (None: it failed)."""
        out = self._stonith_out(["-t", device_type, "-n"])
        return None if out is None else tuple(out.split())

    def readable_file(self, path: str) -> str | None:
        """None when `path` is a readable regular file, else why not."""
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            return exc.strerror or "cannot stat"
        if not stat.S_ISREG(mode):
            return "not a regular file"
        if not os.access(path, os.R_OK):
            return "not readable"
        return None
