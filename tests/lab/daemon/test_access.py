"""Who may use a running daemon's sockets: root everything; the haclient group
the read-only ones (cl_status, `hbeat status`, `hbeat watch`); nobody else,
and nobody but root the worker bus. Real daemon, real users (setpriv)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab
from tests.harness.hbeatnode import HbeatNode
from tests.harness.otherusers import REPO, traversable
from tests.harness.requirements import require_commands, require_root
from tests.lab.daemon.cluster import Cluster

BIN = Path(sys.executable).parent
CLIENT_USER = "hbeatclient"


def _ensure_client_user() -> None:
    """A user whose only group is haclient (heartbeat's package creates the
    group; the daemon gives it the read-only sockets)."""
    if subprocess.run(["getent", "group", "haclient"], capture_output=True).returncode:
        subprocess.run(["groupadd", "--system", "haclient"], check=True)
    if subprocess.run(["getent", "passwd", CLIENT_USER], capture_output=True).returncode:
        subprocess.run(["useradd", "--system", "--no-create-home", "--gid", "haclient",
                        "--shell", "/usr/sbin/nologin", CLIENT_USER], check=True)


def _as(user: str, group: str, argv: list[str], env: dict[str, str]
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", *argv],
        capture_output=True, text=True, timeout=30, env={**os.environ, **env})


def test_haclient_reads_nobody_else_and_only_root_acts(lab_factory: Callable[..., Lab]) -> None:
    require_root("setpriv to other users, network namespaces")
    require_commands("setpriv", "getent", "groupadd", "useradd")
    _ensure_client_user()
    cluster = Cluster(lab_factory(2)).start()
    cluster.wait_all_active()
    otter = cluster["otter"]
    rd = otter.runtime_dir
    # The lab lives under root's temporary directories, and the checkout (its
    # venv's commands) may sit in a private folder: let other users through.
    with traversable(rd, REPO, BIN):
        _as_other_users(otter, rd)


def _as_other_users(otter: HbeatNode, rd: Path) -> None:
    env = {"HBEAT_RUNTIME_DIR": str(rd)}

    # A haclient member: cl_status and hbeat status answer.
    res = _as(CLIENT_USER, "haclient", [str(BIN / "cl_status"), "hbstatus"], env)
    assert (res.returncode, res.stdout) == (0, "Heartbeat is running on this machine.\n"), res
    res = _as(CLIENT_USER, "haclient", [str(BIN / "cl_status"), "nodestatus", "weasel"], env)
    assert (res.returncode, res.stdout) == (0, "active\n"), res
    res = _as(CLIENT_USER, "haclient", [str(BIN / "hbeat"), "status", "--runtime-dir", str(rd)],
              {})
    assert res.returncode == 0 and "weasel" in res.stdout, res
    res = _as(CLIENT_USER, "haclient", [str(BIN / "hbeat"), "watch", "--count", "1",
                                        "--runtime-dir", str(rd), "--timeout", "10"], {})
    assert res.returncode == 0 and res.stdout, res
    res = _as(CLIENT_USER, "haclient", [str(BIN / "hbeat"), "why", "--json",
                                        "--runtime-dir", str(rd)], {})
    assert res.returncode == 0 and json.loads(res.stdout)["source"] == "daemon", res

    # ... but may not act: hb_standby is root's.
    res = _as(CLIENT_USER, "haclient", [str(BIN / "hb_standby")], env)
    assert res.returncode == 1 and "permission denied" in res.stderr, res
    assert "not running" not in res.stderr, res

    # Somebody else: told "permission denied", never "stopped".
    res = _as("nobody", "nogroup", [str(BIN / "cl_status"), "hbstatus"], env)
    assert res.returncode == 13, res
    assert "permission denied" in res.stderr and "stopped" not in res.stdout, res
    res = _as("nobody", "nogroup", [str(BIN / "hbeat"), "status", "--runtime-dir", str(rd)], {})
    assert res.returncode == 4 and "permission denied" in res.stderr, res
    res = _as("nobody", "nogroup", [str(BIN / "hbeat"), "why", "--runtime-dir", str(rd),
                                    "--state-dir", str(otter.state_dir)], {})
    assert res.returncode == 4 and "permission denied" in res.stderr.lower(), res

    # The worker bus and the sequence board are root's alone.
    private = rd / "private"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    code = ("import os, sys\n"
            "try:\n    os.stat(sys.argv[1])\nexcept PermissionError:\n    print('denied')\n")
    res = _as(CLIENT_USER, "haclient", [sys.executable, "-c", code, str(private / "bus")], {})
    assert res.stdout == "denied\n", res

    # The kernel's credentials are checked, not only file modes: with the
    # control socket opened to everyone, a haclient member still gets no answer.
    (rd / "control").chmod(0o666)
    code = ("import sys\nfrom pathlib import Path\n"
            "from hbeat.control import ControlClient, DaemonUnreachable\n"
            "try:\n"
            "    ControlClient(Path(sys.argv[1]), timeout_ms=2000).call('standby', which='all')\n"
            "    print('answered')\n"
            "except DaemonUnreachable as exc:\n    print('no answer:', exc)\n")
    res = _as(CLIENT_USER, "haclient", [sys.executable, "-c", code, str(rd)], {})
    assert res.stdout.startswith("no answer:"), res
    assert otter.snapshot()["local_status"] == "active"  # root still gets answers
