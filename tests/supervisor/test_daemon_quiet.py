"""Quiet keepalives end to end (docs/processes.md, "Quiet keepalives"): the
peer's repeated keepalives stay in the link worker's C wait and on its heard
board, the supervisor gives them to membership as the messages they stand
for, in order, before the frame that ends their run, and no number is seen
missing.

A real Supervisor of the seed configuration (membership, sequence board,
heard board), a real LinkWorker running its loop on a pty pair as its serial
line, a ZeroMQ pair as their bus, and the peer's frames signed with the
cluster's keys written into the other end of the line."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import zmq

import linklayer
from hbeat.config import ClusterConfig
from hbeat.ipc.bus import LinkSetup, MediumSpec, Rx, Stop, decode_link_report
from hbeat.ipc.heardboard import SLOT0, HeardBoard
from hbeat.ipc.keepalive import KeepaliveContent, status_fields
from supervisor.daemon import Supervisor, now_ms
from supervisor.membership import Log
from supervisor.restartpolicy import RestartPolicy
from supervisor.workerpool import WorkerPool
from tests.supervisor.test_daemon_sent_history import bare_supervisor, supervisor_and_bus
from workers.link import LinkWorker

PEER = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="weasel",
                        srcuuid=bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c"),
                        hg=int(time.time()), ttl=3)


def peer_frame(config: ClusterConfig, seq: int, content: KeepaliveContent = PEER) -> bytes:
    return linklayer.encode_classic(status_fields(content, seq, int(time.time()),
                                                  b"0.00 0.01 0.05 1/99 42"), config.keyring)


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def start_worker(sup: Supervisor, config: ClusterConfig, slave: int,
                 worker_end: zmq.Socket[bytes], actions: list[object], name: str = ""
                 ) -> tuple[str, LinkSetup, LinkWorker, threading.Thread, HeardBoard]:
    """Membership started (its actions kept in `actions`: the bare supervisor
    has no feed, pool, ...) and the supervisor's link worker `name` (default:
    its one link) running its loop on the pty `slave`, with the heard board the
    supervisor made for it."""
    sup.apply = actions.extend  # type: ignore[method-assign,assignment]
    sup.membership.start(now_ms())
    if not name:
        [name] = sup.workers_by_name
    setup = replace(sup._setup_for(name), medium=MediumSpec(
        "serial", "serial tty", os.ttyname(slave), baud=19200))
    worker = LinkWorker(name, worker_end, setup, config.keyring)
    os.close(slave)
    loop = threading.Thread(target=worker.run)
    loop.start()
    return name, setup, worker, loop, HeardBoard.attach(Path(setup.heard))


def test_quiet_keepalives_reach_membership_in_order(tmp_path: Path) -> None:
    with supervisor_and_bus(tmp_path) as (sup, config, master, slave, sup_end, worker_end):
        actions: list[object] = []
        name, setup, worker, loop, board = start_worker(sup, config, slave, worker_end, actions)
        assert setup.heard and setup.quiet_gap_ms == 1500 and not setup.report_all
        assert worker.quiet is not None
        rx: list[Rx] = []

        def deliver() -> None:
            """What the supervisor's loop does with the worker's reports."""
            while sup_end.poll(0):
                parts = sup_end.recv_multipart()
                report = decode_link_report(parts)
                assert isinstance(report, Rx), report
                rx.append(report)
                sup.on_rx(name, report)

        try:
            os.write(master, peer_frame(config, 1))
            wait_until("the first status on the bus", lambda: sup_end.poll(0) != 0)
            deliver()
            assert [r.before for r in rx] == [None]
            for seq in (2, 3, 4):
                os.write(master, peer_frame(config, seq))
                time.sleep(0.05)
            wait_until("keepalives 2-4 on the board",
                       lambda: (r := board.run(0)) is not None and r.last_seq == 4)
            assert not sup_end.poll(0)  # nothing crossed the bus for them
            sup.read_heard_boards()
            assert sup.counters["rx_quiet"] == 3
            sup.read_heard_boards()  # read again: nothing is given twice
            assert sup.counters["rx_quiet"] == 3
            peer = sup.membership.nodes["weasel"]
            assert peer.tracker.last_seq == 4 and peer.status == "active"

            os.write(master, peer_frame(config, 5))  # quiet, then ended by a new state
            wait_until("keepalive 5 on the board",
                       lambda: (r := board.run(0)) is not None and r.last_seq == 5)
            os.write(master, peer_frame(config, 6, replace(PEER, st="up")))
            wait_until("the new status on the bus", lambda: sup_end.poll(0) != 0)
            deliver()
            assert rx[-1].before is not None
            assert (rx[-1].before.first_seq, rx[-1].before.last_seq) == (2, 5)
            assert board.run(0) is None  # taken off the board with the frame
            assert sup.counters["rx_quiet"] == 4 and sup.counters["rx_frames"] == 2
            assert peer.tracker.last_seq == 6 and peer.status == "up"

            os.write(master, peer_frame(config, 7, replace(PEER, st="up")))
            wait_until("keepalive 7 on the board",
                       lambda: (r := board.run(0)) is not None and r.last_seq == 7)
            sup.read_heard_boards()
            assert peer.tracker.last_seq == 7 and sup.counters["rx_quiet"] == 5
            logged = [a.text for a in actions if isinstance(a, Log)]
            assert not [t for t in logged if "lost packet" in t or "Late" in t], logged
            assert "Status update for node weasel: status up" in logged
        finally:
            sup_end.send_multipart(Stop().encode())
            loop.join(10)
            board.close()
        assert not loop.is_alive()


def test_junk_and_a_frame_cut_on_the_line_are_handed_to_python_then_quiet_resumes(
        tmp_path: Path) -> None:
    # What the C wait cannot take (junk, a frame whose end has not come yet
    # when it gives up) goes to the worker's own framer, which reads the line
    # itself until it is between frames again; then the C wait takes over.
    with supervisor_and_bus(tmp_path) as (sup, config, master, slave, sup_end, worker_end):
        name, _setup, _worker, loop, board = start_worker(sup, config, slave, worker_end, [])
        seqs: list[int] = []

        def deliver() -> None:
            while sup_end.poll(0):
                report = decode_link_report(sup_end.recv_multipart())
                if isinstance(report, Rx):
                    seqs.append(int(linklayer.decode(report.frame, None).get(b"seq") or b"0",
                                    16))
                    sup.on_rx(name, report)

        try:
            os.write(master, peer_frame(config, 1))
            wait_until("the first status", lambda: sup_end.poll(0) != 0)
            deliver()
            os.write(master, b"line noise\n" + peer_frame(config, 2)[:40])
            time.sleep(0.2)
            os.write(master, peer_frame(config, 2)[40:])
            def delivered_two() -> bool:
                deliver()
                return seqs == [1, 2]

            wait_until("keepalive 2 through the worker's framer", delivered_two)
            for seq in (3, 4):
                os.write(master, peer_frame(config, seq))
                time.sleep(0.05)
            wait_until("keepalives 3-4 on the board",
                       lambda: (r := board.run(0)) is not None and r.last_seq == 4)
            sup.read_heard_boards()
            assert sup.membership.nodes["weasel"].tracker.last_seq == 4
            assert seqs == [1, 2] and sup.counters["rx_quiet"] == 2
        finally:
            sup_end.send_multipart(Stop().encode())
            loop.join(10)
            board.close()
        assert not loop.is_alive()


def test_with_metrics_every_frame_is_forwarded(tmp_path: Path) -> None:
    sup, _config = bare_supervisor(tmp_path, ("metrics_textfile /tmp/hbeat-test-q.prom",))
    try:
        for name in sup.workers_by_name:
            setup = sup._setup_for(name)
            assert setup.report_all and setup.heard == ""
        assert sup.heard_boards == {}
    finally:
        sup.board.close()
        sup.instance_lock.release()



def test_a_slot_being_written_holds_judgement_for_at_most_a_keepalive(tmp_path: Path) -> None:
    # A worker preempted (or stopped) in the middle of recording a keepalive
    # leaves its slot unreadable: that keepalive may be what keeps the peer
    # alive, so no one is judged silent meanwhile, but not for ever.
    sup, _config = bare_supervisor(tmp_path)
    try:
        [name] = sup.workers_by_name
        board = HeardBoard.attach(Path(sup._setup_for(name).heard))
        with open(board.path, "r+b") as f:
            f.seek(SLOT0)
            f.write(struct.pack("<Q", 7))  # the seqlock odd: being written
        now = sup.read_before_judging()
        assert sup.settle_until_ms == now + 1
        assert sup.torn_since_ms is not None
        sup.torn_since_ms -= sup.keepalive_ms  # still unreadable a keepalive later
        sup.settle_until_ms = 0
        sup.read_before_judging()
        assert sup.settle_until_ms == 0  # judged as the boards say
        with open(board.path, "r+b") as f:
            f.seek(SLOT0)
            f.write(struct.pack("<Q", 8))
        sup.read_before_judging()
        assert sup.torn_since_ms is None
        board.close()
    finally:
        sup.board.close()
        sup.instance_lock.release()


def test_quiet_keepalives_on_one_link_come_before_a_frame_read_from_another(
        tmp_path: Path) -> None:
    # The peer's last keepalives of its old generation wait on the serial link's
    # board when it restarts; its first status of the new generation comes
    # through the other link's worker and is read from the bus first. The board
    # holds what was heard before it: applied first, no replay alarm for them.
    sup, config = bare_supervisor(tmp_path, ("mcast lo 239.0.0.1 694 1 0",))
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind("inproc://two-links")
    sup.bus = router
    first, second = list(sup.workers_by_name)
    sup.pool = WorkerPool("inproc://two-links")  # its slots only: nothing is started
    for name in (first, second):
        sup.pool.add(name, "workers.link", RestartPolicy.for_deadtime(10.0))
    ends = []
    for name in (first, second):
        end = ctx.socket(zmq.DEALER)
        end.setsockopt(zmq.IDENTITY, name.encode())
        end.connect("inproc://two-links")
        ends.append(end)
    other_link, serial_end = ends
    master, slave = os.openpty()
    actions: list[object] = []
    _name, _setup, _worker, loop, board = start_worker(sup, config, slave, serial_end, actions,
                                                       second)
    try:
        os.write(master, peer_frame(config, 1))
        wait_until("the first status on the bus", lambda: router.poll(0) != 0)
        sup.on_bus()
        for seq in (2, 3):
            os.write(master, peer_frame(config, seq))
            time.sleep(0.05)
        wait_until("keepalives 2-3 on the board",
                   lambda: (r := board.run(0)) is not None and r.last_seq == 3)
        restarted = replace(PEER, hg=PEER.hg + 1)
        other_link.send_multipart(Rx(time.monotonic_ns(), peer_frame(config, 1, restarted))
                                  .encode())
        wait_until("the new generation's status on the bus", lambda: router.poll(0) != 0)
        sup.on_bus()
        sup.read_heard_boards()  # as a later turn does
        logged = [a.text for a in actions if isinstance(a, Log)]
        assert not [t for t in logged if "replay" in t or "lower generation" in t], logged
        assert logged.count("Heartbeat restart on node weasel") == 1, logged
        assert sup.counters["rx_quiet"] == 2 and sup.counters["rx_frames"] == 2
        peer = sup.membership.nodes["weasel"]
        assert peer.tracker.generation == restarted.hg and peer.tracker.last_seq == 1
    finally:
        router.send_multipart([second.encode(), *Stop().encode()])
        loop.join(10)
        board.close()
        for end in ends:
            end.close(linger=0)
        router.close(linger=0)
        ctx.term()
        os.close(master)
        sup.board.close()
        sup.instance_lock.release()
    assert not loop.is_alive()
