"""supervisor/quietlinks.py: quiet keepalives back into messages, in order."""

from __future__ import annotations

from hbeat.ipc.heardboard import QuietRun
from linklayer import Field
from supervisor.quietlinks import DEFER_MAX_NS, Keepalive, QuietLinks, quiet_gap_ms

LINK = "bcast eth1"


def status(seq: int, st: bytes = b"active", src: bytes = b"weasel") -> tuple[Field, ...]:
    return ((b"t", 0, b"status"), (b"st", 0, st), (b"src", 0, src),
            (b"seq", 0, format(seq, "x").encode()), (b"hg", 0, b"6b066b7a"),
            (b"ts", 0, b"6b066b00"), (b"ld", 0, b"0.00 0.01 0.05 1/99 42"))


def message(seq: int) -> tuple[Field, ...]:
    return ((b"t", 0, b"ip-request"), (b"src", 0, b"weasel"),
            (b"seq", 0, format(seq, "x").encode()))


def on_board(q: QuietLinks, link: str, run: QuietRun) -> list[Keepalive]:
    """The board read right after its last keepalive was recorded."""
    return q.on_board(link, run, run.heard_ns)


def values(fields: tuple[Field, ...]) -> dict[bytes, bytes]:
    return {n: v for n, _t, v in fields}


def test_a_run_becomes_the_model_with_each_seq_and_the_last_ts() -> None:
    q = QuietLinks()
    q.reset(LINK)
    assert q.on_rx(LINK, status(0x40), 1_000, None) == []
    out = on_board(q, LINK, QuietRun(1, 0x41, 0x43, 0x6B066B03, 4_000, 3, "weasel"))
    assert [values(k.fields)[b"seq"] for k in out] == [b"41", b"42", b"43"]
    assert {values(k.fields)[b"ts"] for k in out} == {b"6b066b03"}
    assert all(values(k.fields)[b"st"] == b"active" and values(k.fields)[b"ld"]
               == b"0.00 0.01 0.05 1/99 42" for k in out)
    # Only the last one's time is known: the others are spread since the model.
    assert [k.heard_ns for k in out] == [2_000, 3_000, 4_000]


def test_a_run_read_again_gives_only_what_is_new() -> None:
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 0, None)
    assert len(on_board(q, LINK, QuietRun(1, 0x41, 0x42, 1, 2_000, 2, "weasel"))) == 2
    assert on_board(q, LINK, QuietRun(1, 0x41, 0x42, 1, 2_000, 2, "weasel")) == []
    out = on_board(q, LINK, QuietRun(1, 0x41, 0x44, 2, 4_000, 4, "weasel"))
    assert [values(k.fields)[b"seq"] for k in out] == [b"43", b"44"]
    assert [k.heard_ns for k in out] == [3_000, 4_000]


def test_a_run_that_began_after_a_frame_still_on_the_bus_waits_for_it() -> None:
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 0, None)
    # The worker forwarded a second frame (rx 2) before this run began.
    assert on_board(q, LINK, QuietRun(2, 0x42, 0x42, 1, 2_000, 1, "weasel")) == []
    q.on_rx(LINK, message(0x41), 1_000, None)
    assert [values(k.fields)[b"seq"] for k in
            on_board(q, LINK, QuietRun(2, 0x42, 0x42, 1, 2_000, 1, "weasel"))] == [b"42"]


def test_the_run_sent_with_a_frame_comes_before_it_and_only_its_rest() -> None:
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 0, None)
    assert len(on_board(q, LINK, QuietRun(1, 0x41, 0x42, 1, 2_000, 2, "weasel"))) == 2
    # The worker then took the run (now to 0x44) off the board with a new status.
    out = q.on_rx(LINK, status(0x45, st=b"standby"), 6_000,
                  QuietRun(1, 0x41, 0x44, 3, 4_000, 4, ""))
    assert [values(k.fields)[b"seq"] for k in out] == [b"43", b"44"]
    assert {values(k.fields)[b"st"] for k in out} == {b"active"}  # the old model
    # The next run is compared with the new status.
    out = on_board(q, LINK, QuietRun(2, 0x46, 0x46, 4, 7_000, 1, "weasel"))
    assert values(out[0].fields)[b"st"] == b"standby" and out[0].heard_ns == 7_000


def test_runs_are_per_link_and_per_peer_and_a_new_worker_starts_over() -> None:
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 0, None)
    q.on_rx("serial /dev/ttyS0", status(0x40), 0, None)
    q.on_rx(LINK, status(0x10, src=b"stoat"), 0, None)
    assert len(on_board(q, LINK, QuietRun(2, 0x11, 0x11, 1, 1_000, 1, "stoat"))) == 1
    assert len(on_board(q, "serial /dev/ttyS0", QuietRun(1, 0x41, 0x41, 1, 1_000, 1,
                                                        "weasel"))) == 1
    q.reset(LINK)
    assert on_board(q, LINK, QuietRun(0, 0x41, 0x41, 1, 1_000, 1, "weasel")) == []


def test_an_unnumbered_message_does_not_move_the_runs_times() -> None:
    # An NS_* message of the peer does not end its run on the board: the run's
    # keepalives are still spread since the frame before them, not crammed
    # at the run's end (membership would see one late keepalive).
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 1_000, None)
    q.on_rx(LINK, ((b"t", 0, b"NS_ackmsg"), (b"src", 0, b"weasel")), 9_000, None)
    out = on_board(q, LINK, QuietRun(1, 0x41, 0x44, 1, 5_000, 4, "weasel"))
    assert [k.heard_ns for k in out] == [2_000, 3_000, 4_000, 5_000]


def test_no_model_no_keepalives() -> None:
    q = QuietLinks()
    q.on_rx(LINK, message(0x40), 0, None)
    assert on_board(q, LINK, QuietRun(0, 0x41, 0x41, 1, 1_000, 1, "weasel")) == []
    assert on_board(q, "unknown", QuietRun(0, 0x41, 0x41, 1, 1_000, 1, "weasel")) == []


def test_the_gap_is_one_and_a_half_intervals_within_warntime() -> None:
    assert quiet_gap_ms(1000, 5000) == 1500
    assert quiet_gap_ms(1000, 1200) == 1200
    assert quiet_gap_ms(100, 250) == 150


def test_a_run_waits_for_the_frame_before_it_but_not_for_ever() -> None:
    q = QuietLinks()
    q.on_rx(LINK, status(0x40), 0, None)
    run = QuietRun(2, 0x42, 0x42, 1, 5_000, 1, "weasel")  # after a 2nd frame, never read
    assert q.on_board(LINK, run, 5_000 + DEFER_MAX_NS - 1) == [] and q.resynced == 0
    out = q.on_board(LINK, run, 5_000 + DEFER_MAX_NS)
    assert [values(k.fields)[b"seq"] for k in out] == [b"42"] and q.resynced == 1
    # Counted from there on: the next run does not wait.
    assert len(q.on_board(LINK, QuietRun(2, 0x42, 0x43, 1, 6_000, 2, "weasel"), 6_000)) == 1
