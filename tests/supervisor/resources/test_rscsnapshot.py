"""The resource snapshot: `rscsnapshot`'s builders on their own, and what `Resources.snapshot()`
shows an operator while a group's operation runs and while a standby is under way."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hbeat.config.model import AutoFailback
from supervisor import rscmessages as rm
from supervisor import rscsnapshot as snap
from supervisor.jobrunner import CallView, OpView, RunnerSnapshot
from supervisor.standbyexchange import SbRole, SbStage, Standby

from .sim import Sim, group

Hold = rm.Hold
W = "drbddisk::r0"
OG = "IPaddr::10.0.0.7"
GROUPS = (group(1, "weasel", W, "LVM::vg0"), group(2, "otter", OG))


@dataclass
class Rec:
    key: str
    home: str
    cls: Hold
    state: str = "stopped"
    found: tuple[str, ...] = ()
    probed: bool = True
    undecided: bool = False
    handoff_pending: bool = False
    cannot_run: str | None = None


RUN = RunnerSnapshot(
    OpView(W, "start", "takeover", 100, None, CallView(4, 1, "LVM::vg0", "start", 150, 2.0, 2650)),
    ["takeover", "report"],
)


def test_builders_put_the_operation_and_the_standby_on_their_groups() -> None:
    recs = [Rec(W, "weasel", Hold.FOREIGN, "starting"), Rec(OG, "otter", Hold.LOCAL, "running")]
    sb = Standby(SbRole.TAKER, Hold.LOCAL, SbStage.ACQUIRING)  # the peer gives its local set
    views = snap.groups(recs, RUN, sb)
    json.dumps(views)
    assert views[W]["operation"] == {
        "group": W,
        "kind": "start",
        "job": "takeover",
        "started_ms": 100,
        "retry_at_ms": None,
        "call": {
            "op_id": 4,
            "index": 1,
            "resource": "LVM::vg0",
            "action": "start",
            "issued_ms": 150,
            "timeout_s": 2.0,
            "deadline_ms": 2650,
        },
    }
    assert views[OG]["operation"] is None
    # The taker's view: the set mirrored, so our FOREIGN group is the one moving.
    assert views[W]["standby"] == {
        "role": "taker",
        "which": "local",
        "stage": "acquiring",
        "deadline_ms": None,
    }
    assert views[OG]["standby"] is None
    assert snap.running_op(RUN) == {
        "op_id": 4,
        "group": W,
        "index": 1,
        "action": "start",
        "resource": "LVM::vg0",
        "issued_ms": 150,
        "deadline_ms": 2650,
    }
    idle = RunnerSnapshot(None, [])
    assert snap.running_op(idle) is None and snap.operation(idle) is None
    assert snap.groups(recs, idle, None)[W]["standby"] is None


def test_snapshot_while_a_takeover_runs_and_while_a_standby_is_under_way() -> None:
    sim = Sim(groups=GROUPS, mode=AutoFailback.OFF)
    sim.comm_up()
    sim.settle()
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    sim.apply(weasel, weasel.res.standby("local", sim.now))
    s = weasel.res.snapshot()
    json.dumps(s)
    assert s["standby"] == {
        "role": "asker",
        "which": "local",
        "stage": "wait_other",
        "deadline_ms": sim.now + 10_000,
    }
    assert s["groups"][W]["standby"] == s["standby"] and s["groups"][OG]["standby"] is None
    sim.settle()
    assert otter.res.snapshot()["standby"] is None
    # Otter now runs both; kill it and watch weasel's takeover mid-way.
    sim.kill("otter", detect_ms=1)
    sim.run_for(sim.script_ms // 2 + 2)
    s = weasel.res.snapshot()
    op = s["groups"][OG]["operation"]  # the dead node's own groups come first
    assert s["phase"] == "stable" and op is not None and s["running_op"] is not None
    assert (op["kind"], op["job"]) == ("start", "mach_down")
    assert op["call"] is not None and op["call"]["deadline_ms"] > sim.now
    assert s["running_op"]["group"] == OG and s["queue"][0] == "mach_down"
    assert s["groups"][W]["operation"] is None
    sim.settle()
    s = weasel.res.snapshot()
    assert s["running_op"] is None and s["queue"] == []
    assert all(g["operation"] is None for g in s["groups"].values())
