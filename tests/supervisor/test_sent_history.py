"""The keepalive the supervisor keeps for retransmission is the one that went
on the wire, even when the node's state changed between the worker's tick
and the worker's `sent` report (the supervisor used to rebuild it from its
content at report time, so a peer asking for that seq again got a message
the node never sent).

A real Supervisor (its membership and sequence board, no sockets), a real
LinkWorker on a pty pair as its serial line, a ZeroMQ pair as their bus."""

from __future__ import annotations

import os
import select
from pathlib import Path

import zmq

import linklayer
from hbeat.config import SystemProbe, load_config
from hbeat.ipc.bus import LinkSetup, Sent
from linklayer.message import Field
from supervisor.daemon import Options, Supervisor, now_ms
from tests.config.seed import write_seed
from workers.link import LinkWorker


def wire_frames(master: int, keyring: linklayer.Keyring) -> list[tuple[Field, ...]]:
    data = b""
    while select.select([master], [], [], 0.2)[0]:
        data += os.read(master, 65536)
    return [linklayer.decode(chunk + b"<<<\n", keyring).fields
            for chunk in data.split(b"<<<\n")[:-1]]


def test_history_holds_the_keepalive_as_sent_not_as_rebuilt(tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="")
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    sup = Supervisor(config, Options(runtime_dir=tmp_path / "run", state_dir=tmp_path / "state"))
    sup._prepare_dirs()
    sup._start_membership()  # the board and membership; not started: st=init
    master, slave = os.openpty()
    ctx = zmq.Context()
    sup_end, worker_end = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    sup_end.bind("inproc://bus")
    worker_end.connect("inproc://bus")
    try:
        worker = LinkWorker("serial tty", worker_end, LinkSetup(
            medium={"kind": "serial", "name": "serial tty", "dev": os.ttyname(slave),
                    "baud": 19200},
            keyring=config.keyring, board=str(tmp_path / "run" / "seqboard"),
            status=sup.keepalive_content()))
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
    finally:
        sup.board.close()
        worker_end.close(linger=0)
        sup_end.close(linger=0)
        ctx.term()
        os.close(master)
