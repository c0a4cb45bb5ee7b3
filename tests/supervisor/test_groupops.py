"""The group sequencer and the status rule, without the ownership machine."""

from __future__ import annotations

import pytest

from hbeat.ipc.executor import check_action, judge
from hbeat.logfmt import Level
from supervisor import groupops as go
from tests.supervisor.resources.sim import group

G = group(4, "weasel", "drbddisk::r0", "LVM::vg0", "Filesystem::/dev/vg0/data::/srv")


@pytest.mark.parametrize(
    ("rc", "out", "want"),
    [
        (0, "", go.ResourceStatus.RUNNING),
        (0, "running", go.ResourceStatus.RUNNING),
        (0, "OK", go.ResourceStatus.RUNNING),
        (0, "apache is NOT running", go.ResourceStatus.STOPPED),
        (0, "Not currently running", go.ResourceStatus.STOPPED),
        (3, "running", go.ResourceStatus.STOPPED),
        (7, "", go.ResourceStatus.STOPPED),
        (1, "running", go.ResourceStatus.FAILED),
        (4, "", go.ResourceStatus.FAILED),
        (None, "running", go.ResourceStatus.FAILED),
    ],
)
def test_status_verdicts(rc: int | None, out: str, want: go.ResourceStatus) -> None:
    # the executor's verdict on a haresources script's status, as groupops reads it
    assert go.resource_status(judge("status", rc, out)) is want


def drive(op: go.GroupOp, answers: dict[tuple[int, str], list[int | None]]) -> list[go.Step]:
    """Answer every call from `answers` (popped in order; default 0 / status 3)."""
    now = 0
    steps = op.begin(now)
    seen = list(steps)
    while not op.finished:
        now += 10
        if op.pending is not None:
            c = op.pending
            queue = answers.get((c.index, c.action))
            rc = queue.pop(0) if queue else (3 if c.action == "status" else 0)
            steps = op.result(rc, judge(check_action(c.action), rc, ""), now)
        else:
            assert op.deadline is not None
            now = op.deadline
            steps = op.tick(now)
        seen += steps
    return seen


def calls(steps: list[go.Step]) -> list[tuple[int, str]]:
    return [(s.index, s.action) for s in steps if isinstance(s, go.Call)]


def test_start_left_to_right_skipping_running() -> None:
    op = go.GroupOp(G, go.Kind.START)
    steps = drive(op, {(1, "status"): [0]})
    assert calls(steps) == [(0, "status"), (0, "start"), (1, "status"), (2, "status"), (2, "start")]
    assert steps[0] == go.OpLog(
        Level.INFO,
        "Acquiring resource group: weasel drbddisk::r0 LVM::vg0 Filesystem::/dev/vg0/data::/srv",
    )
    assert steps[-1] == go.Finished(go.Outcome.STARTED)


def test_first_failed_start_stops_right_to_left() -> None:
    op = go.GroupOp(G, go.Kind.START)
    steps = drive(op, {(1, "start"): [2]})
    assert calls(steps)[-3:] == [(1, "start"), (1, "stop"), (0, "stop")]
    assert steps[-1] == go.Finished(go.Outcome.START_FAILED, 1)


def test_stop_right_to_left_with_retries() -> None:
    op = go.GroupOp(G, go.Kind.STOP, stop_retry_max=2, stop_retry_delay_ms=1000)
    steps = drive(op, {(1, "stop"): [1, 1]})
    assert calls(steps) == [(2, "stop"), (1, "stop"), (1, "stop"), (1, "stop"), (0, "stop")]
    assert steps[-1] == go.Finished(go.Outcome.STOPPED)
    assert steps[0].text.startswith("Releasing resource group: weasel")  # type: ignore[union-attr]


def test_stop_failure_after_retries() -> None:
    op = go.GroupOp(G, go.Kind.STOP, stop_retry_max=1)
    steps = drive(op, {(1, "stop"): [1, 1], (1, "status"): [0]})
    assert calls(steps) == [(2, "stop"), (1, "stop"), (1, "stop"), (1, "status")]
    assert steps[-1] == go.Finished(go.Outcome.STOP_FAILED, 1)
    assert any(isinstance(s, go.OpLog) and s.level is Level.CRIT for s in steps)


def test_rollback_stop_failure_is_a_stop_failure() -> None:
    op = go.GroupOp(G, go.Kind.START, stop_retry_max=0)
    steps = drive(op, {(2, "start"): [1], (1, "stop"): [1], (1, "status"): [3, None]})
    assert steps[-1] == go.Finished(go.Outcome.STOP_FAILED, 1)
    assert op.start_failed_index == 2


def test_misuse_is_refused() -> None:
    op = go.GroupOp(G, go.Kind.START)
    with pytest.raises(RuntimeError, match="no script call pending"):
        op.result(0, "ok", 0)
    op.begin(0)
    with pytest.raises(RuntimeError, match="already begun"):
        op.begin(0)
    with pytest.raises(ValueError, match="must not be negative"):
        go.GroupOp(G, go.Kind.STOP, stop_retry_max=-1)


@pytest.mark.parametrize(("rc", "word"), [(5, "not installed (exit 5, OCF_ERR_INSTALLED)"),
                                          (6, "not configured (exit 6, OCF_ERR_CONFIGURED)")])
