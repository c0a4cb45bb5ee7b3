"""The keepalive the supervisor keeps for retransmission is the one that went
on the wire, even when the node's state changed between the worker's tick
and the worker's `sent` report (the supervisor used to rebuild it from its
content at report time, so a peer asking for that seq again got a message
the node never sent).

A real Supervisor (its membership and sequence board, no sockets), a real
LinkWorker on a pty pair as its serial line, a ZeroMQ pair as their bus."""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import zmq

import linklayer
from hbeat.config import ClusterConfig, SystemProbe, load_config
from hbeat.ipc.bus import LinkSetup, MediumSpec, Sent
from hbeat.ipc.keepalive import KeepaliveContent, content_key, status_fields
from linklayer.message import Field
from supervisor import messages as m
from supervisor.daemon import Options, Supervisor, now_ms
from supervisor.rundir import PRIVATE, prepare_dir
from supervisor.sequencing import Sender
from tests.hbeat.config.seed import write_seed
from workers.link import LinkWorker


def wire_frames(master: int, keyring: linklayer.Keyring) -> list[tuple[Field, ...]]:
    data = b""
    while select.select([master], [], [], 0.2)[0]:
        data += os.read(master, 65536)
    return [linklayer.decode(chunk + b"<<<\n", keyring).fields
            for chunk in data.split(b"<<<\n")[:-1]]


def bare_supervisor(tmp_path: Path,
                    extra: tuple[str, ...] = ()) -> tuple[Supervisor, ClusterConfig]:
    """A supervisor of the seed configuration (one medium) with its board and
    membership, not started (st=init); the caller closes the board and
    releases the instance lock."""
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="",
                      extra=extra)
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    sup = Supervisor(config, Options(runtime_dir=tmp_path / "run", state_dir=tmp_path / "state"))
    sup._prepare_dirs()
    prepare_dir(tmp_path / "run" / PRIVATE, 0o700)  # where _bind puts the bus and board
    sup._start_membership()
    return sup, config


@contextlib.contextmanager
def supervisor_and_bus(tmp_path: Path) -> Iterator[tuple[Supervisor, ClusterConfig, int, int,
                                                          zmq.Socket[bytes], zmq.Socket[bytes]]]:
    """`bare_supervisor`, a pty pair for a worker's serial medium (master,
    slave) and the two ends of an inproc bus (supervisor's, worker's)."""
    sup, config = bare_supervisor(tmp_path)
    master, slave = os.openpty()
    ctx = zmq.Context()
    sup_end, worker_end = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    sup_end.bind("inproc://bus")
    worker_end.connect("inproc://bus")
    try:
        yield sup, config, master, slave, sup_end, worker_end
    finally:
        sup.board.close()
        sup.instance_lock.release()
        worker_end.close(linger=0)
        sup_end.close(linger=0)
        ctx.term()
        os.close(master)


def test_history_holds_the_keepalive_as_sent_not_as_rebuilt(tmp_path: Path) -> None:
    with supervisor_and_bus(tmp_path) as (sup, config, master, slave, sup_end, worker_end):
        worker = LinkWorker("serial tty", worker_end, LinkSetup(
            medium=MediumSpec("serial", "serial tty", os.ttyname(slave), baud=19200),
            board=str(sup.board.path), status=sup.keepalive_content()), config.keyring)
        os.close(slave)
        before = sup.keepalive_content()
        worker.send_keepalive(worker.schedule.next_tick(0) + 1)
        [on_wire] = wire_frames(master, config.keyring)
        assert {name: value for name, _, value in on_wire}[b"st"] == before.st.encode()

        # The state changes before the worker's report is read: membership
        # starts (init -> up) and the content the supervisor would push differs.
        sup.membership.start(now_ms())
        assert sup.keepalive_content() != before

        sent = Sent.decode(sup_end.recv_multipart())
        sup.on_sent(sent)
        seq = sent.seq
        answer = sup.membership.sender.answer_rexmit("weasel", seq, seq, now_ms())
        assert answer.resend == ((seq, tuple(on_wire)),)


@pytest.mark.parametrize("protocol", [True, False])
def test_a_workers_keepalive_is_the_supervisors_status_message(protocol: bool) -> None:
    # One status message, whoever sends it: the supervisor's own (head from
    # the shared builder, stamped by its sender) and a worker's keepalive
    # built from the same content are field for field the same.
    uuid = bytes(range(16))
    sender = Sender("otter", uuid, 0x6B066B7A, 3)
    own = sender.stamp(m.status_fields("active", 0x2710, protocol=protocol), now=0,
                       wall_s=0x6B066B8E, load=b"0.00 0.01 0.05 1/99 42")
    content = KeepaliveContent(st="active", dt_ms=0x2710, protocol=protocol, src="otter",
                               srcuuid=uuid, hg=0x6B066B7A, ttl=3)
    assert own == tuple(status_fields(content, 1, 0x6B066B8E, b"0.00 0.01 0.05 1/99 42"))


@pytest.mark.parametrize(("extra", "report_all"), [
    ((), False),  # one `sent` report per tick, own echoes forwarded once
    (("metrics_textfile /tmp/hbeat-test-metrics.prom",), True),  # the metrics count them all
])
def test_link_setup_asks_for_every_report_only_for_metrics(
        tmp_path: Path, extra: tuple[str, ...], report_all: bool) -> None:
    sup, _config = bare_supervisor(tmp_path, extra)
    try:
        for name in sup.workers_by_name:
            assert sup._setup_for(name).report_all is report_all
    finally:
        sup.board.close()
        sup.instance_lock.release()


def test_history_from_the_board_log_holds_the_keepalive_as_sent(tmp_path: Path) -> None:
    # No `sent` report: the worker that took the seq logged the keepalive on
    # the board, and the supervisor reads the log on its turns.
    with supervisor_and_bus(tmp_path) as (sup, config, master, slave, sup_end, worker_end):
        logged: list[str] = []
        sup.log = lambda level, text: logged.append(  # type: ignore[method-assign]
            f"{level.name}: {text}")
        [name] = sup.workers_by_name
        status = sup._setup_for(name).status  # handed out: the log may name it
        worker = LinkWorker("serial tty", worker_end, LinkSetup(
            medium=MediumSpec("serial", "serial tty", os.ttyname(slave), baud=19200),
            board=str(sup.board.path), status=status, report_all=False), config.keyring)
        os.close(slave)
        tick = worker.schedule.next_tick(0) + 1
        worker.send_keepalive(tick)
        [on_wire] = wire_frames(master, config.keyring)
        sup.membership.start(now_ms())  # the state changes before the log is read
        assert not sup_end.poll(100)  # nothing on the bus
        sup.read_sent_log()
        seq = int(dict((n, v) for n, _, v in on_wire)[b"seq"], 16)
        answer = sup.membership.sender.answer_rexmit("weasel", seq, seq, now_ms())
        assert answer.resend == ((seq, tuple(on_wire)),)
        assert sup.last_sent_seq == seq

        # A content the supervisor never handed out is not made up.
        worker.status = replace(status, st="dead", status_seq=sup.board.read().status_seq)
        worker.content_seq = worker.status.status_seq
        assert worker.content_key() == content_key(worker.status)
        worker.send_keepalive(tick + 1)
        assert sup.board.sent_count() == 2
        sup.read_sent_log()
        assert sup.last_sent_seq == seq
        assert any(line.startswith("ERROR: keepalive ") for line in logged)
