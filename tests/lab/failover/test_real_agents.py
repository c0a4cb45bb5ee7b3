"""Real resource agents moving with the group: `IPaddr2` from resource-agents on
the lab interface (pinged from the client namespace), an LSB init script found
in /etc/init.d, and the OCF `Dummy` agent through heartbeat's `OCF` wrapper.

A crash here is what a power loss does: weasel's eth1 goes down (`lab.cut`,
inside its namespace) and every process of the node is killed with SIGKILL.
The address stays configured in weasel's namespace, as it would in the RAM of
a dead machine; the "reboot" that follows deletes it (`ip addr del`), brings
eth1 back and restarts hbeat, after which the address lives on otter only.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_commands
from tests.harness import Lab, Node, wait_for

from .cluster import DEADTIME_S, FailoverCluster

IPADDR2 = Path("/etc/ha.d/resource.d/IPaddr2")
DUMMY = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")
LSB_NAME = "labsvc"
LSB_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          labsvc
# Required-Start:    $network
# Required-Stop:     $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: hbeat failover test service
# Description:       A small real daemon (a sleeping shell) with a pid file;
#                    every call is recorded in the failover test's events file.
### END INIT INFO
PIDFILE=/run/labsvc.pid
EVENTS={events}
node=$(uname -n)
record() {{ echo "$(date +%s.%N) $node labsvc $1 $2" >> "$EVENTS"; }}
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
start)
    if running; then record start ok; exit 0; fi
    setsid sh -c 'exec sleep 3600' </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    record start ok; exit 0;;
stop)
    if running; then kill "$(cat "$PIDFILE")"; fi
    rm -f "$PIDFILE"; record stop ok; exit 0;;
status)
    if running; then echo "labsvc is running"; record status running; exit 0; fi
    echo "labsvc is not running"; record status stopped; exit 3;;
restart|force-reload) "$0" stop && "$0" start;;
*) echo "Usage: $0 {{start|stop|status|restart|force-reload}}" >&2; exit 2;;
esac
"""


def vip(lab: Lab) -> str:
    return f"10.{lab.subnet}.0.100"


def has_address(node: Node, address: str) -> bool:
    out = subprocess.run(["ip", "-n", node.netns, "-4", "-o", "addr", "show", "dev", "eth1"],
                         capture_output=True, text=True, check=True).stdout
    return f" {address}/" in out


def mac(node: Node) -> str:
    out = subprocess.run(["ip", "-n", node.netns, "-o", "link", "show", "eth1"],
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"link/ether ([0-9a-f:]{17})", out)
    assert found, out
    return found.group(1)


