"""Three hbeat nodes (otter, weasel, ferret) reach active on every link.

Variants: `bcast eth1` (one ha.cf for all), `ucast eth1 <peer>` (each node's
ha.cf lists its two peers, as heartbeat's ucast needs), and
`mcast eth1 225.0.0.1 694 1 0`. A node hears its own bcast, never its own
ucast, and not its own mcast with loop 0 (docs/heartbeat-protocol.md §1.6), so its own
link is `up` only with bcast. Then cl_status on every node lists every node
active with its links, as heartbeat prints it (reverse ha.cf order).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.harness import Lab, authkeys_text

from .clusters import fast_hacf, start_hbeat

pytestmark = [pytest.mark.root]

NODES = ("otter", "weasel", "ferret")


def media_for(lab: Lab, variant: str, node: str) -> list[str]:
    if variant == "bcast":
        return ["bcast eth1"]
    if variant == "mcast":
        return ["mcast eth1 225.0.0.1 694 1 0"]
    return [f"ucast eth1 {lab[p].ip}" for p in NODES if p != node]


@pytest.mark.parametrize("variant", ["bcast", "ucast", "mcast"])
def test_three_nodes_reach_active_on_every_link(
    lab_factory: Callable[..., Lab], variant: str
) -> None:
    lab = lab_factory(3)
    nodes = start_hbeat(lab, lambda n: fast_hacf(NODES, media_for(lab, variant, n)),
                        authkeys_text("md5", "three-nodes"))
    own_link = "up" if variant == "bcast" else "dead"
    for n, node in nodes.items():
        node.wait_active(NODES, timeout=20)
        node.wait_links({(p, "eth1"): "up" if p != n else own_link for p in NODES},
                        timeout=10)

    for n, node in nodes.items():
        expected = "".join(
            f"\n{p}\tactive\t(nodetype: normal)\n\teth1\t{own_link if p == n else 'up'}\n"
            for p in reversed(NODES)
        )
        res = node.cl_status("listnodes", "-v")
        assert (res.returncode, res.stdout, res.stderr) == (0, expected, ""), n
        res = node.cl_status("listnodes")
        assert res.stdout == "".join(f"{p}\n" for p in reversed(NODES))
        for p in NODES:
            res = node.cl_status("nodestatus", p)
            assert (res.returncode, res.stdout) == (0, "active\n"), (n, p)
            link = own_link if p == n else "up"
            res = node.cl_status("hblinkstatus", p, "eth1")
            assert (res.returncode, res.stdout) == (0 if link == "up" else 1, f"{link}\n")
            assert node.cl_status("listhblinks", p).stdout == "\teth1\n"
        # nothing went wrong on the way: no peer was ever seen dead or late
        log = node.log()
        assert "is dead" not in log and "Late heartbeat" not in log, log
