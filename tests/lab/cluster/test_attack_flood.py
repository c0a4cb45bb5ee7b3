"""Floods of authentic-looking input at one node of a running hbeat pair.

Two hbeat nodes joined only by bcast eth1 (keepalive 500 ms, deadtime 4 s),
and the lab's third host, which captures their frames and then floods otter
for 2.5 deadtimes with (a) weasel's captured frames re-sent byte for byte
(a recording: no key needed) and (b) `NS_rexmit` requests as if from weasel,
forged with the cluster key, 2,000 different ones asking for otter's recent
messages (heartbeat answers each with retransmissions). Afterwards: nobody
was declared dead on either side (status feeds, snapshots, logs), otter
kept sending its keepalives through the flood (the capture shows no gap of
half a deadtime), and otter's log said at most about one line a second per
reason. The bench's attack phase (bench/cluster/attack.py) measures the
same at higher rates against heartbeat 3.0.6.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import linklayer
from linklayer.message import STRING, Field
from linklayer.pcap import PcapError
from tests.harness import Lab, authkeys_text, require_commands, udp_datagrams, wait_for
from tests.harness.capture import Capture
from tests.harness.hbeatnode import FeedLog, HbeatNode
from tests.harness.netns import sweep_stale_labs
from tests.harness.procs import run
from tests.harness.requirements import require_root

from .attack import keyring, rexmit_requests
from .clusters import DEADTIME_MS, KEEPALIVE_MS, fast_hacf, start_hbeat

pytestmark = [pytest.mark.root]

NODES = ("otter", "weasel")
SECRET = "flood-secret"
FLOOD_S = 2.5 * DEADTIME_MS / 1000
MIN_RATE = 10_000  # datagrams/s the flooder must reach for the test to mean anything

# Cycles through the payloads (hex, one a line, on stdin) as fast as it can.
_FLOODER = """
import socket, sys, time
dest, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
payloads = [bytes.fromhex(line) for line in sys.stdin.read().split()]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for p in payloads[:256] if len(payloads) > 256 else payloads:
        try:
            s.sendto(p, (dest, port))
            sent += 1
        except OSError:
            pass
    payloads = payloads[256:] + payloads[:256]
print(sent)
"""
LOG_PREFIX = re.compile(r"^.*?\[\d+\]:\s*")
NUMBER = re.compile(r"(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*")


@dataclass
class Pair:
    lab: Lab
    nodes: dict[str, HbeatNode]
    capture: Capture


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    require_root("network namespaces")
    require_commands("ip", "nsenter", "unshare", "tcpdump")
    sweep_stale_labs()
    lab = Lab(list(NODES), client=True).start()
    try:
        assert lab.client is not None
        capture = lab.capture("client", bpf=f"udp port 694 and not src host {lab.client.ip}")
        nodes = start_hbeat(lab, fast_hacf(NODES, ["bcast eth1"]), authkeys_text("sha1", SECRET),
                            names=NODES)
        for node in nodes.values():
            node.wait_active(NODES, timeout=20)
        for node in nodes.values():
            node.wait_links({(p, "eth1"): "up" for p in NODES}, timeout=10)
        yield Pair(lab, nodes, capture)
    finally:
        lab.close()


@pytest.fixture
def labbed(pair: Pair, request: pytest.FixtureRequest) -> Pair:
    """The module's pair, its lab's logs attached to a failed test's report."""
    request.node.hbeat_labs = [pair.lab]
    return pair


def frames_from(pair: Pair, src: str) -> list[tuple[float, bytes, list[Field]]]:
    """(capture time, bytes, fields) of `src`'s frames captured so far."""
    keys = keyring("sha1", SECRET)
    out = []
    for d in udp_datagrams(pair.capture.path, port=694):
        msg = linklayer.decode(d.payload, keys)
        if msg.get(b"src") == src.encode():
            out.append((d.time, d.payload, list(msg.fields)))
    return out


def reason(line: str) -> str:
    return NUMBER.sub("#", LOG_PREFIX.sub("", line, count=1)).strip()[:80]


