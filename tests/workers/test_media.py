"""workers.media: UDP reads bounded per call; ucast refuses strangers; `receive`
hands over verified frames and counts the rest (UDP: in C, batched)."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
import time
import tty

import linklayer
from hbeat.ipc.bus import MediumSpec
from linklayer.batchrecv import Refused
from linklayer.message import AuthKey, Keyring, Method
from tests.harness.requirements import require_root
from workers.media import RCVBUF, READ_BATCH, open_serial, open_udp

PORT = 16940


def _send_from(source: str, count: int, port: int = PORT) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    for i in range(count):
        s.sendto(b"###x%d" % i, ("127.0.0.1", port))
    s.close()


def test_ucast_reads_are_bounded_and_strangers_refused() -> None:
    require_root("SO_BINDTODEVICE on the ucast sockets")
    spec = MediumSpec("ucast", "ucast lo 127.0.0.2", "lo", PORT, peer="127.0.0.2",
                      accept_from=("127.0.0.2", "127.0.0.3"))
    medium = open_udp(spec)
    try:
        _send_from("127.0.0.2", READ_BATCH + 10)
        _send_from("127.0.0.9", 1)
        first = medium.read_frames()
        assert len(first) == READ_BATCH
        rest = medium.read_frames()
        assert len(rest) == 11
        peers = [peer for _, peer in first + rest]
        assert [medium.refuses(p) for p in peers].count(True) == 1
        assert medium.refuses(peers[-1]) and peers[-1].startswith("127.0.0.9:")
        assert not medium.refuses("127.0.0.3:694")
    finally:
        medium.close()


def test_ucast_without_a_list_accepts_its_peer_only() -> None:
    require_root("SO_BINDTODEVICE on the ucast sockets")
    medium = open_udp(MediumSpec("ucast", "ucast lo 127.0.0.2", "lo", PORT + 1,
                                 peer="127.0.0.2"))
    try:
        assert not medium.refuses("127.0.0.2:694") and medium.refuses("127.0.0.3:694")
    finally:
        medium.close()


def test_bcast_refuses_no_one() -> None:
    require_root("SO_BINDTODEVICE on the bcast sockets")
    medium = open_udp(MediumSpec("bcast", "bcast lo", "lo", PORT + 2))
    try:
        assert not medium.refuses("10.9.9.9:694")
    finally:
        medium.close()


KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)


def _send_frames(source: str, frames: list[bytes], port: int) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    for f in frames:
        s.sendto(f, ("127.0.0.1", port))
    ip, src_port = s.getsockname()
    name = f"{ip}:{src_port}"
    s.close()
    return name


def test_udp_receive_verifies_and_refuses_strangers_in_one_call() -> None:
    require_root("SO_BINDTODEVICE on the ucast sockets")
    port = PORT + 3
    spec = MediumSpec("ucast", "ucast lo 127.0.0.2", "lo", port, peer="127.0.0.2",
                      accept_from=("127.0.0.2", "127.0.0.3"))
    medium = open_udp(spec)
    try:
        # The receive buffer was raised (the kernel doubles what is asked).
        assert medium.rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= RCVBUF
        good = [linklayer.encode_netstring([(b"t", 0, b"status"), (b"seq", 0, b"%x" % i)],
                                           KEYRING) for i in range(READ_BATCH + 2)]
        peer = _send_frames("127.0.0.2", [b"###\ngarbage", *good], port)
        stranger = _send_frames("127.0.0.9", [good[0]], port)
        first, refused = medium.receive(KEYRING)
        assert first == [(f, peer) for f in good[:READ_BATCH - 1]]
        assert [(r.code, r.peer, r.datagrams) for r in refused] == [
            ("NS_BAD_LENGTH", peer, 1)]
        rest, refused = medium.receive(KEYRING)
        assert rest == [(f, peer) for f in good[READ_BATCH - 1:]]
        assert [(r.code, r.peer, r.datagrams) for r in refused] == [
            ("NOT_FROM_PEER", stranger, 1)]
        assert medium.receive(KEYRING) == ([], [])
    finally:
        medium.close()


def test_serial_receive_verifies_each_frame() -> None:
    master, slave = os.openpty()
    medium = open_serial(MediumSpec("serial", "serial pty", os.ttyname(slave), baud=19200))
    try:
        good = linklayer.encode_classic([(b"t", 0, b"status")], KEYRING)
        forged = good.replace(b"status", b"statuz")
        os.write(master, good + forged)
        deadline = time.monotonic() + 5
        frames: list[tuple[bytes, str]] = []
        refused: list[Refused] = []
        while len(frames) + len(refused) < 2 and time.monotonic() < deadline:
            got, bad = medium.receive(KEYRING)
            frames += got
            refused += bad
            time.sleep(0.01)
        assert frames == [(good, medium.name)]
        assert [(r.code, r.peer, r.datagrams) for r in refused] == [
            ("AUTH_MISMATCH", medium.name, 1)]
    finally:
        medium.close()
        os.close(master)
        os.close(slave)


def test_serial_receive_takes_bytes_already_read_first() -> None:
    # The C wait (linklayer/quiet.py) hands back what it read from the line:
    # those bytes are framed before anything read here.
    master, slave = os.openpty()
    medium = open_serial(MediumSpec("serial", "serial pty", os.ttyname(slave), baud=19200))
    try:
        one = linklayer.encode_classic([(b"t", 0, b"status"), (b"seq", 0, b"1")], KEYRING)
        two = linklayer.encode_classic([(b"t", 0, b"status"), (b"seq", 0, b"2")], KEYRING)
        os.write(master, one[20:] + two)
        deadline = time.monotonic() + 5
        frames, refused = medium.receive(KEYRING, first=one[:20])
        while len(frames) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
            got, bad = medium.receive(KEYRING)
            frames += got
            refused += bad
        assert frames == [(one, medium.name), (two, medium.name)] and refused == []
    finally:
        medium.close()
        os.close(master)
        os.close(slave)


def test_serial_open_discards_what_the_line_received_before() -> None:
    # A restarted worker (or node) must not read what the tty kept meanwhile:
    # a peer's ack of the previous life's messages, resource messages of
    # seconds ago. Only what comes after the open is framed.
    master, slave = os.openpty()
    tty.setraw(slave)
    stale = linklayer.encode_classic([(b"t", 0, b"NS_ackmsg"), (b"ackseq", 0, b"146")], KEYRING)
    os.write(master, stale)
    deadline = time.monotonic() + 5
    while _pending(slave) < len(stale) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the tty has queued it for reading
    assert _pending(slave) == len(stale)
    medium = open_serial(MediumSpec("serial", "serial pty", os.ttyname(slave), baud=19200))
    try:
        assert _pending(slave) == 0
        fresh = linklayer.encode_classic([(b"t", 0, b"status"), (b"seq", 0, b"7")], KEYRING)
        os.write(master, fresh)
        frames: list[tuple[bytes, str]] = []
        while not frames and time.monotonic() < deadline:
            time.sleep(0.01)
            got, refused = medium.receive(KEYRING)
            frames += got
            assert refused == []
        assert frames == [(fresh, medium.name)]
    finally:
        medium.close()
        os.close(master)
        os.close(slave)


def _pending(fd: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
