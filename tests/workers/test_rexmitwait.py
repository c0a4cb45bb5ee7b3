"""workers.rexmitwait: a retransmission asked for passes the replay filter once,
within its wait; everything else stays a replay. The pure part, then a real
LinkWorker on a pty: the frame it forwarded, sent again, is refused until the
supervisor has it send an `NS_rexmit` for it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import zmq

import linklayer
from hbeat.ipc.bus import LinkSetup, MediumSpec, Rx, Send, decode_link_report
from hbeat.ipc.seqboard import SeqBoard
from supervisor.messages import rexmit_fields
from tests.workers.test_link_reports import CONTENT, KEYRING
from workers.link import LinkWorker
from workers.rexmitwait import MAX_RANGE, MAX_WAITING, WAIT_NS, RexmitWait

S = 0  # field type: string


def fields(**kw: str) -> list[tuple[bytes, int, bytes]]:
    return [(k.encode(), S, v.encode()) for k, v in kw.items()]


def request(dest: str, first: int, last: int) -> list[tuple[bytes, int, bytes]]:
    return fields(t="NS_rexmit", dest=dest, firstseq=str(first), lastseq=str(last))


def test_an_answer_passes_once_within_its_wait() -> None:
    wait = RexmitWait()
    assert not wait and not wait.answer(fields(src="otter", seq="99"), 0)
    assert wait.asked(request("otter", 0x98, 0x9a), 1_000)
    assert len(wait) == 3
    assert wait.answer(fields(t="ip-request", src="otter", seq="99"), 2_000)
    assert not wait.answer(fields(src="otter", seq="99"), 2_000)  # once
    assert not wait.answer(fields(src="ferret", seq="98"), 2_000)  # another sender's
    assert not wait.answer(fields(src="otter", seq="9b"), 2_000)  # not asked for
    assert wait.answer(fields(src="otter", seq="98"), 1_000 + WAIT_NS - 1)
    assert not wait.answer(fields(src="otter", seq="9a"), 1_000 + WAIT_NS)  # too late
    assert not wait


def test_asking_again_renews_the_wait() -> None:
    wait = RexmitWait()
    wait.asked(request("otter", 5, 5), 0)
    wait.asked(request("otter", 5, 5), WAIT_NS // 2)
    assert wait.answer(fields(src="otter", seq="5"), WAIT_NS)


def test_only_rexmit_requests_count_and_bad_ones_are_ignored() -> None:
    wait = RexmitWait()
    assert not wait.asked(fields(t="NS_ackmsg", dest="otter", ackseq="5"), 0)
    assert not wait.asked(fields(t="NS_rexmit", firstseq="5"), 0)  # to no one
    assert not wait.asked(fields(t="NS_rexmit", dest="otter", firstseq="x5"), 0)
    assert wait.asked(fields(t="NS_rexmit", dest="otter", firstseq="7"), 0)  # one seq
    assert len(wait) == 1
    assert not wait.answer(fields(src="otter", seq="zz"), 0)
    assert not wait.answer(fields(src="otter"), 0)
    assert wait.answer(fields(src="otter", seq="7"), 0)


def test_what_waits_is_bounded() -> None:
    wait = RexmitWait()
    wait.asked(request("otter", 1, 10**9), 0)  # a range cut to MAX_RANGE
    assert len(wait) == MAX_RANGE
    for n in range(MAX_WAITING // MAX_RANGE + 1):
        wait.asked(request(f"peer{n}", 1, MAX_RANGE), 1)
    assert len(wait) == MAX_WAITING
    assert not wait.answer(fields(src="otter", seq="1"), 1)  # the oldest went first
    assert wait.answer(fields(src=f"peer{MAX_WAITING // MAX_RANGE}", seq="1"), 1)


def test_a_link_worker_lets_the_answer_to_its_request_through(tmp_path: Path) -> None:
    SeqBoard.create(tmp_path / "seqboard", t0_ns=0, interval_ns=10**9, generation=7,
                    lease_ns=2**62).close()
    ctx = zmq.Context()
    sup, bus = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    sup.bind("inproc://rexmit")
    bus.connect("inproc://rexmit")
    master, slave = os.openpty()
    worker = LinkWorker("serial tty", bus, LinkSetup(
        medium=MediumSpec("serial", "serial tty", os.ttyname(slave), baud=19200),
        board=str(tmp_path / "seqboard"), status=CONTENT), KEYRING)
    os.close(slave)
    message = linklayer.encode_classic(
        fields(t="ip-request", src="otter", seq="99", hg="7", ts=format(int(time.time()), "x")),
        KEYRING)

    def forwarded() -> int:
        """Write the message on the line again; how many frames the worker forwarded."""
        os.write(master, message)
        time.sleep(0.05)
        worker.on_medium()
        n = 0
        while sup.poll(0):
            report = decode_link_report(sup.recv_multipart())
            if isinstance(report, Rx):
                assert report.frame == message
                n += 1
        return n

    try:
        assert forwarded() == 1
        assert forwarded() == 0  # a replay
        sup.send_multipart(Send(linklayer.encode_classic(request("otter", 0x99, 0x99), KEYRING),
                                0).encode())
        time.sleep(0.05)
        worker.on_bus()  # writes the request on the line and waits for the answer
        assert len(worker.rexmits) == 1
        assert forwarded() == 1  # the answer
        assert forwarded() == 0  # and a replay again
    finally:
        worker.ticker.close()
        worker.medium.close()
        worker.board.close()
        sup.close(linger=0)
        bus.close(linger=0)
        ctx.term()
        os.close(master)