def flood(pair: Pair, payloads: list[bytes]) -> dict[str, Any]:
    """Flood otter with `payloads` for FLOOD_S; what changed, what was logged."""
    otter = pair.nodes["otter"]
    feeds: dict[str, FeedLog] = {n: node.feed() for n, node in pair.nodes.items()}
    for feed in feeds.values():
        feed.drain()
    logs = {n: node.logfile.read_text().count("\n") for n, node in pair.nodes.items()}
    assert pair.lab.client is not None
    started, t0 = time.monotonic(), time.time()
    res = run(pair.lab.client.netns_argv(["python3", "-c", _FLOODER, pair.lab["otter"].ip, "694",
                                          str(FLOOD_S)]),
              input="\n".join(p.hex() for p in payloads).encode(), timeout=FLOOD_S + 30)
    elapsed, t1 = time.monotonic() - started, time.time()
    time.sleep(KEEPALIVE_MS / 1000 * 2)  # the capture catches up
    rate = int(res.stdout.strip()) / FLOOD_S
    print(f"flood: {rate:,.0f} datagrams/s for {elapsed:.1f} s")
    assert rate > MIN_RATE, f"the flooder only reached {rate:,.0f} datagrams/s"
    deaths = {n: [m for m in feed.collect(0.5)
                  if m.topic.startswith("node.") and m.body.get("new") == "dead"]
              for n, feed in feeds.items()}
    lines = {n: node.logfile.read_text().splitlines()[logs[n]:]
             for n, node in pair.nodes.items()}
    keepalives = [t for t, _p, f in frames_from(pair, "otter")
                  if (b"t", STRING, b"status") in f and t0 <= t <= t1]
    return {"deaths": deaths, "lines": lines, "elapsed": elapsed, "keepalives": keepalives,
            "t0": t0, "t1": t1, "otter": otter.counters()}


def assert_survived(pair: Pair, result: dict[str, Any]) -> None:
    # Nobody was declared dead, on either side, and both still see both active.
    assert result["deaths"] == {"otter": [], "weasel": []}, result["deaths"]
    for n, node in pair.nodes.items():
        assert node.node_states() == dict.fromkeys(NODES, "active"), n
        dead = [ln for ln in result["lines"][n] if re.search(r": is dead|Link \S+ dead", ln)]
        assert dead == [], f"{n}: {dead}"
    # Otter kept sending keepalives through the flood: no gap of half a deadtime.
    times = [result["t0"], *result["keepalives"], result["t1"]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < DEADTIME_MS / 2000, f"otter's keepalives stopped for {max(gaps):.2f} s"
    # Said at most about once a second per reason, however many datagrams came.
    per_reason = Counter(reason(ln) for ln in result["lines"]["otter"])
    limit = result["elapsed"] + 3
    noisy = {r: c for r, c in per_reason.items() if c > limit}
    assert noisy == {}, f"more than {limit:.0f} lines in {result['elapsed']:.1f} s: {noisy}"


def test_replayed_frames_flood_causes_no_false_death_and_no_log_storm(labbed: Pair) -> None:
    pair = labbed
    def recording() -> list[tuple[float, bytes, list[Field]]] | None:
        frames = frames_from(pair, "weasel")
        return frames if len(frames) >= 12 else None

    recorded = wait_for(recording, 20, what="12 captured frames from weasel",
                        ignore=(PcapError,))
    payloads = list(dict.fromkeys(p for _t, p, _f in recorded))
    before = pair.nodes["otter"].counters()
    result = flood(pair, payloads)
    assert_survived(pair, result)
    # The replays were refused at the link, before costing the supervisor
    # anything: it handled about the genuine traffic only (weasel's
    # keepalives and the odd ack), not the hundreds of thousands replayed.
    refused = result["otter"]["rx_rejected"] - before["rx_rejected"]
    assert refused > 0, (before, result["otter"])
    handled = result["otter"]["rx_frames"] - before["rx_frames"]
    genuine = 4 * result["elapsed"] / (KEEPALIVE_MS / 1000) + 50
    assert handled < genuine, f"supervisor: {handled} frames in {result['elapsed']:.1f} s"


def test_forged_rexmit_flood_causes_no_false_death_and_no_log_storm(labbed: Pair) -> None:
    pair = labbed

    def last_status(src: str) -> dict[bytes, tuple[int, bytes]]:
        fields = [f for _t, _p, f in frames_from(pair, src) if (b"t", STRING, b"status") in f][-1]
        return {n: (t, v) for n, t, v in fields}

    payloads = rexmit_requests(last_status("weasel"), last_status("otter"),
                               keyring("sha1", SECRET))
    assert len(set(payloads)) == len(payloads) >= 1000
    result = flood(pair, payloads)
    assert_survived(pair, result)
