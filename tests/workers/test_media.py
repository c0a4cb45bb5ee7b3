"""workers.media: UDP reads bounded per call; ucast refuses strangers."""

from __future__ import annotations

import socket

from hbeat.ipc.bus import MediumSpec
from tests.harness.requirements import require_root
from workers.media import READ_BATCH, open_udp

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
