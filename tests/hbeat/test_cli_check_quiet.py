"""`hbeat check --quiet` (what the systemd unit runs in ExecStartPre): only the
problems and the verdict line, with the same exit status as without it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.hbeat.config.seed import write_seed
from tests.lab.daemon.cluster import HBEAT


def check(seed_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HBEAT, "check", "--config-dir", str(seed_dir), "--node-name", "otter",
                           *extra], capture_output=True, text=True, timeout=30)


def test_quiet_clean_config_prints_only_the_verdict(tmp_path: Path) -> None:
    write_seed(tmp_path, serial=None, interfaces=("lo",), extra=[f"logfile {tmp_path}/log"])
    loud = check(tmp_path)
    assert loud.returncode == 0 and "this node:" in loud.stdout, loud
    quiet = check(tmp_path, "--quiet")
    assert quiet.returncode == 0, quiet
    assert quiet.stdout == "Configuration OK (0 warnings).\n"


def test_quiet_keeps_warnings(tmp_path: Path) -> None:
    write_seed(tmp_path, serial=None, interfaces=("lo",))  # no logfile: a warning
    quiet = check(tmp_path, "--quiet")
    assert quiet.returncode == 0, quiet
    lines = quiet.stdout.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"WARN: {tmp_path}/ha.cf") and "No log entry" in lines[0]
    assert lines[1] == "Configuration OK (1 warning)."


def test_quiet_broken_config_prints_problems_and_verdict(tmp_path: Path) -> None:
    write_seed(tmp_path, serial=None, interfaces=("lo",), overrides={"deadtime": "banana"})
    loud = check(tmp_path)
    quiet = check(tmp_path, "-q")
    assert quiet.returncode == loud.returncode == 1, (loud, quiet)
    lines = quiet.stdout.splitlines()
    assert lines[-1].startswith("Configuration has ") and "error" in lines[-1], lines
    problems = [ln for ln in loud.stdout.splitlines() if "ha.cf" in ln]
    assert problems and all(p in lines for p in problems), (problems, lines)
    assert "this node:" not in quiet.stdout and "hbeat check:" not in quiet.stdout
    assert all("ha.cf" in ln for ln in lines[:-1]), lines
