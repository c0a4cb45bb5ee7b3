"""hbeat's own resource.d scripts (scripts/resource.d, installed as
/usr/lib/hbeat/resource.d): heartbeat's positional arguments mapped to the
OCF agents' parameters, checked against a recording agent under a private
OCF_ROOT for every script and argument form heartbeat documents; then the
real agents of resource-agents doing the work where no root is needed
(Delay, OCF with Dummy, MailTo with a stand-in mailer). IPaddr2 and
Filesystem run in a lab node: tests/lab/package/test_resource_scripts.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_commands

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "resource.d"
AGENTS = Path("/usr/lib/ocf/resource.d/heartbeat")
SANE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RECORDER = """#!/bin/sh
env | grep '^OCF_RES' | sort > "$RECORD"
echo "action=$1" >> "$RECORD"
case $1 in monitor) exit "${MONITOR_RC:-0}";; esac
exit 0
"""


def call(script: str, *args: str, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPTS / script), *args], capture_output=True, text=True,
                          env={"PATH": SANE_PATH, **(env or {})}, timeout=timeout)


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[dict[str, str], Path]:
    root = tmp_path / "ocf"
    agents = root / "resource.d" / "heartbeat"
    agents.mkdir(parents=True)
    for name in ("IPaddr", "IPaddr2", "Filesystem", "LVM", "MailTo", "SendArp", "Delay",
                 "AudibleAlarm", "Dummy"):
        (agents / name).write_text(RECORDER)
        (agents / name).chmod(0o755)
    record = tmp_path / "record"
    return {"OCF_ROOT": str(root), "RECORD": str(record)}, record


def recorded(record: Path) -> dict[str, str]:
    out = {}
    for line in record.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


@pytest.mark.parametrize(("argv", "expected"), [
    (["IPaddr2", "10.0.0.10", "start"], {"OCF_RESKEY_ip": "10.0.0.10"}),
    (["IPaddr2", "10.0.0.10/24/eth1", "start"],
     {"OCF_RESKEY_ip": "10.0.0.10", "OCF_RESKEY_cidr_netmask": "24", "OCF_RESKEY_nic": "eth1"}),
    (["IPaddr2", "10.0.0.10/24/eth1:web/10.0.0.255", "stop"],
     {"OCF_RESKEY_ip": "10.0.0.10", "OCF_RESKEY_cidr_netmask": "24", "OCF_RESKEY_nic": "eth1",
      "OCF_RESKEY_iflabel": "web", "OCF_RESKEY_broadcast": "10.0.0.255", "action": "stop"}),
    (["IPaddr2", "10.0.0.10/24/10.0.0.255", "start"],
     {"OCF_RESKEY_ip": "10.0.0.10", "OCF_RESKEY_cidr_netmask": "24",
      "OCF_RESKEY_broadcast": "10.0.0.255"}),
    (["IPaddr", "192.168.1.5/16/eth0", "start"],
     {"OCF_RESKEY_ip": "192.168.1.5", "OCF_RESKEY_cidr_netmask": "16", "OCF_RESKEY_nic": "eth0",
      "OCF_RESOURCE_TYPE": "IPaddr"}),
    (["Filesystem", "/dev/vg0/data", "/srv", "ext4", "noatime,ro", "start"],
     {"OCF_RESKEY_device": "/dev/vg0/data", "OCF_RESKEY_directory": "/srv",
      "OCF_RESKEY_fstype": "ext4", "OCF_RESKEY_options": "noatime,ro"}),
    (["Filesystem", "/dev/sdb1", "/mnt", "start"],
     {"OCF_RESKEY_device": "/dev/sdb1", "OCF_RESKEY_directory": "/mnt"}),
    (["LVM", "vg0", "start"], {"OCF_RESKEY_volgrpname": "vg0"}),
    (["MailTo", "root@example.org,ops@example.org", "web moved", "start"],
     {"OCF_RESKEY_email": "root@example.org,ops@example.org", "OCF_RESKEY_subject": "web moved"}),
    (["SendArp", "10.0.0.10/eth1", "start"], {"OCF_RESKEY_ip": "10.0.0.10",
                                               "OCF_RESKEY_nic": "eth1"}),
    (["Delay", "start"], {"OCF_RESKEY_startdelay": "10", "OCF_RESKEY_mondelay": "0"}),
    (["Delay", "3", "1", "stop"], {"OCF_RESKEY_startdelay": "3", "OCF_RESKEY_stopdelay": "1",
                                  "OCF_RESKEY_mondelay": "0", "action": "stop"}),
    (["AudibleAlarm", "otter", "weasel", "start"], {"OCF_RESKEY_nodelist": "otter weasel"}),
    (["AudibleAlarm", "start"], {"OCF_RESKEY_nodelist": ""}),
])
def test_arguments_map_to_ocf_parameters(recorder: tuple[dict[str, str], Path],
                                         argv: list[str], expected: dict[str, str]) -> None:
    env, record = recorder
    res = call(*argv, env=env)
    assert res.returncode == 0, res.stderr
    got = recorded(record)
    want = {"action": argv[-1], **expected}
    assert {k: got.get(k, "") for k in want} == want
    # Nothing beyond what the arguments say (besides the OCF_RESOURCE_* names).
    extra = {k for k in got if k.startswith("OCF_RESKEY_")} - set(want)
    assert extra == set(), got


def test_status_is_heartbeat_style(recorder: tuple[dict[str, str], Path]) -> None:
    env, record = recorder
    res = call("LVM", "vg0", "status", env=env)
    assert (res.returncode, res.stdout, recorded(record)["action"]) == (0, "running\n", "monitor")
    res = call("LVM", "vg0", "status", env={**env, "MONITOR_RC": "7"})
    assert (res.returncode, res.stdout) == (3, "stopped\n")
    res = call("LVM", "vg0", "status", env={**env, "MONITOR_RC": "1"})
    assert res.returncode == 1 and res.stdout.startswith("failed")


@pytest.mark.parametrize("argv", [
    ["IPaddr2", "start"], ["Filesystem", "/dev/x", "start"], ["LVM", "vg0", "extra", "start"],
    ["SendArp", "10.0.0.1", "start"], ["MailTo", "start"], ["Delay", "1", "2", "3", "start"],
    ["OCF", "Dummy", "start"], ["LVM", "vg0", "reboot"]])
def test_bad_arguments_are_usage_errors(recorder: tuple[dict[str, str], Path],
                                        argv: list[str]) -> None:
    env, record = recorder
    res = call(*argv, env=env)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.strip()
    assert not record.exists() or recorded(record)["action"] != argv[-1]


def test_missing_agent_names_the_package(tmp_path: Path) -> None:
    res = call("LVM", "vg0", "start", env={"OCF_ROOT": str(tmp_path)})
    assert res.returncode == 5 and "resource-agents" in res.stderr


def real_agents(*names: str) -> None:
    missing = [n for n in names if not os.access(AGENTS / n, os.X_OK)]
    if missing:
        require_commands(*[str(AGENTS / n) for n in missing])


def test_delay_with_the_real_agent(tmp_path: Path) -> None:
    real_agents("Delay")
    args = ("0", "0")
    env = {"HA_RSCTMP": str(tmp_path)}
    assert call("Delay", *args, "status", env=env).returncode == 3
    assert call("Delay", *args, "start", env=env).returncode == 0
    res = call("Delay", *args, "status", env=env)
    assert (res.returncode, res.stdout) == (0, "running\n")
    assert call("Delay", *args, "stop", env=env).returncode == 0
    assert call("Delay", *args, "status", env=env).stdout == "stopped\n"


def test_ocf_wrapper_with_dummy(tmp_path: Path) -> None:
    real_agents("Dummy")
    conf = tmp_path / "conf" / "OCF" / "Dummy"
    conf.mkdir(parents=True)
    state = tmp_path / "dummy.state"
    (conf / "web").write_text(f"# instance file\nOCF_RESKEY_state={state}\n")
    env = {"HA_DIR": str(tmp_path)}
    assert call("OCF", "Dummy", "web", "status", env=env).returncode == 3
    assert call("OCF", "Dummy", "web", "start", env=env).returncode == 0
    assert state.exists()
    assert call("OCF", "Dummy", "web", "status", env=env).stdout == "running\n"
    assert call("OCF", "Dummy", "web", "stop", env=env).returncode == 0
    assert not state.exists()
    res = call("OCF", "Dummy", "nosuch", "start", env=env)
    assert res.returncode == 6 and "nosuch" in res.stderr
    res = call("OCF", "../Dummy", "web", "start", env=env)
    assert res.returncode == 2


def test_mailto_with_a_stand_in_mailer(tmp_path: Path) -> None:
    real_agents("MailTo")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sent = tmp_path / "sent"
    (bin_dir / "mail").write_text(f'#!/bin/sh\n{{ echo "ARGS $*"; cat; }} >> {sent}\n')
    (bin_dir / "mail").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{SANE_PATH}", "HA_RSCTMP": str(tmp_path)}
    res = subprocess.run([str(SCRIPTS / "MailTo"), "ops@example.org", "web moved", "start"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    text = sent.read_text()
    assert "ops@example.org" in text and "web moved" in text
    subprocess.run([str(SCRIPTS / "MailTo"), "ops@example.org", "web moved", "stop"],
                   capture_output=True, text=True, env=env, timeout=60, check=True)
