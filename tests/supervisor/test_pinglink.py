"""supervisor/pinglink.py: the ping worker's reports through to ipfail's
decision, on a configuration loaded from a real seed (ping nodes and the
`respawn ... ipfail` line), with a host that records what it is asked to do."""

from __future__ import annotations

from pathlib import Path

from hbeat.config import SystemProbe, load_config
from hbeat.config.model import ClusterConfig
from hbeat.ipc.bus import Hello
from hbeat.ipc.ping import PingSetup, PingState
from hbeat.logfmt import Level
from linklayer.message import Field
from supervisor import ipfail as ipf
from supervisor.messages import Envelope
from supervisor.pinglink import PING_WORKER, PingLink
from tests.hbeat.config.seed import write_seed


class Recorder:
    def __init__(self, held: str = "all") -> None:
        self.logs: list[str] = []
        self.to_worker: list[list[bytes]] = []
        self.cluster: list[tuple[Field, ...]] = []
        self.changes: list[tuple[str, str, str]] = []
        self.standbys: list[str] = []
        self.held = held

    def log(self, level: Level, text: str) -> None:
        self.logs.append(text)

    def send_to_worker(self, name: str, parts: list[bytes]) -> None:
        assert name == PING_WORKER
        self.to_worker.append(parts)

    def send_cluster(self, fields: tuple[Field, ...]) -> None:
        self.cluster.append(fields)

    def ping_changed(self, node: str, old: str, new: str) -> None:
        self.changes.append((node, old, new))

    def standby(self, which: str) -> None:
        self.standbys.append(which)

    def resources_state(self) -> tuple[bool, str] | None:
        return True, self.held


def config(tmp_path: Path, extra: list[str]) -> ClusterConfig:
    s = write_seed(tmp_path / "etc", serial="/dev/null", interfaces=("lo",),
                   extra=["ping 10.0.0.254", "ping_group up 10.0.1.1 10.0.2.1", *extra])
    return load_config(s.config_dir, s.node_name, system=SystemProbe(init_dir=s.init_dir))


def count_message(count: int) -> Envelope:
    fields = ipf.count_fields("otter", count, 2)
    return Envelope(ipf.T_PINGCOUNT, "weasel", 0, 5, 1, None, "otter", None, fields)


def test_reports_become_states_counts_and_a_give_up(tmp_path: Path) -> None:
    host = Recorder()
    link = PingLink(config(tmp_path, ["respawn hacluster /usr/lib/heartbeat/ipfail"]), host)
    assert link.enabled and link.ipfail is not None
    link.on_message(Hello(42, "ping").encode(), now=0)
    assert PingSetup.decode(host.to_worker[-1]).targets[1].hosts == ("10.0.1.1", "10.0.2.1")
    link.on_message(PingState("10.0.0.254", True, "10.0.0.254").encode(), now=100)
    assert host.cluster == []  # `up` has no verdict yet: no count
    link.on_message(PingState("up", False).encode(), now=200)
    assert host.changes == [("10.0.0.254", "dead", "ping")]  # a first `dead` changes nothing
    (sent,) = host.cluster
    assert (b"count", 1) in [(n, int(v)) for n, _, v in sent if n == b"count"]
    link.message(count_message(2), now=300)
    assert link.next_deadline() == 300 + link.ipfail.settle_ms
    link.tick(299 + link.ipfail.settle_ms)
    assert host.standbys == []
    link.tick(300 + link.ipfail.settle_ms)
    assert host.standbys == ["all"]
    assert "Giving up because we have less visible ping nodes. (1 here, 2 on weasel)" in host.logs
    assert [n["status"] for n in link.snapshot_nodes()] == ["ping", "dead"]


def test_ipfail_off_counts_nothing(tmp_path: Path) -> None:
    host = Recorder()
    link = PingLink(config(tmp_path, ["ipfail off"]), host)
    assert link.enabled and link.ipfail is None
    link.on_message(PingState("10.0.0.254", True, "10.0.0.254").encode(), now=0)
    link.on_message(PingState("up", True, "10.0.1.1").encode(), now=0)
    link.message(count_message(2), now=0)
    link.tick(10**9)
    assert host.cluster == [] and host.standbys == []
    assert host.changes == [("10.0.0.254", "dead", "ping"), ("up", "dead", "ping")]
