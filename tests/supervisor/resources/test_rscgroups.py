"""`rscgroups`: the group record's rules (holdings, queued steps, outcomes) on their own."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import groupops as go
from supervisor import rscgroups as rg
from supervisor import rscmessages as rm
from supervisor.jobrunner import OpFinished, Step
from supervisor.rscactions import (
    FAILED,
    PARTIAL,
    RUNNING,
    STARTING,
    STOP_FAILED,
    STOPPED,
    STOPPING,
    Log,
)

from .sim import group

Hold = rm.Hold
GROUPS = (group(1, "weasel", "drbddisk::r0"), group(2, "otter", "IPaddr::10.0.0.7"),
          group(3, "weasel", "IPaddr::10.0.0.8"))
W, OG, W2 = (g.key for g in GROUPS)


def test_table_and_order() -> None:
    t = rg.table(GROUPS, "weasel")
    assert [(g.key, g.cls) for g in t.values()] == [
        (W, Hold.LOCAL), (OG, Hold.FOREIGN), (W2, Hold.LOCAL)
    ]
    assert [g.key for g in rg.ordered(t.values(), Hold.LOCAL)] == [W, W2]
    assert [g.key for g in rg.ordered(t.values(), Hold.ALL, reverse=True)] == [W2, OG, W]


def test_hold_bits() -> None:
    t = rg.table(GROUPS, "weasel")
    assert rg.hold_bits(t.values(), Hold.ALL, set()) is Hold.NONE  # classes with groups
    assert rg.hold_bits(t.values(), Hold.NONE, {OG}) is Hold.FOREIGN  # a start is coming
    t[W2].state = STOP_FAILED  # may still run here
    assert rg.hold_bits(t.values(), Hold.NONE, set()) is Hold.LOCAL
    t[W2].state = FAILED
    assert rg.hold_bits(t.values(), Hold.NONE, set()) is Hold.NONE
    alone = rg.table(GROUPS[1:2], "weasel")  # no group of ours: held when claimed
    assert rg.hold_bits(alone.values(), Hold.LOCAL, set()) is Hold.LOCAL


def test_would_run() -> None:
    g = rg.table(GROUPS, "weasel")[W]
    probe, start, stop = Step(W, False, probe=True), Step(W, True), Step(W, False)
    assert rg.would_run(probe, g, probing=True, leaving=False)
    assert not rg.would_run(probe, g, probing=False, leaving=False)
    assert rg.would_run(start, g, probing=False, leaving=False)
    assert not rg.would_run(start, g, probing=False, leaving=True)
    assert rg.would_run(stop, g, probing=False, leaving=False)  # not probed: may run
    g.probed = True
    assert not rg.would_run(stop, g, probing=False, leaving=False)
    g.state = FAILED
    assert not rg.would_run(start, g, probing=False, leaving=False)
    assert rg.would_run(Step(W, True, retry_failed=True), g, probing=False, leaving=False)
    g.state = STOP_FAILED
    assert not rg.would_run(stop, g, probing=False, leaving=False)
    assert rg.would_run(Step(W, False, retry_failed=True), g, probing=False, leaving=False)


def test_after_op() -> None:
    g = rg.table(GROUPS, "weasel")[W]
    g.releasing = True
    done = OpFinished(W, go.Kind.STOP, go.Outcome.STOPPED)
    assert rg.after_op(g, done, leaving=False) == STOPPED and not g.releasing
    assert rg.after_op(g, OpFinished(W, go.Kind.START, go.Outcome.STARTED), leaving=False) == (
        RUNNING
    )
    failed = OpFinished(W, go.Kind.START, go.Outcome.START_FAILED)
    assert rg.after_op(g, failed, leaving=False) == FAILED and g.handoff_pending
    assert rg.after_op(g, failed, leaving=True) == FAILED and not g.handoff_pending
    g.handoff_pending = True
    stuck = OpFinished(W, go.Kind.START, go.Outcome.STOP_FAILED)  # the rollback failed
    assert rg.after_op(g, stuck, leaving=False) == STOP_FAILED and not g.handoff_pending


def test_shutdown_stops() -> None:
    t = rg.table(GROUPS, "weasel")
    for g in t.values():
        g.probed = True
    t[W].state, t[OG].state, t[W2].state = RUNNING, STOPPED, STOP_FAILED
    steps, released, still = rg.shutdown_stops(list(t.values()))
    assert steps == [Step(W2, False, retry_failed=True), Step(W, False, retry_failed=True)]
    assert released == [W, W2] and still is Hold.LOCAL
    t[OG].state = STARTING
    t[W2].state = STOPPING
    steps, released, still = rg.shutdown_stops(list(t.values()))
    assert [s.key for s in steps] == [OG, W] and still is Hold.NONE


def test_retaken() -> None:
    t = rg.table(GROUPS, "weasel")
    t[W].state, t[W].handoff_pending = FAILED, True
    assert rg.retaken(t[W]) == (STOPPED, []) and not t[W].handoff_pending
    t[W].state = STOP_FAILED
    assert rg.retaken(t[W]) == (PARTIAL, [
        Log(Level.INFO, f"hb_takeover: resource group {W} (stop-failed) will be completed here.")
    ])
    t[W].state = RUNNING
    assert rg.retaken(t[W]) is None
