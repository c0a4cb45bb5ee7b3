"""supervisor/journalhooks.py: the entries of the supervisor's decision points,
in a real Journal (no writer thread), and a control client's real credentials."""

from __future__ import annotations

import os
from pathlib import Path

import zmq

from hbeat.ipc.journal import Kind
from supervisor import ipfail as ipf
from supervisor import journalhooks as jh
from supervisor import membership as mb
from supervisor import rscmessages as rm
from supervisor.journal import Journal
from supervisor.rscactions import MonitorEvent


def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path, lambda *_: None, clock=lambda: 1000.0)
    j.load()
    return j


def test_fence_plugin() -> None:
    assert jh.fence_plugin(("stonith", "-t", "external/ipmi", "-p", "x", "-T", "reset",
                            "weasel")) == "external/ipmi"
    assert jh.fence_plugin(("stonith", "-t")) == "stonith"
    assert jh.fence_plugin(()) == "?"


def test_peer_credentials_are_the_kernel_s(tmp_path: Path) -> None:
    ctx = zmq.Context()
    server, client = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    try:
        server.bind(f"ipc://{tmp_path}/s")
        client.connect(f"ipc://{tmp_path}/s")
        client.send_multipart([b"", b"hello"])
        assert server.poll(5000)
        frames = server.recv_multipart(copy=False)
        assert jh.peer_credentials(frames[-1]) == (os.getuid(), os.getpid())
    finally:
        server.close(0)
        client.close(0)
        ctx.term()


def test_a_death_names_every_link_and_a_return_is_told_once(tmp_path: Path) -> None:
    j = journal(tmp_path)
    dead = mb.NodeStateChanged("weasel", "active", mb.DEAD, "no keepalive for 4000 ms")
    jh.node_changed(j, "otter", dead, {"eth1": 5000, "/dev/ttyS0": None}, 9000)
    e = j.ring[-1]
    assert (e.kind, e.node, e.cause) == (Kind.NODE_DEAD, "weasel", "no keepalive for 4000 ms")
    assert e.detail["links"] == {"eth1": {"ago_ms": 4000}, "/dev/ttyS0": {"ago_ms": None}}
    jh.node_changed(j, "otter", mb.NodeStateChanged("otter", "up", mb.DEAD), {}, 9000)
    assert len(j.ring) == 1  # our own status is not a peer's death
    j.record(Kind.PEER_RESTARTED, node="weasel", old=1, new=2)
    jh.node_changed(j, "otter", mb.NodeStateChanged("weasel", mb.DEAD, "init", "status"), {}, 1)
    assert [x.kind for x in j.ring] == [Kind.NODE_DEAD, Kind.PEER_RESTARTED]
    jh.node_changed(j, "otter", mb.NodeStateChanged("mink", mb.DEAD, "active", "status"), {}, 1)
    assert j.ring[-1].kind is Kind.NODE_BACK and j.ring[-1].node == "mink"


def test_peer_requests_open_decisions(tmp_path: Path) -> None:
    j = journal(tmp_path)
    jh.peer_request(j, "weasel", rm.AskResources("weasel", rm.Hold.ALL, rm.ASK_ME), 1000.0)
    jh.peer_request(j, "weasel", rm.AskResources("weasel", rm.Hold.ALL, "other"), 1000.0)
    jh.peer_request(j, "weasel", rm.HbTakeover("weasel", "foreign"), 1000.0)
    jh.peer_request(j, "weasel", rm.IpRequest("weasel", "10.0.0.1"), 1000.0)
    jh.peer_request(j, "weasel", None, 1000.0)
    assert [(e.detail["by"], e.detail["what"], e.detail["which"]) for e in j.ring] == [
        ("peer", "standby", "all"), ("peer-takeover", "standby", "foreign"),
        ("peer-legacy", "ip-request", "10.0.0.1")]
    assert all(e.is_cause for e in j.ring)


def test_the_peer_s_standby_answering_our_takeover_is_no_new_cause(tmp_path: Path) -> None:
    j = journal(tmp_path)
    jh.local_request(j, "otter", "takeover", {"which": "all"}, (0, 4242))
    took = j.ring[-1]
    assert took.cause == "hb_takeover on otter (uid 0, pid 4242)"
    assert (took.detail["uid"], took.detail["pid"], took.detail["by"]) == (0, 4242, "local")
    ask = rm.AskResources("weasel", rm.Hold.ALL, rm.ASK_ME)
    jh.peer_request(j, "weasel", ask, 1010.0)
    assert j.ring[-1] is took and j.current == took.seq
    jh.peer_request(j, "weasel", ask, 1000.0 + jh.TAKEOVER_ANSWER_S + 1)  # much later: new
    assert j.ring[-1].detail["by"] == "peer"
    jh.local_request(j, "otter", "snapshot", {}, None)
    jh.local_request(j, "otter", "standby", {}, None)
    assert j.ring[-1].cause == "hb_standby on otter" and j.ring[-1].detail["which"] == "all"


def test_a_monitor_failure_opens_a_decision_and_its_sequel_are_steps(tmp_path: Path) -> None:
    j = journal(tmp_path)
    jh.monitor_event(j, MonitorEvent("g", "failed", "apache", "not running", 1))
    jh.monitor_event(j, MonitorEvent("g", "restart", "apache", "restart 1 of 2", 1))
    failed, restart = j.ring
    assert (failed.kind, failed.cause, failed.group, failed.is_cause) == (
        Kind.MONITOR_FAILED, "apache: not running", "g", True)
    assert j.current_why == "monitor"
    assert (restart.kind, restart.decision, restart.detail["event"]) == (
        Kind.MONITOR, failed.seq, "restart")


def test_ipfail_giving_up_is_a_request(tmp_path: Path) -> None:
    j = journal(tmp_path)
    fail = ipf.IpFail("weasel", 2, 1500, auto_failback=False)
    fail.local, fail.remote = 1, 2
    jh.ipfail_request(j, "otter", "all", fail)
    jh.ipfail_request(j, "otter", "all", None)
    (e,) = j.ring
    assert e.cause == "ipfail on otter: 1 of 2 ping nodes answer here, 2 on weasel"
    assert (e.detail["by"], e.detail["what"], e.detail["which"]) == ("ipfail", "standby", "all")


def test_a_death_carries_the_decisions_wall_clock_when_given(tmp_path: Path) -> None:
    j = journal(tmp_path)
    dead = mb.NodeStateChanged("weasel", "active", mb.DEAD, "no keepalive for 4000 ms")
    jh.node_changed(j, "otter", dead, {"eth1": 5000}, 9000, 1_796_446_136_480_123_456)
    assert j.ring[-1].detail["decided_ns"] == 1_796_446_136_480_123_456
    jh.node_changed(j, "otter", dead, {"eth1": 5000}, 9000)
    assert "decided_ns" not in j.ring[-1].detail
