"""`hbeat check` and STONITH lines: carried out or an error, never a silent downgrade.

Uses cluster-glue's real `stonith` command (`-L`, `-n`) for the type and
parameter checks, and the `hbeat check` command for the exit status that
stops the systemd unit (ExecStartPre).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hbeat.config import SystemProbe
from hbeat.config.checks import check_stonith
from hbeat.config.hacf import parse_hacf
from tests.harness.requirements import require_commands
from tests.hbeat.config.seed import write_seed

BASE = "node otter weasel\nbcast eth1\n"
HBEAT = str(Path(sys.executable).with_name("hbeat"))


def errors(lines: str, node: str = "otter", probe: SystemProbe | None = None) -> list[str]:
    hacf, problems = parse_hacf((BASE + lines).encode(), "ha.cf")
    assert hacf is not None and problems == []
    return [p.render() for p in check_stonith(hacf, node, probe or SystemProbe())]


def test_no_stonith_command(tmp_path: Path) -> None:
    probe = SystemProbe(stonith=str(tmp_path / "stonith"))
    assert errors("stonith_host * null weasel otter\n", probe=probe) == [
        "ERROR: ha.cf:3: stonith_host: cluster-glue's stonith command is not installed "
        "(looked for /usr/sbin/stonith): install cluster-glue, or remove every "
        "stonith/stonith_host line (takeovers are then unfenced)"]


def test_valid_lines_pass() -> None:
    require_commands("stonith")
    assert errors("stonith_host * null otter weasel\n") == []
    assert errors("stonith_host otter external/ssh weasel\n"
                  "stonith_host weasel external/ssh otter\n") == []


@pytest.mark.parametrize(("lines", "expected"), [
    ("stonith_host * nosuchswitch weasel\n",
     "ERROR: ha.cf:3: Invalid Stonith type [nosuchswitch]: `/usr/sbin/stonith -L` does not "
     "list it (install its plugin, e.g. /usr/lib/stonith/plugins/external/nosuchswitch, or "
     "fix the name)"),
    ("stonith_host * apcmaster 10.0.0.9 admin\n",
     "ERROR: ha.cf:3: Invalid Stonith configuration parameter [10.0.0.9 admin]: apcmaster "
     "takes 3 parameter(s) in this order: ipaddr login password"),
    ("stonith_host ferret null weasel\nstonith_host * null weasel\n",
     "ERROR: ha.cf:3: stonith_host [ferret]: not a node of this cluster (nodes: otter, "
     "weasel): the line would apply to no node; name the node that uses the device, or *"),
    ("stonith_host weasel null otter\n",
     "ERROR: ha.cf:3: no stonith/stonith_host line applies to this node (otter): it would "
     "take over unfenced while its peer fences; add `stonith_host otter <type> <params>` or "
     "use `stonith_host * ...`"),
    ("stonith null /nonexistent/null.cfg\n",
     "ERROR: ha.cf:3: Invalid Stonith config file [/nonexistent/null.cfg]: No such file or "
     "directory"),
])
def test_bad_lines_are_errors(lines: str, expected: str) -> None:
    require_commands("stonith")
    assert errors(lines) == [expected]


def test_hbeat_check_fails_and_says_what_to_do(tmp_path: Path) -> None:
    require_commands("stonith")
    write_seed(tmp_path, serial=None, interfaces=("lo",), extra=[
        f"logfile {tmp_path}/log", "stonith_host * nosuchswitch weasel"])
    res = subprocess.run([HBEAT, "check", "--config-dir", str(tmp_path), "--node-name",
                          "otter", "--quiet"], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0, res
    assert "Invalid Stonith type [nosuchswitch]" in res.stdout + res.stderr
