"""The status feed over TCP with CURVE (ha.cf `status_tcp`) on a live cluster.

Lab test: otter and weasel run with `status_tcp 127.0.0.1:9713 curve
server.key_secret clients/`; three `hbeat watch --connect` clients run in
otter's namespace: one whose public key is in clients/ (it receives the
snapshot and the link-dead event when weasel's ethernet is cut), one with
a key the node does not know, and one without CURVE (both receive nothing).
(`hbeat check` on the directive: tests/hbeat/config/test_statustcp.py.)
"""

from __future__ import annotations

import json
import sys

from tests.harness import Lab, ha_cf, wait_for
from tests.harness.hbeatnode import HbeatConfig
from tests.hbeat.config.curvekeys import make_keys
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.cluster.clusters import TIMINGS
from tests.lab.failover.cluster import DEADTIME_S, FailoverCluster

PORT = 9713


class TcpFeedCluster(FailoverCluster):
    status_tcp = ""

    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        hacf = ha_cf(list(self.names), **TIMINGS, media=["bcast eth1"],
                     auto_failback=auto_failback, extra=[self.status_tcp])
        return HbeatConfig(hacf, SEED_AUTHKEYS, self.haresources, env=self.env)


def feed_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_curve_client_gets_the_feed_and_strangers_get_nothing(lab: Lab) -> None:
    keys = make_keys(lab.dir / "curve")
    TcpFeedCluster.status_tcp = (f"status_tcp 127.0.0.1:{PORT} curve {keys['server_secret']} "
                                 f"{keys['clients']}")
    c = TcpFeedCluster(lab, "")
    c.start()
    assert "status feed also on tcp://127.0.0.1:9713 (CURVE)" in c["otter"].log()
    watch = [sys.executable, "-m", "hbeat", "watch", "--json", "--timeout", "60",
             "--connect", f"tcp://127.0.0.1:{PORT}"]
    good = lab["otter"].spawn([*watch, "--curve-server-key", str(keys["server"]),
                               "--curve-key", str(keys["good"])], name="watch-good")
    bad = lab["otter"].spawn([*watch, "--curve-server-key", str(keys["server"]),
                              "--curve-key", str(keys["bad"])], name="watch-bad")
    plain = lab["otter"].spawn(watch, name="watch-plain")

    # the periodic snapshot (every 10 s) reaches the client with the right key
    try:
        wait_for(lambda: any(m["topic"] == "snapshot" for m in feed_lines(good.output())),
                 timeout=25, what="a snapshot on the CURVE client")
    except Exception:
        print("GOOD:", good.output(), "BAD:", bad.output(), "LOG:", c["otter"].log()[-3000:])
        raise
    snap = next(m for m in feed_lines(good.output()) if m["topic"] == "snapshot")
    assert isinstance(snap["body"], dict) and snap["body"]["local"] == "otter"

    # and so do events
    lab.cut("weasel")
    wait_for(lambda: any(m["topic"] == "link.weasel.eth1" for m in feed_lines(good.output())),
             timeout=DEADTIME_S + 10, what="the link-dead event on the CURVE client")
    for stranger in (bad, plain):
        assert stranger.alive()
        assert feed_lines(stranger.output()) == [], stranger.output()
    for proc in (good, bad, plain):
        proc.stop()
