"""linklayer.ticker (hb_ticker_* of _frame.c): the link worker's keepalive
thread, on a real sequence board file, real UDP sockets on loopback, a real
pty as the serial line and real threads and processes. The frames are the
bytes the Python encoders give; the board is claimed as `SeqBoard.claim`
claims it, and its lock excludes the supervisor's `lockf` in another
process."""

from __future__ import annotations

import errno
import os
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import linklayer
from hbeat.ipc.keepalive import STATUS_VARIABLE, KeepaliveContent, content_key, status_fields
from hbeat.ipc.seqboard import SeqBoard
from linklayer import Form, Template
from linklayer.message import STRING, AuthKey, Keyring, Method
from linklayer.ticker import (
    EVENTS,
    ORDER_WAIT_NS,
    WRITE_FAILED,
    WRITE_TIMEOUT,
    StaleContent,
    Ticker,
    TickerError,
    TickReport,
)

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="otter",
                           srcuuid=bytes(range(16)), hg=7, ttl=3)
FAR = 2**62


def template(content: KeepaliveContent = CONTENT, form: Form = Form.NETSTRING) -> Template:
    return Template(status_fields(content, 0, 0, b""), form, KEYRING, STATUS_VARIABLE)


def fields_of(frame: bytes) -> dict[bytes, bytes]:
    return {name: value for name, _t, value in linklayer.decode(frame, KEYRING).fields}


class Udp:
    def __init__(self) -> None:
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.rx.bind(("127.0.0.1", 0))
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.dest = self.rx.getsockname()

    def frames(self, wait: float = 0.3) -> list[tuple[float, bytes]]:
        """(arrival, monotonic ns) and bytes of what came within `wait` s of the last."""
        out = []
        while select.select([self.rx], [], [], wait)[0]:
            out.append((time.monotonic_ns(), self.rx.recv(65536)))
        return out

    def wait(self, n: int, timeout: float = 5) -> list[tuple[float, bytes]]:
        """At least `n` frames, or what came within `timeout` s."""
        out: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            if select.select([self.rx], [], [], 0.05)[0]:
                out.append((time.monotonic_ns(), self.rx.recv(65536)))
        return out

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


@pytest.fixture
def udp() -> Iterator[Udp]:
    u = Udp()
    yield u
    u.close()


def board(tmp_path: Path, interval_ns: int = 10**9, lease_ns: int = FAR,
          t0_ns: int | None = None) -> SeqBoard:
    return SeqBoard.create(tmp_path / "board", t0_ns=time.monotonic_ns() if t0_ns is None
                           else t0_ns, interval_ns=interval_ns, generation=3, lease_ns=lease_ns)


def ticker(tmp_path: Path, udp: Udp, *, report_all: bool = False,
           content: KeepaliveContent = CONTENT) -> Ticker:
    t = Ticker(tmp_path / "board", udp.tx.fileno(), udp.dest, report_all=report_all)
    t.set_template(template(content), content.status_seq, content_key(content))
    return t


def test_a_tick_sends_the_python_encoders_bytes_and_logs_it(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path)
    t = ticker(tmp_path, udp)
    report = t.tick(0, 0x6B066B8E, b"0.00 0.01 0.05 1/99 42")
    assert report is not None and report.written and report.taken and report.seq == 1
    [(_at, frame)] = udp.frames()
    assert frame == linklayer.encode_netstring(
        status_fields(CONTENT, 1, 0x6B066B8E, b"0.00 0.01 0.05 1/99 42"), KEYRING)
    assert t.last_keepalive() == frame
    assert t.last_keepalive() == frame  # asked again, nothing new: the same copy
    second = t.tick(1, 0x6B066B8F, b"0.00 0.01 0.05 1/99 42")
    assert second is not None and second.seq == 2
    assert t.last_keepalive() == udp.frames()[-1][1] != frame  # a new one: fetched again
    count, [entry, _second], lost = b.sent_since(0)
    assert (count, lost) == (2, 0)
    assert (entry.seq, entry.ts, entry.tick, entry.ld, entry.content_key) == (
        1, 0x6B066B8E, 0, b"0.00 0.01 0.05 1/99 42", content_key(CONTENT))
    t.close()


