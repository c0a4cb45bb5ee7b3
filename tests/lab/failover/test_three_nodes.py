"""Three nodes, two of them the resource pair: groups fail over within the
pair, and the third node (a member only) never runs, stops or takes one.

haresources homes `LVM::vg0` on otter and `IPaddr::10.0.0.100` on weasel;
ferret is in ha.cf but named by no group. Checked: every node settles with
the groups on their homes and ferret holding nothing (snapshot, rscstatus,
its log says why); hb_standby/hb_takeover on ferret are refused with the
reason; kill -9 of otter moves its group to weasel and never to ferret (the
stand-ins' records: ferret never ran a script); otter back (auto_failback
off) leaves it there; kill -9 of weasel then moves both groups to otter.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.harness import Lab

from .cluster import HB_STANDBY, HB_TAKEOVER, FailoverCluster

pytestmark = [pytest.mark.root, pytest.mark.slow]

NODES = ("otter", "weasel", "ferret")
HARESOURCES = "otter LVM::vg0\nweasel IPaddr::10.0.0.100\n"
LVM, IP = "LVM::vg0", "IPaddr::10.0.0.100"


@pytest.fixture
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(3)


def test_groups_fail_over_within_the_pair_and_never_to_the_member(lab: Lab) -> None:
    c = FailoverCluster(lab, HARESOURCES, scripts=("LVM", "IPaddr"), nodes=NODES)
    c.start()
    c.wait_holders({LVM: "otter", IP: "weasel"})
    assert c.rscstatus("ferret") == "none"
    assert c.groups("ferret") == {LVM: "stopped", IP: "stopped"}
    assert ("info: No resources run here: haresources homes its groups on otter and weasel, "
            "which take them over from each other; this node is a member only.") in \
        c["ferret"].log()
    for tool, verb in ((HB_STANDBY, "standby"), (HB_TAKEOVER, "takeover")):
        res = c.run_on("ferret", [tool, "all"])
        assert res.returncode != 0, res
        assert (f"this node runs no resources: haresources homes its groups on otter and "
                f"weasel; run hb_{verb} there") in res.stdout + res.stderr, res

    t_crash = c.crash("otter")
    c.wait_holders({LVM: "weasel", IP: "weasel"}, timeout=40)
    assert c.rscstatus("ferret") == "none"
    assert c["ferret"].node_states()["otter"] == "dead"

    c.start(["otter"])
    c.wait_holders({LVM: "weasel", IP: "weasel"}, timeout=40)  # auto_failback off

    c.crash("weasel")
    c.wait_holders({LVM: "otter", IP: "otter"}, timeout=40)
    assert c.records.find(node="ferret") == [], "the member-only node ran a resource script"
    assert c.records.find(node="weasel", action="start", resource=LVM, result="ok",
                          after=t_crash), "weasel never took otter's group over"
