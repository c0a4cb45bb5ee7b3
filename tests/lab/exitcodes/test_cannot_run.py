"""Resources that cannot run on a node: a status answering OCF exit 5
(OCF_ERR_INSTALLED) or 6 (OCF_ERR_CONFIGURED) (docs/resources.md, "Exit codes").

The Filesystem case as it happened: hbeat's `Filesystem` wrapper over
resource-agents' Filesystem agent, mounting a tmpfs in the node's private
/run, on a node where `modprobe` is missing (a non-executable file bound over
it in the node's mount namespace: the agent's `check_binary` makes every
action, status included, exit 5). The group must run on the other node,
with no stop retries, no stop-failed group and no CRIT on the node that
cannot run it; with modprobe missing on both nodes it runs nowhere and both
logs say why. The exit-6 case is the OCF `Dummy` agent through hbeat's `OCF`
wrapper with its instance file missing on one node.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.harness import Lab, require_commands, wait_for
from tests.lab.daemon.schema import check_snapshot
from tests.lab.failover.cluster import DEADTIME_S, FailoverCluster

REPO = Path(__file__).resolve().parents[3]
WRAPPERS = REPO / "scripts" / "resource.d"
MOUNTPOINT = "/run/hbeat-fs"
FS = f"Filesystem::none::{MOUNTPOINT}::tmpfs"
FS_AGENT = Path("/usr/lib/ocf/resource.d/heartbeat/Filesystem")
DUMMY_AGENT = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")
HBEAT = str(Path(sys.executable).parent / "hbeat")
NOT_INSTALLED = "not installed (exit 5, OCF_ERR_INSTALLED)"


def require_agent(path: Path) -> None:
    require_commands("findmnt", "mount")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} missing: apt-get install resource-agents")


def cluster(lab: Lab, haresources: str) -> FailoverCluster:
    c = FailoverCluster(lab, haresources, scripts=["apache"])
    for node in c.nodes.values():
        for name in ("hbeat-ocf.sh", "Filesystem", "OCF"):
            shutil.copy2(WRAPPERS / name, node.config_dir / "resource.d" / name)
    return c


def hide_modprobe(lab: Lab, name: str) -> None:
    """`modprobe` gone on `name` (its mount namespace only)."""
    modprobe = shutil.which("modprobe", path="/usr/sbin:/sbin")
    assert modprobe is not None, "kmod is not installed"
    lab[name].run(["mount", "--bind", "/dev/null", modprobe])
    res = lab[name].run(["sh", "-c", "command -v modprobe && test -x \"$(command -v "
                                     "modprobe)\""], check=False)
    assert res.returncode != 0, f"modprobe still usable on {name}: {res}"


def mounted(lab: Lab, name: str) -> bool:
    return lab[name].run(["findmnt", MOUNTPOINT], check=False).returncode == 0


def no_stop_trouble(log: str, name: str) -> None:
    """Nothing of the stop-failure path on `name`: no stop call of the resource,
    no retry, no CRIT, nothing stop-failed."""
    assert "CRIT:" not in log, f"{name}: {log[-3000:]}"
    assert "Retrying failed stop" not in log
    assert "stop-failed" not in log and "possibly running" not in log
    assert not re.search(rf"Running \S*Filesystem none {MOUNTPOINT} tmpfs stop", log)


@pytest.mark.slow
def test_filesystem_without_modprobe_runs_on_the_other_node(lab: Lab) -> None:
    require_agent(FS_AGENT)
    c = cluster(lab, f"weasel {FS} apache\n")
    hide_modprobe(lab, "weasel")
    c.start()
    c.wait_holders({FS: "otter"}, elsewhere={"weasel": "failed"}, timeout=40)
    assert mounted(lab, "otter") and not mounted(lab, "weasel")
    log = c["weasel"].log()
    no_stop_trouble(log, "weasel")
    assert f"cannot run on this node ({FS} {NOT_INSTALLED})" in log, log[-3000:]
    assert "handing it to otter" in log
    # weasel never tried to start anything of it, nor claimed it
    assert not c.records.find(node="weasel", resource="apache", action="start")
    assert not re.search(rf"Running \S*Filesystem none {MOUNTPOINT} tmpfs start", log)
    snap = c["weasel"].snapshot()
    group = next(g for g in snap["resources"]["groups"] if g["key"] == FS)
    assert group["cannot_run"] == f"{FS} {NOT_INSTALLED}"
    # the field as docs/status-feed.md documents it (test_feed_doc.py leaves it to us)
    assert check_snapshot(snap, nodes=c.names, media=["eth1"]) == []
    assert c.rscstatus("weasel") == "none"
    status = c.run_on("weasel", [HBEAT, "status"])
    assert f"CANNOT RUN HERE: group {FS}: {FS} {NOT_INSTALLED}" in status.stdout, status
    # hbeat check --validate says what is missing (and changes nothing)
    check = c.run_on("weasel", [HBEAT, "check", "--validate", "--config-dir",
                                str(c["weasel"].config_dir), "--node-name", "weasel"])
    assert check.returncode == 1, check
    assert (f"resource [{FS}] cannot run on this node: not installed (exit 5, "
            "OCF_ERR_INSTALLED): Setup problem: couldn't find command: modprobe") in check.stdout
    ok = c.run_on("otter", [HBEAT, "check", "--validate", "--config-dir",
                            str(c["otter"].config_dir), "--node-name", "otter"])
    assert ok.returncode == 0 and f"  {FS}: OK" in ok.stdout, ok

    # otter dies: weasel does not take over what it cannot run
    watch = c["weasel"].log_watcher()
    c.wait_past_startup_window("otter")
    c.crash("otter")
    watch.wait(rf"Not taking over resource group {re.escape(FS)} from otter: it cannot run "
               r"on this node", timeout=DEADTIME_S + 20)
    wait_for(lambda: c["weasel"].resources()["held"] != "transition", 20,
             what="weasel settled after the takeover")
    assert c.groups("weasel")[FS] == "failed"
    log = c["weasel"].log()
    no_stop_trouble(log, "weasel")
    assert not c.records.find(node="weasel", resource="apache", action="start")
    assert not mounted(lab, "weasel")


@pytest.mark.slow
def test_missing_instance_file_is_not_configured_and_runs_on_the_other_node(lab: Lab) -> None:
    require_agent(DUMMY_AGENT)
    c = cluster(lab, "otter OCF::Dummy::web apache\n")
    # the instance file exists on weasel only
    conf = c["weasel"].config_dir / "conf" / "OCF" / "Dummy"
    conf.mkdir(parents=True)
    (conf / "web").write_text("OCF_RESKEY_state=/run/hbeat-dummy-web.state\n")
    c.start()
    key = "OCF::Dummy::web"
    c.wait_holders({key: "weasel"}, elsewhere={"otter": "failed"}, timeout=40)
    assert c["weasel"].node.host_path("/run/hbeat-dummy-web.state").exists()
    log = c["otter"].log()
    assert "CRIT:" not in log and "Retrying failed stop" not in log, log[-3000:]
    assert f"{key}: OCF instance file {c['otter'].config_dir}/conf/OCF/Dummy/web is missing" \
        in log, log[-3000:]
    assert (f"cannot run on this node ({key} not configured (OCF_ERR_CONFIGURED: its "
            "script, agent or instance file is missing here))") in log, log[-3000:]
    assert not c.records.find(node="otter", resource="apache", action="start")
    assert c.rscstatus("otter") == "none"


@pytest.mark.slow
def test_filesystem_without_modprobe_on_both_nodes_runs_nowhere(lab: Lab) -> None:
    require_agent(FS_AGENT)
    c = cluster(lab, f"weasel {FS} apache\n")
    hide_modprobe(lab, "weasel")
    hide_modprobe(lab, "otter")
    c.start()
    for name in c.names:
        c[name].log_watcher(from_start=True).wait(
            rf"Resource group {re.escape(FS)} cannot run on this node .* and \w+ cannot run "
            r"it either", timeout=40)

    def settled() -> bool:
        # held: the class with no group of its own (otter's local) may be claimed
        return all(c.groups(n)[FS] == "failed" and c[n].resources()["held"] in ("none", "local")
                   for n in c.names)

    wait_for(settled, 20, what="the group failed and unheld on both nodes")
    for name in c.names:
        log = c[name].log()
        no_stop_trouble(log, name)
        assert f"cannot run on this node ({FS} {NOT_INSTALLED})" in log
        assert "it is not running anywhere" in log
        assert not mounted(lab, name)
        assert not c.records.find(node=name, resource="apache", action="start")
