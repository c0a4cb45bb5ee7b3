"""`legacyrequests`: the legacy ip-request exchange's decisions on their own."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import legacyrequests as lr
from supervisor import rscmessages as rm
from supervisor import stopfailure as sf
from supervisor.rscactions import (
    FAILED,
    PARTIAL,
    RUNNING,
    STOP_FAILED,
    STOPPED,
    Log,
    SendMessage,
)

K = "IPaddr::10.0.0.7"
R = lr.Request


def test_request_decisions() -> None:
    assert lr.on_request(None, committed=False, probing=True) is R.UNKNOWN
    assert lr.on_request(RUNNING, committed=False, probing=True) is R.DEFER
    assert lr.on_request(STOP_FAILED, committed=False, probing=False) is R.REFUSE
    assert lr.on_request(RUNNING, committed=False, probing=False) is R.RELEASE
    assert lr.on_request(PARTIAL, committed=False, probing=False) is R.RELEASE
    assert lr.on_request(STOPPED, committed=True, probing=False) is R.RELEASE
    assert lr.on_request(STOPPED, committed=False, probing=False) is R.NOT_OURS
    assert lr.on_request(FAILED, committed=False, probing=False) is R.NOT_OURS


def test_request_answers() -> None:
    assert lr.unknown_request("otter", "x") == Log(
        Level.ERROR, "ip-request from otter for unknown group [x]"
    )
    assert lr.answer("otter", K, weown=False) == SendMessage(
        rm.ip_request_resp_fields("otter", K, False)
    )
    assert lr.refusal("otter", K) == [
        sf.refused_ip_request("otter", K),
        SendMessage(rm.ip_request_resp_fields("otter", K, True, ok=False)),
    ]


def resp(*, weown: bool = True, ok: bool = True) -> rm.IpRequestResp:
    return rm.IpRequestResp("otter", "weasel", K, weown, ok)


def verdict(state: str | None, r: rm.IpRequestResp | None = None, *, phase: str | None = None,
            committed: bool = False, requested: bool = True) -> lr.Response:
    return lr.on_response("otter", r or resp(), state, phase=phase, committed=committed,
                          requested=requested)


def test_response_decisions() -> None:
    ignored = verdict(STOPPED, phase="starting")
    assert not ignored.take and ignored.logs == [
        Log(Level.WARN, f"ip-request-resp from otter for [{K}] ignored: resource state is starting")
    ]
    assert verdict(None).logs[0].level is Level.ERROR
    refused = verdict(STOPPED, resp(ok=False))
    assert not refused.take and "could not give up" in refused.logs[0].text
    for state in (FAILED, STOP_FAILED):
        failed = verdict(state)
        assert not failed.take and "it failed on this node" in failed.logs[0].text
    assert verdict(RUNNING) == lr.Response()
    assert verdict(STOPPED, committed=True) == lr.Response()
    assert verdict(STOPPED) == lr.Response(take=True)
    assert verdict(PARTIAL) == lr.Response(take=True)  # a found group is completed
    # given to us unasked: the peer's start of it failed there
    assert verdict(STOPPED, requested=False) == lr.Response(take=True, from_peer_failure=True)
    assert verdict(STOPPED, resp(weown=False), requested=False) == lr.Response(take=True)


def test_what_we_asked_and_what_waits() -> None:
    legacy = lr.LegacyRequests()
    assert legacy.request(K) == SendMessage(rm.ip_request_fields(K))
    assert legacy.requested == {K}
    assert legacy.answered(K) and not legacy.answered(K)
    legacy.request(K)
    legacy.clear()
    assert not legacy.requested
    req = rm.IpRequest("otter", K)
    legacy.deferred.append(req)
    assert legacy.take_deferred() == [req] and legacy.take_deferred() == []


def test_answer_after_our_copy_is_stopped() -> None:
    assert lr.after_release("otter", K, STOPPED) == [lr.answer("otter", K, weown=True)]
    assert lr.after_release("otter", K, STOP_FAILED) == lr.refusal("otter", K)
