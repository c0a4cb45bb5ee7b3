"""Self-fencing in an asymmetric partition: weasel's packets are lost (nftables
on its output), otter's still reach weasel. otter declares weasel dead, sends
`stonith node=weasel` and takes the group over; weasel, which still runs it,
hears that and fences itself instead of running it for as long as the
partition lasts:

* without a watchdog it stops the group at once and exits with status 1 (so
  that systemd's Restart=on-failure brings it back as a restarted node);
* with one, it stops feeding it and is reset.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import Lab, wait_for
from tests.lab.failover.cluster import FailoverCluster
from tests.lab.journal.why import why_decisions

from .test_watchdog import GROUP, HARESOURCES, cluster_with_watchdog, otter_started_group


def test_node_declared_dead_stops_its_groups_and_restarts(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c = FailoverCluster(lab, HARESOURCES, scripts=["Svc"])
    c.start()
    c.wait_holders({GROUP: "weasel"})
    weasel = c["weasel"]
    lab.impair("weasel", loss=100)
    assert weasel.proc is not None
    assert weasel.proc.popen.wait(30) == 1
    log = weasel.log()
    assert "CRIT: Self-fencing: otter declared this node dead (stonith node=weasel" in log
    stops = c.records.find(node="weasel", resource=GROUP, action="stop", result="ok")
    assert stops, "weasel did not stop its group"
    # hbeat why, read from the file (the daemon exited): the self-fence and its stops
    fenced = [d for d in why_decisions(weasel) if d["kind"] == "self-fence"][-1]
    assert "otter declared this node dead" in fenced["cause"]["cause"]
    assert [(s["group"], s["detail"]["new"], s["detail"]["why"]) for s in fenced["steps"]
            if s["kind"] == "group"] == [(GROUP, "stopped", "self-fencing")]
    # otter runs the group; weasel no longer does (while still partitioned).
    wait_for(lambda: c.groups("otter").get(GROUP) == "running", 20,
             what="otter running the group")
    assert c.records.holders().get(GROUP) == {"otter"}


def test_node_declared_dead_with_a_watchdog_is_reset(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c, dog = cluster_with_watchdog(lab)
    lab.impair("weasel", loss=100)
    reset_at = wait_for(lambda: dog.first("reset"), 30, what="the watchdog reset of weasel")
    assert "Self-fencing: no longer feeding watchdog" in c["weasel"].log()
    wait_for(lambda: c.groups("otter").get(GROUP) == "running", 20,
             what="otter running the group")
    assert otter_started_group(c) > 0
    assert c.records.holders().get(GROUP) == {"otter"}  # the reset ended weasel's copy
    assert reset_at > 0
