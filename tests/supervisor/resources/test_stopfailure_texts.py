"""`stopfailure`'s messages: what the operator is told, in each situation."""

from __future__ import annotations

from hbeat.logfmt import Level
from supervisor import stopfailure as sf


def test_failed_stop_names_the_cause() -> None:
    assert sf.failed_stop("web", after_start=True).text == (
        "Resource group web could not be stopped after a failed start."
    )
    log = sf.failed_stop("web", after_start=False)
    assert log.level is Level.CRIT and log.text.endswith("after a release.")


def test_advice_depends_on_what_the_administrator_can_do() -> None:
    def text(peer: str | None, *, leaving: bool = False, nice: bool = True) -> str:
        log = sf.advice("web", peer, leaving=leaving, nice=nice, retry_ms=30_000)
        assert log.level is Level.CRIT
        return log.text

    assert text("otter") == (
        "Resource group web may still be running here: this node keeps holding it and otter "
        "is not let take it over; stop its resources by hand, then run hb_standby here (or "
        "hb_takeover on otter) to hand it over, or hb_takeover here to run it here."
    )
    assert "then run hb_takeover here to start it again" in text(None)
    assert "not let take it over" not in text(None)
    assert "then restart hbeat here (its shutdown retries it)" in text("otter", nice=False)
    assert "the shutdown waits for it" in text("otter", leaving=True)
    assert "retried every 30 s and on SIGTERM" in text("otter", leaving=True)


def test_shutdown_blocked_first_time_and_later() -> None:
    first = sf.shutdown_blocked("web db", "otter", 30_000, first=True)
    assert [log.level for log in first] == [Level.CRIT, Level.CRIT]
    assert "Not sending shutdone: otter will not take them over" in first[0].text
    assert "configure STONITH" in first[1].text
    alone = sf.shutdown_blocked("web", None, 30_000, first=True)
    assert "another node will not take them over" in alone[0].text
    assert [log.text for log in sf.shutdown_blocked("web", "otter", 5_000, first=False)] == [
        "Shutdown still blocked: resource group(s) web could not be stopped; retrying in 5 s."
    ]


def test_refused_ip_request() -> None:
    log = sf.refused_ip_request("otter", "web")
    assert log.level is Level.CRIT
    assert (
        log.text
        == "Refusing ip-request from otter for resource group web: it could not be stopped here."
    )


def test_handed_over() -> None:
    from supervisor import rscmessages as rm
    from supervisor.rscactions import Log, SendMessage

    assert sf.handed_over("web", "otter", "standby") == [
        Log(Level.WARN, "Handing resource group web to otter (standby)."),
        SendMessage(rm.ip_request_resp_fields("otter", "web", True)),
    ]


def test_reminder_repeats_while_groups_are_left() -> None:
    r = sf.Reminder(60_000)
    assert not r.due(10**9)  # not armed
    r.arm(1_000)
    r.arm(5_000)  # the first failure arms it
    assert r.at == 61_000 and not r.due(60_999) and r.due(61_000)
    assert r.again(61_000, any_left=True) and r.at == 121_000
    assert not r.again(121_000, any_left=False) and r.at is None