def test_claims_follow_the_board_rules(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path)
    first, second = ticker(tmp_path, udp), ticker(tmp_path, udp)
    took = first.tick(4, 1, b"ld")
    assert took is not None and (took.seq, took.taken, took.written) == (1, True, True)
    again = second.tick(4, 1, b"ld")  # the tick already has its seq: reused, not logged
    assert again is not None and (again.seq, again.taken) == (1, False)
    assert second.tick(3, 1, b"ld") is None  # older than the claimed tick: skipped
    assert b.sent_count() == 1
    b.renew_lease(0)  # the supervisor's lease ran out: nothing is sent
    udp.frames(0.1)
    assert first.tick(5, 1, b"ld") is None
    assert udp.frames(0.1) == []
    assert b.read().next_seq == 2
    with pytest.raises(ValueError, match="at most 95"):
        first.tick(6, 1, b"x" * 96)
    first.close()
    second.close()


def test_stale_content_is_refused_until_newer_content_comes(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path)
    t = ticker(tmp_path, udp)
    status_seq = b.allocate(status=True)  # the supervisor sent a status message
    with pytest.raises(StaleContent):
        t.tick(0, 1, b"ld")
    assert b.sent_count() == 0
    newer = replace(CONTENT, st="dead", status_seq=status_seq)
    t.set_template(template(newer), status_seq, content_key(newer))
    report = t.tick(0, 1, b"ld")
    assert report is not None and report.seq == status_seq + 1
    [(_at, frame)] = udp.frames()
    assert fields_of(frame)[b"st"] == b"dead"
    assert b.sent_since(0)[1][0].content_key == content_key(newer)
    t.close()


