"""hbeat.ipc.executor.judge on OCF exit codes as Pacemaker reads them
(docs/resources.md, "Exit codes"): 5 and 6 from a status mean "not running
here and cannot run here", 0/7 running/stopped, the other errors "possibly
running"."""

from __future__ import annotations

import pytest

from hbeat.ipc import executor as ex
from hbeat.ipc.executor import CallKind

SCRIPT, OCF = CallKind.SCRIPT, CallKind.OCF_MONITOR


@pytest.mark.parametrize(("rc", "kind", "expected"), [
    (5, SCRIPT, "not-installed"),   # hbeat's wrappers pass the agent's code through
    (5, OCF, "not-installed"),      # OCF_ERR_INSTALLED
    (6, SCRIPT, "not-configured"),
    (6, OCF, "not-configured"),     # OCF_ERR_CONFIGURED
    (7, OCF, "stopped"),            # OCF_NOT_RUNNING
    (0, OCF, "running"),
    (8, OCF, "running"),            # OCF_RUNNING_PROMOTED
    (190, OCF, "running"),          # degraded, still running
    (191, OCF, "running"),
    (1, OCF, "failed"),             # OCF_ERR_GENERIC: possibly running
    (2, OCF, "failed"),             # OCF_ERR_ARGS
    (3, OCF, "failed"),             # OCF_ERR_UNIMPLEMENTED is no "stopped" for an agent
    (4, OCF, "failed"),             # OCF_ERR_PERM
    (9, OCF, "failed"),             # OCF_FAILED_PROMOTED
    (3, SCRIPT, "stopped"),         # LSB: program is not running
    (1, SCRIPT, "failed"),
    (4, SCRIPT, "failed"),
    (None, OCF, "failed"),
])
def test_status_codes(rc: int | None, kind: CallKind, expected: str) -> None:
    assert ex.judge("status", rc, "", kind) == expected


def test_text_does_not_override_cannot_run() -> None:
    assert ex.judge("status", 5, "foo is running\n") == "not-installed"


def test_start_and_stop_are_ok_or_failed() -> None:
    for action in ("start", "stop"):
        assert ex.judge(action, 5, "") == "failed"  # type: ignore[arg-type]
        assert ex.judge(action, 6, "", OCF) == "failed"  # type: ignore[arg-type]


def test_cannot_run_set_and_texts() -> None:
    assert {"not-installed", "not-configured"} == ex.CANNOT_RUN
    assert ex.cannot_run_text("not-installed", 5) == "not installed (exit 5, OCF_ERR_INSTALLED)"
    assert ex.cannot_run_text("not-configured", 6) == (
        "not configured (exit 6, OCF_ERR_CONFIGURED)")
    assert ex.cannot_run_text("not-configured", None) == (
        "not configured (OCF_ERR_CONFIGURED: its script, agent or instance file is missing "
        "here)")
    assert ex.rc_name(42) == "exit 42" and ex.rc_name(None) == "no exit code"
    assert ex.is_failure("not-installed") and ex.is_failure("failed")
    assert not ex.is_failure("stopped") and not ex.is_failure("ok")


def test_new_verdicts_travel_in_a_result() -> None:
    for status in ("not-installed", "not-configured"):
        res = ex.RunResult(id=1, group="g", index=0, action="status", rc=5, signal=None,
                           status=status, heartbeat_status="stopped",  # type: ignore[arg-type]
                           timed_out=False, duration_s=0.1, error=None, argv=("x",),
                           command="x", output_lines=0, output_bytes=0, truncated=False)
        assert ex.RunResult.decode(res.encode()).status == status