def neighbour(client: Node, address: str) -> str | None:
    out = subprocess.run(["ip", "-n", client.netns, "neigh", "show", address],
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return found.group(1) if found else None


def power_loss(c: FailoverCluster, lab: Lab, name: str) -> float:
    lab.cut(name)
    return c.crash(name)


@pytest.mark.slow
def test_ipaddr2_follows_the_group_and_answers_the_client(lab_factory: object) -> None:
    require_commands("ping")
    for path in (IPADDR2, Path("/usr/lib/ocf/resource.d/heartbeat/IPaddr2")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} missing: apt-get install heartbeat resource-agents")
    lab: Lab = lab_factory(2, client=True)  # type: ignore[operator]
    assert lab.client is not None
    address = vip(lab)
    c = FailoverCluster(lab, f"weasel IPaddr2::{address}/24/eth1 apache\n",
                        scripts=["apache"], real_scripts=["IPaddr2"])
    group = f"IPaddr2::{address}/24/eth1"
    c.start()
    c.wait_holders({group: "weasel"})
    assert has_address(lab["weasel"], address) and not has_address(lab["otter"], address)
    wait_for(lambda: lab.client.ping(address), 10, what=f"{address} answering on weasel")
    assert neighbour(lab.client, address) == mac(lab["weasel"])

    c.wait_past_startup_window("weasel")
    t_kill = power_loss(c, lab, "weasel")
    c.wait_holders({group: "otter"}, timeout=DEADTIME_S + 20)
    assert has_address(lab["otter"], address)
    wait_for(lambda: lab.client.ping(address), 10, what=f"{address} answering on otter")
    assert neighbour(lab.client, address) == mac(lab["otter"]), "the client still " \
        "sends to weasel's MAC: IPaddr2 did not announce the move (gratuitous ARP)"
    dead = c.feeds["otter"].wait_topic("cluster.node-dead", 1, lambda b: b.get("node") == "weasel")
    last = c.records.find(node="otter", resource="apache", action="start")[-1].t
    print(f"\nIPaddr2: weasel declared dead {dead['at'] - t_kill:.2f} s after the crash, "
          f"group up on otter {last - t_kill:.2f} s after it (IPaddr2 + apache "
          f"{last - dead['at']:.2f} s)")
    # The dead machine still has the address in its (frozen) state; its reboot clears it.
    assert has_address(lab["weasel"], address)
    lab["weasel"].run(["ip", "addr", "del", f"{address}/24", "dev", "eth1"])
    lab.restore("weasel")
    watch = c["weasel"].log_watcher()
    c.start(["weasel"])
    watch.wait(r"Initial resource acquisition complete", timeout=20)
    c.wait_holders({group: "otter"})
    assert not has_address(lab["weasel"], address) and has_address(lab["otter"], address)
    assert lab.client.ping(address)


def write_lsb(c: FailoverCluster) -> None:
    """The LSB script in /etc/init.d of each node (a private bind mount per node)."""
    for node in c.nodes.values():
        init_d = node.node.private("/etc/init.d")
        script = init_d / LSB_NAME
        script.write_text(LSB_SCRIPT.format(events=c.records.path))
        script.chmod(0o755)


def write_ocf_instance(c: FailoverCluster) -> None:
    for node in c.nodes.values():
        conf = node.config_dir / "conf" / "OCF" / "Dummy"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "x").write_text("# Dummy instance x of the failover test\n"
                                "OCF_RESKEY_state=/run/hbeat-dummy-x.state\n")


def dummy_running(c: FailoverCluster, name: str) -> bool:
    return c[name].node.host_path("/run/hbeat-dummy-x.state").exists()


def lsb_running(c: FailoverCluster, name: str) -> bool:
    res = c[name].node.run(["/etc/init.d/" + LSB_NAME, "status"], check=False)
    return res.returncode == 0


@pytest.mark.slow
def test_lsb_script_and_ocf_agent_start_and_move(lab: Lab) -> None:
    if not os.access(DUMMY, os.X_OK):
        pytest.fail(f"{DUMMY} missing: apt-get install resource-agents")
    c = FailoverCluster(lab, f"weasel {LSB_NAME} OCF::Dummy::x\n", real_scripts=["OCF"])
    write_lsb(c)
    write_ocf_instance(c)
    group = LSB_NAME
    c.start()
    c.wait_holders({group: "weasel"})
    assert lsb_running(c, "weasel") and not lsb_running(c, "otter")
    assert dummy_running(c, "weasel") and not dummy_running(c, "otter")
    starts = c.records.find(node="weasel", resource=LSB_NAME, action="start", result="ok")
    assert len(starts) == 1
    log = c["weasel"].log()
    assert f"info: Running /etc/init.d/{LSB_NAME} start" in log, log[-3000:]
    assert re.search(r"info: Running \S*/resource\.d/OCF Dummy x start", log), log[-3000:]

    c.crash("weasel")
    c.wait_holders({group: "otter"}, timeout=DEADTIME_S + 20)
    assert lsb_running(c, "otter") and dummy_running(c, "otter")
    assert not dummy_running(c, "weasel") and not lsb_running(c, "weasel")
    assert not c.records.overlaps()
