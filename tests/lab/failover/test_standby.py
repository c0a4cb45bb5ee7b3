"""hb_standby and hb_takeover in every form, with `cl_status rscstatus` on both nodes.

Two groups, one per home node: otter's `apache::www` and weasel's
`drbddisk::r0 LVM::vg0`, so "local" and "foreign" differ. Each step runs one
command on one node and waits until both snapshots agree on the holder of
each group; then `cl_status rscstatus` on both nodes must say what they hold
(local = its own group, foreign = the other's), the status feed must have
shown `transition` on both while resources moved, and the records must show
no overlap. The first step also catches `transition` in cl_status itself by
making the acquiring start slow.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import Lab

from .cluster import HB_STANDBY, HB_TAKEOVER, FailoverCluster
from .standins import steer, unsteer

HARESOURCES = "otter apache::www\nweasel drbddisk::r0 LVM::vg0\n"
OG, WG = "apache::www", "drbddisk::r0"
HOME = {OG: "otter", WG: "weasel"}

# (node, command, which) -> holders of (otter's group, weasel's group) afterwards
STEPS = [
    ("otter", "standby", "local", ("weasel", "weasel")),
    ("otter", "takeover", "all", ("otter", "otter")),
    ("otter", "standby", "foreign", ("otter", "weasel")),
    ("weasel", "takeover", "foreign", ("weasel", "weasel")),
    ("otter", "takeover", "local", ("otter", "weasel")),
    ("otter", "takeover", "foreign", ("otter", "otter")),
    ("weasel", "takeover", "failback", ("otter", "weasel")),
    ("weasel", "standby", "all", ("otter", "otter")),
    ("otter", "standby", "failback", ("otter", "weasel")),
    ("weasel", "standby", "local", ("otter", "otter")),
    ("weasel", "takeover", "all", ("weasel", "weasel")),
]


def rscstatus_for(node: str, holders: dict[str, str]) -> str:
    mine = any(holders[g] == node for g in holders if HOME[g] == node)
    theirs = any(holders[g] == node for g in holders if HOME[g] != node)
    return {(True, True): "all", (True, False): "local", (False, True): "foreign",
            (False, False): "none"}[(mine, theirs)]


def held_since(c: FailoverCluster, node: str, t: float) -> list[str]:
    c.feeds[node].drain()
    return [b["held"] for topic, b in c.feeds[node].events
            if topic == "cluster.held" and b["at"] >= t]


@pytest.mark.slow
def test_standby_and_takeover_in_every_form(lab: Lab) -> None:
    c = FailoverCluster(lab, HARESOURCES, scripts=["apache", "drbddisk", "LVM"])
    c.start()
    holders = {OG: "otter", WG: "weasel"}
    c.wait_holders(holders)
    assert (c.rscstatus("otter"), c.rscstatus("weasel")) == ("local", "local")
    durations = []
    for n, (node, command, which, (og, wg)) in enumerate(STEPS):
        moved = {g for g, h in {OG: og, WG: wg}.items() if holders[g] != h}
        assert moved, f"step {n} moves nothing: the table is wrong"
        slow = n == 0  # the acquiring start sleeps 3 s: cl_status must say transition
        if slow:
            steer(c.control, og, OG, "start", "sleep 3")
        marks = {name: len(c[name].log()) for name in c.nodes}
        t = time.time()
        res = c.run_on(node, [HB_STANDBY if command == "standby" else HB_TAKEOVER, which])
        assert res.returncode == 0, (n, res)
        if slow:
            c.feeds[og].wait_topic(f"resource.{OG}", 15,
                             lambda b, t=t: b["at"] >= t and b["new"] == "starting")
            assert c.rscstatus(og) == "transition"
            unsteer(c.control, og, OG, "start")
        holders = {OG: og, WG: wg}
        durations.append(c.wait_holders(holders, timeout=30))
        for name in c.nodes:
            assert c.rscstatus(name) == rscstatus_for(name, holders), (n, name, holders)
            assert "transition" in held_since(c, name, t), (n, name, held_since(c, name, t))
        asker_log = c[node].log()[marks[node]:]
        if command == "standby":
            word = "foreign" if which == "failback" else which
            assert f"info: Going standby [{word}]." in asker_log, (n, asker_log)
        else:
            peer = "weasel" if node == "otter" else "otter"
            assert f"Asking {peer} to give up [{which}] resources." in asker_log, (n, asker_log)
        for g in moved:
            old = "otter" if holders[g] == "weasel" else "weasel"
            stop = c.records.find(node=old, resource=g, action="stop", result="ok", after=t)
            start = c.records.find(node=holders[g], resource=g, action="start", result="ok",
                                  after=t)
            assert stop and start and stop[-1].t < start[0].t, (n, g, stop, start)
    assert not c.records.overlaps()
    print(f"\n{len(STEPS)} standby/takeover steps, each settled within "
          f"{min(durations):.2f}-{max(durations):.2f} s")
