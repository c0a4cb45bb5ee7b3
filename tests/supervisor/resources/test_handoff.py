"""`handoff.step`: a group whose start failed here goes to the peer, or is reported lost."""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.logfmt import Level
from supervisor import handoff
from supervisor import rscmessages as rm
from supervisor.rscactions import FAILED, STOPPED, Log, SendMessage


@dataclass
class G:
    key: str = "web"
    state: str = FAILED
    handoff_pending: bool = True
    handoff_logged: bool = False
    from_peer_failure: bool = False
    cannot_run: str | None = None


def test_handed_to_a_ready_peer() -> None:
    g = G()
    assert handoff.step(g, "otter", ready=True, peer_gone=False) == [
        Log(Level.WARN, "Resource group web could not be started here: handing it to otter."),
        SendMessage(rm.ip_request_resp_fields("otter", "web", True)),
    ]
    assert not g.handoff_pending


def test_waits_for_the_peer_and_says_once_that_none_can_take_it() -> None:
    g = G()
    assert handoff.step(g, "otter", ready=False, peer_gone=False) == []
    assert g.handoff_pending
    lost = handoff.step(g, None, ready=False, peer_gone=True)
    assert len(lost) == 1 and isinstance(lost[0], Log) and lost[0].level is Level.ERROR
    assert "no other node can take it" in lost[0].text
    assert handoff.step(g, None, ready=False, peer_gone=True) == []
    assert g.handoff_pending  # still handed over once the peer comes


def test_failed_on_both_nodes_or_no_longer_failed() -> None:
    g = G(from_peer_failure=True)
    assert handoff.step(g, "otter", ready=True, peer_gone=False) == [
        Log(Level.ERROR, "Resource group web failed on both nodes: it is not running anywhere.")
    ]
    assert not g.handoff_pending
    g = G(state=STOPPED)  # hb_takeover reset it
    assert handoff.step(g, "otter", ready=True, peer_gone=False) == []
    assert not g.handoff_pending
