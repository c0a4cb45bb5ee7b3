"""ipfail's decision, built into hbeat, on a live pair with a ping node.

otter and weasel (auto_failback off, one stand-in group `apache::www` homed
on otter) ping the lab's `client` namespace, with the `respawn ...
ipfail` line heartbeat admins write. nftables in otter's namespace drops
its echo requests to the client: otter sees 0 ping nodes, weasel 1, so
otter hands the group to weasel (hb_standby's path). Restored, the counts
are balanced and, with auto_failback off, nothing moves back. Then both
nodes lose the ping node: the counts are balanced again (0 and 0) and the
group stays where it is.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.harness import Lab, require_commands, wait_for
from tests.harness.hbeatnode import HBEAT, HbeatConfig
from tests.lab.daemon.test_metrics import PORT, scrape, value
from tests.lab.failover.cluster import FailoverCluster
from tests.lab.journal.why import why_decisions

pytestmark = [pytest.mark.slow, pytest.mark.root]

GROUP = "apache::www"
TABLE = "hbeatpingcut"


class PingCluster(FailoverCluster):
    def __init__(self, lab: Lab, target: str) -> None:
        self.target = target
        super().__init__(lab, f"otter {GROUP}\n", scripts=["apache"])

    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        config = super()._config(name, auto_failback)
        extra = (f"ping {self.target}\ndeadping 2\nmetrics 127.0.0.1:{PORT}\n"
                 "respawn hacluster /usr/lib/heartbeat/ipfail\n")
        return HbeatConfig(config.ha_cf + extra, config.authkeys, config.haresources,
                           env=config.env)

    def cut(self, name: str) -> None:
        node = self.lab[name]
        node.run(["nft", "add", "table", "inet", TABLE])
        node.run(["nft", "add chain inet", TABLE, "out",
                  "{ type filter hook output priority 0 ; }"])
        node.run(["nft", "add rule inet", TABLE, "out", "ip daddr", self.target, "drop"])

    def restore(self, name: str) -> None:
        self.lab[name].run(["nft", "delete", "table", "inet", TABLE])

    def ping_status(self, name: str) -> str:
        return self[name].cl_status("nodestatus", self.target).stdout.strip()

    def wait_ping(self, name: str, status: str) -> None:
        wait_for(lambda: self.ping_status(name) == status, 15, interval=0.2,
                 what=f"{name} to see ping node {self.target} {status}")

    def log_count(self, name: str, text: str) -> int:
        return self[name].log().count(text)


def test_fewer_ping_nodes_hands_the_group_over_and_nothing_moves_back(
        lab_factory: object) -> None:
    require_commands("nft")
    lab = lab_factory(2, client=True)  # type: ignore[operator]
    assert lab.client is not None
    c = PingCluster(lab, lab.client.ip)
    c.start()
    c.wait_holders({GROUP: "otter"})
    for n in ("otter", "weasel"):
        c.wait_ping(n, "ping")
    for n in ("otter", "weasel"):  # the respawn line is not run: hbeat decides itself
        assert "/usr/lib/heartbeat/ipfail" not in c[n].log()

    # otter loses the ping node: the group goes to weasel
    c.cut("otter")
    c.wait_ping("otter", "dead")
    c.wait_holders({GROUP: "weasel"}, timeout=20)
    target = c.target
    # the ping node's state in the feed, `hbeat status` and the metrics
    c.feeds["otter"].seen_or_wait("node", target, "dead")
    status = subprocess.run([HBEAT, "status", "--runtime-dir", str(c["otter"].runtime_dir)],
                            capture_output=True, text=True, timeout=20, check=True).stdout
    assert [line.split()[:3] for line in status.splitlines()
            if line.startswith(target)] == [[target, "dead", "ping"]], status
    metrics = scrape(c, "otter")
    assert value(metrics, "hbeat_ping_node_state", node=target,
                 hbeat_ping_node_state="dead") == 1
    assert value(metrics, "hbeat_ping_node_state", node=target,
                 hbeat_ping_node_state="ping") == 0
    assert "Giving up because we have less visible ping nodes." in c["otter"].log()
    assert "Going standby [all]." in c["otter"].log()
    # hbeat why (docs/journal.md): ipfail asked, and the group was released for it
    asked = [d for d in why_decisions(c["otter"]) if d["kind"] == "request"][-1]
    assert asked["cause"]["detail"]["by"] == "ipfail", asked["headline"]
    assert (asked["cause"]["detail"]["local_count"], asked["cause"]["detail"]["peer_count"]
            ) == (0, 1)
    assert [(s["group"], s["detail"]["new"], s["detail"]["why"]) for s in asked["steps"]
            if s["kind"] == "group"] == [(GROUP, "stopped", "standby")]

    # restored: balanced, and with auto_failback off nothing moves back
    balanced = c.log_count("otter", "Ping node count is balanced.")
    c.restore("otter")
    c.wait_ping("otter", "ping")
    wait_for(lambda: c.log_count("otter", "Ping node count is balanced.") > balanced, 15,
             interval=0.2, what="otter to find the counts balanced")
    time.sleep(2.0)  # more than the settle time: a move would have begun
    c.wait_holders({GROUP: "weasel"}, timeout=5)

    # both lose it: 0 and 0 is balanced, nothing moves
    standbys = c.log_count("weasel", "Going standby")
    c.cut("otter")
    c.cut("weasel")
    for n in ("otter", "weasel"):
        c.wait_ping(n, "dead")
    wait_for(lambda: c.log_count("weasel", "Ping node count is balanced.") >= 1, 15,
             interval=0.2, what="weasel to find the counts balanced")
    time.sleep(2.0)
    c.wait_holders({GROUP: "weasel"}, timeout=5)
    assert c.log_count("weasel", "Going standby") == standbys
    assert "Giving up" not in c["weasel"].log()
