"""What a link worker tells its supervisor about the keepalives it sends and
the echoes of them it receives (docs/processes.md, "Fewer wake-ups"): the
worker that takes a tick's seq logs the keepalive on the sequence board, no
`sent` report crosses the bus; an echo of its own keepalive crosses the bus
once. With `report_all` (the supervisor exports metrics) every worker
reports every keepalive and forwards every echo.

Real LinkWorkers on pty pairs as their serial lines, one real sequence board
shared by them, real ZeroMQ sockets standing in for the supervisor."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zmq

from hbeat.ipc.bus import LinkSetup, MediumSpec, Status, unpack_json
from hbeat.ipc.keepalive import KeepaliveContent, content_key
from hbeat.ipc.seqboard import SeqBoard
from linklayer.message import AuthKey, Keyring, Method
from tests.harness.requirements import require_root
from workers.link import LinkWorker

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="weasel",
                           srcuuid=bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c"), hg=7,
                           ttl=3, status_seq=0)


class Rig:
    """Two workers of one node (one board), each with its own bus socket."""

    def __init__(self, tmp_path: Path, report_all: bool) -> None:
        self.board = SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=10**9,
                                     generation=7, lease_ns=2**62)
        self.ctx = zmq.Context()
        self.masters: list[int] = []
        self.supervisors: list[zmq.Socket[bytes]] = []
        self.workers: list[LinkWorker] = []
        for i in range(2):
            master, slave = os.openpty()
            sup = self.ctx.socket(zmq.PAIR)
            sup.bind(f"inproc://bus{i}")
            bus = self.ctx.socket(zmq.PAIR)
            bus.connect(f"inproc://bus{i}")
            name = f"serial tty{i}"
            self.workers.append(LinkWorker(name, bus, LinkSetup(
                medium=MediumSpec("serial", name, os.ttyname(slave), baud=19200),
                board=str(tmp_path / "seqboard"), status=CONTENT, report_all=report_all),
                KEYRING))
            os.close(slave)
            self.masters.append(master)
            self.supervisors.append(sup)

    def reports(self, i: int) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        while self.supervisors[i].poll(50):
            verb, *rest = self.supervisors[i].recv_multipart()
            out.append((verb, unpack_json(rest[0], verb.decode()) if verb == b"sent" else {}))
        return out

    def close(self) -> None:
        for w in self.workers:
            w.medium.close()
            w.bus.close(linger=0)
        for s in self.supervisors:
            s.close(linger=0)
        self.ctx.term()
        for m in self.masters:
            os.close(m)


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, report_all=False)
    yield r
    r.close()


@pytest.fixture
def every(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, report_all=True)
    yield r
    r.close()


def sent_seqs(reports: list[tuple[bytes, dict[str, Any]]]) -> list[int]:
    return [body["seq"] for verb, body in reports if verb == b"sent"]


def test_without_report_all_keepalives_are_logged_on_the_board_not_reported(
        quiet: Rig) -> None:
    first, second = quiet.workers
    first.send_keepalive(0)
    second.send_keepalive(0)  # reads the seq the first one took: logs nothing
    second.send_keepalive(1)  # now the second is first
    first.send_keepalive(1)
    assert sent_seqs(quiet.reports(0)) == [] and sent_seqs(quiet.reports(1)) == []
    count, entries, lost = quiet.board.sent_since(0)
    assert (count, lost) == (2, 0)
    assert [(e.seq, e.tick, e.content_key) for e in entries] == [
        (1, 0, content_key(CONTENT)), (2, 1, content_key(CONTENT))]
    assert all(e.ld and e.ts > 0 for e in entries)


def test_the_log_names_the_content_the_keepalive_was_built_from(quiet: Rig) -> None:
    worker = quiet.workers[0]
    newer = replace(CONTENT, st="dead", status_seq=quiet.board.allocate(status=True))
    quiet.supervisors[0].send_multipart(Status(newer).encode())
    worker.send_keepalive(0)  # reads the new content from the bus first
    _, [entry], _ = quiet.board.sent_since(0)
    assert entry.content_key == content_key(newer) != content_key(CONTENT)


def test_report_all_makes_every_worker_report_every_keepalive(every: Rig) -> None:
    first, second = every.workers
    first.send_keepalive(0)
    second.send_keepalive(0)
    assert sent_seqs(every.reports(0)) == [1]
    assert sent_seqs(every.reports(1)) == [1]
    assert every.board.sent_count() == 1  # logged once all the same


def test_a_report_names_the_content_its_frame_carried_not_the_latest(every: Rig) -> None:
    """The ticker thread's report is read after it is made: a status order
    the worker handled in between must not relabel the keepalive (the
    supervisor keeps the reported content for retransmission)."""
    worker = every.workers[0]
    report = worker.ticker.tick(0, int(time.time()), b"0.00")
    assert report is not None and report.content_key == content_key(CONTENT)
    newer = replace(CONTENT, st="dead", status_seq=every.board.allocate(status=True))
    worker.on_order(Status(newer).encode())
    worker.on_report(report)
    [(verb, body)] = every.reports(0)
    assert verb == b"sent" and body["seq"] == report.seq
    assert body["content"]["st"] == "active"


def test_own_echo_is_forwarded_once_then_counted(quiet: Rig) -> None:
    worker = quiet.workers[0]
    worker.send_keepalive(0)
    echo = worker.last_keepalive
    assert echo
    assert not worker.own_echo(echo)  # the first one: the local link comes up
    assert worker.own_echo(echo)
    assert worker.own_echo(bytes(echo))
    assert worker.echoes_dropped == 2
    assert not worker.own_echo(echo[:-1] + b"x")  # anything else is not ours
    worker.send_keepalive(1)
    assert worker.own_echo(worker.last_keepalive)  # the next keepalive's echo too
    assert not worker.own_echo(echo)  # the previous one is no echo any more


def test_own_echo_with_report_all_forwards_every_echo(every: Rig) -> None:
    worker = every.workers[0]
    worker.send_keepalive(0)
    assert not worker.own_echo(worker.last_keepalive)
    assert not worker.own_echo(worker.last_keepalive)
    assert worker.echoes_dropped == 0


def test_the_kernel_drops_our_own_echoes_after_the_first(tmp_path: Path) -> None:
    # A ucast medium to 127.0.0.1 hears what it sends, as a bcast one does.
    require_root("SO_BINDTODEVICE on the UDP sockets")
    port = 16990
    board = SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=10**9,
                            generation=7, lease_ns=2**62)
    ctx = zmq.Context()
    sup = ctx.socket(zmq.PAIR)
    sup.bind("inproc://udpbus")
    bus = ctx.socket(zmq.PAIR)
    bus.connect("inproc://udpbus")
    worker = LinkWorker("ucast lo 127.0.0.1", bus, LinkSetup(
        medium=MediumSpec("ucast", "ucast lo 127.0.0.1", "lo", port, peer="127.0.0.1",
                          accept_from=("127.0.0.1",)),
        board=str(board.path), status=CONTENT, report_all=False), KEYRING)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        def forwarded() -> list[bytes]:
            time.sleep(0.1)
            worker.on_medium()
            out = []
            while sup.poll(50):
                parts = sup.recv_multipart()
                if parts[0] == b"rx":
                    out.append(parts[2])
            return out

        worker.send_keepalive(0)
        assert forwarded() == [worker.last_keepalive]  # the first echo: our link comes up
        assert worker.echo_filter_problem is None  # the kernel drops the next ones
        worker.send_keepalive(1)
        stranger.sendto(worker.last_keepalive, ("127.0.0.1", port))  # same bytes, not ours
        assert forwarded() == []
        # Only the stranger's copy reached the worker (dropped there: the same
        # bytes as our keepalive); our own echo the kernel dropped.
        assert worker.echoes_dropped == 1
        worker.send_keepalive(2)
        assert forwarded() == []
        assert worker.echoes_dropped == 1
    finally:
        stranger.close()
        worker.medium.close()
        bus.close(linger=0)
        sup.close(linger=0)
        ctx.term()
        board.close()
