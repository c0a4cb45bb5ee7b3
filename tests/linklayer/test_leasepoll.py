"""linklayer.leasepoll (hb_lease_* of _frame.c): the supervisor loop's sleep keeps its lease
renewed on a real sequence board file (read back with `SeqBoard`, as the link workers'
tickers read it), under the board's lock, and returns for input, a timeout, a signal, the
watched count or a stall of the process. Real files, pipes, signals and processes."""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hbeat.ipc.seqboard import COUNT_AT, LEASE_AT, MAGIC, SIZE, SeqBoard
from linklayer.leasepoll import MAX_FDS, LeaseError, LeasePlan, LeasePoll

MS = 1_000_000


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[SeqBoard, LeasePoll]]:
    seq = SeqBoard.create(tmp_path / "seqboard", t0_ns=time.monotonic_ns(),
                          interval_ns=1000 * MS, generation=1)
    lease = LeasePoll(seq.path, size=SIZE, magic=MAGIC, lease_at=LEASE_AT, count_at=COUNT_AT)
    try:
        yield seq, lease
    finally:
        lease.close()
        seq.close()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    try:
        yield r, w
    finally:
        os.close(r)
        os.close(w)


def lease_of(seq: SeqBoard) -> int:
    return seq.read().lease_ns


def test_renew_and_until_are_the_boards_lease_field(board: tuple[SeqBoard, LeasePoll]) -> None:
    seq, lease = board
    lease.renew(123_456_789)
    assert lease.until_ns() == 123_456_789 == lease_of(seq)
    seq.renew_lease(987)  # the supervisor's own (Python) renewal
    assert lease.until_ns() == 987
    assert seq.read().next_seq == 1  # nothing else on the board moved


def test_renew_waits_for_the_boards_lock(board: tuple[SeqBoard, LeasePoll], tmp_path: Path
                                         ) -> None:
    # A worker claiming a tick holds the lock; the renewal comes after it.
    seq, lease = board
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other process: hold the lock 300 ms
        fd = os.open(seq.path, os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        os.write(w, b"x")
        time.sleep(0.3)
        os._exit(0)
    os.read(r, 1)
    t0 = time.monotonic()
    lease.renew(42)
    held = time.monotonic() - t0
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    assert held > 0.2 and lease_of(seq) == 42


def test_open_refuses_what_is_not_the_board(tmp_path: Path) -> None:
    with pytest.raises(LeaseError, match=r"lease board .*missing: cannot open the board: "
                                         r"No such file"):
        LeasePoll(tmp_path / "missing", size=SIZE, magic=MAGIC, lease_at=LEASE_AT)
    short = tmp_path / "short"
    short.write_bytes(MAGIC + bytes(100))
    with pytest.raises(LeaseError, match=r"short: not the board expected \(size or magic\)"):
        LeasePoll(short, size=SIZE, magic=MAGIC, lease_at=LEASE_AT)
    other = tmp_path / "other"
    other.write_bytes(b"HBSEQBD3" + bytes(SIZE - 8))
    with pytest.raises(LeaseError, match=r"other: not the board expected"):
        LeasePoll(other, size=SIZE, magic=MAGIC, lease_at=LEASE_AT)
    good = tmp_path / "good"
    good.write_bytes(MAGIC + bytes(SIZE - 8))
    for lease_at, count_at in ((44, -1), (0, -1), (SIZE - 4, -1), (LEASE_AT, LEASE_AT),
                               (LEASE_AT, 12), (LEASE_AT, -2)):
        with pytest.raises(LeaseError, match="bad layout"):
            LeasePoll(good, size=SIZE, magic=MAGIC, lease_at=lease_at, count_at=count_at)
    LeasePoll(good, size=SIZE, magic=MAGIC, lease_at=LEASE_AT, count_at=COUNT_AT).close()


def test_a_quiet_sleep_renews_the_lease_as_the_plan_says(
        board: tuple[SeqBoard, LeasePoll], pipe: tuple[int, int]) -> None:
    seq, lease = board
    plan = LeasePlan(lease_ns=500 * MS, every_ns=40 * MS, next_renew_ns=0,
                     stall_ns=1000 * MS)
    t0 = time.monotonic_ns()
    wake = lease.poll([pipe[0]], 250, plan)
    t1 = time.monotonic_ns()
    assert wake.timeout and not wake.ready and not wake.stalled and not wake.count_reached
    assert t1 - t0 >= 250 * MS
    assert 3 <= wake.renewals <= 8  # at 0, 40, 80, ... ms (fewer on a loaded machine)
    assert t0 < plan.next_renew_ns - 40 * MS <= t1  # when the last renewal was made
    assert lease_of(seq) == plan.next_renew_ns - 40 * MS + 500 * MS
    assert t1 - 50 * MS <= wake.alive_ns <= time.monotonic_ns()  # its last wake-up: the end
    assert t0 <= wake.started_ns <= t0 + 50 * MS  # when the call began
    # Not due yet: nothing renewed by a short sleep. (Due a second from now, not
    # 40 ms after the last renewal: a loaded machine may take that long to get here.)
    before = lease_of(seq)
    later = LeasePlan(lease_ns=500 * MS, every_ns=40 * MS,
                      next_renew_ns=time.monotonic_ns() + 1000 * MS, stall_ns=1000 * MS)
    assert lease.poll([pipe[0]], 5, later).renewals == 0 and lease_of(seq) == before


def test_input_ends_the_sleep_and_names_the_descriptor(
        board: tuple[SeqBoard, LeasePoll], pipe: tuple[int, int]) -> None:
    _seq, lease = board
    r2, w2 = os.pipe()
    try:
        plan = LeasePlan(lease_ns=500 * MS, every_ns=100 * MS)
        threading.Timer(0.1, os.write, (w2, b"x")).start()
        t0 = time.monotonic()
        wake = lease.poll([pipe[0], r2], 5000, plan)
        assert 0.08 < time.monotonic() - t0 < 2.0
        assert wake.ready == (r2,) and not wake.timeout
        # Already readable: at once, with both when both are.
        os.write(pipe[1], b"y")
        assert set(lease.poll([pipe[0], r2], 5000, plan).ready) == {pipe[0], r2}
        # A closed write end is a hang-up: readable too.
        os.close(w2)
        os.read(r2, 1)
        assert r2 in lease.poll([r2], 5000, plan).ready
    finally:
        os.close(r2)
        with contextlib.suppress(OSError):
            os.close(w2)


def test_the_watched_count_ends_the_sleep(board: tuple[SeqBoard, LeasePoll],
                                          pipe: tuple[int, int]) -> None:
    seq, lease = board
    plan = LeasePlan(lease_ns=500 * MS, every_ns=30 * MS, count_at_least=128)
    writer = mmap.mmap(os.open(seq.path, os.O_RDWR), SIZE)

    def bump() -> None:  # as the workers' keepalive log entries do
        struct.pack_into("<q", writer, COUNT_AT, 128)

    threading.Timer(0.1, bump).start()
    t0 = time.monotonic()
    wake = lease.poll([pipe[0]], 5000, plan)
    assert wake.count_reached and not wake.timeout
    assert 0.08 < time.monotonic() - t0 < 1.0  # seen within a slice of every_ns
    assert lease.poll([pipe[0]], 5000, plan).count_reached  # still reached: at once
    writer.close()


def test_a_signal_ends_the_sleep_through_its_wakeup_descriptor(
        board: tuple[SeqBoard, LeasePoll]) -> None:
    # As the supervisor's: Python's handler writes the signal's number to a
    # pipe the sleep watches, so a signal that comes between two polls (a
    # renewal) is not lost; one that comes inside poll(2) interrupts it.
    _seq, lease = board
    r, w = os.pipe2(os.O_NONBLOCK)
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda sig, _frame: got.append(sig))
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    try:
        main = threading.get_ident()  # the signal must reach the sleeping thread
        threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGUSR1)).start()
        t0 = time.monotonic()
        wake = lease.poll([r], 5000, LeasePlan(lease_ns=500 * MS, every_ns=1 * MS))
        if wake.interrupted:
            wake = lease.poll([r], 5000, LeasePlan(lease_ns=500 * MS, every_ns=1 * MS))
        assert wake.ready == (r,) and not wake.timeout
        assert time.monotonic() - t0 < 2.0
        assert os.read(r, 16) == bytes([signal.SIGUSR1])
        assert got == [signal.SIGUSR1]  # the handler ran once Python resumed
    finally:
        signal.set_wakeup_fd(old_fd)
        signal.signal(signal.SIGUSR1, old)
        os.close(r)
        os.close(w)


