"""`acquisition`: the steps and closing lines of req_our_resources and mach_down."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import acquisition as aq
from supervisor import rscmessages as rm
from supervisor.jobrunner import Step
from supervisor.rscactions import Log, SendMessage

Hold = rm.Hold
REPORT = SendMessage(rm.resource_fields(Hold.LOCAL, True, rm.INFO_REQ_OUR))


def test_own_steps_announce_each_group_to_ourselves() -> None:
    assert aq.own_steps("weasel", ["a", "b"]) == [
        Step("a", True, (SendMessage(rm.ip_request_resp_fields("weasel", "a", True)),)),
        Step("b", True, (SendMessage(rm.ip_request_resp_fields("weasel", "b", True)),)),
    ]


def test_req_our_done() -> None:
    assert aq.req_our_done(started=False, initial=None, report=None) == []
    assert aq.req_our_done(started=False, initial=None, report=REPORT) == [REPORT]
    assert aq.req_our_done(started=False, initial="T_RESOURCES(us)", report=REPORT) == [
        Log(Level.INFO, "Local Resource acquisition completed. (none)"),
        REPORT,
        Log(Level.INFO, "Initial resource acquisition complete (T_RESOURCES(us))"),
    ]
    assert aq.req_our_done(started=True, initial="mach_down", report=None)[0] == Log(
        Level.INFO, "Local Resource acquisition completed."
    )


def test_takeover_steps_take_the_dead_nodes_groups_first() -> None:
    steps = aq.takeover_steps("weasel", ["o"], ["w"])
    assert steps == [
        Step("o", True, (Log(Level.INFO, "Taking over resource group o"),), True),
        Step("w", True, (SendMessage(rm.ip_request_resp_fields("weasel", "w", True)),), True),
    ]


def test_takeover_done() -> None:
    assert aq.takeover_done("otter", nice=False, after_shutdone=True, initial=None,
                            report=None) == [
        Log(Level.INFO, "mach_down takeover complete for node otter.")
    ]
    assert aq.takeover_done("otter", nice=True, after_shutdone=True, initial="mach_down",
                            report=REPORT) == [
        REPORT,
        SendMessage(rm.ask_resources_fields(Hold.ALL, rm.ASK_DONE)),
        SendMessage(rm.mach_down_fields()),
        Log(Level.INFO, "mach_down takeover complete for node otter."),
        Log(Level.INFO, "Initial resource acquisition complete (mach_down)"),
    ]
