"""A link worker serves its bus at once while its ticker thread sends the
keepalives: an order the supervisor hands it (the `stonith` frame of a peer
whose deadline fell just before our tick) goes out as soon as the loop sees
it, whole between the keepalives on the serial line, and a `stop` ends the
loop and the thread.

A real LinkWorker on a pty pair (tests/workers/test_link_stale_content.py's
rig), a real sequence board, a real ZeroMQ socket as the supervisor and the
worker's loop (`run`) on a real thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import linklayer
from hbeat.ipc.bus import Send, Stop
from linklayer.message import STRING
from tests.workers.test_link_stale_content import KEYRING, Rig
from workers.link import start_ticker


def stonith_frame(node: bytes) -> bytes:
    return linklayer.encode_classic(
        [(b"t", STRING, b"stonith"), (b"node", STRING, node), (b"result", STRING, b"n_stnth")],
        KEYRING)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_orders_go_out_at_once_between_keepalives_and_stop_ends_it(rig: Rig) -> None:
    rig.board.reschedule(time.monotonic_ns(), 400_000_000)  # frames_written waits for a 0.2 s lull
    rig.worker.reschedule()
    assert start_ticker("serial tty", rig.worker.ticker, False, None) == []
    loop = threading.Thread(target=rig.worker.run)
    loop.start()
    try:
        rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
        rig.supervisor.send_multipart(Send(stonith_frame(b"mink")).encode())
        deadline = time.monotonic() + 5
        frames: list[dict[bytes, bytes]] = []
        while time.monotonic() < deadline and (
                len([f for f in frames if f[b"t"] == b"stonith"]) < 2
                or len([f for f in frames if f[b"t"] == b"status"]) < 3):
            frames += rig.frames_written()
        assert [f[b"node"] for f in frames if f[b"t"] == b"stonith"] == [b"otter", b"mink"]
        assert len([f for f in frames if f[b"t"] == b"status"]) >= 3
    finally:
        rig.supervisor.send_multipart(Stop().encode())
        loop.join(5)
    assert not loop.is_alive() and not rig.worker.running
    # The thread was stopped with the loop: a keepalive may be sent from here.
    assert rig.worker.ticker.tick(10**6, 0, b"") is not None
