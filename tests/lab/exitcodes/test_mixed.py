"""A group that cannot run on the hbeat node of a mixed cluster is run by the
real heartbeat 3.0.6 node: the hbeat node's hand-off (`ip-request-resp
weown=yes ok=OK`, the message of a failed start) is what 3.0.6's
rc.d/ip-request-resp acts on (docs/resources.md, "Exit codes").

otter runs hbeat without `modprobe` (exit 5 from the Filesystem agent, as in
test_cannot_run.py) and is the group's home; weasel runs Debian's heartbeat
with its own resource.d/Filesystem over the same OCF agent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from tests.harness import HeartbeatConfig, HeartbeatNode, Lab, authkeys_text, wait_for
from tests.harness.hbeatnode import HbeatConfig, HbeatNode
from tests.harness.requirements import require_commands
from tests.lab.cluster.clusters import fast_hacf
from tests.lab.failover.cluster import timers_env

from .test_cannot_run import (
    FS,
    FS_AGENT,
    NOT_INSTALLED,
    WRAPPERS,
    hide_modprobe,
    mounted,
    require_agent,
)

pytestmark = [pytest.mark.slow, pytest.mark.root]
NODES = ("otter", "weasel")


def test_heartbeat_peer_takes_what_the_hbeat_node_cannot_run(
        lab_factory: Callable[..., Lab]) -> None:
    require_commands("heartbeat", "cl_status")
    require_agent(FS_AGENT)
    lab = lab_factory(2)
    hacf = fast_hacf(NODES, ["bcast eth1"])
    keys = authkeys_text("sha1", "mixed-exitcodes")
    haresources = f"otter {FS}\n"
    real = HeartbeatNode(lab["weasel"], HeartbeatConfig(hacf, keys, haresources))
    real.start()
    hide_modprobe(lab, "otter")
    ours = HbeatNode(lab["otter"], HbeatConfig(
        hacf, keys, haresources, env={"HBEAT_RESOURCE_TIMERS": timers_env()}))
    ours.prepare()
    for name in ("hbeat-ocf.sh", "Filesystem"):
        shutil.copy2(WRAPPERS / name, ours.config_dir / "resource.d" / name)
    ours.start()
    ours.wait_active(NODES, timeout=30)
    wait_for(lambda: mounted(lab, "weasel"), 60, what="heartbeat on weasel to mount the tmpfs",
             describe=lambda: real.log()[-2000:])
    # (3.0.6 counts a group taken on a peer's ip-request-resp in its own class)
    assert real.cl_status("rscstatus").stdout.strip() != "none"
    assert not mounted(lab, "otter")
    log = ours.log()
    assert f"cannot run on this node ({FS} {NOT_INSTALLED})" in log, log[-3000:]
    assert "handing it to weasel" in log
    assert "CRIT:" not in log and "Retrying failed stop" not in log
    wait_for(lambda: ours.resources()["held"] == "none", 10, what="otter holding nothing")
    assert ours.group_states()[FS] == "failed"
