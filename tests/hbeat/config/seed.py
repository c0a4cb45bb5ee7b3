"""The seed configuration every test starts from, written into a directory.

The classic two-node cluster of a heartbeat site (otter and weasel): ha.cf with one
serial line and one broadcast interface, a DRBD + LVM + filesystem + IP +
apache group for weasel, sha1 authkeys (mode 0600), and stand-in resource
scripts in resource.d so every resource resolves. Other suites reuse it:

    seed = write_seed(tmp_path, serial="/dev/null", interfaces=("lo",))
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=seed.init_dir))
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED_SECRET = "2d5c8f0e9b7a41c3"
SEED_SCRIPTS = ("drbddisk", "LVM", "Filesystem", "IPaddr", "apache")
SEED_HARESOURCES = (
    "weasel drbddisk::r0 \\\n"
    "        LVM::vg0 Filesystem::/dev/vg0/data::/srv::ext4 10.0.0.100 apache\n"
)
SEED_AUTHKEYS = f"auth 1\n1 sha1 {SEED_SECRET}\n"
_STAND_IN = """#!/bin/sh
# hbeat test stand-in resource script: records nothing, holds nothing.
case "$*" in
  *status) echo "running";;
esac
exit 0
"""


@dataclass(frozen=True)
class Seed:
    config_dir: Path
    node_name: str
    init_dir: Path

    @property
    def hacf(self) -> Path:
        return self.config_dir / "ha.cf"

    @property
    def haresources(self) -> Path:
        return self.config_dir / "haresources"

    @property
    def authkeys(self) -> Path:
        return self.config_dir / "authkeys"


def seed_hacf_lines(*, nodes: Sequence[str] = ("otter", "weasel"),
                    serial: str | None = "/dev/ttyS0",
                    interfaces: Sequence[str] = ("eth1",)) -> list[tuple[str, str]]:
    """(directive, value) pairs of the seed ha.cf, in order."""
    lines = [("keepalive", "1"), ("deadtime", "10"), ("warntime", "5"),
             ("initdead", "60"), ("baud", "9600")]
    if serial is not None:
        lines.append(("serial", serial))
    lines.append(("udpport", "694"))
    lines += [("bcast", name) for name in interfaces]
    lines.append(("auto_failback", "off"))
    lines += [("node", name) for name in nodes]
    return lines


def render_hacf(lines: Sequence[tuple[str, str]],
                overrides: Mapping[str, str | None] | None = None,
                extra: Sequence[str] = ()) -> str:
    """Apply overrides in place (None deletes the directive; new ones go last)."""
    overrides = dict(overrides or {})
    out = []
    for directive, value in lines:
        if directive in overrides:
            new = overrides.pop(directive)
            if new is None:
                continue
            value = new
        out.append(f"{directive} {value}")
    out += [f"{d} {v}" for d, v in overrides.items() if v is not None]
    out += list(extra)
    return "\n".join(out) + "\n"


def write_seed(directory: Path | str, *, node_name: str = "otter",
               nodes: Sequence[str] = ("otter", "weasel"),
               serial: str | None = "/dev/ttyS0",
               interfaces: Sequence[str] = ("eth1",),
               overrides: Mapping[str, str | None] | None = None,
               extra: Sequence[str] = (),
               hacf: str | None = None,
               haresources: str | None = SEED_HARESOURCES,
               authkeys: str | None = SEED_AUTHKEYS,
               authkeys_mode: int = 0o600,
               scripts: Sequence[str] = SEED_SCRIPTS) -> Seed:
    """Write the seed configuration into `directory` (created) and return its paths.

    `hacf`/`haresources`/`authkeys` replace a whole file (None for haresources
    or authkeys leaves that file out); the other parameters shape the seed ha.cf.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    if hacf is None:
        hacf = render_hacf(seed_hacf_lines(nodes=nodes, serial=serial, interfaces=interfaces),
                           overrides, extra)
    (root / "ha.cf").write_text(hacf)
    if haresources is not None:
        (root / "haresources").write_text(haresources)
    if authkeys is not None:
        keys = root / "authkeys"
        keys.write_text(authkeys)
        os.chmod(keys, authkeys_mode)
    resource_d = root / "resource.d"
    resource_d.mkdir(exist_ok=True)
    for name in scripts:
        script = resource_d / name
        script.write_text(_STAND_IN)
        script.chmod(0o755)
    init_dir = root / "init.d"
    init_dir.mkdir(exist_ok=True)
    return Seed(root, node_name, init_dir)
