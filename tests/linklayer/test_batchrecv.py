"""linklayer.batchrecv (and hb_rx_* of _frame.c under it): datagrams read in
batches from a real UDP socket on loopback, each checked in C with the
verdict `linklayer.verify` gives; refusals summed per (reason, source)."""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from collections.abc import Iterator

import pytest
from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]

import linklayer
from linklayer.batchrecv import MAX_BATCH, MAX_PEERS, REASONS, BatchReceiver, Refused
from linklayer.errors import FrameError
from linklayer.message import AuthKey, Keyring, Method
from tests.interop_vectors import udp_vectors

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
OTHER = Keyring(keys={1: AuthKey(1, Method.SHA1, b"not the secret")}, signing_index=1)


def frame(i: int, size: int = 0, keyring: Keyring = KEYRING) -> bytes:
    fields = [(b"t", 0, b"status"), (b"seq", 0, b"%x" % i)]
    if size:
        fields.append((b"pad", 0, b"p" * size))
    return linklayer.encode_netstring(fields, keyring)


@pytest.fixture
def rx_sock() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    yield s
    s.close()


def send(to: socket.socket, payloads: list[bytes], source: str = "127.0.0.1") -> str:
    """Sends the payloads from a fresh socket bound to `source`; returns its ip:port."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((source, 0))
    for p in payloads:
        tx.sendto(p, to.getsockname())
    ip, port = tx.getsockname()
    name = f"{ip}:{port}"
    tx.close()
    time.sleep(0.02)  # loopback delivery is synchronous; a margin all the same
    return name


def error_of(data: bytes, keyring: Keyring) -> FrameError:
    with pytest.raises(FrameError) as info:
        linklayer.verify(data, keyring)
    return info.value


def test_receive_passes_verified_frames_and_sums_the_rest(rx_sock: socket.socket) -> None:
    good = [frame(i) for i in range(3)]
    garbage = [b"###\nnot a netstring %d" % i for i in range(5)]
    forged = frame(9, keyring=OTHER)
    a = send(rx_sock, [good[0], *garbage, good[1], forged, b"", good[2]])
    b = send(rx_sock, garbage[:2], "127.0.0.2")
    rx = BatchReceiver()
    n, frames, refused = rx.receive(rx_sock.fileno(), KEYRING)
    assert n == 12
    assert frames == [(good[0], a), (good[1], a), (good[2], a)]
    got = {(r.code, r.peer): (r.datagrams, r.error) for r in refused}
    assert got == {
        ("NS_BAD_LENGTH", a): (5, error_of(garbage[-1], KEYRING)),
        ("AUTH_MISMATCH", a): (1, error_of(forged, KEYRING)),
        ("EMPTY", a): (1, error_of(b"", KEYRING)),
        ("NS_BAD_LENGTH", b): (2, error_of(garbage[1], KEYRING)),
    }
    assert all(isinstance(r, Refused) for r in refused)
    assert rx.receive(rx_sock.fileno(), KEYRING) == (0, [], [])


def test_refusals_carry_the_field_name_verify_reports(rx_sock: socket.socket) -> None:
    bad = b"###\n" + b"4:(0)x,"  # an item with no '='
    long_name = linklayer.encode_netstring([(b"t", 0, b"x")], None).replace(
        b"(0)t=x", b"(0)" + b"n" * 100 + b"=x").replace(b"6:", b"105:")
    bad_value = b">>>\nab=x\x00y\n<<<\n"
    names = []
    for data in (bad, long_name, bad_value):
        want = error_of(data, KEYRING)
        names.append(want.field_name)
        send(rx_sock, [data])
        _n, frames, refused = BatchReceiver().receive(rx_sock.fileno(), KEYRING)
        assert frames == [] and len(refused) == 1
        err = refused[0].error
        assert isinstance(err, FrameError) and err == want and str(refused[0]) == str(err)
        assert err.field_name == (want.field_name[:64] if want.field_name else None)
        assert str(err) == str(FrameError(want.code, want.offset, want.field_index,
                                          err.field_name))
    assert names == [None, b"n" * 100, b"ab"]


def test_every_refusal_code_is_the_one_verify_gives(rx_sock: socket.socket) -> None:
    rng = random.Random(694)
    vectors = [v.wire for v in udp_vectors()]
    inputs = []
    for _ in range(400):
        data = bytearray(rng.choice(vectors))
        for _cut in range(rng.randint(0, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        inputs.append(bytes(data[: rng.randint(0, len(data))]))
    rx = BatchReceiver(batch=MAX_BATCH)
    for start in range(0, len(inputs), 50):
        chunk = inputs[start:start + 50]
        send(rx_sock, chunk)
        n, frames, refused = rx.receive(rx_sock.fileno(), KEYRING)
        assert n == len(chunk)
        want: dict[str, int] = {}
        passed = []
        for data in chunk:
            try:
                linklayer.verify(data, KEYRING)
            except FrameError as exc:
                want[exc.code.name] = want.get(exc.code.name, 0) + 1
            else:
                passed.append(data)
        assert [f for f, _peer in frames] == passed
        assert {r.code: r.datagrams for r in refused} == want


def test_parse_only_without_a_keyring(rx_sock: socket.socket) -> None:
    unsigned = linklayer.encode_netstring([(b"t", 0, b"x")], None)
    send(rx_sock, [unsigned, frame(1), b">>>\n"])
    _n, frames, refused = BatchReceiver().receive(rx_sock.fileno(), None)
    assert [f for f, _ in frames] == [unsigned, frame(1)]
    assert [(r.code, r.datagrams) for r in refused] == [("TRUNCATED", 1)]


def test_a_call_reads_at_most_its_batch_or_limit(rx_sock: socket.socket) -> None:
    send(rx_sock, [frame(i) for i in range(25)])
    rx = BatchReceiver(batch=10)
    assert rx.receive(rx_sock.fileno(), KEYRING, limit=4)[0] == 4
    assert rx.receive(rx_sock.fileno(), KEYRING)[0] == 10
    assert rx.receive(rx_sock.fileno(), KEYRING, limit=100)[0] == 10
    n, frames, _ = rx.receive(rx_sock.fileno(), KEYRING)
    assert n == 1 and frames[0][0] == frame(24)


def test_peer_filter_refuses_strangers_unparsed(rx_sock: socket.socket) -> None:
    rx = BatchReceiver(peers=["127.0.0.2", "127.0.0.3"])
    assert rx.peers == ("127.0.0.2", "127.0.0.3")
    stranger = send(rx_sock, [frame(1), b"garbage"], "127.0.0.9")
    peer = send(rx_sock, [frame(2)], "127.0.0.3")
    _n, frames, refused = rx.receive(rx_sock.fileno(), KEYRING)
    assert frames == [(frame(2), peer)]
    assert refused == [Refused("NOT_FROM_PEER", stranger, 2)]
    assert refused[0].error == str(refused[0]) == REASONS["NOT_FROM_PEER"]
    rx.set_peers([])
    send(rx_sock, [frame(3)], "127.0.0.9")
    assert [f for f, _ in rx.receive(rx_sock.fileno(), KEYRING)[1]] == [frame(3)]


def test_long_datagrams_use_the_overflow_buffer(rx_sock: socket.socket) -> None:
    big = [frame(i, size=20_000) for i in range(3)]
    small = frame(7)
    send(rx_sock, [big[0], small, big[1], big[2], small])
    rx = BatchReceiver(batch=8, slot=1024)
    _n, frames, refused = rx.receive(rx_sock.fileno(), KEYRING)
    # Only the last long one of a call is whole; the others are counted.
    assert [f for f, _ in frames] == [small, big[2], small]
    assert [(r.code, r.datagrams) for r in refused] == [("OVERSIZE_DATAGRAM", 2)]
    send(rx_sock, [big[0]])
    assert [f for f, _ in rx.receive(rx_sock.fileno(), KEYRING)[1]] == [big[0]]
    biggest = frame(0, size=65_000)
    send(rx_sock, [biggest])
    assert [f for f, _ in rx.receive(rx_sock.fileno(), KEYRING)[1]] == [biggest]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="batch"):
        BatchReceiver(batch=0)
    with pytest.raises(ValueError, match="batch"):
        BatchReceiver(batch=MAX_BATCH + 1)
    with pytest.raises(ValueError, match="slot"):
        BatchReceiver(slot=10)
    rx = BatchReceiver()
    with pytest.raises(ValueError, match="at most"):
        rx.set_peers([f"10.0.0.{i}" for i in range(MAX_PEERS + 1)])
    with pytest.raises(ValueError, match="peer address"):
        rx.set_peers(["otter"])
    assert rx.peers == ()


def test_socket_errors_become_oserror() -> None:
    rx = BatchReceiver()
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as info:
            rx.receive(r, KEYRING)
        assert info.value.errno == errno.ENOTSOCK
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(OSError) as info:
        rx.receive(r, KEYRING)  # closed
    assert info.value.errno == errno.EBADF


def test_c_api_checks_its_arguments() -> None:
    err = ffi.new("hb_error *")
    assert lib.hb_rx_new(0, 4096, err) == ffi.NULL and err.code == lib.HB_BAD_ARGUMENT
    assert lib.hb_rx_new(1, lib.HB_RX_MIN_SLOT - 1, err) == ffi.NULL
    assert lib.hb_rx_new(1, lib.HB_RX_MAX_SLOT + 1, err) == ffi.NULL
    rx = ffi.gc(lib.hb_rx_new(2, lib.HB_RX_MIN_SLOT, err), lib.hb_rx_free)
    assert rx != ffi.NULL and err.code == lib.HB_OK
    assert lib.hb_rx_arena_size(rx) == 2 * lib.HB_RX_MIN_SLOT + lib.HB_RX_BIG + lib.HB_RX_MIN_SLOT
    assert lib.hb_rx_arena(rx) != ffi.NULL
    assert lib.hb_rx_frames(rx) != ffi.NULL and lib.hb_rx_rejects(rx) != ffi.NULL
    assert lib.hb_rx_frames(ffi.NULL) == ffi.NULL and lib.hb_rx_arena_size(ffi.NULL) == 0
    addrs = ffi.new("uint32_t[]", [1])
    assert lib.hb_rx_set_peers(rx, addrs, lib.HB_RX_MAX_PEERS + 1) == lib.HB_BAD_ARGUMENT
    assert lib.hb_rx_set_peers(rx, ffi.NULL, 1) == lib.HB_BAD_ARGUMENT
    assert lib.hb_rx_set_peers(rx, ffi.NULL, 0) == lib.HB_OK
    res = ffi.new("hb_rx_result *")
    assert lib.hb_rx_read(rx, -1, ffi.NULL, 0, res, err) == -lib.HB_BAD_ARGUMENT
    assert lib.hb_rx_read(ffi.NULL, 0, ffi.NULL, 0, res, err) == -lib.HB_BAD_ARGUMENT
    lib.hb_rx_free(ffi.NULL)


def test_each_source_is_summed_apart(rx_sock: socket.socket) -> None:
    sources = [f"127.0.1.{i}" for i in range(1, 41)]
    peers = [send(rx_sock, [b"junk"] * (1 + i % 3), src) for i, src in enumerate(sources)]
    n, frames, refused = BatchReceiver(batch=MAX_BATCH).receive(rx_sock.fileno(), KEYRING)
    assert n == sum(1 + i % 3 for i in range(40)) and frames == []
    assert [(r.code, r.peer, r.datagrams) for r in refused] == [
        ("UNKNOWN_FORM", p, 1 + i % 3) for i, p in enumerate(peers)]
