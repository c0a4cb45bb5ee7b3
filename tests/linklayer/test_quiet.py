"""linklayer.quiet (hb_quiet_* of _frame.c): keepalives that only repeat a peer's last
status are verified and recorded on a real heard board file (read back with
`HeardBoard`, as the supervisor reads it) without returning to Python; everything else
returns. Real UDP sockets on loopback, a real pty as the serial line, frames made by the
encoders with a real keyring."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import signal
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
from hbeat.ipc.heardboard import HeardBoard, QuietRun
from hbeat.ipc.keepalive import KeepaliveContent, status_fields
from linklayer import Form
from linklayer.message import STRING, AuthKey, Field, Keyring, Method
from linklayer.quiet import FIELDS_MAX, MAX_FDS, PEERS, Quiet, QuietError

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
OTHER_KEY = Keyring(keys={1: AuthKey(1, Method.SHA1, b"not the secret")}, signing_index=1)
CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="otter",
                           srcuuid=bytes(range(16)), hg=7, ttl=3)
LD = b"0.00 0.01 0.05 1/99 42"
GAP = 2_000_000_000
T0 = 10**12  # a monotonic time for check(): the tests' own clock


def fields(seq: int, ts: int = 0x6B066B8E, ld: bytes = LD,
           content: KeepaliveContent = CONTENT) -> list[Field]:
    return status_fields(content, seq, ts, ld)


def encode(fs: list[Field], form: Form = Form.NETSTRING, keyring: Keyring = KEYRING) -> bytes:
    if form is Form.CLASSIC:
        return linklayer.encode_classic(fs, keyring)
    return linklayer.encode_netstring(fs, keyring)


def ka(seq: int, form: Form = Form.NETSTRING, **kw: object) -> bytes:
    return encode(fields(seq, **kw), form)  # type: ignore[arg-type]


@pytest.fixture
def board(tmp_path: Path) -> Iterator[HeardBoard]:
    b = HeardBoard.create(tmp_path / "heard")
    yield b
    b.close()


class Udp:
    def __init__(self) -> None:
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", 0))
        self.rx.setblocking(False)
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tx.bind(("127.0.0.1", 0))
        self.peer = f"127.0.0.1:{self.tx.getsockname()[1]}"

    def send(self, *frames: bytes) -> None:
        for f in frames:
            self.tx.sendto(f, self.rx.getsockname())

    def waiting(self) -> list[bytes]:
        out = []
        while select.select([self.rx], [], [], 0.05)[0]:
            out.append(self.rx.recv(65536))
        return out

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


@pytest.fixture
def udp() -> Iterator[Udp]:
    u = Udp()
    yield u
    u.close()


def quiet_udp(board: HeardBoard, udp: Udp, model: bytes | None = None, seq: int = 10,
              heard_ns: int = T0) -> Quiet:
    q = Quiet(board.path, serial=False)
    q.set_model(0, "otter", ka(seq) if model is None else model, seq, heard_ns, udp.peer, GAP)
    return q


# ---------------------------------------------------------------------------
# The quiet test and the record (check)


@pytest.mark.parametrize("form", [Form.NETSTRING, Form.CLASSIC])
def test_the_next_keepalive_is_quiet_and_recorded(board: HeardBoard, udp: Udp,
                                                  form: Form) -> None:
    q = quiet_udp(board, udp, ka(10, form), 10)
    assert board.run(0) is None
    assert q.check(ka(11, form, ts=0x6B066B8F, ld=b"1.00 0.50"), KEYRING, udp.peer, T0 + 10**9)
    assert board.run(0) == QuietRun(rx_before=0, first_seq=11, last_seq=11, last_ts=0x6B066B8F,
                                    heard_ns=T0 + 10**9, count=1, src="otter")
    # The gap counts from the last frame heard: the quiet one.
    assert q.check(ka(12, form, ts=0x6B066B90), KEYRING, udp.peer, T0 + 10**9 + GAP)
    assert board.run(0) == QuietRun(0, 11, 12, 0x6B066B90, T0 + 10**9 + GAP, 2, "otter")
    assert board.runs() == [(0, QuietRun(0, 11, 12, 0x6B066B90, T0 + 10**9 + GAP, 2, "otter"))]
    q.close()


def test_hex_in_either_case_is_quiet(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp, seq=0x1A)
    fs = [(n, t, v.upper() if n in (b"seq", b"ts") else v) for n, t, v in fields(0x1B)]
    assert q.check(encode(fs), KEYRING, udp.peer, T0 + 1)
    run = board.run(0)
    assert run is not None and (run.first_seq, run.last_ts) == (0x1B, 0x6B066B8E)
    q.close()


def with_field(fs: list[Field], name: bytes, value: bytes) -> list[Field]:
    return [(n, t, value if n == name else v) for n, t, v in fs]


def tampered(frame: bytes) -> bytes:
    i = frame.index(LD) + 2
    return frame[:i] + b"9" + frame[i + 1:]


NOT_QUIET: dict[str, tuple[bytes, str | None, int]] = {
    # name: (frame, peer (None: the model's), now)
    "seq skipped": (ka(12), None, T0 + 1),
    "seq repeated": (ka(10), None, T0 + 1),
    "seq lower": (ka(9), None, T0 + 1),
    "st changed": (ka(11, content=replace(CONTENT, st="standby")), None, T0 + 1),
    "hg changed": (ka(11, content=replace(CONTENT, hg=8)), None, T0 + 1),
    "an extra field": (encode([*fields(11), (b"x", STRING, b"1")]), None, T0 + 1),
    "a field less": (encode(fields(11)[:-1]), None, T0 + 1),
    "fields reordered": (encode([fields(11)[1], fields(11)[0], *fields(11)[2:]]), None, T0 + 1),
    "signed with another key": (encode(fields(11), keyring=OTHER_KEY), None, T0 + 1),
    "a tampered byte": (tampered(ka(11)), None, T0 + 1),
    "unsigned": (linklayer.encode_netstring(fields(11), None), None, T0 + 1),
    "another source port": (ka(11), "127.0.0.1:1", T0 + 1),
    "another source address": (ka(11), "127.0.0.2:{port}", T0 + 1),
    "too late": (ka(11), None, T0 + GAP + 1),
    "before the model": (ka(11), None, T0 - 1),
    "the other form": (ka(11, Form.CLASSIC), None, T0 + 1),
    "seq not hex": (encode(with_field(fields(11), b"seq", b"0xb")), None, T0 + 1),
    "seq of 17 digits": (encode(with_field(fields(11), b"seq", b"0000000000000000b")), None,
                         T0 + 1),
    "ts not hex": (encode(with_field(fields(11), b"ts", b"t")), None, T0 + 1),
    "ld of 96 bytes": (ka(11, ld=b"1" * 96), None, T0 + 1),
    "garbage": (b"###\n%%%\n", None, T0 + 1),
    "empty": (b"", None, T0 + 1),
}


@pytest.mark.parametrize("case", sorted(NOT_QUIET))
def test_what_is_not_quiet_records_nothing(board: HeardBoard, udp: Udp, case: str) -> None:
    frame, peer, now = NOT_QUIET[case]
    q = quiet_udp(board, udp)
    port = udp.peer.rpartition(":")[2]
    assert not q.check(frame, KEYRING, (peer or udp.peer).format(port=port), now)
    assert board.run(0) is None and q.take(0) is None
    # ... and the genuine next keepalive still is quiet (nothing moved).
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 2)
    q.close()


def test_without_a_model_nothing_is_quiet(board: HeardBoard, udp: Udp) -> None:
    q = Quiet(board.path, serial=False)
    assert not q.check(ka(11), KEYRING, udp.peer, T0)
    assert board.runs() == []
    q.set_model(3, "otter", ka(10), 10, T0, udp.peer, GAP)
    q.forget(3)
    assert not q.check(ka(11), KEYRING, udp.peer, T0 + 1)
    assert board.runs() == []
    q.close()


def test_each_slot_follows_its_own_peer(board: HeardBoard, udp: Udp) -> None:
    weasel = replace(CONTENT, src="weasel", srcuuid=bytes(16))
    q = quiet_udp(board, udp)
    q.set_model(PEERS - 1, "weasel", ka(100, content=weasel), 100, T0, udp.peer, GAP)
    assert q.check(ka(101, content=weasel), KEYRING, udp.peer, T0 + 1)
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 2)
    assert not q.check(ka(101, content=weasel), KEYRING, udp.peer, T0 + 3)  # a replay
    assert [(s, r.first_seq, r.src) for s, r in board.runs()] == [
        (0, 11, "otter"), (PEERS - 1, 101, "weasel")]
    q.close()


def test_take_hands_the_run_over_and_rx_before_follows_posted(board: HeardBoard,
                                                              udp: Udp) -> None:
    q = quiet_udp(board, udp)
    for _ in range(3):
        q.posted()
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 1)
    q.posted()
    assert q.check(ka(12, ts=5), KEYRING, udp.peer, T0 + 2)
    assert q.take(0) == QuietRun(3, 11, 12, 5, T0 + 2, 2, "otter")
    assert board.run(0) is None and q.take(0) is None
    assert q.check(ka(13), KEYRING, udp.peer, T0 + 3)  # a new run
    assert board.run(0) == QuietRun(4, 13, 13, 0x6B066B8E, T0 + 3, 1, "otter")
    q.close()


def test_a_new_model_or_forget_needs_the_run_taken(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 1)
    with pytest.raises(QuietError, match="take it"):
        q.set_model(0, "otter", ka(20), 20, T0 + 2, udp.peer, GAP)
    with pytest.raises(QuietError, match="take it"):
        q.forget(0)
    assert q.check(ka(12), KEYRING, udp.peer, T0 + 3)  # the old model holds
    assert q.take(0) is not None
    q.set_model(0, "otter", ka(20), 20, T0 + 4, udp.peer, GAP)
    assert not q.check(ka(13), KEYRING, udp.peer, T0 + 5)
    assert q.check(ka(21), KEYRING, udp.peer, T0 + 5)
    q.close()


def test_saw_moves_the_next_seq_and_the_gap(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    q.saw(0, 15, T0 + 10)
    assert not q.check(ka(11), KEYRING, udp.peer, T0 + 11)
    q.saw(0, 0, T0 + 20)  # no seq: only when
    q.saw(0, 12, T0 + 20)  # lower: last_seq stays 15
    assert not q.check(ka(13), KEYRING, udp.peer, T0 + 21)
    assert not q.check(ka(16), KEYRING, udp.peer, T0 + 20 + GAP + 1)  # the gap from T0+20
    assert q.check(ka(16), KEYRING, udp.peer, T0 + 20 + GAP)
    q.close()


def test_set_gap_moves_every_slots_gap(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    q.set_gap(2 * GAP)  # a reload: the timers changed
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 2 * GAP)
    q.set_gap(GAP)
    assert not q.check(ka(12), KEYRING, udp.peer, T0 + 2 * GAP + GAP + 1)
    assert q.check(ka(12), KEYRING, udp.peer, T0 + 2 * GAP + GAP)
    with pytest.raises(QuietError, match="must be > 0"):
        q.set_gap(0)
    q.close()


def test_a_frame_that_cannot_be_a_model_leaves_the_slot_without_one(board: HeardBoard,
                                                                    udp: Udp) -> None:
    q = quiet_udp(board, udp)
    bad = {
        "no seq": encode([f for f in fields(10) if f[0] != b"seq"]),
        "two seq": encode([*fields(10), (b"seq", STRING, b"b")]),
        "seq not hex": encode(with_field(fields(10), b"seq", b"x")),
        "too many fields": encode([*fields(10), *((b"f%d" % i, STRING, b"v")
                                                  for i in range(FIELDS_MAX))]),
        "too long": encode([*fields(10), (b"pad", STRING, b"p" * 5000)]),
        "unparsable": b"###\n4:(0)x,",
    }
    for what, frame in bad.items():
        with pytest.raises(QuietError, match=r"^model for slot 0") as exc:
            q.set_model(0, "otter", frame, 10, T0, udp.peer, GAP)
        assert exc.value.errno == 0
        assert not q.check(ka(11), KEYRING, udp.peer, T0 + 1), what
        q.set_model(0, "otter", ka(10), 10, T0, udp.peer, GAP)
        assert exc.value.code != 0
    with pytest.raises(QuietError, match=r"unparsable .*NO_EQUALS"):
        q.set_model(0, "otter", b"###\n4:(0)x,", 10, T0, udp.peer, GAP)
    with pytest.raises(ValueError, match="ip:port on UDP"):
        q.set_model(0, "otter", ka(10), 10, T0, None, GAP)
    with pytest.raises(ValueError, match="slot"):
        q.set_model(PEERS, "otter", ka(10), 10, T0, udp.peer, GAP)
    q.close()


def test_a_board_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QuietError, match="cannot open the heard board") as exc:
        Quiet(tmp_path / "missing", serial=False)
    assert exc.value.errno == errno.ENOENT and isinstance(exc.value, OSError)
    assert str(exc.value) == exc.value.strerror and "No such file" in str(exc.value)
    (tmp_path / "short").write_bytes(b"HBHEARD1")
    with pytest.raises(QuietError, match="not an hbeat heard board"):
        Quiet(tmp_path / "short", serial=True)
    (tmp_path / "magic").write_bytes(b"HBSEQBD4" + bytes(4088))
    with pytest.raises(QuietError, match="not an hbeat heard board"):
        Quiet(tmp_path / "magic", serial=True)


def test_a_new_quiet_starts_with_an_empty_board(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    assert q.check(ka(11), KEYRING, udp.peer, T0 + 1)
    q.close()
    assert board.run(0) is not None
    Quiet(board.path, serial=False).close()
    assert board.runs() == []


READER = """
import sys, time
from pathlib import Path
from hbeat.ipc.heardboard import HeardBoard
board = HeardBoard.attach(Path(sys.argv[1]))
t0, seen, torn, last = int(sys.argv[2]), 0, 0, 0
print("ready", flush=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    run = board.run(0)
    if run is None:
        continue
    seen += 1
    if (run.count != run.last_seq - run.first_seq + 1 or run.last_ts != 2 * run.last_seq
            or run.heard_ns != t0 + run.last_seq or run.src != "otter"):
        torn += 1
    last = run.last_seq
    if last == int(sys.argv[3]):
        break
print(seen, torn, last, flush=True)
"""


def test_the_supervisor_never_reads_a_half_written_run(board: HeardBoard, udp: Udp) -> None:
    """The seqlock: another process reading the board while C records keepalives as
    fast as it can sees only whole runs."""
    n = 6000
    frames = [ka(seq, ts=2 * seq) for seq in range(11, 11 + n)]
    q = quiet_udp(board, udp, heard_ns=T0)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(board.path), str(T0),
                               str(10 + n)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
    for seq, frame in enumerate(frames, start=11):
        assert q.check(frame, KEYRING, udp.peer, T0 + seq)
    out, _ = reader.communicate(timeout=30)
    seen, torn, last = map(int, out.split())
    assert (torn, last) == (0, 10 + n) and seen > 0
    q.close()


def test_garbage_is_never_quiet(board: HeardBoard, udp: Udp) -> None:
    """Seed-driven mutations of the genuine next keepalive (either form) and random
    bytes: only the untouched frame is quiet; nothing else records anything."""
    rng = random.Random(0x9E1)
    q = quiet_udp(board, udp)
    q.set_model(1, "otter", ka(10, Form.CLASSIC), 10, T0, udp.peer, GAP)
    genuine = [ka(11), ka(11, Form.CLASSIC)]
    for i in range(3000):
        frame = bytearray(rng.choice(genuine))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            at = rng.randrange(len(frame) + 1)
            if op == 0 and at < len(frame):
                frame[at] = rng.randrange(256)
            elif op == 1:
                frame[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op == 2:
                del frame[at:at + rng.randint(1, 8)]
            else:
                frame = frame[:at]
        if bytes(frame) in genuine:
            continue
        assert not q.check(bytes(frame), KEYRING, udp.peer, T0 + 1), (i, bytes(frame))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
        assert not q.check(b">>>\n" + junk, KEYRING, udp.peer, T0 + 1)
        assert not q.check(b"###\n" + junk, KEYRING, udp.peer, T0 + 1)
    assert board.runs() == []
    assert q.check(genuine[1], KEYRING, udp.peer, T0 + 1)
    assert q.check(genuine[0], KEYRING, udp.peer, T0 + 1)
    q.close()


# ---------------------------------------------------------------------------
# The wait: UDP


def test_wait_consumes_quiet_datagrams_without_returning(board: HeardBoard,
                                                         udp: Udp) -> None:
    q = quiet_udp(board, udp, heard_ns=time.monotonic_ns())
    udp.send(ka(11), ka(12), ka(13, ts=7))
    got = q.wait(KEYRING, udp.rx.fileno(), [], 300)
    assert (got.timeout, got.medium, got.ready, got.err, got.quiet) == (True, False, (), 0, 3)
    assert udp.waiting() == []
    run = board.run(0)
    assert run is not None and (run.first_seq, run.last_seq, run.last_ts, run.count) == (
        11, 13, 7, 3)
    q.close()


def test_wait_leaves_what_is_not_quiet_in_the_socket(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp, heard_ns=time.monotonic_ns())
    udp.send(ka(11), ka(12), ka(14), ka(15))
    got = q.wait(KEYRING, udp.rx.fileno(), [], 5000)
    assert (got.medium, got.timeout, got.quiet) == (True, False, 2)
    assert udp.waiting() == [ka(14), ka(15)]  # whole, in order
    big = encode([*fields(16), (b"pad", STRING, b"p" * 5000)])
    udp.send(big)
    got = q.wait(KEYRING, udp.rx.fileno(), [], 5000)
    assert got.medium and got.quiet == 0 and udp.waiting() == [big]
    q.close()


def test_wait_returns_the_ready_descriptors(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    pipes = [os.pipe() for _ in range(3)]
    try:
        os.write(pipes[2][1], b"x")
        got = q.wait(KEYRING, udp.rx.fileno(), [r for r, _w in pipes], None)
        assert (got.ready, got.medium, got.timeout, got.quiet) == ((pipes[2][0],), False,
                                                                   False, 0)
        udp.send(ka(99))  # both: the medium handled, both reported
        select.select([udp.rx], [], [], 5)
        got = q.wait(KEYRING, udp.rx.fileno(), [r for r, _w in pipes], None)
        assert got.ready == (pipes[2][0],) and got.medium
        with pytest.raises(ValueError, match="at most 30"):
            q.wait(KEYRING, udp.rx.fileno(), [pipes[0][0]] * (MAX_FDS + 1), 0)
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
    q.close()


def test_wait_times_out(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    r, w = os.pipe()
    got = q.wait(KEYRING, udp.rx.fileno(), [r], 50)
    assert (got.timeout, got.medium, got.ready, got.interrupted, got.quiet) == (
        True, False, (), False, 0)
    assert q.wait(KEYRING, udp.rx.fileno(), [r], 0).timeout
    os.close(r)
    os.close(w)
    q.close()


def test_wait_returns_when_a_signal_comes(board: HeardBoard, udp: Udp) -> None:
    q = quiet_udp(board, udp)
    caught: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signum, _frame: caught.append(signum))
    timer = threading.Timer(0.1, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGUSR1))
    try:
        timer.start()
        got = q.wait(KEYRING, udp.rx.fileno(), [], 10_000)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, old)
    assert (got.interrupted, got.timeout, got.medium) == (True, False, False)
    assert caught == [signal.SIGUSR1]
    q.close()


# ---------------------------------------------------------------------------
# The wait: serial, over a pty


class Line:
    """A pty: the worker's side (the medium, raw) and the peer's."""

    def __init__(self) -> None:
        self.peer, self.tty = os.openpty()
        tty.setraw(self.tty)
        os.set_blocking(self.tty, False)

    def close(self) -> None:
        for fd in (self.peer, self.tty):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def line() -> Iterator[Line]:
    ln = Line()
    yield ln
    ln.close()


def quiet_serial(board: HeardBoard) -> Quiet:
    q = Quiet(board.path, serial=True)
    q.set_model(0, "otter", ka(10, Form.CLASSIC), 10, time.monotonic_ns(), None, GAP)
    return q


def test_serial_quiet_frames_are_consumed(board: HeardBoard, line: Line) -> None:
    q = quiet_serial(board)
    os.write(line.peer, ka(11, Form.CLASSIC) + ka(12, Form.CLASSIC))
    got = q.wait(KEYRING, line.tty, [], 300)
    assert (got.timeout, got.medium, got.quiet) == (True, False, 2)
    assert q.pending() == b""
    frame = ka(13, Form.CLASSIC)  # split across two writes
    os.write(line.peer, frame[:25])
    got = q.wait(KEYRING, line.tty, [], 100)
    assert (got.timeout, got.medium, got.quiet) == (True, False, 0)
    os.write(line.peer, frame[25:])
    got = q.wait(KEYRING, line.tty, [], 300)
    assert (got.timeout, got.medium, got.quiet) == (True, False, 1)
    run = board.run(0)
    assert run is not None and (run.first_seq, run.last_seq, run.count) == (11, 13, 3)
    assert q.pending() == b""
    q.close()


SERIAL_HANDED_BACK = {
    "junk first": b"hello\n" + ka(11, Form.CLASSIC),
    "not quiet": ka(12, Form.CLASSIC),
    "a netstring frame": ka(11),
    "a CR": ka(11, Form.CLASSIC).replace(b"\n", b"\r\n", 1),
    # Signed and otherwise quiet, but the framer drops CRs and cuts bytes to 7 bits.
    "a CR in a value": ka(11, Form.CLASSIC, ld=b"0.50\r"),
    "an 8-bit byte in a value": ka(11, Form.CLASSIC, ld=b"0.50\xbc"),
    "an 8-bit byte": ka(11, Form.CLASSIC)[:-4] + b"\xbc<<<\n",
    "an end line with more": ka(11, Form.CLASSIC)[:-1] + b"x\n",
    "a start inside": b">>>\n" + ka(11, Form.CLASSIC),
}


@pytest.mark.parametrize("case", sorted(SERIAL_HANDED_BACK))
def test_serial_bytes_that_are_not_quiet_are_handed_back_exactly(
        board: HeardBoard, line: Line, case: str) -> None:
    data = SERIAL_HANDED_BACK[case]
    q = quiet_serial(board)
    os.write(line.peer, data)
    got = q.wait(KEYRING, line.tty, [], 5000)
    assert (got.medium, got.quiet, got.err) == (True, 0, 0)
    assert q.wait(KEYRING, line.tty, [], 5000).medium  # at once: still pending
    handed = q.pending()
    while select.select([line.tty], [], [], 0.05)[0]:  # what the wait did not read
        handed += os.read(line.tty, 65536)
    assert handed == data
    assert q.pending() == b"" and board.run(0) is None
    q.close()


def test_serial_after_quiet_frames_the_rest_is_handed_back(board: HeardBoard,
                                                           line: Line) -> None:
    q = quiet_serial(board)
    first = ka(11, Form.CLASSIC)
    os.write(line.peer, first[:30])
    assert q.wait(KEYRING, line.tty, [], 50).timeout
    rest = first[30:] + ka(13, Form.CLASSIC) + b"trailing"
    os.write(line.peer, rest)
    got = q.wait(KEYRING, line.tty, [], 5000)
    assert (got.medium, got.quiet) == (True, 1)
    assert q.pending() == ka(13, Form.CLASSIC) + b"trailing"
    # A held start of a frame, then junk: every byte comes back, in order.
    os.write(line.peer, first[:30].replace(b"11", b"14"))
    assert q.wait(KEYRING, line.tty, [], 50).timeout
    os.write(line.peer, b"\xff")
    assert q.wait(KEYRING, line.tty, [], 5000).medium
    assert q.pending() == first[:30].replace(b"11", b"14") + b"\xff"
    q.close()


def test_serial_a_frame_longer_than_the_buffer_is_handed_back(board: HeardBoard,
                                                               line: Line) -> None:
    q = quiet_serial(board)
    data = b">>>\n" + b"x=" + b"y" * 20000 + b"\n<<<\n"
    handed = b""
    os.set_blocking(line.peer, True)
    writer = threading.Thread(target=os.write, args=(line.peer, data))
    writer.start()
    while len(handed) < len(data):
        got = q.wait(KEYRING, line.tty, [], 5000)
        assert got.medium and got.quiet == 0
        handed += q.pending()
        while select.select([line.tty], [], [], 0.05)[0]:
            handed += os.read(line.tty, 65536)
    writer.join()
    assert handed == data
    q.close()


def test_serial_a_closed_line_returns_with_its_error(board: HeardBoard) -> None:
    q = quiet_serial(board)
    master, slave = os.openpty()
    tty.setraw(slave)
    os.write(slave, b">>>\n")
    got = q.wait(KEYRING, master, [], 100)  # the start of a frame: held
    assert got.timeout and not got.medium
    os.close(slave)
    got = q.wait(KEYRING, master, [], 5000)
    assert (got.medium, got.err) == (True, errno.EIO)
    assert q.pending() == b">>>\n"
    os.close(master)
    # The worker's side of a line whose other end closed: a hang-up.
    line = Line()
    os.close(line.peer)
    got = q.wait(KEYRING, line.tty, [], 5000)
    assert got.medium and not got.timeout
    os.close(line.tty)
    q.close()
