"""hbeat/config/fencing.py: the watchdog timeout rule and what `hbeat check` says
about watchdog devices (real files: a FIFO, a regular file, a missing path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hbeat.config import SystemProbe
from hbeat.config.fencing import native_client, watchdog_timeout_s
from hbeat.config.load import inspect_config
from hbeat.config.model import Level, Timers
from tests.hbeat.config.seed import write_seed


def timers(keepalive: int, deadtime: int) -> Timers:
    return Timers(keepalive, deadtime, deadtime // 2, deadtime, deadtime, frozenset())


def test_timeout_is_shorter_than_deadtime_by_a_keepalive() -> None:
    assert watchdog_timeout_s(timers(1000, 30000)) == 29
    assert watchdog_timeout_s(timers(500, 4000)) == 3
    assert watchdog_timeout_s(timers(200, 1200)) == 1
    assert watchdog_timeout_s(timers(400, 1300)) is None  # 0.9 s: no whole second


def check(tmp_path: Path, lines: list[str]) -> list[str]:
    seed = write_seed(tmp_path / "etc", serial="/dev/null",
                      overrides={"logfile": "/tmp/ha-log"}, extra=lines)
    probe = SystemProbe(interfaces=frozenset({"eth1"}), init_dir=str(seed.init_dir))
    _, problems = inspect_config(seed.config_dir, "otter", system=probe)
    return [p.message for p in problems if p.level is Level.ERROR]


def test_watchdog_device_must_exist(tmp_path: Path) -> None:
    errors = check(tmp_path, [f"watchdog {tmp_path}/missing"])
    assert errors == [f"watchdog device [{tmp_path}/missing] does not exist: load a watchdog "
                      "driver (`modprobe softdog`, or your board's driver) or remove the "
                      "line; without it this node cannot reset itself when hung"]
    (tmp_path / "plain").write_text("")
    assert check(tmp_path, [f"watchdog {tmp_path}/plain"]) == [
        f"watchdog device [{tmp_path}/plain] is not a character device"]
    os.mkfifo(tmp_path / "standin")
    assert check(tmp_path, [f"watchdog {tmp_path}/standin"]) == []
    assert check(tmp_path, ["watchdog /dev/null"]) == []  # a character device


def test_watchdog_needs_deadtime_room(tmp_path: Path) -> None:
    errors = check(tmp_path, ["keepalive 400ms", "deadtime 1300ms", "initdead 20",
                              "warntime 1000ms", "watchdog /dev/null"])
    assert len(errors) == 1 and "leaves no watchdog timeout" in errors[0]


def test_native_clients() -> None:
    assert native_client("/usr/lib/heartbeat/dopd") is not None
    assert native_client("/usr/lib/heartbeat/ipfail") is None  # built in: config/pingcheck.py
    assert native_client("/usr/sbin/mydaemon") is None


def test_check_summary_shows_watchdog_and_clients(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      overrides={"logfile": str(tmp_path / "ha-log")},
                      extra=["watchdog /dev/null", "respawn root /bin/sleep 60"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", "hbeat", "check", "--config-dir",
                             str(seed.config_dir), "--node-name", "otter"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("watchdog:       /dev/null, timeout 9 s (deadtime - keepalive, whole seconds)\n"
            in result.stdout)
    assert "respawn:        /bin/sleep 60 as root  (line 14)\n" in result.stdout
