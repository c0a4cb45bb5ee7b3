"""hbeat.ipc.executor: the executor's messages round trip, malformed ones are
refused naming the field, and the one verdict of a call (`judge`)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hbeat.config.model import Resource
from hbeat.ipc import bus
from hbeat.ipc import executor as ex
from hbeat.ipc.executor import CallError, CallKind

RESULT = ex.RunResult(
    id=4, group="IPaddr::10.0.0.1", index=1, action="status", rc=0, signal=None,
    status="running", heartbeat_status="stopped", timed_out=False, duration_s=0.25,
    error=None, argv=("/etc/ha.d/resource.d/IPaddr", "10.0.0.1", "status"),
    command="/etc/ha.d/resource.d/IPaddr 10.0.0.1 status", output_lines=1,
    output_bytes=12, truncated=False)


@pytest.mark.parametrize("message", [
    RESULT,
    dataclasses.replace(RESULT, spawn_ns=1_796_446_136_480_123_456,
                        exit_ns=1_796_446_136_483_654_321),
    ex.Started(4, "g", 0, "start", 999, ("/bin/true", "start"), "/bin/true start"),
    ex.Output("c1", "stderr", "oops"),
    ex.ExecutorReady(99, ex.OutputLimits(max_lines=1, max_bytes=2, max_line_bytes=3), 5.0, 300.0),
    ex.Bye((1, "c2"), (3,)),
], ids=lambda m: type(m).__name__)
def test_executor_reports_round_trip(message: ex.RunResult) -> None:
    assert type(message).decode(message.encode()) == message


def test_run_request_round_trip() -> None:
    rsc = Resource("IPaddr::10.0.0.1", "IPaddr", ("10.0.0.1",), 0, "/x/IPaddr")
    for request in (ex.RunRequest(3, "g", 0, "stop", 20.0, resource=rsc),
                    ex.RunRequest("a", "g", None, "start", argv=("/bin/true", "start"))):
        parts = request.encode()
        assert parts[0] == b"run"
        assert ex.RunRequest.from_json(json.loads(parts[1])) == request


@pytest.mark.parametrize(("changes", "error"), [
    ({"id": True}, "run: 'id' must be a string or integer"),
    ({"group": ""}, "run: 'group' must be a non-empty string"),
    ({"action": "restart"}, "unknown action 'restart'"),
    ({"timeout_s": 0}, "run: timeout_s must be a positive number of seconds, not 0"),
    ({"argv": ["/bin/true"]}, "run: give exactly one of 'resource' and 'argv'"),
    ({"index": "0"}, "run: 'index' must be an integer or null, not '0'"),
    ({"resource": None, "argv": []}, "run: 'argv' must be a non-empty list of strings"),
    ({"resource": "IPaddr"}, "run: 'resource' must be an object"),
])
def test_malformed_run_requests_name_the_field(changes: dict[str, object], error: str) -> None:
    request = json.loads(ex.RunRequest(1, "g", 0, "start", resource=Resource(
        "apache", "apache", (), 0)).encode()[1])
    request.update(changes)
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ex.CallError) as exc:
        ex.RunRequest.from_json(request)
    assert str(exc.value).startswith(error)


@pytest.mark.parametrize(("changes", "error"), [
    ({"status": "fine"}, "bus message 'result': field 'status' must be one of ok, failed"),
    ({"id": None}, "bus message 'result': field 'id' must be a string or integer"),
    ({"rc": "0"}, "bus message 'result': field 'rc' must be an integer, not '0'"),
    ({"argv": "x"}, "bus message 'result': field 'argv' must be a list of strings"),
])
def test_malformed_results_name_the_field(changes: dict[str, object], error: str) -> None:
    data = json.loads(RESULT.encode()[1])
    data.update(changes)
    with pytest.raises(bus.BusError) as exc:
        ex.RunResult.decode([b"result", json.dumps(data).encode()])
    assert str(exc.value).startswith(error)


@pytest.mark.parametrize(("rc", "stdout", "expected"), [
    (0, "LabProbe r0 is running\n", "running"),
    (0, "", "running"),                         # exit code rules: 0 is running
    (0, "whatever\n", "running"),
    (0, "OK\n", "running"),
    (0, "drbd r0 is not running\n", "stopped"),  # heartbeat's text, old scripts
    (0, "NOT currently Running", "stopped"),
    (0, "line one\nnot\nrunning", "running"),    # needs "not " then ...running
    (0, "x\nnot really\nrunning\n", "stopped"),  # the glob spans lines
    (3, "foo is running", "stopped"),            # LSB 3: the code wins over the text
    (7, "INFO: Resource is stopped", "stopped"),
    (1, "Running OK", "failed"),
    (4, "", "failed"),
    (None, "running", "failed"),
])
def test_judge_status(rc: int | None, stdout: str, expected: str) -> None:
    assert ex.judge("status", rc, stdout) == expected


def test_judge_start_stop() -> None:
    assert ex.judge("start", 0, "not running") == "ok"
    assert ex.judge("stop", 1, "") == "failed"
    assert ex.judge("start", None, "") == "failed"
    # OCF monitor output is not held to heartbeat's text convention
    assert ex.judge("status", 0, "not running", CallKind.OCF_MONITOR) == "running"


@pytest.mark.parametrize(("stdout", "verdict"), [
    ("r0 is running", "running"), ("Running OK", "running"), ("OK", "running"),
    ("is not running", "stopped"), ("stopped", "stopped"), ("", "stopped"),
    ("ok", "stopped"),  # heartbeat only knows upper-case OK
])
def test_heartbeat_verdict(stdout: str, verdict: str) -> None:
    assert ex.heartbeat_verdict(stdout) == verdict


def test_bad_resources_and_actions() -> None:
    with pytest.raises(CallError, match="no script name"):
        ex.resource_from_json({"text": "::x"})
    with pytest.raises(CallError, match="plain file name"):
        ex.resource_from_json({"script": "../x", "args": []})
    with pytest.raises(CallError, match="list of non-empty strings"):
        ex.resource_from_json({"script": "x", "args": [""]})
    with pytest.raises(CallError, match="unknown action 'restart'"):
        ex.check_action("restart")


def test_a_result_without_stamps_decodes_with_none() -> None:
    """An executor of a release before the stamps (or a call never run)."""
    parts = RESULT.encode()
    body = json.loads(parts[1])
    del body["spawn_ns"], body["exit_ns"]
    got = ex.RunResult.decode([parts[0], json.dumps(body).encode()])
    assert got.spawn_ns is None and got.exit_ns is None and got == RESULT
    with pytest.raises(bus.BusError, match="spawn_ns"):
        ex.RunResult.decode([parts[0], json.dumps({**body, "spawn_ns": "soon"}).encode()])
