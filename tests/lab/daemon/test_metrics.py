"""The Prometheus endpoint of a live two-node cluster, scraped and parsed.

otter and weasel (tests/lab/failover/cluster.py: keepalive 500 ms, deadtime 4 s,
recording stand-in scripts) run with `metrics 127.0.0.1:9712` and
`metrics_textfile /run/hbeat.prom` in ha.cf. The test scrapes otter from
inside its namespace, parses the text with prometheus_client's own parser
and checks every metric docs/metrics.md documents; then weasel is killed,
otter takes the group over, and the failover shows up: one failover, its
duration, both node and link states dead, start scripts timed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Lab, ha_cf, wait_for
from tests.harness.hbeatnode import HbeatConfig
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.cluster.attack import send_udp
from tests.lab.cluster.clusters import TIMINGS
from tests.lab.failover.cluster import DEADTIME_S, FailoverCluster

HARESOURCES = "weasel drbddisk::r0 LVM::vg0 apache\n"
SCRIPTS = ("drbddisk", "LVM", "apache")
GROUP = "drbddisk::r0"
PORT = 9712
TEXTFILE = "/run/hbeat.prom"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
SCRAPE = ("import sys, urllib.request\n"
          f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{PORT}/metrics', "
          "timeout=5).read().decode())\n")


class MetricsCluster(FailoverCluster):
    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        hacf = ha_cf(list(self.names), **TIMINGS, media=["bcast eth1"],
                     auto_failback=auto_failback,
                     extra=[f"metrics 127.0.0.1:{PORT}", f"metrics_textfile {TEXTFILE}"])
        return HbeatConfig(hacf, SEED_AUTHKEYS, self.haresources, env=self.env)


def scrape(c: FailoverCluster, name: str) -> dict[str, Metric]:
    result = c.lab[name].run([sys.executable, "-c", SCRAPE], timeout=20)
    return {m.name: m for m in text_string_to_metric_families(result.stdout)}


def value(metrics: dict[str, Metric], name: str, sample: str | None = None,
          **labels: str) -> float:
    found = [s.value for s in metrics[name].samples
             if (sample is None or s.name == sample) and all(
                 s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, sample, labels, metrics[name].samples)
    return found[0]


def documented() -> set[str]:
    return set(re.findall(r"^\| `(hbeat_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))


def test_metrics_follow_the_cluster_and_a_failover(lab: Lab) -> None:
    c = MetricsCluster(lab, HARESOURCES, scripts=SCRIPTS)
    c.start()
    c.wait_holders({GROUP: "weasel"})

    metrics = scrape(c, "otter")
    # prometheus_client strips _total from counter family names
    names = set(metrics)
    docs = {n.removesuffix("_total") for n in documented()}
    assert docs, "docs/metrics.md documents no metric"
    assert docs <= names, docs - names
    assert names - docs == set(), f"undocumented metrics: {names - docs}"
    assert value(metrics, "hbeat_node_state", node="weasel", hbeat_node_state="active") == 1
    assert value(metrics, "hbeat_node_state", node="weasel", hbeat_node_state="dead") == 0
    assert value(metrics, "hbeat_link_state", node="weasel", link="eth1",
                 hbeat_link_state="up") == 1
    sent = value(metrics, "hbeat_keepalive_lateness_seconds",
                 "hbeat_keepalive_lateness_seconds_count", medium="bcast eth1")
    assert sent >= 2
    assert value(metrics, "hbeat_keepalive_lateness_seconds",
                 "hbeat_keepalive_lateness_seconds_bucket", medium="bcast eth1",
                 le="+Inf") == sent
    assert value(metrics, "hbeat_messages_received", "hbeat_messages_received_total") > 0
    assert value(metrics, "hbeat_failovers", "hbeat_failovers_total", group=GROUP) == 0
    # otter probed the group's scripts at start-up (status), weasel started them
    assert value(metrics, "hbeat_resource_script_seconds",
                 "hbeat_resource_script_seconds_count", script="drbddisk",
                 action="status") >= 1

    # two hostile datagrams from weasel's namespace: counted by reason
    send_udp(lab["weasel"], lab["otter"].ip, [b"garbage", b"###\n5:hello,%%%\n3:1 x,"])

    def rejected() -> float:
        family = scrape(c, "otter").get("hbeat_packets_rejected")
        return sum(x.value for x in family.samples if x.name.endswith("_total")
                   and x.labels["medium"] == "bcast eth1") if family else 0.0

    wait_for(lambda: rejected() == 2, timeout=10, what="two rejected packets counted")
    reasons = {x.labels["reason"] for x in scrape(c, "otter")["hbeat_packets_rejected"].samples}
    assert reasons and all(r.isupper() for r in reasons), reasons  # ErrorCode names

    c.wait_past_startup_window("weasel")
    c.crash("weasel")
    c.wait_holders({GROUP: "otter"}, timeout=DEADTIME_S + 20)
    metrics = scrape(c, "otter")
    assert value(metrics, "hbeat_failovers", "hbeat_failovers_total", group=GROUP) == 1
    took = value(metrics, "hbeat_failover_seconds", "hbeat_failover_seconds_sum", group=GROUP)
    assert 0 < took < 30
    assert value(metrics, "hbeat_failover_seconds", "hbeat_failover_seconds_count",
                 group=GROUP) == 1
    assert value(metrics, "hbeat_node_state", node="weasel", hbeat_node_state="dead") == 1
    # a link dies at its own deadline (its last frame may be newer than the
    # node's last status), so it may trail the node's death a little
    wait_for(lambda: value(scrape(c, "otter"), "hbeat_link_state", node="weasel",
                           link="eth1", hbeat_link_state="dead") == 1,
             timeout=DEADTIME_S + 2, what="weasel's link dead in the metrics")
    for script in SCRIPTS:
        assert value(metrics, "hbeat_resource_script_seconds",
                     "hbeat_resource_script_seconds_count", script=script,
                     action="start") == 1
    failures = [s for s in metrics["hbeat_resource_script_failures"].samples
                if s.name.endswith("_total") and s.value > 0]
    assert failures == []

    # the textfile says the same (written with each snapshot, every second)
    textfile = c.lab["otter"].host_path(TEXTFILE)

    def textfile_failover() -> bool:
        if not textfile.exists():
            return False
        parsed = {m.name: m for m in text_string_to_metric_families(textfile.read_text())}
        return value(parsed, "hbeat_failovers", "hbeat_failovers_total", group=GROUP) == 1

    wait_for(textfile_failover, timeout=10, what="the textfile to show the failover")