def test_the_thread_ticks_on_the_grid_never_early(tmp_path: Path, udp: Udp) -> None:
    interval = 40_000_000
    b = board(tmp_path, interval)
    t = ticker(tmp_path, udp, report_all=True)
    timing = t.start(0, 100_000)
    assert timing.slack == 0
    got = udp.wait(5)
    t.stop()
    got += udp.frames(0.1)
    view = b.read()
    assert len(got) >= 3
    seqs = [int(fields_of(frame)[b"seq"], 16) for _at, frame in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    reports, overrun = t.events()
    assert overrun == 0 and [r.seq for r in reports] == seqs
    ticks = [r.tick for r in reports]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    for (arrived, frame), report in zip(got, reports, strict=True):
        assert arrived >= view.t0_ns + report.tick * interval  # never before its tick
        assert report.written and report.late_us >= 0
        assert fields_of(frame)[b"ld"] == report.ld and report.ld.count(b" ") == 4
    assert [e.seq for e in b.sent_since(0)[1]] == seqs
    t.close()


def test_the_thread_skips_stale_content_and_resumes_with_the_new(tmp_path: Path,
                                                                  udp: Udp) -> None:
    b = board(tmp_path, 20_000_000)
    t = ticker(tmp_path, udp)
    status_seq = b.allocate(status=True)
    t.start()
    time.sleep(0.15)  # several ticks, each waiting for content that never comes
    assert udp.frames(0.05) == []
    assert b.sent_count() == 0
    newer = replace(CONTENT, st="standby", status_seq=status_seq)
    t.set_template(template(newer), status_seq, content_key(newer))
    got = udp.wait(2)
    t.stop()
    assert len(got) == 2 and all(fields_of(f)[b"st"] == b"standby" for _a, f in got)
    t.close()


def test_the_thread_sends_nothing_without_a_lease(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path, 20_000_000, lease_ns=0)
    t = ticker(tmp_path, udp)
    t.start()
    time.sleep(0.15)
    assert udp.frames(0.05) == [] and b.read().next_seq == 1
    b.renew_lease(FAR)
    assert len(udp.wait(2)) == 2
    t.stop()
    t.close()


def test_reschedule_takes_the_boards_new_interval(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path, 10 * 10**9, t0_ns=time.monotonic_ns() + 100_000_000)
    t = ticker(tmp_path, udp)
    t.start()
    b.reschedule(time.monotonic_ns(), 20_000_000)  # tick 0 keeps its time, then 20 ms
    t.reschedule()
    assert len(udp.wait(3)) == 3  # within 5 s; on the old grid: one
    t.stop()
    t.close()


def test_stop_joins_promptly(tmp_path: Path, udp: Udp) -> None:
    board(tmp_path, 30 * 10**9)
    t = ticker(tmp_path, udp)
    t.start()
    with pytest.raises(TickerError) as err:
        t.start()
    assert "running" in str(err.value)
    with pytest.raises(TickerError):
        t.tick(0, 0, b"")  # not while the thread runs
    began = time.monotonic()
    t.stop()
    assert time.monotonic() - began < 5  # the tick is 30 s away
    t.stop()  # stopping a stopped ticker is fine
    t.close()


def test_template_swaps_under_load_never_tear_a_frame(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path, 1_000_000)
    contents = [replace(CONTENT, st=st, hg=hg) for st, hg in (("active", 1), ("standby", 2))]
    templates = [template(c) for c in contents]
    t = ticker(tmp_path, udp)
    t.start()
    deadline = time.monotonic() + 20
    n = 0
    while (b.sent_count() < 100 or n < 1000) and time.monotonic() < deadline:
        k = n % 2
        t.set_template(templates[k], 0, content_key(contents[k]))
        n += 1
    t.stop()
    got = udp.frames(0.1)
    assert len(got) == b.sent_count() >= 100
    # The first tick may still carry the template `ticker` started with.
    by_hg = {c.hg: c for c in (CONTENT, *contents)}
    for _at, frame in got:
        f = fields_of(frame)  # verifies the signature: no torn frame
        content = by_hg[int(f[b"hg"], 16)]
        assert frame == linklayer.encode_netstring(
            status_fields(content, int(f[b"seq"], 16), int(f[b"ts"], 16), f[b"ld"]),
            KEYRING)
    assert {fields_of(frame)[b"st"] for _at, frame in got} == {b"active", b"standby"}
    t.close()


def message(seq: int) -> bytes:
    """A frame the supervisor numbered `seq` (what a `send` order carries)."""
    return linklayer.encode_netstring([(b"t", STRING, b"hbeat-msg"),
                                       (b"seq", STRING, b"%x" % seq)], KEYRING)


def sleep_until(ns: int) -> None:
    while (left := ns - time.monotonic_ns()) > 0:
        time.sleep(min(left / 1e9, 0.001) if left > 2_000_000 else left / 2e9)


def test_a_keepalive_goes_out_after_the_message_numbered_before_it(tmp_path: Path,
                                                                   udp: Udp) -> None:
    interval = 60_000_000
    b = board(tmp_path, interval)
    t = ticker(tmp_path, udp, report_all=True)
    t.start()
    udp.wait(1)
    counted = 0
    for _attempt in range(6):
        view = b.read()
        due = view.t0_ns + (-((view.t0_ns - time.monotonic_ns() - 20_000_000)
                              // interval)) * interval
        sleep_until(due - 5_000_000)
        seq = b.allocate()  # the supervisor numbers a message just before the tick ...
        sleep_until(due + 1_000_000)
        handed = time.monotonic_ns()
        t.write(message(seq), seq)  # ... and it reaches the worker just after it
        got = [fields_of(frame) for _at, frame in udp.wait(2, 1)]
        if handed - due > ORDER_WAIT_NS // 2:
            continue  # this process was held up: too late to show the wait
        counted += 1
        assert [(f[b"t"], int(f[b"seq"], 16)) for f in got] == [
            (b"hbeat-msg", seq), (b"status", seq + 1)]
        reports: list[TickReport] = []
        deadline = time.monotonic() + 2  # the report follows the frame
        while not any(r.seq == seq + 1 for r in reports) and time.monotonic() < deadline:
            select.select([t], [], [], 0.1)
            reports += t.events()[0]
        reports = [r for r in reports if r.seq == seq + 1]
        assert len(reports) == 1 and reports[0].ahead_of == 0
        assert reports[0].late_us >= 1000  # it waited for the message
        udp.frames(0.01)
    t.stop()
    t.close()
    assert counted >= 1, "every attempt was held up for more than half the wait"


def test_a_keepalive_waits_for_a_missing_message_only_so_long(tmp_path: Path,
                                                              udp: Udp) -> None:
    b = board(tmp_path, 20_000_000)
    t = ticker(tmp_path, udp)  # no report_all: this is reported anyway
    seq = b.allocate()  # numbered, but never handed to this worker
    t.start()
    got = udp.wait(3)
    t.stop()
    seqs = [int(fields_of(frame)[b"seq"], 16) for _at, frame in got]
    assert seqs[:3] == [seq + 1, seq + 2, seq + 3]
    reports, _lost = t.events()
    assert [(r.seq, r.ahead_of, r.written) for r in reports] == [(seq + 1, seq, True)]
    assert reports[0].late_us >= ORDER_WAIT_NS // 1000 * 9 // 10  # it waited
    t.close()


def test_messages_never_to_be_handed_over_are_not_waited_for(tmp_path: Path,
                                                              udp: Udp) -> None:
    b = board(tmp_path, 20_000_000)
    seq = b.allocate()  # went to the worker this one replaces
    t = ticker(tmp_path, udp)
    t.messages_before(seq)
    t.start()
    got = udp.wait(2)
    t.stop()
    assert [int(fields_of(frame)[b"seq"], 16) for _at, frame in got] == [seq + 1, seq + 2]
    assert t.events() == ([], 0)  # nothing went ahead of anything
    t.close()


def test_a_second_medium_waits_for_the_messages_before_the_claimed_tick(
        tmp_path: Path, udp: Udp) -> None:
    interval = 200_000_000
    b = board(tmp_path, interval)
    first = b.allocate()
    view = b.read()
    tick = -((view.t0_ns - time.monotonic_ns() - 80_000_000) // interval)
    assert b.claim(tick, 0, 0) == (first + 1, True)  # another medium took the tick ...
    assert b.allocate() > first + 1  # ... and a message is numbered after it
    t = ticker(tmp_path, udp)  # this medium never gets either message
    t.start()
    got = udp.wait(1)
    t.stop()
    assert [int(fields_of(frame)[b"seq"], 16) for _at, frame in got] == [first + 1]
    reports, _lost = t.events()
    # It waited for the message before the keepalive, not for the one after it.
    assert [(r.seq, r.taken, r.ahead_of) for r in reports] == [(first + 1, False, first)]
    t.close()


def test_the_write_mutex_keeps_serial_frames_whole(tmp_path: Path) -> None:
    board(tmp_path, 1_000_000)
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    t = Ticker(tmp_path / "board", slave, None)
    t.set_template(template(form=Form.CLASSIC), 0, content_key(CONTENT))
    big = linklayer.encode_classic([(b"t", STRING, b"hbeat-test"), (b"pad", STRING, b"p" * 900)],
                                   KEYRING)
    data = bytearray()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set() or select.select([master], [], [], 0.2)[0]:
            if select.select([master], [], [], 0.05)[0]:
                data.extend(os.read(master, 65536))

    thread = threading.Thread(target=reader)
    thread.start()
    t.start()
    for _ in range(80):  # the Python thread's frames, among the ticker's keepalives
        t.write(big)
        time.sleep(0.002)
    time.sleep(0.05)
    t.stop()
    stop.set()
    thread.join()
    frames = [f + b"<<<\n" for f in bytes(data).split(b"<<<\n")[:-1]]
    kinds = [fields_of(f)[b"t"] for f in frames]  # each one whole and verified
    assert kinds.count(b"hbeat-test") == 80 and kinds.count(b"status") > 5
    t.close()
    os.close(slave)
    os.close(master)


def test_a_full_serial_line_is_flushed_and_reported(tmp_path: Path) -> None:
    board(tmp_path, 5_000_000)
    master, slave = os.openpty()
    os.set_blocking(slave, False)
    t = Ticker(tmp_path / "board", slave, None, report_all=True)
    t.set_template(template(form=Form.CLASSIC), 0, content_key(CONTENT))
    with pytest.raises(TickerError) as err:
        for _ in range(10000):  # nobody reads the line
            t.write(b">>>\n" + b"x" * 4000 + b"\n<<<\n")
    assert err.value.code == WRITE_TIMEOUT and err.value.errno == errno.EAGAIN
    t.start()
    deadline = time.monotonic() + 5
    reports: list[TickReport] = []
    while not any(r.code == WRITE_TIMEOUT for r in reports) and time.monotonic() < deadline:
        select.select([t], [], [], 0.5)
        reports += t.events()[0]
    t.stop()
    assert any(r.code == WRITE_TIMEOUT and not r.written and r.errno == errno.EAGAIN
               for r in reports)
    t.close()
    os.close(slave)
    os.close(master)


def test_a_failed_send_is_reported_with_its_errno(tmp_path: Path) -> None:
    board(tmp_path, 10_000_000)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_BROADCAST: EACCES
    t = Ticker(tmp_path / "board", tx.fileno(), ("255.255.255.255", 694))
    t.set_template(template(), 0, content_key(CONTENT))
    with pytest.raises(TickerError) as err:
        t.write(b"frame")
    assert (err.value.code, err.value.errno) == (WRITE_FAILED, errno.EACCES)
    t.start()
    ready = select.select([t], [], [], 5)[0]
    t.stop()
    assert ready
    reports, _lost = t.events()  # failures come even without report_all
    assert reports and all(not r.written and r.code == WRITE_FAILED
                           and r.errno == errno.EACCES for r in reports)
    t.close()
    tx.close()


def test_a_full_report_ring_counts_what_it_lost(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path, 1_000_000)
    t = ticker(tmp_path, udp, report_all=True)
    t.start()
    deadline = time.monotonic() + 10
    while b.sent_count() < 2 * EVENTS and time.monotonic() < deadline:  # none read
        time.sleep(0.01)
    t.stop()
    reports, overrun = t.events()
    assert len(reports) == EVENTS and overrun > 0
    assert t.events() == ([], 0)
    t.close()


HOLD_LOCK = r"""
import fcntl, os, sys, time
from pathlib import Path
from hbeat.ipc.seqboard import SeqBoard
b = SeqBoard.attach(Path(sys.argv[1]))
print(b.claim(7, time.monotonic_ns(), 0, (9, b"py", 5)), flush=True)
fcntl.lockf(b._fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.5)
print(time.monotonic_ns(), flush=True)
fcntl.lockf(b._fd, fcntl.LOCK_UN)
"""


def test_claims_interoperate_with_the_python_board_in_another_process(
        tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path)
    t = ticker(tmp_path, udp)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "board")],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "(1, True)"  # the Python claim took tick 7
    assert child.stdout.readline().strip() == "locked"
    report = t.tick(7, 1, b"c")  # waits for the supervisor-side lock
    returned = time.monotonic_ns()
    released = int(child.stdout.readline())
    assert child.wait(10) == 0
    assert returned >= released
    assert report is not None and (report.seq, report.taken) == (1, False)
    report = t.tick(8, 1, b"c")
    assert report is not None and (report.seq, report.taken) == (2, True)
    entries = b.sent_since(0)[1]
    assert [(e.seq, e.tick, e.ld) for e in entries] == [(1, 7, b"py"), (2, 8, b"c")]
    t.close()


def test_lock_memory_locks_the_tick_path_only(tmp_path: Path, udp: Udp) -> None:
    b = board(tmp_path)
    t = ticker(tmp_path, udp)
    try:
        kib = t.lock_memory()
    except TickerError as exc:
        pytest.fail(f"mlock refused (RLIMIT_MEMLOCK?): {exc}")
    assert 1024 < kib < 8 * 1024
    smaps = Path("/proc/self/smaps").read_text()
    # The board is mapped twice here (the Python SeqBoard's too): the ticker's is locked.
    chunks = smaps.split(str(tmp_path / "board"))[1:]
    assert len(chunks) == 2
    assert [" lo" in c.split("VmFlags:", 1)[1].split("\n")[0] for c in chunks].count(True) == 1
    t.start()
    t.stop()
    t.close()
    b.close()


def test_bad_boards_are_refused(tmp_path: Path, udp: Udp) -> None:
    with pytest.raises(TickerError) as err:
        Ticker(tmp_path / "missing", udp.tx.fileno(), udp.dest)
    assert err.value.errno == errno.ENOENT
    (tmp_path / "short").write_bytes(b"HBSEQBD4")
    with pytest.raises(TickerError, match="not an hbeat sequence board"):
        Ticker(tmp_path / "short", udp.tx.fileno(), udp.dest)
    b = board(tmp_path)
    t = Ticker(tmp_path / "board", udp.tx.fileno(), udp.dest)
    with pytest.raises(TickerError, match="no keepalive template"):
        t.tick(0, 0, b"")
    assert b.sent_count() == 0 and t.last_keepalive() == b""
    t.close()
