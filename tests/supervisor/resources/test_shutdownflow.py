"""`shutdownflow.ShutdownFlow` on its own: the steps of our graceful stop and its timers."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import rscmessages as rm
from supervisor.rscactions import Log, SendMessage, ShutdownComplete
from supervisor.shutdownflow import ShutdownFlow

Hold = rm.Hold


def test_a_clean_shutdown_with_a_peer_waits_for_its_takeover() -> None:
    flow = ShutdownFlow(wait_ms=30_000, retry_ms=5_000)
    assert flow.request(op_running=True) == [
        Log(Level.INFO, "Shutdown delayed until current resource activity finishes.")
    ]
    assert flow.requested and flow.request(op_running=False) == []
    assert flow.giving_up(Hold.NONE) == [
        Log(Level.INFO, "Giving up all HA resources."),
        SendMessage(rm.resource_fields(Hold.NONE, False, rm.INFO_SHUTDOWN)),
    ]
    assert flow.release_queued
    out, done = flow.released(1_000, wait_for_peer=True)
    assert not done and out == [
        Log(Level.INFO, "All HA resources relinquished."),
        SendMessage(rm.shutdone_fields()),
        Log(Level.INFO, "Waiting to allow resource takeover to complete"),
    ]
    assert flow.deadlines(False) == [31_000, None]
    assert flow.wait_expired(30_999) == []
    assert flow.wait_expired(31_000) == [
        Log(Level.WARN, "No takeover confirmation from the other node: stopping anyway.")
    ]
    assert flow.complete() == [ShutdownComplete()] and flow.deadlines(False) == [None, None]


def test_alone_the_shutdown_completes_at_once() -> None:
    flow = ShutdownFlow(wait_ms=30_000, retry_ms=5_000)
    out, done = flow.released(0, wait_for_peer=False)
    assert done and out[-1] == SendMessage(rm.shutdone_fields())
    assert flow.wait_expired(10**9) == []


def test_stop_failed_groups_block_it_until_a_retry_succeeds() -> None:
    flow = ShutdownFlow(wait_ms=30_000, retry_ms=5_000)
    logs, first = flow.blocked(100, "web", "otter")
    assert first and flow.stuck and len(logs) == 2
    assert logs[0].level is Level.CRIT and "Not sending shutdone" in logs[0].text
    assert flow.deadlines(True) == [None, 5_100] and flow.deadlines(False) == [None, None]
    assert not flow.retry_due(5_099) and flow.retry_due(5_100)
    assert flow.retrying("periodic retry", "web") == [
        Log(Level.INFO, "Shutdown: periodic retry: retrying the stop of web.")
    ]
    assert not flow.retry_due(10**9)
    assert flow.already_retrying("shutdown requested again") == [
        Log(Level.INFO, "Shutdown: shutdown requested again; the stops are being retried already.")
    ]
    logs, first = flow.blocked(6_000, "web", "otter")
    assert not first and [log.text for log in logs] == [
        "Shutdown still blocked: resource group(s) web could not be stopped; retrying in 5 s."
    ]
    out, done = flow.released(7_000, wait_for_peer=False)
    assert done and not flow.stuck and flow.retry_at is None
    assert out[0] == Log(Level.INFO, "The failed stops succeeded: completing the shutdown.")
