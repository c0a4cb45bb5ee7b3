"""workers/selfecho.py: the kernel drops the datagrams of one source (the
node's own sending socket) and passes every other one. Real UDP sockets on
127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from workers.selfecho import drop_from, own_filter


def udp(bind: bool = True) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.3)
    return s


@pytest.fixture
def rx() -> Iterator[socket.socket]:
    s = udp()
    yield s
    s.close()


def received(rx: socket.socket) -> list[bytes]:
    out = []
    try:
        while True:
            out.append(rx.recv(100))
    except TimeoutError:
        return out


def test_own_filter_is_six_instructions_naming_the_source() -> None:
    program = own_filter("10.0.0.1", 694)
    assert len(program) == 6
    assert program[1][3] == 694
    assert program[3][3] == 0x0A000001
    assert program[-1] == (0x06, 0, 0, 0xFFFFFFFF)  # the default: pass


@pytest.mark.parametrize(("address", "port"), [("::1", 694), ("10.0.0.1", 0),
                                                ("10.0.0.1", 65536), ("eth1", 694)])
def test_own_filter_refuses_what_it_cannot_match(address: str, port: int) -> None:
    with pytest.raises(ValueError):
        own_filter(address, port)


def test_drop_from_drops_only_the_named_source(rx: socket.socket) -> None:
    own, other = udp(), udp()
    try:
        dest = rx.getsockname()
        own.sendto(b"before", dest)
        assert received(rx) == [b"before"]
        assert drop_from(rx, *own.getsockname()) is None
        own.sendto(b"echo", dest)
        other.sendto(b"peer", dest)
        own.sendto(b"echo again", dest)
        assert received(rx) == [b"peer"]
    finally:
        own.close()
        other.close()


def test_drop_from_says_why_it_could_not(rx: socket.socket) -> None:
    assert drop_from(rx, "not an address", 694) is not None
    rx.close()
    assert "SO_ATTACH_FILTER" in (drop_from(rx, "127.0.0.1", 694) or "")
