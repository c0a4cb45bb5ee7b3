"""A link worker when the supervisor rereads its configuration (SIGHUP): new
keys on its key channel (hbeat/ipc/keychannel.py) for what it sends and what
it accepts, and, on `reschedule`, the keepalive schedule read again from the
sequence board.

The rig of tests/workers/test_link_stale_content.py: a real LinkWorker on a
pty pair as its serial line, a real board, a ZeroMQ socket as the supervisor."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import linklayer
from hbeat.ipc.bus import Reschedule, Warm
from hbeat.ipc.keychannel import channel_pair, send_keyring
from linklayer.errors import FrameError
from linklayer.message import STRING, AuthKey, Keyring, Method
from tests.workers.test_link_stale_content import KEYRING, Rig

NEW = Keyring(keys={2: AuthKey(2, Method.SHA1, b"a-new-secret")}, signing_index=2)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def written(rig: Rig) -> list[bytes]:
    data = b""
    while select.select([rig.master], [], [], 0.2)[0]:
        data += os.read(rig.master, 65536)
    return [f + b"<<<\n" for f in data.split(b"<<<\n")[:-1]]


def new_keys(rig: Rig, keyring: Keyring) -> None:
    """What the supervisor's WorkerPool.push_keys does, on a key channel."""
    ours, theirs = channel_pair()
    rig.worker.key_channel = theirs
    try:
        send_keyring(ours, keyring)
        rig.worker.on_key_channel()
    finally:
        ours.close()
        theirs.close()
        rig.worker.key_channel = None


def test_new_keys_sign_the_keepalives_and_the_old_key_is_refused(rig: Rig) -> None:
    new_keys(rig, NEW)
    rig.worker.send_keepalive(0)
    [frame] = written(rig)
    assert linklayer.decode(frame, NEW).get(b"t") == b"status"
    with pytest.raises(FrameError):
        linklayer.decode(frame, KEYRING)

    # From the medium: a frame signed with the old key is not forwarded, one
    # signed with the new key is (how rejections are reported is not this
    # test's business).
    fields = [(b"t", STRING, b"hbeat-test"), (b"src", STRING, b"otter")]
    os.write(rig.master, linklayer.encode_classic(fields, KEYRING))
    os.write(rig.master, linklayer.encode_classic(fields, NEW))
    forwarded: list[bytes] = []
    deadline = time.monotonic() + 5
    while not forwarded and time.monotonic() < deadline:
        if select.select([rig.worker.medium.fileno()], [], [], 0.1)[0]:
            rig.worker.on_medium()
        while rig.supervisor.poll(10):
            parts = rig.supervisor.recv_multipart()
            if parts[0] == b"rx":
                forwarded.append(parts[-1])
    while rig.supervisor.poll(200):  # anything else forwarded would show here
        parts = rig.supervisor.recv_multipart()
        if parts[0] == b"rx":
            forwarded.append(parts[-1])
    assert len(forwarded) == 1, forwarded
    assert linklayer.decode(forwarded[0], NEW).get(b"t") == b"hbeat-test"


def test_the_schedule_is_read_again_from_the_board(rig: Rig) -> None:
    assert rig.worker.schedule.interval_ns == 10**9
    rig.board.reschedule(time.monotonic_ns(), 500_000_000)
    rig.supervisor.send_multipart(Reschedule().encode())
    rig.worker.on_bus()
    view = rig.board.read()
    assert (rig.worker.schedule.t0_ns, rig.worker.schedule.interval_ns) == (
        view.t0_ns, 500_000_000)
    gap = rig.worker.quiet_gap_ns
    rig.supervisor.send_multipart(Reschedule(750).encode())  # the quiet keepalives' gap too
    rig.worker.on_bus()
    assert rig.worker.quiet_gap_ns == 750_000_000 != gap


def test_a_warm_order_changes_nothing(rig: Rig) -> None:
    # The supervisor wakes the worker before a peer's deadline (hbeat/ipc/bus.py,
    # Warm): the worker reads it, and nothing else happens.
    status, schedule = rig.worker.status, rig.worker.schedule
    rig.supervisor.send_multipart(Warm().encode())
    rig.worker.on_bus()
    assert rig.worker.running and rig.worker.status is status
    assert rig.worker.schedule is schedule and not rig.supervisor.poll(100)
