"""`jobrunner.JobRunner` on its own: queue order, script calls, deadlines, cancellation.

Real `groupops.GroupOp`s run underneath; the test plays the executor by
feeding `result` and the clock by `tick`.
"""

from __future__ import annotations

import json

import pytest

from hbeat.config.model import Resource, ResourceGroup
from hbeat.ipc.executor import Outcome as Verdict
from hbeat.ipc.executor import check_action, judge
from hbeat.logfmt import Level
from supervisor import groupops as go
from supervisor.jobrunner import Job, JobRunner, OpFinished, RunnerEvent, RunnerTimers, Step
from supervisor.rscactions import Log, RunScript

TIMERS = RunnerTimers(
    start_timeout_s=2.0,
    stop_timeout_s=3.0,
    status_timeout_s=1.0,
    result_grace_ms=500,
    stop_retry_max=1,
    stop_retry_delay_ms=100,
)


def group(node: str, *texts: str) -> ResourceGroup:
    return ResourceGroup(node, tuple(Resource(t, t.split("::")[0], (), 1) for t in texts), 1)


WEB = group("weasel", "IPaddr::10.0.0.9", "apache")
DB = group("otter", "drbddisk::r0")
GROUPS = {g.key: g for g in (WEB, DB)}


def calls(events: list[RunnerEvent]) -> list[tuple[str, int, str]]:
    return [(e.group_key, e.resource_index, e.action) for e in events if isinstance(e, RunScript)]


def last_call(events: list[RunnerEvent]) -> RunScript:
    return [e for e in events if isinstance(e, RunScript)][-1]


def verdict(call: RunScript, rc: int | None) -> Verdict:
    """What the executor says of a call that printed nothing."""
    return judge(check_action(call.action), rc, "")


def answer(runner: JobRunner, events: list[RunnerEvent], rc: int | None,
           now: int) -> list[RunnerEvent]:
    """Play the executor: the last call of `events` exited with `rc`."""
    call = last_call(events)
    return runner.result(call.op_id, rc, verdict(call, rc), now) or []


def always(step: Step) -> bool:
    return True


def begin_next(runner: JobRunner, now: int = 0) -> list[RunnerEvent]:
    item = runner.advance(always)
    assert isinstance(item, Step)
    return runner.begin(GROUPS[item.key], item, now)


def test_a_start_runs_status_then_start_per_resource_and_finishes_the_job() -> None:
    done: list[str] = []
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("start web", [Step(WEB.key, True)], lambda: done.append("x") or []))
    assert runner.busy and not runner.op_running
    ev = begin_next(runner)
    assert isinstance(ev[0], Log) and ev[0].text.startswith("Acquiring resource group")
    assert calls(ev) == [(WEB.key, 0, "status")]
    assert runner.op_running and runner.advance(always) is None  # one operation at a time
    seen = []
    for rc in (3, 0, 3, 0):  # not running -> start OK, twice
        call = last_call(ev)
        ev = runner.result(call.op_id, rc, verdict(call, rc), 10) or []
        seen += calls(ev)
    assert seen == [(WEB.key, 0, "start"), (WEB.key, 1, "status"), (WEB.key, 1, "start")]
    assert ev[-1] == OpFinished(WEB.key, go.Kind.START, go.Outcome.STARTED, None, ())
    assert not runner.op_running
    item = runner.advance(always)
    assert isinstance(item, Job) and item.name == "start web"
    assert runner.advance(always) is None and not runner.busy


def test_steps_the_caller_rejects_are_skipped_and_jobs_without_on_done_vanish() -> None:
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("a", [Step(WEB.key, True), Step(DB.key, False)]))
    item = runner.advance(lambda s: s.key == DB.key)
    assert isinstance(item, Step) and (item.key, item.kind) == (DB.key, go.Kind.STOP)
    ev = runner.begin(DB, item, 0)
    assert calls(ev) == [(DB.key, 0, "stop")]  # a stop asks no status first
    ev = answer(runner, ev, 0, 5)
    assert ev[-1] == OpFinished(DB.key, go.Kind.STOP, go.Outcome.STOPPED, None, ())
    assert runner.advance(always) is None and not runner.busy


