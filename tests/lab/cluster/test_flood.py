"""A flood of garbage datagrams (no key needed) at one node of a running pair:
no false death on either side, keepalives keep flowing, and the log says it
once a second per reason, not once per datagram. Real daemons in a lab; the
flood comes from the lab's third host."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.harness import Lab
from tests.harness.procs import run
from tests.lab.daemon.cluster import DEADTIME_S, Cluster

FLOOD_S = 3 * DEADTIME_S

_FLOODER = """
import os, socket, sys, time
dest, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
payloads = [b"###\\n" + os.urandom(60) for _ in range(64)]
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for p in payloads:
        try:
            s.sendto(p, (dest, port))
            sent += 1
        except OSError:
            pass
print(sent)
"""


def test_garbage_flood_causes_no_false_death_and_no_log_storm(
    lab_factory: Callable[..., Lab],
) -> None:
    lab = lab_factory(2, client=True)
    assert lab.client is not None
    cluster = Cluster(lab).start()
    cluster.wait_all_active()
    otter, weasel = cluster["otter"], cluster["weasel"]
    rejected_before = otter.snapshot()["counters"]["rx_rejected"]
    log_before = otter.logfile.read_text().count("\n")

    started = time.monotonic()
    res = run(lab.client.netns_argv(["python3", "-c", _FLOODER, lab["otter"].ip, "694",
                                     str(FLOOD_S)]), timeout=FLOOD_S + 30)
    elapsed = time.monotonic() - started
    sent = int(res.stdout.strip())
    rate = sent / FLOOD_S
    print(f"flood: {sent} datagrams in {FLOOD_S:g} s ({rate:,.0f}/s)")
    assert rate > 10_000, f"the flooder only reached {rate:,.0f} datagrams/s"

    # Nobody was declared dead, on either side, during or after the flood.
    for name, feed in cluster.feeds.items():
        deaths = [m for m in feed.collect(0.5)
                  if m.topic.startswith("node.") and m.body.get("new") == "dead"]
        assert deaths == [], f"{name} saw a false death: {deaths}"
    for node in (otter, weasel):
        states = {n["name"]: n["status"] for n in node.snapshot()["nodes"]}
        assert states == {"otter": "active", "weasel": "active"}, (node.name, states)
    log = otter.logfile.read_text()
    assert not re.search(r"node \S+: is dead|Link \S+ dead", log), log[-3000:]

    # Counted, and said at most about once a second per reason.
    rejected = otter.snapshot()["counters"]["rx_rejected"] - rejected_before
    assert rejected > sent // 10, (rejected, sent)
    lines = log.splitlines()[log_before:]
    rejection_lines = [line for line in lines if "rejected" in line and "packet" in line]
    assert len(rejection_lines) <= 2 * (elapsed + 2), (len(rejection_lines), elapsed)
    assert len(lines) < 20 * (elapsed + 2), f"{len(lines)} log lines in {elapsed:.1f} s"

