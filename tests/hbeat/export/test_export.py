"""`hbeat export` checked by Pacemaker's and corosync's own tools.

Every output is loaded the way an administrator would load it, offline:
the CIB straight into `crm_verify --xml-file`; the crmsh script with
`crm configure load update` into an empty CIB file (`CIB_file=`); the pcs
script with `pcs -f` on an empty CIB file; then `crm_verify` on the
result. corosync.conf goes through `corosync -t`. The seed configuration,
a haresources using every mapped resource.d wrapper, and every valid
configuration of the `hbeat check` corpus are exported.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from hbeat.cli import main
from hbeat.config import SystemProbe, load_config
from hbeat.export.cib import render_cib
from hbeat.export.command import stonith_param_names
from hbeat.export.plan import NO_FENCING, build_plan
from tests.harness.requirements import find_command, require_commands
from tests.hbeat.config.seed import SEED_HARESOURCES, write_seed
from tests.hbeat.config.test_corpus import BASE, CASES

FENCING = ("stonith_host otter external/ipmi weasel 10.0.0.2 admin s3cret lanplus",
           "stonith_host weasel external/ipmi otter 10.0.0.1 admin s3cret lanplus")
RICH_HARESOURCES = (
    "otter 10.0.0.50/24/eth0:web/10.0.0.255 IPaddr2::10.0.0.51/24/eth0 "
    "MailTo::root@example.org::failover Delay::2::1 Xinetd::tftp custom::a::b myapp\n"
    + SEED_HARESOURCES)
RICH_SCRIPTS = ("drbddisk", "LVM", "Filesystem", "IPaddr", "IPaddr2", "MailTo", "Delay",
                "Xinetd", "apache", "custom")


def _tool(name: str) -> str:
    path = find_command(name)
    assert path is not None
    return path


# An offline CIB has an empty status section: no node has joined, so there is
# no quorum and both nodes count as unclean. These are about the cluster's
# state, not its configuration.
OFFLINE_STATE = ("Fencing and resource management disabled due to lack of quorum",
                 "is unclean but cannot be fenced")


def crm_verify(cib: Path) -> tuple[int, list[str]]:
    """Exit status and every error and warning line but the offline-state ones."""
    result = subprocess.run([_tool("crm_verify"), "--xml-file", str(cib), "-V"],
                            capture_output=True, text=True, timeout=60, check=False)
    found = [line for line in result.stderr.splitlines()
             if ("error:" in line or "warning:" in line)
             and not any(state in line for state in OFFLINE_STATE)]
    return result.returncode, found


def assert_only_fencing_missing(cib: Path) -> None:
    status, errors = crm_verify(cib)
    assert status != 0
    assert errors, "crm_verify found nothing wrong although no fencing device exists"
    assert any("no STONITH resources have been defined" in e for e in errors), errors
    assert all("STONITH" in e or "stonith" in e for e in errors), errors
    assert all("error:" in e for e in errors), errors


def assert_valid(cib: Path) -> None:
    status, problems = crm_verify(cib)
    assert problems == []
    assert status in (0, 78)  # 78: only the offline-state warnings above


def empty_cib(path: Path) -> Path:
    result = subprocess.run([_tool("cibadmin"), "--empty"], capture_output=True, text=True,
                            timeout=60, check=True)
    path.write_text(result.stdout)
    return path


def export(config_dir: Path, to: str, out: Path, *extra: str) -> Path:
    status = main(["export", "--to", to, "--config-dir", str(config_dir),
                   "--node-name", "otter", "-o", str(out), *extra])
    assert status == 0
    return out


def load_crmsh(script: Path, cib: Path) -> None:
    env = {**os.environ, "CIB_file": str(cib)}
    # -F: commit although crm_verify complains (the no-fencing case is checked after)
    result = subprocess.run([_tool("crm"), "-F", "configure", "load", "update", str(script)],
                            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    complaints = [line for line in text.splitlines()
                  if line.startswith(("ERROR", "WARNING"))
                  and not any(state in line for state in OFFLINE_STATE)
                  and "STONITH" not in line and "Errors found during check" not in line]
    assert complaints == []


def run_pcs(script: Path, cib: Path) -> None:
    result = subprocess.run(["sh", str(script), str(cib)], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def primitives(cib: Path) -> dict[str, tuple[str, dict[str, str]]]:
    root = ET.parse(cib).getroot()
    out = {}
    for prim in root.iter("primitive"):
        spec = ":".join(x for x in (prim.get("class"), prim.get("provider"), prim.get("type"))
                        if x)
        params = {nv.get("name", ""): nv.get("value", "")
                  for ia in prim.findall("instance_attributes") for nv in ia}
        out[prim.get("id", "")] = (spec, params)
    return out


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_commands("crm_verify", "cibadmin", "crm", "pcs", "corosync", "stonith")


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    return write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",)).config_dir


@pytest.fixture
def fenced_dir(tmp_path: Path) -> Path:
    return write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      extra=FENCING).config_dir


# ------------------------------------------------------------------ the seed
def test_seed_cib_is_the_expected_cluster(seed_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cib = export(seed_dir, "cib", tmp_path / "cib.xml")
    assert "NO FENCING DEVICE IS CONFIGURED" in capsys.readouterr().err
    assert_only_fencing_missing(cib)
    root = ET.parse(cib).getroot()
    group = root.find(".//group")
    assert group is not None
    assert [p.get("id") for p in group.findall("primitive")] == [
        "lvm_vg0", "fs_srv", "ip_10_0_0_100", "apache"]
    prims = primitives(cib)
    assert prims["drbd_r0"] == ("ocf:linbit:drbd", {"drbd_resource": "r0"})
    assert prims["fs_srv"] == ("ocf:heartbeat:Filesystem", {
        "device": "/dev/vg0/data", "directory": "/srv", "fstype": "ext4"})
    assert prims["ip_10_0_0_100"] == ("ocf:heartbeat:IPaddr2", {"ip": "10.0.0.100"})
    assert prims["lvm_vg0"][0] == "ocf:heartbeat:LVM-activate"
    clone = root.find(".//clone")
    assert clone is not None
    meta = {nv.get("name"): nv.get("value") for nv in clone.iter("nvpair")
            if nv.get("name") == "promotable"}
    assert meta == {"promotable": "true"}
    for prim in root.iter("primitive"):
        assert any(op.get("name") == "monitor" for op in prim.iter("op")), prim.get("id")
    loc = root.find(".//rsc_location")
    assert loc is not None and (loc.get("node"), loc.get("score")) == ("weasel", "100")
    col = root.find(".//rsc_colocation")
    assert col is not None and col.get("with-rsc-role") == "Promoted"
    order = root.find(".//rsc_order")
    assert order is not None and (order.get("first-action"), order.get("then-action")) == (
        "promote", "start")
    sticky = [nv.get("value") for nv in root.iter("nvpair")
              if nv.get("name") == "resource-stickiness"]
    assert sticky == ["200"]  # auto_failback off: stickiness beats the home preference


def test_seed_with_fencing_verifies_clean_in_all_three_syntaxes(
        fenced_dir: Path, tmp_path: Path) -> None:
    cib = export(fenced_dir, "cib", tmp_path / "cib.xml")
    assert_valid(cib)
    fences = {k: v for k, v in primitives(cib).items() if v[0] == "stonith:external/ipmi"}
    assert sorted(fences) == ["fence_otter_external_ipmi", "fence_weasel_external_ipmi"]
    assert fences["fence_otter_external_ipmi"][1] == {
        "hostname": "weasel", "ipaddr": "10.0.0.2", "userid": "admin", "passwd": "s3cret",
        "interface": "lanplus"}
    # the device reachable from otter only may run on otter only
    root = ET.parse(cib).getroot()
    bans = {(c.get("rsc"), c.get("node"), c.get("score")) for c in root.iter("rsc_location")
            if c.get("rsc", "").startswith("fence_")}
    assert bans == {("fence_otter_external_ipmi", "weasel", "-INFINITY"),
                    ("fence_weasel_external_ipmi", "otter", "-INFINITY")}

    crm_cib = empty_cib(tmp_path / "crm.xml")
    load_crmsh(export(fenced_dir, "crmsh", tmp_path / "out.crm"), crm_cib)
    assert_valid(crm_cib)
    pcs_cib = empty_cib(tmp_path / "pcs.xml")
    run_pcs(export(fenced_dir, "pcs", tmp_path / "out.sh"), pcs_cib)
    assert_valid(pcs_cib)
    # all three describe the same resources with the same agents and parameters
    assert primitives(crm_cib) == primitives(cib)
    assert primitives(pcs_cib) == primitives(cib)


def test_seed_without_fencing_crmsh_and_pcs(seed_dir: Path, tmp_path: Path) -> None:
    crm_cib = empty_cib(tmp_path / "crm.xml")
    script = export(seed_dir, "crmsh", tmp_path / "out.crm")
    assert "# NOTE: NO FENCING DEVICE IS CONFIGURED" in script.read_text()
    load_crmsh(script, crm_cib)
    assert_only_fencing_missing(crm_cib)
    pcs_cib = empty_cib(tmp_path / "pcs.xml")
    run_pcs(export(seed_dir, "pcs", tmp_path / "out.sh"), pcs_cib)
    assert_only_fencing_missing(pcs_cib)


# ------------------------------------------------------------------ every wrapper
def test_every_mapped_wrapper(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      overrides={"auto_failback": "on"}, extra=FENCING,
                      haresources=RICH_HARESOURCES, scripts=RICH_SCRIPTS)
    init = seed.init_dir / "myapp"
    init.write_text("#!/bin/sh\nexit 0\n")
    init.chmod(0o755)
    config = load_config(seed.config_dir, "otter", system=SystemProbe(init_dir=str(seed.init_dir)))
    plan = build_plan(config, stonith_param_names)
    cib = tmp_path / "cib.xml"
    cib.write_text(render_cib(plan))
    assert_valid(cib)
    prims = primitives(cib)
    assert prims["ip_10_0_0_50"] == ("ocf:heartbeat:IPaddr2", {
        "ip": "10.0.0.50", "cidr_netmask": "24", "nic": "eth0", "iflabel": "web",
        "broadcast": "10.0.0.255"})
    assert prims["ip_10_0_0_51"] == ("ocf:heartbeat:IPaddr2", {
        "ip": "10.0.0.51", "cidr_netmask": "24", "nic": "eth0"})
    assert prims["mailto_root_example_org"] == ("ocf:heartbeat:MailTo", {
        "email": "root@example.org", "subject": "failover"})
    assert prims["delay_2"] == ("ocf:heartbeat:Delay", {"startdelay": "2", "stopdelay": "1"})
    assert prims["xinetd_tftp"] == ("ocf:heartbeat:Xinetd", {"service": "tftp"})
    assert prims["custom_a_b"] == ("heartbeat:custom", {"1": "a", "2": "b"})
    assert prims["myapp"] == ("lsb:myapp", {})
    sticky = [nv.get("value") for nv in ET.parse(cib).getroot().iter("nvpair")
              if nv.get("name") == "resource-stickiness"]
    assert sticky == ["0"]  # auto_failback on: the home preference wins


def test_last_stonith_parameter_takes_the_rest_of_the_line(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      extra=("stonith_host * null otter weasel",))
    cib = export(seed.config_dir, "cib", tmp_path / "cib.xml")
    assert primitives(cib)["fence_any_null"] == ("stonith:null",
                                                 {"hostlist": "otter weasel"})
    assert_valid(cib)
    # and pcs takes it as one value
    pcs_cib = empty_cib(tmp_path / "pcs.xml")
    run_pcs(export(seed.config_dir, "pcs", tmp_path / "out.sh"), pcs_cib)
    assert primitives(pcs_cib)["fence_any_null"] == primitives(cib)["fence_any_null"]


def test_unknown_stonith_plugin_is_refused_as_hbeat_check_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      extra=("stonith_host * hbeat/no-such-plugin a b",))
    out = tmp_path / "cib.xml"
    assert main(["export", "--to", "cib", "--config-dir", str(seed.config_dir),
                 "--node-name", "otter", "-o", str(out)]) == 1
    assert not out.exists()
    assert "Invalid Stonith type [hbeat/no-such-plugin]" in capsys.readouterr().err


def test_plugin_without_known_parameters_is_a_note_not_a_device(fenced_dir: Path,
                                                                tmp_path: Path) -> None:
    """Where the plugin cannot name its parameters, no device is guessed at."""
    config = load_config(fenced_dir, "otter", system=SystemProbe())
    plan = build_plan(config, lambda plugin: None)
    assert not plan.stonith and plan.notes[0] == NO_FENCING
    assert any("STONITH plugin external/ipmi is not installed here" in n for n in plan.notes)
    cib = tmp_path / "cib.xml"
    cib.write_text(render_cib(plan))
    assert_only_fencing_missing(cib)


# ------------------------------------------------------------------ corosync
def _with_keyfile(conf: Path, tmp_path: Path) -> Path:
    key = tmp_path / "authkey"
    key.write_bytes(os.urandom(256))
    key.chmod(0o400)
    text = conf.read_text().replace("\tcrypto_hash: sha256\n",
                                    f"\tcrypto_hash: sha256\n\tkeyfile: {key}\n")
    out = tmp_path / "corosync-test.conf"
    out.write_text(text)
    return out


def corosync_test(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("corosync"), "-t", "-c", str(conf)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_corosync_conf_has_the_links_and_says_serial_is_gone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      extra=("ucast lo 127.0.0.2",))
    conf = export(seed.config_dir, "corosync", tmp_path / "corosync.conf",
                  "--address", "otter:lo=127.0.0.1", "--address", "weasel:lo=127.0.0.2")
    text = conf.read_text()
    err = capsys.readouterr().err
    assert "WARN: ha.cf:6: serial /dev/null: corosync has no serial link" in err
    assert "serial /dev/null: corosync has no serial link" in text
    assert "transport: knet" in text and "two_node: 1" in text
    assert re.findall(r"ring(\d)_addr: (\S+)", text) == [("0", "127.0.0.1"),
                                                         ("0", "127.0.0.2")]
    result = corosync_test(_with_keyfile(conf, tmp_path))
    assert result.returncode == 0, result.stderr


def test_corosync_without_addresses_is_refused_by_corosync(seed_dir: Path,
                                                           tmp_path: Path) -> None:
    conf = export(seed_dir, "corosync", tmp_path / "corosync.conf")
    assert "ring0_addr: ADDRESS-OF-weasel-ON-lo" in conf.read_text()
    result = corosync_test(_with_keyfile(conf, tmp_path))
    assert result.returncode != 0
    assert "ADDRESS-OF-" in result.stderr + result.stdout


def test_bad_address_option_is_a_usage_error(seed_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--to", "corosync", "--config-dir", str(seed_dir),
                 "--node-name", "otter", "--address", "otter=1.2.3.4"]) == 2
    assert "expected NODE:IFACE=ADDR" in capsys.readouterr().err


def test_broken_configuration_exports_nothing(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      overrides={"deadtime": "2s"})
    out = tmp_path / "cib.xml"
    assert main(["export", "--to", "cib", "--config-dir", str(seed.config_dir),
                 "--node-name", "otter", "-o", str(out)]) == 1
    assert not out.exists()
    assert "ha.cf:2: deadtime: [2s] is not a time" in capsys.readouterr().err


# ------------------------------------------------------------------ the corpus
VALID = [c for c in CASES if c.status == 0]


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_corpus_configurations_verify(case: Any, tmp_path: Path) -> None:
    options = {**BASE, **case.seed}
    options["overrides"] = {**BASE["overrides"], **case.overrides}
    seed = write_seed(tmp_path / "ha.d", extra=case.extra, **options)
    if case.tweak is not None:
        case.tweak(seed.config_dir)
    cib = export(seed.config_dir, "cib", tmp_path / "cib.xml")
    crm_cib = empty_cib(tmp_path / "crm.xml")
    load_crmsh(export(seed.config_dir, "crmsh", tmp_path / "out.crm"), crm_cib)
    for verified in (cib, crm_cib):
        assert_only_fencing_missing(verified)
    assert primitives(crm_cib) == primitives(cib)


def test_corpus_has_valid_cases() -> None:
    assert len(VALID) >= 5


# ------------------------------------------------------------------ three nodes
def test_member_only_node_never_runs_a_group(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial="/dev/null", interfaces=("lo",),
                      nodes=("otter", "weasel", "badger"), extra=FENCING,
                      haresources="otter 10.0.0.60 MailTo::root@example.org\n"
                                  + SEED_HARESOURCES,
                      scripts=RICH_SCRIPTS)
    cib = export(seed.config_dir, "cib", tmp_path / "cib.xml")
    assert_valid(cib)
    root = ET.parse(cib).getroot()
    bans = {(c.get("rsc"), c.get("score")) for c in root.iter("rsc_location")
            if c.get("node") == "badger" and not c.get("rsc", "").startswith("fence_")}
    assert bans == {("grp_10_0_0_60", "-INFINITY"), ("grp_drbddisk_r0", "-INFINITY"),
                    ("drbd_r0-clone", "-INFINITY")}
    pcs_cib = empty_cib(tmp_path / "pcs.xml")
    run_pcs(export(seed.config_dir, "pcs", tmp_path / "out.sh"), pcs_cib)
    assert_valid(pcs_cib)
    crm_cib = empty_cib(tmp_path / "crm.xml")
    load_crmsh(export(seed.config_dir, "crmsh", tmp_path / "out.crm"), crm_cib)
    assert_valid(crm_cib)
    conf = export(seed.config_dir, "corosync", tmp_path / "corosync.conf")
    assert "two_node" not in conf.read_text()
    assert "nodeid: 3" in conf.read_text()


def test_export_from_a_machine_outside_the_cluster(seed_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No --node-name and a uname that is not a node: exported all the same,
    into a file only its owner can read (fencing parameters hold passwords)."""
    monkeypatch.delenv("HBEAT_NODE_NAME", raising=False)
    assert os.uname().nodename.lower() not in ("otter", "weasel")  # this machine is no node
    out = tmp_path / "cib.xml"
    assert main(["export", "--to", "cib", "--config-dir", str(seed_dir), "-o", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert_only_fencing_missing(out)
