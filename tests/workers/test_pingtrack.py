"""workers/pingtrack.py: which echo replies count, and when ping nodes go up and die."""

from __future__ import annotations

from workers.pingtrack import EchoBook, PingTracker, Transition


def test_a_reply_counts_once_and_only_when_it_matches_a_request() -> None:
    book = EchoBook(capacity=8, max_age_ms=2000)
    book.sent("10.0.0.1", 7, b"token-7", now=0)
    assert not book.match("10.0.0.2", 7, b"token-7", now=10)  # another source
    assert not book.match("10.0.0.1", 8, b"token-7", now=10)  # another sequence number
    assert not book.match("10.0.0.1", 7, b"forged", now=10)  # another payload
    assert book.match("10.0.0.1", 7, b"token-7", now=10)
    assert not book.match("10.0.0.1", 7, b"token-7", now=11)  # a duplicate


def test_late_replies_do_not_count_and_the_book_is_bounded() -> None:
    book = EchoBook(capacity=3, max_age_ms=2000)
    book.sent("h", 1, b"a", now=0)
    assert not book.match("h", 1, b"a", now=2001)
    for seq in range(10):
        book.sent("h", seq, b"x", now=100)
    assert len(book) == 3
    assert not book.match("h", 0, b"x", now=100)  # pushed out
    assert book.match("h", 9, b"x", now=100)
    book.expire(now=3000)
    assert len(book) == 0


def test_a_ping_node_is_up_at_its_first_reply_and_dead_after_deadping() -> None:
    t = PingTracker([("10.0.0.254", ["10.0.0.254"])], deadping_ms=2000, now=0)
    assert t.tick(500) == []
    assert t.reply("10.0.0.254", 600) == [Transition("10.0.0.254", True, "10.0.0.254")]
    assert t.reply("10.0.0.254", 1100) == []  # no news: nothing to report
    assert t.next_deadline() == 3100
    assert t.tick(3099) == []
    assert t.tick(3100) == [Transition("10.0.0.254", False, None)]
    assert t.tick(9000) == []


def test_a_node_never_heard_is_reported_dead_once_deadping_has_passed() -> None:
    t = PingTracker([("a", ["10.0.0.1"])], deadping_ms=2000, now=1000)
    assert t.next_deadline() == 3000
    assert t.tick(2999) == []
    assert t.tick(3000) == [Transition("a", False, None)]
    assert t.tick(3001) == []


def test_a_ping_group_is_up_while_any_of_its_hosts_answers() -> None:
    t = PingTracker([("g", ["h1", "h2"]), ("h1", ["h1"])], deadping_ms=1000, now=0)
    assert t.reply("h1", 100) == [Transition("g", True, "h1"), Transition("h1", True, "h1")]
    assert t.reply("h2", 900) == []
    assert t.tick(1100) == [Transition("h1", False, None)]  # h2 still answers for g
    assert t.tick(1900) == [Transition("g", False, None)]
    assert t.reply("h2", 2000) == [Transition("g", True, "h2")]
    assert t.reply("unknown", 2000) == []
