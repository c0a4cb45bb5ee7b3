"""What the configuration checks need to know about this machine.

`SystemProbe` answers: which network interfaces exist (asked of the kernel
for the caller's network namespace: /sys/class/net shows the namespace that
mounted sysfs, which is wrong under `ip netns exec`/`nsenter -n`),
whether a path is a character device, whether a path is an executable
regular file, and where init scripts, hbeat's packaged resource scripts and
OCF agents live. The real machine
is the default; tests may fix the interface set and point the directories
at a temporary tree, while files and devices are always looked at for real.
"""

from __future__ import annotations

import grp
import hashlib
import os
import socket
import stat
from pathlib import Path

from hbeat.config.paths import DEFAULT_LIB_RESOURCE_DIR


class SystemProbe:
    def __init__(self, *, interfaces: frozenset[str] | None = None,
                 init_dir: str = "/etc/init.d",
                 lib_resource_dir: str | None = DEFAULT_LIB_RESOURCE_DIR,
                 ocf_dir: str = "/usr/lib/ocf/resource.d",
                 sys_net: str = "/sys/class/net") -> None:
        self._interfaces = interfaces
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
