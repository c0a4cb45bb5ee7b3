"""The ping worker (src/workers/ping.py) as a real process in a lab node,
behind a stand-in supervisor on a real bus, against forged ICMP replies.

The node ignores echo requests (`net.ipv4.icmp_echo_ignore_all=1`, per
network namespace), so its ping node 127.0.0.5 never answers; meanwhile a
raw socket floods the worker's ICMP socket (its identifier read from
/proc/net/icmp) with echo replies "from" 127.0.0.5 carrying every
sequence number and a wrong payload. None may count: the worker reports
the node dead after deadping and never up. Once the node answers again,
the worker reports it up; a new setup (a reload) changes its deadping.
Its ICMP socket also needs
`net.ipv4.ping_group_range`, which the worker widens itself (as root).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from hbeat.ipc.bus import Hello, Warn
from hbeat.ipc.ping import PingSetup, PingState, PingTarget, decode_ping_report
from tests.harness import Lab

pytestmark = [pytest.mark.root]

TARGET = "127.0.0.5"
FORGE = r"""
import socket, struct, sys

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

ident = None
for line in open("/proc/net/icmp").read().splitlines()[1:]:
    local = line.split()[1]
    ident = int(local.split(":")[1], 16)
assert ident is not None, "no ICMP socket open"
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
raw.bind((sys.argv[1], 0))
for seq in range(65536):
    body = b"forged-payload!!"
    head = struct.pack("!BBHHH", 0, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 0, 0, checksum(head + body), ident, seq) + body
    raw.sendto(packet, ("127.0.0.1", 0))
print(ident)
"""


def test_forged_replies_never_bring_a_ping_node_up(
        lab_factory: Callable[..., Lab], tmp_path: Path) -> None:
    lab = lab_factory(1)
    node = lab.nodes["otter"]
    node.run(["ip", "link", "set", "lo", "up"])
    node.run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"])
    ctx = zmq.Context()
    bus = ctx.socket(zmq.ROUTER)
    bus.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{tmp_path}/bus"
    bus.bind(endpoint)
    try:
        node.spawn([sys.executable, "-m", "workers.ping", "--bus", endpoint, "--name", "ping"],
                   name="ping")
        assert bus.poll(15_000), "no hello from the ping worker"
        ident, *parts = bus.recv_multipart()
        assert isinstance(decode_ping_report(parts), Hello)
        setup = PingSetup((PingTarget(TARGET, (TARGET,)),), interval_ms=200, deadping_ms=1000)
        bus.send_multipart([ident, *setup.encode()])

        def next_report(timeout_s: float) -> object:
            if not bus.poll(int(timeout_s * 1000)):
                return None
            _, *msg = bus.recv_multipart()
            return decode_ping_report(msg)

        first = next_report(5)
        if isinstance(first, Warn):  # the range was widened: said once
            assert "ping_group_range" in first.error
            first = None
        time.sleep(0.3)  # a few requests are outstanding
        forged = node.run([sys.executable, "-c", FORGE, TARGET], timeout=60)
        assert forged.stdout.strip().isdigit()
        reports = [first] if first is not None else []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            report = next_report(deadline - time.monotonic())
            if report is not None:
                reports.append(report)
        states = [r for r in reports if isinstance(r, PingState)]
        assert states == [PingState(TARGET, False)], reports

        node.run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0"])
        report = next_report(5)
        assert report == PingState(TARGET, True, TARGET), report

        # a reload's new setup: a longer deadping applies to the running worker
        bus.send_multipart([ident, *PingSetup(setup.targets, 200, 3000).encode()])
        time.sleep(0.3)
        node.run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"])
        silent_since = time.monotonic()
        report = next_report(6)
        assert report == PingState(TARGET, False), report
        assert time.monotonic() - silent_since > 2.0  # not the old deadping of 1 s
    finally:
        bus.close()
        ctx.term()
