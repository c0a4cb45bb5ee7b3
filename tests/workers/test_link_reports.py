"""What a link worker tells its supervisor about the keepalives it sends and
the echoes of them it receives (docs/processes.md, "Fewer wake-ups"): one
`sent` report per tick, from the worker that took the seq; a report the full
bus refused is posted again; an echo of its own keepalive crosses the bus
once. With `report_all` (the supervisor exports metrics) every report and
every echo goes.

Real LinkWorkers on pty pairs as their serial lines, one real sequence board
shared by them, real ZeroMQ sockets standing in for the supervisor."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from hbeat.ipc.bus import LinkSetup, MediumSpec, unpack_json
from hbeat.ipc.keepalive import KeepaliveContent
from hbeat.ipc.seqboard import SeqBoard
from linklayer.message import AuthKey, Keyring, Method
from workers.link import LinkWorker

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)
CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="weasel",
                           srcuuid=bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c"), hg=7,
                           ttl=3, status_seq=0)


class Rig:
    """Two workers of one node (one board), each with its own bus socket."""

    def __init__(self, tmp_path: Path, report_all: bool, hwm: int = 1000) -> None:
        self.board = SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=10**9,
                                     generation=7, lease_ns=2**62)
        self.ctx = zmq.Context()
        self.masters: list[int] = []
        self.supervisors: list[zmq.Socket[bytes]] = []
        self.workers: list[LinkWorker] = []
        for i in range(2):
            master, slave = os.openpty()
            sup = self.ctx.socket(zmq.PAIR)
            sup.setsockopt(zmq.RCVHWM, hwm)
            sup.bind(f"inproc://bus{i}")
            bus = self.ctx.socket(zmq.PAIR)
            bus.setsockopt(zmq.SNDHWM, hwm)
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


def test_only_the_worker_that_took_the_seq_reports_it(quiet: Rig) -> None:
    first, second = quiet.workers
    first.send_keepalive(0)
    second.send_keepalive(0)  # reads the seq the first one took
    second.send_keepalive(1)  # now the second is first
    first.send_keepalive(1)
    assert sent_seqs(quiet.reports(0)) == [1]
    assert sent_seqs(quiet.reports(1)) == [2]


def test_report_all_makes_every_worker_report_every_keepalive(every: Rig) -> None:
    first, second = every.workers
    first.send_keepalive(0)
    second.send_keepalive(0)
    assert sent_seqs(every.reports(0)) == [1]
    assert sent_seqs(every.reports(1)) == [1]


def test_a_report_the_full_bus_refused_is_posted_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path, report_all=False, hwm=1)
    try:
        worker = rig.workers[0]
        # Fill the bus: the supervisor reads nothing meanwhile.
        filler = 0
        while worker.post([b"junk", b"{}"]):
            filler += 1
        worker.send_keepalive(0)
        assert worker.unsent_report is not None
        worker.retry_report()  # still full: kept
        assert worker.unsent_report is not None
        got = rig.reports(0)  # the supervisor catches up ...
        worker.retry_report()  # ... and the report goes
        assert worker.unsent_report is None
        got += rig.reports(0)
        assert sent_seqs(got) == [1]
        assert len(got) == filler + 1
    finally:
        rig.close()


def test_retry_report_does_nothing_without_a_refused_report(quiet: Rig) -> None:
    worker = quiet.workers[0]
    worker.retry_report()
    assert quiet.reports(0) == []


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
