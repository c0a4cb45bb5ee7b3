"""The seed scenario: weasel's DRBD + LVM group survives `kill -9` of weasel.

weasel holds `drbddisk::r0 LVM::vg0 Filesystem::/dev/vg0/data::/srv::ext4
10.0.0.100 apache` (the seed haresources; recording stand-ins for every
script). A crash of weasel (kill -9 of every hbeat process, its resources gone
as after a reboot) moves the group to otter within deadtime plus the time the
scripts take; weasel restarted leaves it on otter with `auto_failback off` and
gets it back, without overlap, with `auto_failback on`.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import Lab
from tests.hbeat.config.seed import SEED_HARESOURCES, SEED_SCRIPTS

from .cluster import DEADTIME_S, FailoverCluster

GROUP = "drbddisk::r0"
FIRST, LAST = "drbddisk::r0", "apache"
ORDER = ["drbddisk::r0", "LVM::vg0", "Filesystem::/dev/vg0/data::/srv::ext4",
         "IPaddr::10.0.0.100", "apache"]
SLACK_S = 1.5  # keepalive interval, scheduling on a loaded 2-core machine


def start_order(c: FailoverCluster, node: str, after: float) -> list[str]:
    return [r.resource for r in c.records.find(node=node, action="start", result="ok",
                                               after=after)]


@pytest.mark.slow
@pytest.mark.parametrize("auto_failback", ["off", "on"])
def test_kill9_moves_the_group_then_restart(lab: Lab, auto_failback: str) -> None:
    c = FailoverCluster(lab, SEED_HARESOURCES, auto_failback=auto_failback,
                        scripts=SEED_SCRIPTS)
    t0 = time.time()
    c.start()
    c.wait_holders({GROUP: "weasel"})
    assert start_order(c, "weasel", t0) == ORDER
    # otter has no group of its own: like 3.0.6 it reports the (empty) local
    # class it took responsibility for at start-up.
    assert c.rscstatus("weasel") == "local" and c.rscstatus("otter") == "local"

    c.wait_past_startup_window("weasel")  # so that otter applies the configured deadtime

    t_kill = c.crash("weasel")
    c.wait_holders({GROUP: "otter"}, timeout=DEADTIME_S + 20)
    dead = c.feeds["otter"].wait_topic("cluster.node-dead", 1, lambda b: b.get("node") == "weasel")
    assert start_order(c, "otter", t_kill) == ORDER
    first = c.records.find(node="otter", resource=FIRST, after=t_kill)[0].t
    last = c.records.find(node="otter", resource=LAST, action="start", after=t_kill)[-1].t
    detection, scripts, takeover = dead["at"] - t_kill, last - first, last - t_kill
    print(f"\nauto_failback {auto_failback}: weasel declared dead after {detection:.2f} s, "
          f"scripts {scripts:.2f} s, takeover (kill -> last start) {takeover:.2f} s")
    assert DEADTIME_S - 0.6 <= detection <= DEADTIME_S + SLACK_S, detection
    assert takeover <= DEADTIME_S + scripts + SLACK_S, (detection, scripts, takeover)
    assert c.rscstatus("otter") == "all"
    log = c["otter"].log()
    assert "Resources being acquired from weasel." in log
    assert "mach_down takeover complete for node weasel." in log

    watch = c["weasel"].log_watcher()
    t_back = time.time()
    c.start(["weasel"])
    if auto_failback == "off":
        watch.wait(r"Initial resource acquisition complete", timeout=20)
        c.wait_holders({GROUP: "otter"})
        assert not c.records.find(node="weasel", action="start", after=t_back)
        assert c.rscstatus("weasel") == "none" and c.rscstatus("otter") == "all"
    else:
        c.wait_holders({GROUP: "weasel"}, timeout=30)
        assert start_order(c, "weasel", t_back) == ORDER
        stops = [r.resource for r in c.records.find(node="otter", action="stop",
                                                    result="ok", after=t_back)]
        assert stops == ORDER[::-1]
        last_stop = c.records.find(node="otter", action="stop", after=t_back)[-1].t
        first_start = c.records.find(node="weasel", action="start", after=t_back)[0].t
        assert last_stop < first_start
        back = c.records.find(node="weasel", resource=LAST, action="start")[-1].t - t_back
        print(f"auto_failback on: group back on weasel {back:.2f} s after its restart")
        assert c.rscstatus("weasel") == "local" and c.rscstatus("otter") == "local"
    c.audit({GROUP: "otter" if auto_failback == "off" else "weasel"})
