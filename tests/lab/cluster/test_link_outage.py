"""Keepalives a node could not send while its only link was down are still
retransmitted when the peer asks for them.

Two hbeat nodes joined by `bcast eth1` only. otter's eth1 goes down for a
little over two keepalives (less than deadtime): its link worker's sends
fail ("Network is unreachable"), but each of those keepalives took a
sequence number. When the link is back, weasel sees the gap and asks for
the missing messages; otter must answer them from its history (holes filled,
no nak) instead of "Cannot rexmit pkt N ...: seqno not found" on otter and
"Irretrievably lost packet" on weasel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.harness import Lab, authkeys_text, wait_for

from .clusters import KEEPALIVE_MS, fast_hacf, start_hbeat

pytestmark = [pytest.mark.root]

NODES = ("otter", "weasel")


def test_keepalives_missed_while_the_only_link_was_down_are_retransmitted(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    nodes = start_hbeat(lab, fast_hacf(NODES, ["bcast eth1"]), authkeys_text("sha1", "outage"))
    for node in nodes.values():
        node.wait_active(NODES, timeout=20)
    otter, weasel = nodes["otter"], nodes["weasel"]
    before = weasel.counters()

    lab.cut("otter")
    t_cut = time.monotonic()
    wait_for(lambda: "Network is unreachable" in otter.log(), 5,
             what="otter's link worker failing to send")
    wait_for(lambda: time.monotonic() - t_cut > 2.5 * KEEPALIVE_MS / 1000, 5, interval=0.05,
             what="more than two keepalive intervals of outage")
    lab.restore("otter")

    def filled() -> bool:
        c = weasel.counters()
        return c["lost_packets"] > before["lost_packets"] and \
            c["holes_filled"] - before["holes_filled"] >= c["lost_packets"] - before["lost_packets"]

    wait_for(filled, 10, what="weasel to fill every hole otter's outage left",
             describe=lambda: (weasel.counters(), weasel.log()[-2000:]))
    after = weasel.counters()
    assert after["irretrievable"] == before["irretrievable"], weasel.log()
    assert "Cannot rexmit" not in otter.log(), otter.log()
    assert "Irretrievably lost" not in weasel.log(), weasel.log()
    assert otter.node_states() == weasel.node_states() == dict.fromkeys(NODES, "active")