def test_a_stopped_process_reports_its_stall_and_when_it_was_last_awake(
        board: tuple[SeqBoard, LeasePoll], pipe: tuple[int, int]) -> None:
    seq, lease = board
    r, w = pipe
    pid = os.fork()
    if pid == 0:
        try:
            plan = LeasePlan(lease_ns=400 * MS, every_ns=50 * MS, stall_ns=200 * MS)
            wake = lease.poll([], 3000, plan)
            os.write(w, struct.pack("<qqq", wake.stalled, wake.alive_ns, time.monotonic_ns()))
        finally:
            os._exit(0)
    time.sleep(0.2)
    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic_ns()
    lease_at_stop = lease_of(seq)
    time.sleep(0.6)
    assert lease_of(seq) == lease_at_stop  # a stopped process renews nothing
    assert lease_at_stop < time.monotonic_ns()  # and its lease has lapsed
    os.kill(pid, signal.SIGCONT)
    stalled, alive_ns, returned = struct.unpack("<qqq", os.read(r, 24))
    os.waitpid(pid, 0)
    assert stalled
    assert alive_ns <= stopped_at and returned - alive_ns > 600 * MS
    assert lease_of(seq) == lease_at_stop  # not renewed on the way out of a stall


def test_bad_calls_are_refused(board: tuple[SeqBoard, LeasePoll]) -> None:
    _seq, lease = board
    with pytest.raises(ValueError, match="every field but"):
        lease.poll([], 0, LeasePlan(lease_ns=0, every_ns=1))
    with pytest.raises(ValueError, match=f"at most {MAX_FDS}"):
        lease.poll(list(range(MAX_FDS + 1)), 0, LeasePlan(lease_ns=1, every_ns=1))
    lease.close()
    lease.close()  # twice is harmless
    with pytest.raises(ValueError, match="closed"):
        lease.renew(1)
    with pytest.raises(ValueError, match="closed"):
        lease.until_ns()
