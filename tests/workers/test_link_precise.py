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
from linklayer.ticker import ORDER_WAIT_NS
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


def test_numbered_orders_go_out_before_the_keepalives_numbered_after_them(rig: Rig) -> None:
    """A `send` order carries the number the supervisor took for its message:
    the keepalive numbered next waits for it, so the line carries the node's
    numbers in order; one that never comes holds a keepalive up once, for
    ORDER_WAIT_NS, and the worker says so."""
    rig.board.reschedule(time.monotonic_ns(), 400_000_000)  # a lull for frames_written
    rig.worker.reschedule()
    assert start_ticker("serial tty", rig.worker.ticker, False, None) == []
    loop = threading.Thread(target=rig.worker.run)
    loop.start()
    try:
        rig.frames_written()
        for node in (b"otter", b"mink", b"stoat"):  # each one numbered, then sent
            seq = rig.board.allocate()
            frame = linklayer.encode_classic(
                [(b"t", STRING, b"stonith"), (b"node", STRING, node),
                 (b"seq", STRING, b"%x" % seq)], KEYRING)
            rig.supervisor.send_multipart(Send(frame, seq).encode())
            time.sleep(0.03)
        missing = rig.board.allocate()  # numbered, never sent
        deadline = time.monotonic() + 5
        frames: list[dict[bytes, bytes]] = []
        while time.monotonic() < deadline and not any(
                int(f[b"seq"], 16) > missing for f in frames):
            frames += rig.frames_written()
        seqs = [int(f[b"seq"], 16) for f in frames]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), frames
        assert [f[b"node"] for f in frames if f[b"t"] == b"stonith"] == [
            b"otter", b"mink", b"stoat"]
        warnings = [body["error"] for verb, body in rig.reports() if verb == b"warn"]
        assert warnings == [f"serial tty: keepalive {missing + 1} went out before message "
                            f"{missing}, which was not handed over within "
                            f"{ORDER_WAIT_NS // 1_000_000} ms (a peer counts it lost until it "
                            "comes)"]
    finally:
        rig.supervisor.send_multipart(Stop().encode())
        loop.join(5)
    assert not loop.is_alive()
