"""ipfail's count message between an hbeat node and a real heartbeat 3.0.6 node.

otter runs hbeat with a ping node and `ipfail on`; weasel runs the Debian
heartbeat with the same ping node (its ha.cf has no `ipfail` line: heartbeat
would reject the hbeat-only directive). otter sends its count in an
hbeat-only `hbeat-pingcount` message; heartbeat must take it like any
message (ACKed, no complaint in its log) and both sides must keep seeing
each other active, with the ping node up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import linklayer
from tests.harness import Lab, authkeys_text, require_commands, udp_datagrams, wait_for
from tests.lab.cluster.attack import keyring
from tests.lab.cluster.clusters import fast_hacf, start_hbeat, start_heartbeat
from tests.lab.interop.test_mixed_cluster import COMPLAINTS

pytestmark = [pytest.mark.slow, pytest.mark.root]

NODES = ("otter", "weasel")


def test_a_heartbeat_peer_ignores_the_ping_count(lab_factory: Callable[..., Lab]) -> None:
    require_commands("heartbeat", "cl_status", "tcpdump")
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    target = lab.client.ip
    capture = lab.capture("otter", bpf="udp port 694")
    hacf = fast_hacf(NODES, ["bcast eth1"], extra=[f"ping {target}", "deadping 2"])
    keys_text = authkeys_text("sha1", "mixed-ping")
    real = start_heartbeat(lab, hacf, keys_text, names=["weasel"])["weasel"]
    ours = start_hbeat(lab, hacf + "ipfail on\n", keys_text,
                       names=["otter"])["otter"]
    ours.wait_active(NODES, timeout=20)
    real.wait_active(NODES, timeout=20)
    wait_for(lambda: ours.cl_status("nodestatus", target).stdout == "ping\n", 15,
             what="hbeat to see the ping node up")
    wait_for(lambda: real.cl_status("nodestatus", target).stdout == "ping\n", 15,
             what="heartbeat to see the ping node up")
    keys = keyring("sha1", "mixed-ping")

    def counts() -> list[linklayer.Decoded]:
        return [m for m in (linklayer.decode(d.payload, keys)
                            for d in udp_datagrams(capture.path, 694))
                if m.get(b"t") == b"hbeat-pingcount"]

    wait_for(lambda: bool(counts()), 15, interval=0.25,
             what="otter's hbeat-pingcount message on the wire")
    sent = counts()[0]
    assert (sent[b"src"], sent[b"dest"], sent[b"count"], sent[b"total"]) == (
        b"otter", b"weasel", b"1", b"1")
    wait_for(lambda: ours.counters()["acks_received"] > 0, 10, what="heartbeat's ACKs")
    assert ours.cl_status("nodestatus", "weasel").stdout == "active\n"
    assert real.cl_status("nodestatus", "otter").stdout == "active\n"
    complaints = [line for line in real.log().splitlines() if COMPLAINTS.search(line)]
    assert not complaints, "heartbeat complained about hbeat:\n" + "\n".join(complaints)
