"""A link worker never sends a keepalive whose `st` is older than a status
message its supervisor already sent. The race it closes: the supervisor
sends `st=active` (seq M) and then pushes the new content to the workers; a
worker reaching its tick in between used to claim M+1 with the old `st=up`,
and every peer saw the node go from active back to up for one keepalive.

A real LinkWorker on a pty pair as its serial line, a real sequence board
and a real ZeroMQ socket standing in for the supervisor."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zmq

import linklayer
from hbeat.ipc.bus import LinkSetup, MediumSpec, Status, unpack_json
from hbeat.ipc.keepalive import KeepaliveContent
from hbeat.ipc.seqboard import SeqBoard
from linklayer.message import AuthKey, Keyring, Method
from workers.link import LinkWorker

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
CONTENT = KeepaliveContent(st="up", dt_ms=0x2710, protocol=True, src="weasel",
                           srcuuid=bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c"), hg=7,
                           ttl=3, status_seq=0)


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.master, slave = os.openpty()
        self.board = SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=10**9,
                                     generation=7, lease_ns=2**62)
        self.ctx = zmq.Context()
        self.supervisor = self.ctx.socket(zmq.PAIR)
        self.supervisor.bind("inproc://bus")
        bus = self.ctx.socket(zmq.PAIR)
        bus.connect("inproc://bus")
        self.worker = LinkWorker("serial tty", bus, LinkSetup(
            medium=MediumSpec("serial", "serial tty", os.ttyname(slave), baud=19200),
            board=str(tmp_path / "seqboard"), status=CONTENT), KEYRING)
        os.close(slave)
        self.buffer = b""

    def frames_written(self) -> list[dict[bytes, bytes]]:
        while select.select([self.master], [], [], 0.2)[0]:
            self.buffer += os.read(self.master, 65536)
        frames = []
        while b"<<<\n" in self.buffer:
            frame, self.buffer = self.buffer.split(b"<<<\n", 1)
            decoded = linklayer.decode(frame + b"<<<\n", KEYRING)
            frames.append({name: value for name, _kind, value in decoded.fields})
        return frames

    def reports(self) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        while self.supervisor.poll(50):
            verb, body = self.supervisor.recv_multipart()
            out.append((verb, unpack_json(body, verb.decode())))
        return out

    def close(self) -> None:
        self.worker.medium.close()
        self.worker.bus.close(linger=0)
        self.supervisor.close(linger=0)
        self.ctx.term()
        os.close(self.master)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_no_keepalive_goes_back_past_the_supervisors_status_message(rig: Rig) -> None:
    rig.worker.send_keepalive(0)
    assert [(f[b"seq"], f[b"st"]) for f in rig.frames_written()] == [(b"1", b"up")]
    assert [r[1]["seq"] for r in rig.reports()] == [1]

    # The supervisor sends `st=active` itself (the board marks it) and has
    # not pushed the new content yet: the tick is skipped, not sent as `up`.
    active_seq = rig.board.allocate(status=True)
    assert active_seq == 2
    rig.worker.send_keepalive(1)
    assert rig.frames_written() == []
    assert rig.reports() == []
    assert rig.board.issued() == 2  # no number taken for the skipped tick

    # The content arrives: the next tick carries it.
    rig.supervisor.send_multipart(
        Status(replace(CONTENT, st="active", status_seq=active_seq)).encode())
    rig.worker.send_keepalive(2)
    assert [(f[b"seq"], f[b"st"]) for f in rig.frames_written()] == [(b"3", b"active")]
    assert [r[1]["seq"] for r in rig.reports()] == [3]


def test_content_already_on_the_bus_is_read_before_the_tick_is_claimed(rig: Rig) -> None:
    # Both the status message and the new content are sent before the tick:
    # the worker reads the content at the tick instead of skipping it.
    active_seq = rig.board.allocate(status=True)
    rig.supervisor.send_multipart(
        Status(replace(CONTENT, st="active", status_seq=active_seq)).encode())
    rig.worker.send_keepalive(0)
    assert [(f[b"seq"], f[b"st"]) for f in rig.frames_written()] == [(b"2", b"active")]