def test_a_result_for_an_unknown_or_finished_call_is_refused() -> None:
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("stop", [Step(DB.key, False)]))
    ev = begin_next(runner)
    op_id = last_call(ev).op_id
    assert runner.result(op_id + 1, 0, "ok", 1) is None
    assert runner.result(op_id, 0, "ok", 1) is not None
    assert runner.result(op_id, 0, "ok", 2) is None  # already answered
    runner.enqueue(Job("again", [Step(DB.key, False)]))
    begin_next(runner)
    with pytest.raises(RuntimeError, match="running already"):
        runner.begin(DB, Step(DB.key, False), 3)  # one operation at a time


def test_a_call_without_result_fails_at_its_deadline_and_a_late_result_is_ignored() -> None:
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("start", [Step(DB.key, True)]))
    ev = begin_next(runner, now=1000)
    ev = answer(runner, ev, 3, 1100)  # status: stopped -> start
    start = last_call(ev)
    assert (start.action, start.timeout_s) == ("start", 2.0)
    due = 1100 + 2000 + 500
    assert runner.next_deadline() == due
    assert runner.tick(due - 1) == []
    ev = runner.tick(due)
    assert ev[0] == Log(
        Level.ERROR,
        f"No result from the executor for drbddisk::r0 start (operation {start.op_id}): "
        f"counting it as failed",
    )
    assert calls(ev) == [(DB.key, 0, "stop")]  # the failed start is rolled back
    assert runner.result(start.op_id, 0, "ok", due + 1) is None


def test_a_failed_stop_waits_for_its_retry_deadline() -> None:
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("stop", [Step(DB.key, False)]))
    ev = begin_next(runner)
    ev = answer(runner, ev, 1, 50)
    assert calls(ev) == []
    assert runner.next_deadline() == 150
    snap = runner.snapshot().op
    assert snap is not None and snap.retry_at_ms == 150 and snap.call is None
    ev = runner.tick(150)
    assert calls(ev) == [(DB.key, 0, "stop")]
    ev = answer(runner, ev, 1, 200)  # last retry failed too
    assert calls(ev) == [(DB.key, 0, "status")]
    ev = answer(runner, ev, 0, 250)  # status: running
    assert ev[-1] == OpFinished(DB.key, go.Kind.STOP, go.Outcome.STOP_FAILED, None, ())


def test_a_probe_reports_what_it_found() -> None:
    runner = JobRunner(TIMERS)
    runner.enqueue(Job("probe", [Step(WEB.key, False, probe=True)]))
    ev = begin_next(runner)
    ev = answer(runner, ev, 0, 1)
    ev = answer(runner, ev, 3, 2)
    R, S = go.ResourceStatus.RUNNING, go.ResourceStatus.STOPPED
    assert ev[-1] == OpFinished(WEB.key, go.Kind.PROBE, go.Outcome.PROBED, None, (R, S))


def test_cancel_drops_the_queue_but_lets_the_running_operation_finish() -> None:
    runner = JobRunner(TIMERS)
    ran: list[str] = []
    runner.enqueue(
        Job("one", [Step(DB.key, False), Step(WEB.key, False)], lambda: ran.append("one") or [])
    )
    runner.enqueue(Job("two", [Step(WEB.key, True)]))
    ev = begin_next(runner)
    assert [s.key for s in runner.pending_steps()] == [WEB.key, WEB.key]
    runner.cancel_pending()
    assert list(runner.pending_steps()) == [] and runner.op_running and runner.busy
    answer(runner, ev, 0, 1)
    assert runner.advance(always) is None and not runner.busy and ran == []


def test_snapshot_shows_the_operation_its_call_and_the_queue() -> None:
    runner = JobRunner(TIMERS)
    assert runner.snapshot().as_dict() == {"op": None, "queued": []}
    runner.enqueue(Job("takeover", [Step(WEB.key, True)]))
    runner.enqueue(Job("later", []))
    begin_next(runner, now=7000)
    snap = runner.snapshot().as_dict()
    json.dumps(snap)  # plain data
    assert snap == {
        "op": {
            "group": WEB.key,
            "kind": "start",
            "job": "takeover",
            "started_ms": 7000,
            "retry_at_ms": None,
            "call": {
                "op_id": 1,
                "index": 0,
                "resource": "IPaddr::10.0.0.9",
                "action": "status",
                "issued_ms": 7000,
                "timeout_s": 1.0,
                "deadline_ms": 7000 + 1000 + 500,
            },
        },
        "queued": ["takeover", "later"],
    }
