"""The sequence board shared by real processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from hbeat.ipc.seqboard import LD_MAX, SENT_RING, SeqBoard, SeqBoardError, StaleKeepalive
from linklayer.message import STRING
from supervisor.messages import status_fields
from supervisor.sequencing import Sender

FAR = 2**62


def _claim(path: str, ticks: list[int], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    board = SeqBoard.attach(Path(path))
    out.put([board.claim_tick(t, 0, 0) for t in ticks])


def test_seq_starts_at_one_and_allocations_are_contiguous(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=FAR)
    numbers = [b.allocate(), b.claim_tick(0, 0, 0), b.allocate(), b.claim_tick(1, 0, 0)]
    assert numbers == [1, 2, 3, 4]
    assert b.claim_tick(1, 0, 0) == 4  # a second worker reading the same tick
    assert b.claim_tick(0, 0, 0) is None  # a tick older than the last claim is skipped
    assert b.read().generation == 5


def test_claim_says_which_worker_took_the_number(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=100)
    assert b.claim(0, 0, 0) == (1, True)  # first to reach tick 0: it reports it
    assert b.claim(0, 0, 0) == (1, False)  # the second worker reads the same number
    assert b.claim(2, 0, 0) == (2, True)
    assert b.claim(1, 0, 0) is None  # older than the last claim: skipped
    assert b.claim(3, 100, 0) is None  # the lease ran out
    b.allocate(status=True)
    with pytest.raises(StaleKeepalive):
        b.claim(3, 0, 0)
    assert b.claim(3, 0, 3) == (4, True)


def test_a_claim_records_the_last_message_numbered_before_its_keepalive(
        tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=FAR)
    assert (b.read().msg_seq, b.read().claimed_msg) == (0, 0)
    assert b.claim(0, 0, 0) == (1, True)
    assert (b.read().msg_seq, b.read().claimed_msg) == (0, 0)  # keepalives are not messages
    assert b.allocate() == 2 and b.allocate(status=True) == 3
    assert (b.read().msg_seq, b.read().claimed_msg) == (3, 0)
    assert b.claim(1, 0, 3) == (4, True)  # its keepalive goes out after message 3
    assert (b.read().msg_seq, b.read().claimed_msg) == (3, 3)
    assert b.allocate() == 5  # after the claim: numbered above the keepalive
    assert b.claim(1, 0, 3) == (4, False)  # a second worker: still after message 3 only
    assert (b.read().msg_seq, b.read().claimed_msg) == (5, 3)


def test_the_worker_that_takes_a_number_logs_its_keepalive(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=FAR)
    assert b.sent_count() == 0
    assert b.sent_since(0) == (0, [], 0)
    assert b.claim(0, 0, 0, (0x10, b"0.00 0.01", 77)) == (1, True)
    assert b.claim(0, 0, 0, (0x10, b"other", 78)) == (1, False)  # not logged twice
    b.allocate()  # a supervisor message: not a keepalive, not logged
    assert b.claim(1, 0, 0, (0x11, b"", 2**64 - 1)) == (3, True)
    assert b.claim(2, 0, 0) == (4, True)  # nothing to log given
    assert b.sent_count() == 2
    count, entries, lost = b.sent_since(0)
    assert (count, lost) == (2, 0)
    assert [(e.seq, e.ts, e.ld, e.tick, e.content_key) for e in entries] == [
        (1, 0x10, b"0.00 0.01", 0, 77), (3, 0x11, b"", 1, 2**64 - 1)]
    assert b.sent_since(1)[1] == entries[1:]
    assert b.sent_since(2) == (2, [], 0)
    attached = SeqBoard.attach(tmp_path / "seq")  # another process sees the same log
    assert attached.sent_since(0)[1] == entries


def test_the_log_keeps_the_last_entries_and_counts_the_overwritten(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=FAR)
    for tick in range(SENT_RING + 5):
        b.claim(tick, 0, 0, (tick, b"%d" % tick, 1))
    count, entries, lost = b.sent_since(0)
    assert (count, lost, len(entries)) == (SENT_RING + 5, 5, SENT_RING)
    assert [e.tick for e in entries] == list(range(5, SENT_RING + 5))
    assert entries[-1].ld == b"%d" % (SENT_RING + 4)


def test_an_ld_the_log_cannot_hold_takes_no_number(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=5, lease_ns=FAR)
    with pytest.raises(ValueError, match="ld of"):
        b.claim(0, 0, 0, (1, b"x" * (LD_MAX + 1), 1))
    assert b.claim(0, 0, 0, (1, b"x" * LD_MAX, 1)) == (1, True)
    assert b.sent_since(0)[1][0].ld == b"x" * LD_MAX


def test_no_keepalive_without_lease(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=1, lease_ns=100)
    assert b.claim_tick(0, 99, 0) == 1
    assert b.claim_tick(1, 100, 0) is None
    b.renew_lease(200)
    assert b.claim_tick(1, 150, 0) == 2


def test_two_processes_claiming_the_same_ticks_get_the_same_numbers(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    SeqBoard.create(path, t0_ns=0, interval_ns=10, generation=1, lease_ns=FAR)
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    ticks = list(range(200))
    procs = [ctx.Process(target=_claim, args=(str(path), ticks, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    # Each tick has exactly one number; a worker that fell behind skips ticks
    # (None) but never gets a different number for a tick.
    claimed = SeqBoard.attach(path).read()
    assert claimed.claimed_tick == 199
    for a, b in zip(*results, strict=True):
        if a is not None and b is not None:
            assert a == b
    numbers = sorted({n for r in results for n in r if n is not None})
    assert numbers == list(range(1, len(numbers) + 1))


def test_attach_refuses_a_foreign_file(tmp_path: Path) -> None:
    bogus = tmp_path / "seq"
    bogus.write_bytes(b"x" * 64)
    with pytest.raises(SeqBoardError, match=r"not an hbeat sequence board|wrong size"):
        SeqBoard.attach(bogus)
    with pytest.raises(SeqBoardError, match="cannot open"):
        SeqBoard.attach(tmp_path / "missing")


def test_issued_is_the_highest_number_handed_out(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=1, lease_ns=FAR)
    assert b.issued() == 0
    b.allocate()
    b.claim_tick(0, 0, 0)
    assert b.issued() == 2


def test_keepalive_content_older_than_the_last_status_message_is_refused(
        tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=1, lease_ns=FAR)
    assert b.claim_tick(0, 0, 0) == 1
    assert b.allocate() == 2  # a non-status message: keepalive content still current
    assert b.read().status_seq == 0
    assert b.allocate(status=True) == 3  # the supervisor's status message (st changed)
    assert b.read().status_seq == 3
    with pytest.raises(StaleKeepalive, match="content for status 0, the supervisor sent "
                                              "status 3"):
        b.claim_tick(1, 0, 0)
    assert b.read().next_seq == 4  # nothing taken by the refused claim
    assert b.claim_tick(1, 0, 3) == 4
    assert b.claim_tick(1, 0, 3) == 4  # a second worker with the new content


def test_the_sender_marks_its_status_messages_on_the_board(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=0, interval_ns=10, generation=1, lease_ns=FAR)
    sender = Sender("otter", b"u" * 16, 7, 3, allocate_seq=b.allocate, issued_seq=b.issued)
    sender.stamp(status_fields("active", 10_000), now=0, wall_s=0)
    assert b.read().status_seq == 1
    sender.stamp(((b"t", STRING, b"resource"), (b"rsc_hold", STRING, b"all")), now=0, wall_s=0)
    assert b.read().status_seq == 1 and b.issued() == 2


def test_reschedule_keeps_the_next_tick_and_its_number(tmp_path: Path) -> None:
    b = SeqBoard.create(tmp_path / "seq", t0_ns=1000, interval_ns=100, generation=1,
                        lease_ns=FAR)
    assert b.claim_tick(4, 1400, 0) == 1
    b.reschedule(1450, 30)  # next tick: 5, due at 1500 on both grids
    view = b.read()
    assert view.interval_ns == 30
    assert view.t0_ns + 5 * 30 == 1500 and view.t0_ns + 6 * 30 == 1530
    assert b.claim_tick(5, 1500, 0) == 2  # numbering goes on
    assert b.claim_tick(4, 1500, 0) is None
    with pytest.raises(ValueError):
        b.reschedule(1500, 0)
