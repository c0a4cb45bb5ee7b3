"""`hbeat check` as a real command: real temp dir, real scripts, real `lo`, a real pty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.hbeat.config.seed import write_seed

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    for name in ("HBEAT_CONFIG_DIR", "HBEAT_NODE_NAME"):
        if env is None or name not in env:
            environ.pop(name, None)
    return subprocess.run([sys.executable, "-m", "hbeat", *args], capture_output=True,
                          text=True, env=environ, timeout=60, check=False)


def test_check_good_configuration_on_the_real_system(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        tty = os.ttyname(slave)
        seed = write_seed(tmp_path / "ha.d", serial=tty, interfaces=("lo",),
                          overrides={"logfile": str(tmp_path / "ha-log")})
        result = run("check", "--config-dir", str(seed.config_dir), "--node-name", "otter")
    finally:
        os.close(master)
        os.close(slave)
    d = seed.config_dir
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (
        f"hbeat check: {d} as node otter\n\n"
        "this node:      otter\n"
        "nodes:          otter weasel\n"
        "media:\n"
        f"  serial {tty}  9600 baud  (line 6)\n"
        "  bcast  lo  udp port 694  (line 8)\n"
        "timers:\n"
        "  keepalive     1000 ms\n"
        "  deadtime     10000 ms\n"
        "  warntime      5000 ms\n"
        "  initdead     60000 ms\n"
        "  deadping     10000 ms  (default: = deadtime)\n"
        "auto_failback:  off\n"
        f"logging:        logfile {tmp_path / 'ha-log'}\n"
        "resource groups:\n"
        "  weasel  (line 1, key drbddisk::r0)\n"
        f"    {'drbddisk r0':<40} {d}/resource.d/drbddisk\n"
        f"    {'LVM vg0':<40} {d}/resource.d/LVM\n"
        f"    {'Filesystem /dev/vg0/data /srv ext4':<40} {d}/resource.d/Filesystem\n"
        f"    {'IPaddr 10.0.0.100':<40} {d}/resource.d/IPaddr\n"
        f"    {'apache':<40} {d}/resource.d/apache\n"
        "authkeys:       signing key 1 (sha1), 1 key\n"
        "\nConfiguration OK (0 warnings).\n")


def test_check_bad_configuration_and_environment_variables(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      overrides={"deadtime": "2s", "logfile": "/tmp/x"})
    result = run("check", env={"HBEAT_CONFIG_DIR": str(seed.config_dir),
                               "HBEAT_NODE_NAME": "Weasel"})
    d = seed.config_dir
    assert result.returncode == 1
    assert result.stdout == (
        f"hbeat check: {d} as node weasel\n"
        f"ERROR: {d}/ha.cf:2: deadtime: [2s] is not a time: unit [s] is not understood; "
        "heartbeat takes plain seconds (2, 1.5), ms or us -- not s, sec or m\n"
        "\nConfiguration has 1 error and 0 warnings.\n")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("check", "--bogus").returncode == 2
    assert run("check", "--help").returncode == 0


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = run("check", "--config-dir", str(tmp_path / "nope"), "--node-name", "otter")
    assert result.returncode == 1
    assert "ERROR: " + str(tmp_path / "nope" / "ha.cf") + ": Cannot open config file" \
        in result.stdout


def test_check_says_what_it_makes_of_ping_nodes_and_ipfail(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",),
                      overrides={"logfile": str(tmp_path / "ha-log")},
                      extra=["ping 10.0.0.254", "ping_group uplinks 10.0.1.254 10.0.2.254",
                             "respawn hacluster /usr/lib/heartbeat/ipfail"])
    result = run("check", "--config-dir", str(seed.config_dir), "--node-name", "otter")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "respawn:        /usr/lib/heartbeat/ipfail as hacluster  (line 14)  [not run: hbeat " \
           "makes ipfail's decision]\n" in out
    assert ("ping nodes:\n"
            "  10.0.0.254  (ping, line 12)\n"
            "  uplinks  (ping_group, line 13)  up while any answers: 10.0.1.254 10.0.2.254\n"
            "  echo every keepalive (1000 ms), dead after deadping (10000 ms)\n"
            "ipfail:         on (`respawn hacluster /usr/lib/heartbeat/ipfail`, line 14): hbeat "
            "itself hands its groups to the peer when it sees fewer ping nodes than the peer "
            "does (hb_standby all); the ipfail binary is not run\n") in out, out
    assert "Configuration OK (0 warnings)." in out
