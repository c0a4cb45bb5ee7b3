"""supervisor/ipfail.py: ipfail's decision, on counts and time alone."""

from __future__ import annotations

import pytest

from linklayer.message import STRING
from supervisor import ipfail as ipf
from supervisor.membership import Log
from supervisor.messages import Envelope, MessageError

SETTLE = 1500


def make(auto_failback: bool = False) -> ipf.IpFail:
    return ipf.IpFail("weasel", total=2, settle_ms=SETTLE, auto_failback=auto_failback)


def peer(count: int, src: str = "weasel") -> ipf.PeerCount:
    return ipf.PeerCount(src, count, 2)


def gives(actions: list[ipf.Action]) -> list[str]:
    return [a.which for a in actions if isinstance(a, ipf.GiveUp)]


def texts(actions: list[ipf.Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Log)]


def test_fewer_ping_nodes_than_the_peer_gives_everything_up_once_settled() -> None:
    f = make()
    sent = f.local_count(2, now=0)
    assert [a for a in sent if isinstance(a, ipf.SendCount)]
    f.peer_count(peer(2), now=100)
    assert texts(f.tick(1600, stable=True, held="all")) == [
        "Ping node count is balanced. (2 on each node)"]
    f.local_count(1, now=5000)
    assert f.next_deadline() == 6500
    assert f.tick(6499, stable=True, held="all") == []
    out = f.tick(6500, stable=True, held="all")
    assert gives(out) == ["all"]
    assert texts(out)[0].startswith("Giving up because we have less visible ping nodes.")
    assert f.tick(99_999, stable=True, held="all") == []  # decided once per pair of counts


def test_never_to_a_peer_that_sees_as_many_or_fewer() -> None:
    for mine, theirs in ((1, 1), (2, 1), (0, 0)):
        f = make()
        f.local_count(mine, now=0)
        f.peer_count(peer(theirs), now=0)
        assert gives(f.tick(10_000, stable=True, held="all")) == []


def test_counts_that_keep_changing_never_settle() -> None:
    f = make()
    f.local_count(2, now=0)
    f.peer_count(peer(2), now=0)
    for i in range(1, 20):  # flapping every second: never SETTLE ms unchanged
        f.local_count(1 if i % 2 else 2, now=i * 1000)
        assert gives(f.tick(i * 1000 + 999, stable=True, held="all")) == []


def test_no_decision_while_resources_are_in_transition() -> None:
    f = make()
    f.local_count(0, now=0)
    f.peer_count(peer(1), now=0)
    assert f.tick(SETTLE, stable=False, held="transition") == []
    assert f.next_deadline() == SETTLE + ipf.RETRY_MS
    assert gives(f.tick(SETTLE + ipf.RETRY_MS, stable=True, held="local")) == ["all"]


def test_nothing_to_give_up_and_a_dead_peer_is_forgotten() -> None:
    f = make()
    f.local_count(0, now=0)
    f.peer_count(peer(1), now=0)
    assert texts(f.tick(SETTLE, stable=True, held="none"))[-1] == "No resources to give up."
    f.peer_lost()
    f.local_count(1, now=10_000)
    assert f.next_deadline() is None  # the peer's count is unknown again
    assert f.peer_count(peer(2, src="stoat"), now=10_000) == []  # not our peer


def test_balanced_with_auto_failback_on_gives_foreign_groups_back() -> None:
    f = make(auto_failback=True)
    f.local_count(1, now=0)
    f.peer_count(peer(1), now=0)
    assert gives(f.tick(SETTLE, stable=True, held="all")) == ["foreign"]
    g = make(auto_failback=False)
    g.local_count(1, now=0)
    g.peer_count(peer(1), now=0)
    assert gives(g.tick(SETTLE, stable=True, held="all")) == []


def test_peer_up_gets_our_count() -> None:
    f = make()
    assert f.peer_up() == []
    f.local_count(1, now=0)
    (send,) = f.peer_up()
    assert isinstance(send, ipf.SendCount)
    assert dict((n, v) for n, _, v in send.fields) == {
        b"t": b"hbeat-pingcount", b"dest": b"weasel", b"count": b"1", b"total": b"2"}


def envelope(count: bytes, total: bytes = b"2") -> Envelope:
    return Envelope(ipf.T_PINGCOUNT, "weasel", 0, 1, 1, None, "otter", None,
                    ((b"count", STRING, count), (b"total", STRING, total)))


def test_the_message_is_checked() -> None:
    assert ipf.parse(envelope(b"1")) == ipf.PeerCount("weasel", 1, 2)
    for bad in (b"x", b"-1", b"3", b"\xff"):
        with pytest.raises(MessageError, match="hbeat-pingcount message from weasel"):
            ipf.parse(envelope(bad))
    other = Envelope(b"status", "weasel", 0, 1, 1, None, None, None, ())
    assert ipf.parse(other) is None
