"""A link worker whose serial line hangs up (the other end of the cable is
gone: EIO on every read and write of the descriptor it holds) exits, so that
the supervisor starts a new one, which opens the device again; a UDP worker
never exits for a failed send. Real LinkWorker on a real pty, its keepalive
thread running, a real ZeroMQ socket standing in for the supervisor."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import zmq

from hbeat.ipc.bus import LinkSetup, MediumSpec
from hbeat.ipc.seqboard import SeqBoard
from tests.workers.test_link_reports import CONTENT, KEYRING
from workers.link import LINE_GONE_EXIT, LinkWorker, start_ticker


def test_a_serial_line_that_hangs_up_ends_the_worker(tmp_path: Path) -> None:
    board = SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=100_000_000,
                            generation=7, lease_ns=2**62)
    ctx = zmq.Context()
    sup, bus = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    sup.bind("inproc://bus")
    bus.connect("inproc://bus")
    master, slave = os.openpty()
    worker = LinkWorker("serial tty", bus, LinkSetup(
        medium=MediumSpec("serial", "serial tty", os.ttyname(slave), baud=19200),
        board=str(tmp_path / "seqboard"), status=CONTENT), KEYRING)
    os.close(slave)
    try:
        start_ticker("serial tty", worker.ticker, False, None)  # realtime off
        loop = threading.Thread(target=worker.run)
        loop.start()
        assert os.read(master, 4096)  # keepalives flow on the line
        os.close(master)  # unplugged: the worker's descriptor is dead for good
        master = -1
        loop.join(10)
        assert not loop.is_alive(), "the worker went on with a dead line"
        assert worker.exit_code == LINE_GONE_EXIT
        said = []
        while sup.poll(100):
            said.append(sup.recv_multipart())
        warns = [p[1].decode() for p in said if p[0] == b"warn"]
        assert any("Input/output error: the line is gone; exiting to open it again" in w
                   for w in warns), said
    finally:
        if master >= 0:
            os.close(master)
        worker.medium.close()
        board.close()
        bus.close(linger=0)
        sup.close(linger=0)
        ctx.term()
