"""Real heartbeat 3.0.6 frames (tests/data/interop/frames) driving our machine.

The lab cluster ran `weasel IPaddr2::10.99.0.100/24/eth1 LabProbe::svc1`
with auto_failback off; we play weasel's captured frames into an otter
machine (and otter's into a weasel one) and check the answers.
"""

from __future__ import annotations

from hbeat.config.model import AutoFailback
from hbeat.ipc.executor import check_action, judge
from supervisor import resources as rs
from supervisor import rscmessages as rm
from supervisor.messages import Envelope, parse_envelope
from tests import interop_vectors as iv

from .sim import group

KEY = "IPaddr2::10.99.0.100/24/eth1"
LAB = (group(1, "weasel", KEY, "LabProbe::svc1"),)
DEFAULTS = {b"src", b"srcuuid", b"seq", b"hg", b"ts", b"ld", b"ttl", b"destuuid"}


def frame(kind: str) -> Envelope:
    for v in iv.udp_vectors():
        if v.kind == kind:
            assert v.fields is not None
            return parse_envelope(v.fields)
    raise AssertionError(f"no captured frame {kind!r}")


class One:
    """One machine; scripts succeed at once (status says stopped before a start)."""

    def __init__(self, name: str) -> None:
        cfg = rs.ResourcesConfig(name, ("otter", "weasel"), LAB, AutoFailback.OFF)
        self.res = rs.Resources(cfg, 0)
        self.sent: list[tuple] = []
        self.logs: list[str] = []
        self.calls: list[tuple[int, str]] = []
        self.now = 0
        # booted as the daemon does: the start-up probe finds nothing running here
        self.feed(self.res.start(0))
        assert self.calls == [(0, "status"), (1, "status")]
        assert self.res.phase is rs.Phase.INIT
        self.calls.clear()

    def feed(self, actions: list[rs.Action]) -> None:
        pending = list(actions)
        while pending:
            a = pending.pop(0)
            if isinstance(a, rs.SendMessage):
                self.sent.append(a.fields)
            elif isinstance(a, rs.Log):
                self.logs.append(a.text)
            elif isinstance(a, rs.RunScript):
                self.calls.append((a.resource_index, a.action))
                rc = 3 if a.action == "status" else 0
                pending += self.res.script_done(
                    a.op_id, rc, judge(check_action(a.action), rc, ""), self.now)

    def hear(self, kind: str, at: int) -> None:
        self.now = at
        env = frame(kind)
        self.feed(self.res.message(env.src, env, at))

    def tick_to(self, at: int) -> None:
        self.now = at
        self.feed(self.res.tick(at))


def summary(fields: tuple) -> str:
    return " ".join(f"{n.decode()}={v.decode()}" for n, _t, v in fields if n not in DEFAULTS)


def test_otter_follows_the_captured_startup_and_graceful_handover() -> None:
    otter = One("otter")
    otter.feed(otter.res.comm_up(0))
    assert [summary(f) for f in otter.sent] == ["t=starting"]
    otter.hear("resource rsc_hold=none rtype=full", 11)
    assert otter.res.next_deadline(11) == 10_011  # RQSTDELAY after weasel's first report
    otter.hear("resource rsc_hold=local rtype=full", 5_000)  # weasel: isstable=1
    assert "remote resource transition completed." in otter.logs
    assert otter.res.held == "local"  # what cl_status printed on the real otter
    assert otter.calls == []
    otter.hear("ip-request-resp", 5_001)  # dest=weasel: not for us
    assert otter.calls == []
    # 03-graceful-stop-handover: weasel releases first, then shutdone
    otter.hear("resource rsc_hold=none info=shutdown rtype=full", 9_000)
    assert otter.calls == []
    otter.hear("shutdone st=dead", 9_136)
    assert "Received shutdown notice from 'weasel'." in otter.logs
    assert f"Taking over resource group {KEY}" in otter.logs
    assert otter.calls == [(0, "status"), (0, "start"), (1, "status"), (1, "start")]
    assert [summary(f) for f in otter.sent[-3:]] == [
        "t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
        "t=ask_resources rsc_hold=all info=done",
        "t=resource rsc_hold=foreign info=mach_down",
    ]
    assert otter.res.held == "all"


def test_weasel_answers_a_captured_starting_like_3_0_6() -> None:
    weasel = One("weasel")
    weasel.feed(weasel.res.comm_up(0))
    weasel.hear("starting", 5)
    mine = tuple(f for f in weasel.sent[-1])
    theirs = tuple(
        f for f in frame("resource rsc_hold=none rtype=full").fields if f[0] not in DEFAULTS
    )
    assert mine == theirs


def test_stable_holder_and_captured_stonith_and_done_are_tolerated() -> None:
    weasel = One("weasel")
    weasel.feed(weasel.res.comm_up(0))
    weasel.hear("resource rsc_hold=all rtype=full", 3)  # otter holds all and is stable
    assert "remote resource transition completed." in weasel.logs
    assert weasel.calls == [] and weasel.res.held == "none"
    before = list(weasel.logs)
    weasel.hear("stonith", 4)
    assert weasel.logs == before
    weasel.hear("ask_resources rsc_hold=all info=done", 5)
    assert weasel.logs[-1] == "Ignored standby message 'done' from otter in state 0"
    weasel.hear("resource rsc_hold=foreign info=mach_down", 6)
    assert weasel.calls == []


def test_captured_shutdown_notice_confirms_our_wait() -> None:
    """We stop (weasel) and a 3.0.6 otter confirms with done + mach_down."""
    weasel = One("weasel")
    weasel.feed(weasel.res.comm_up(0))
    weasel.hear("resource rsc_hold=local info=req_our_resources() rtype=full", 2)  # otter, stable
    assert "remote resource transition completed." in weasel.logs
    assert weasel.res.held == "local"
    weasel.feed(weasel.res.shutdown(20_000))
    assert [summary(f) for f in weasel.sent[-2:]] == [
        "t=resource rsc_hold=none rtype=full isstable=0 info=shutdown",
        "t=shutdone st=dead",
    ]
    assert weasel.logs[-1] == "Waiting to allow resource takeover to complete"
    assert weasel.calls[-2:] == [(1, "stop"), (0, "stop")]
    env = frame("ask_resources rsc_hold=all info=done")
    done = weasel.res.message(env.src, env, 20_500)
    assert rs.ShutdownComplete() in done


def test_rsc_types_cover_the_catalogue() -> None:
    assert {
        rm.T_STARTING,
        rm.T_RESOURCES,
        rm.T_ASKRESOURCES,
        rm.T_HBTAKEOVER,
        rm.T_IPREQUEST,
        rm.T_IPREQRESP,
        rm.T_SHUTDONE,
        rm.T_STONITH,
    } == rm.RESOURCE_TYPES
