"""supervisor/pingnodes.py: ping node states and heartbeat's log lines for them."""

from __future__ import annotations

from hbeat.config.model import PingNode
from hbeat.logfmt import Level
from supervisor.pingnodes import PingNodes


def nodes() -> PingNodes:
    return PingNodes((PingNode("ping", "10.0.0.254", ("10.0.0.254",), 3),
                      PingNode("ping_group", "g", ("10.0.1.1", "10.0.2.1"), 4)))


def test_states_counts_and_log_lines() -> None:
    p = nodes()
    assert p.names == ("10.0.0.254", "g") and p.count() == 0 and not p.decided()
    assert p.status == {"10.0.0.254": "dead", "g": "dead"}  # heartbeat's, before an answer
    up = p.update("10.0.0.254", True)
    assert up is not None and (up.old, up.new) == ("dead", "ping")
    assert up.logs == ((Level.INFO, "Link 10.0.0.254:10.0.0.254 up."),
                       (Level.INFO, "Status update for node 10.0.0.254: status ping"))
    assert p.update("10.0.0.254", True) is None  # no change
    never = p.update("g", False)  # a first verdict, though the status stays
    assert never is not None and (never.old, never.new) == ("dead", "dead")
    assert never.logs[0][0] is Level.WARN
    assert p.update("g", False) is None
    assert p.decided() and p.count() == 1
    dead = p.update("10.0.0.254", False)
    assert dead is not None and dead.logs == ((Level.WARN, "node 10.0.0.254: is dead"),
                                              (Level.INFO, "Link 10.0.0.254:10.0.0.254 dead."))
    assert p.count() == 0


def test_a_report_about_no_ping_node_changes_nothing() -> None:
    p = nodes()
    assert p.update("otter", True) is None
    assert p.status == {"10.0.0.254": "dead", "g": "dead"} and not p.reported
