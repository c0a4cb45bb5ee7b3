"""heartbeat's event hooks (rc.d, harc, resource.d/startstop): refused by
`hbeat check`, never silently ignored; heartbeat's own unchanged scripts are
accepted (hbeat does their work itself)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from hbeat.config import SystemProbe
from hbeat.config.hooks import STOCK_SHA256
from hbeat.config.load import inspect_config
from hbeat.config.model import Level
from tests.harness.requirements import skip_or_fail
from tests.hbeat.config.seed import write_seed

HEARTBEAT_ETC = Path("/etc/ha.d")


def probe(seed_init: Path) -> SystemProbe:
    return SystemProbe(interfaces=frozenset({"eth1"}), init_dir=str(seed_init))


def errors(tmp_path: Path) -> list[str]:
    seed = tmp_path / "ha.d"
    _config, problems = inspect_config(seed, "otter", system=probe(tmp_path / "ha.d" / "init.d"))
    return [p.render() for p in problems if p.level is Level.ERROR]


def seed(tmp_path: Path) -> Path:
    write_seed(tmp_path / "ha.d", serial="/dev/null")
    return tmp_path / "ha.d"


def stock(name: str, target: Path) -> None:
    """Copy heartbeat 3.0.6's own file (the heartbeat package, installed for
    the interop tests) into the seed."""
    source = HEARTBEAT_ETC / name
    if not source.is_file():
        skip_or_fail(f"needs {source}: apt-get install heartbeat (or run `make sysdeps`)")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == STOCK_SHA256[name], \
        f"{source} is not Debian's heartbeat 1:3.0.6-13 file"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def test_no_hooks_no_problem(tmp_path: Path) -> None:
    seed(tmp_path)
    assert errors(tmp_path) == []


def test_heartbeats_own_hooks_are_accepted(tmp_path: Path) -> None:
    d = seed(tmp_path)
    for name in STOCK_SHA256:
        stock(name, d / name)
    assert errors(tmp_path) == []


def test_edited_and_foreign_hooks_are_refused(tmp_path: Path) -> None:
    d = seed(tmp_path)
    for name in STOCK_SHA256:
        stock(name, d / name)
    with open(d / "rc.d" / "ip-request", "a") as f:
        f.write("logger 'site hook'\n")
    (d / "rc.d" / "site-alert").write_text("#!/bin/sh\nmail -s alert root\n")
    (d / "resource.d" / "startstop").write_text("#!/bin/sh\nexit 0\n")
    (d / "resource.d" / "startstop").chmod(0o755)
    found = errors(tmp_path)
    assert len(found) == 3, found
    assert any(f"{d}/rc.d/ip-request: an edited copy of heartbeat's hook" in e for e in found)
    assert any(f"{d}/rc.d/site-alert: a hook heartbeat would run for messages of type "
               "[site-alert]" in e for e in found)
    assert any(f"{d}/resource.d/startstop: heartbeat runs resource.d/startstop" in e
               and "ExecStartPre=" in e for e in found)


def test_edited_harc_is_refused_by_hbeat_check(tmp_path: Path) -> None:
    d = seed(tmp_path)
    (d / "harc").write_text("#!/bin/sh\n# my harc\n")
    res = subprocess.run([sys.executable, "-m", "hbeat", "check", "--config-dir", str(d),
                          "--node-name", "otter"], capture_output=True, text=True)
    assert res.returncode == 1
    assert f"ERROR: {d}/harc: harc differs from heartbeat 3.0.6's" in res.stdout
