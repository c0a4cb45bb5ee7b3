"""A link worker serves its bus in the last PRECISE_NS before a tick
(`LinkWorker.serve_precise`): an order the supervisor hands it then (the
`stonith` frame of a peer whose deadline fell just before our tick) goes out
at once, one order at a time, and none is taken once the tick is within
SERVE_GUARD_NS, so a keepalive is never delayed by the bus.

A real LinkWorker on a pty pair (tests/workers/test_link_stale_content.py's
rig), a real sequence board and a real ZeroMQ socket as the supervisor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

import linklayer
from hbeat.ipc.bus import Send, Stop
from linklayer.message import STRING
from tests.workers.test_link_stale_content import KEYRING, Rig
from workers.link import SERVE_GUARD_NS


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
    due = time.monotonic_ns() + 10 * SERVE_GUARD_NS + 200_000_000
    assert rig.worker.serve_precise(due)  # one order served
    assert [f[b"node"] for f in rig.frames_written()] == [b"otter"]
    assert rig.worker.serve_precise(due)  # the next one
    assert [f[b"node"] for f in rig.frames_written()] == [b"mink"]


def test_no_order_is_taken_within_the_guard_before_the_tick(rig: Rig) -> None:
    rig.supervisor.send_multipart(Send(stonith_frame(b"otter")).encode())
    wait_queued(rig)
    due = time.monotonic_ns() + SERVE_GUARD_NS // 3
    assert not rig.worker.serve_precise(due)
    assert rig.frames_written() == []
    # Still queued: served by the loop after the keepalive.
    rig.worker.on_bus()
    assert [f[b"node"] for f in rig.frames_written()] == [b"otter"]


def test_with_nothing_queued_it_waits_for_the_bus_until_the_guard(rig: Rig) -> None:
    due = time.monotonic_ns() + SERVE_GUARD_NS + 20_000_000
    while rig.worker.serve_precise(due):  # wakes at the guard (or when the bus stirs)
        pass
    assert time.monotonic_ns() >= due - SERVE_GUARD_NS
    assert rig.frames_written() == []


def test_a_stop_order_ends_the_worker(rig: Rig) -> None:
    rig.supervisor.send_multipart(Stop().encode())
    wait_queued(rig)
    assert rig.worker.serve_precise(time.monotonic_ns() + 100_000_000)
    assert not rig.worker.running