def test_probe_reads_5_and_6_as_not_running_and_unable(rc: int, word: str) -> None:
    op = go.GroupOp(G, go.Kind.PROBE)
    steps = drive(op, {(2, "status"): [rc]})
    assert op.found is go.ResourceStatus.STOPPED  # not "possibly running"
    assert op.statuses[2].cannot_run and op.statuses[2].not_running
    assert op.cannot_run == f"Filesystem::/dev/vg0/data::/srv {word}"
    warns = [s for s in steps if isinstance(s, go.OpLog)]
    assert [w.level for w in warns] == [Level.WARN]
    assert "cannot run on this node" in warns[0].text and "possibly" not in warns[0].text


def test_probe_running_beside_unable_is_partial() -> None:
    op = go.GroupOp(G, go.Kind.PROBE)
    drive(op, {(0, "status"): [0], (2, "status"): [5]})
    assert op.found is None and op.cannot_run is not None


def test_start_stops_at_a_resource_that_cannot_run_without_starting_it() -> None:
    op = go.GroupOp(G, go.Kind.START)
    steps = drive(op, {(1, "status"): [5]})
    # no start and no stop of LVM::vg0; what was started left of it is stopped
    assert calls(steps) == [(0, "status"), (0, "start"), (1, "status"), (0, "stop")]
    assert steps[-1] == go.Finished(go.Outcome.START_FAILED, 1)
    assert op.cannot_run == "LVM::vg0 not installed (exit 5, OCF_ERR_INSTALLED)"
    assert not any(isinstance(s, go.OpLog) and s.level is Level.CRIT for s in steps)


def test_first_resource_unable_calls_nothing_else() -> None:
    op = go.GroupOp(G, go.Kind.START)
    steps = drive(op, {(0, "status"): [6]})
    assert calls(steps) == [(0, "status")]
    assert steps[-1] == go.Finished(go.Outcome.START_FAILED, 0)


def test_stop_status_5_after_failed_stops_stays_unknown() -> None:
    # A resource that ran here and will not stop: "not installed" now does not prove
    # it stopped (the binary may have gone while the service runs): stop-failed.
    op = go.GroupOp(G, go.Kind.STOP, stop_retry_max=1)
    steps = drive(op, {(2, "stop"): [5, 5], (2, "status"): [5]})
    assert steps[-1] == go.Finished(go.Outcome.STOP_FAILED, 2)
    crit = [s for s in steps if isinstance(s, go.OpLog) and s.level is Level.CRIT]
    assert "its status says not-installed" in crit[0].text

def test_a_monitor_stops_at_the_first_resource_not_running() -> None:
    op = go.GroupOp(G, go.Kind.MONITOR)
    steps = drive(op, {(0, "status"): [0], (1, "status"): [3]})
    assert calls(steps) == [(0, "status"), (1, "status")]
    assert steps[-1] == go.Finished(go.Outcome.MONITORED, 1)
    assert (f"Resource LVM::vg0 of group {G.key} failed its monitor: its status says it is "
            "not running") in [s.text for s in steps if isinstance(s, go.OpLog)]
    healthy = go.GroupOp(G, go.Kind.MONITOR)
    steps = drive(healthy, {(i, "status"): [0] for i in range(3)})
    assert steps[-1] == go.Finished(go.Outcome.MONITORED, None)
    assert [s for s in steps if isinstance(s, go.OpLog)] == []  # a healthy probe is silent


def test_a_restart_stops_and_starts_from_the_failed_resource_up() -> None:
    stop = go.GroupOp(G, go.Kind.STOP, first=1)
    steps = drive(stop, {})
    assert calls(steps) == [(2, "stop"), (1, "stop")]
    assert steps[-1] == go.Finished(go.Outcome.STOPPED)
    start = go.GroupOp(G, go.Kind.START, first=1)
    steps = drive(start, {})
    assert calls(steps) == [(1, "status"), (1, "start"), (2, "status"), (2, "start")]
    assert steps[-1] == go.Finished(go.Outcome.STARTED)


def test_a_restart_whose_start_fails_takes_the_whole_group_down() -> None:
    start = go.GroupOp(G, go.Kind.START, first=1)
    steps = drive(start, {(2, "start"): [1]})
    # resource 0, running all along, is stopped too: the group may go elsewhere
    assert calls(steps)[-3:] == [(2, "stop"), (1, "stop"), (0, "stop")]
    assert steps[-1] == go.Finished(go.Outcome.START_FAILED, 2)


def test_a_restart_must_name_a_resource_of_the_group() -> None:
    with pytest.raises(ValueError, match="not a start or stop of one of its resources"):
        go.GroupOp(G, go.Kind.START, first=3)
    with pytest.raises(ValueError, match="not a start or stop of one of its resources"):
        go.GroupOp(G, go.Kind.PROBE, first=0)


def test_a_monitor_reads_5_as_a_failure_that_says_why() -> None:
    op = go.GroupOp(G, go.Kind.MONITOR)
    steps = drive(op, {(0, "status"): [0], (1, "status"): [5]})
    assert steps[-1] == go.Finished(go.Outcome.MONITORED, 1)
    assert op.statuses[-1] is go.ResourceStatus.NOT_INSTALLED
    assert (f"Resource LVM::vg0 of group {G.key} failed its monitor: its status says it cannot "
            "run here: not installed (exit 5, OCF_ERR_INSTALLED)"
            ) in [s.text for s in steps if isinstance(s, go.OpLog)]
