"""How a link worker waits for its tick (`LinkWorker.wait_step`): two waits
(to PRECISE_NS, then to SPIN_NS before it) when nothing comes; the bus served in the last
PRECISE_NS too (the `stonith` frame of a peer whose deadline fell just before
our tick goes out at once), one order at a time, and none once the tick is
within SERVE_GUARD_NS, so a keepalive is never delayed by the bus; the medium
waits in the last PRECISE_NS.

A real LinkWorker on a pty pair (tests/workers/test_link_stale_content.py's
rig), a real sequence board and a real ZeroMQ socket as the supervisor."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

import linklayer
from hbeat.ipc.bus import Send, Stop
from linklayer.message import STRING
from tests.workers.test_link_stale_content import KEYRING, Rig
from workers.link import PRECISE_NS, SERVE_GUARD_NS, SPIN_NS


def stonith_frame(node: bytes) -> bytes:
    return linklayer.encode_classic(
        [(b"t", STRING, b"stonith"), (b"node", STRING, node), (b"result", STRING, b"n_stnth")],
        KEYRING)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def wait_queued(rig: Rig) -> None:
    """Until the worker's end of the bus holds the message (inproc is quick)."""
    assert rig.worker.bus.poll(2000, zmq.POLLIN)


def test_an_order_before_the_tick_is_carried_out_at_once(rig: Rig) -> None:
    rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
    rig.supervisor.send_multipart(Send(stonith_frame(b"mink")).encode())
    wait_queued(rig)
    due = time.monotonic_ns() + PRECISE_NS - SERVE_GUARD_NS // 2
    assert due - time.monotonic_ns() > SERVE_GUARD_NS
    assert rig.worker.wait_step(due)  # one order served
    assert [f[b"node"] for f in rig.frames_written()] == [b"otter"]
    due = time.monotonic_ns() + PRECISE_NS - SERVE_GUARD_NS // 2
    assert rig.worker.wait_step(due)  # the next one
    assert [f[b"node"] for f in rig.frames_written()] == [b"mink"]


def test_far_from_the_tick_every_queued_order_is_carried_out(rig: Rig) -> None:
    rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
    rig.supervisor.send_multipart(Send(stonith_frame(b"mink")).encode())
    wait_queued(rig)
    assert rig.worker.wait_step(time.monotonic_ns() + 200_000_000)
    assert [f[b"node"] for f in rig.frames_written()] == [b"otter", b"mink"]


def test_no_order_is_taken_within_the_guard_before_the_tick(rig: Rig) -> None:
    rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
    wait_queued(rig)
    due = time.monotonic_ns() + SERVE_GUARD_NS // 3
    while rig.worker.wait_step(due):  # sleeps to SPIN_NS before the tick
        pass
    assert time.monotonic_ns() >= due - SPIN_NS
    assert rig.frames_written() == []
    # Still queued: served by the loop after the keepalive.
    rig.worker.on_bus()
    assert [f[b"node"] for f in rig.frames_written()] == [b"otter"]


def test_with_nothing_coming_two_waits_last_until_the_spin(rig: Rig) -> None:
    due = time.monotonic_ns() + 50_000_000
    assert rig.worker.wait_step(due)  # the long wait: nothing came
    assert time.monotonic_ns() >= due - PRECISE_NS
    assert rig.worker.wait_step(due)  # the short one
    assert time.monotonic_ns() >= due - SPIN_NS
    assert not rig.worker.wait_step(due)  # only the busy wait is left
    assert rig.frames_written() == []


def test_an_order_wakes_the_wait_and_is_carried_out(rig: Rig) -> None:
    due = time.monotonic_ns() + 2_000_000_000
    rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
    started = time.monotonic_ns()
    written: list[dict[bytes, bytes]] = []
    while not written:
        assert rig.worker.wait_step(due)
        written = rig.frames_written()
    assert time.monotonic_ns() - started < 1_000_000_000  # not at the tick
    assert [f[b"node"] for f in written] == [b"otter"]


def test_a_stop_order_ends_the_worker(rig: Rig) -> None:
    rig.supervisor.send_multipart(Stop().encode())
    wait_queued(rig)
    assert rig.worker.wait_step(time.monotonic_ns() + 100_000_000)
    assert not rig.worker.running


def peer_status(seq: int) -> bytes:
    return linklayer.encode_classic(
        [(b"t", STRING, b"status"), (b"st", STRING, b"active"), (b"src", STRING, b"weasel"),
         (b"seq", STRING, b"%x" % seq), (b"hg", STRING, b"1"), (b"ts", STRING, b"1")],
        KEYRING)


def received(rig: Rig) -> list[bytes]:
    """The verbs of what the worker forwarded to the supervisor."""
    verbs = []
    while rig.supervisor.poll(50):
        verbs.append(rig.supervisor.recv_multipart()[0])
    return [v for v in verbs if v == b"rx"]


def test_a_frame_on_the_medium_is_received_during_the_wait(rig: Rig) -> None:
    due = time.monotonic_ns() + 2_000_000_000
    os.write(rig.master, peer_status(1))
    started = time.monotonic_ns()
    while rig.worker.wait_step(due) and time.monotonic_ns() - started < 1_000_000_000:
        if rig.supervisor.poll(0):
            break
    assert received(rig) == [b"rx"]


def test_within_the_precise_stage_the_medium_waits_for_the_tick(rig: Rig) -> None:
    os.write(rig.master, peer_status(1))
    time.sleep(0.05)  # in the worker's tty buffer
    due = time.monotonic_ns() + PRECISE_NS // 2
    while rig.worker.wait_step(due):
        pass
    assert received(rig) == []
    rig.worker.on_medium()  # after the keepalive
    assert received(rig) == [b"rx"]
