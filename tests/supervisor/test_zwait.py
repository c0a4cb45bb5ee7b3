"""supervisor.zwait: the loop's one `poll` on its ZeroMQ sockets' ZMQ_FD and
plain descriptors wakes for every message, whenever it arrives, with real
sockets (ROUTER/DEALER over ipc, as the bus is) and a real pipe."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from hbeat.ipc.bus import drain
from supervisor.zwait import ZmqWait

LONG_MS = 20_000  # a wait that must end because something came in, long before this
Sock = zmq.Socket[bytes]
Pair = tuple[Sock, Sock]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    ctx: zmq.Context[Sock] = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"ipc://{tmp_path}/bus")
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"w")
    dealer.connect(f"ipc://{tmp_path}/bus")
    yield router, dealer
    router.close(0)
    dealer.close(0)
    ctx.term()


def _queued(sock: Sock) -> bool:
    return bool(int(sock.get(zmq.EVENTS)) & int(zmq.POLLIN))


def _first(router: Sock, dealer: Sock, wait: ZmqWait) -> None:
    """Connect: the first message (after the handshake) comes through."""
    dealer.send(b"hello")
    got: list[list[bytes]] = []
    while not got:
        wait.wait(LONG_MS)
        got += drain(router)
    assert got == [[b"w", b"hello"]]


def test_nothing_waiting_times_out_empty(pair: Pair) -> None:
    router, dealer = pair
    wait = ZmqWait([router])
    _first(router, dealer, wait)
    assert wait.wait(30) == set()


def test_a_message_already_waiting_ends_the_wait_at_once(pair: Pair) -> None:
    router, dealer = pair
    wait = ZmqWait([router])
    _first(router, dealer, wait)
    dealer.send(b"m")
    deadline = time.monotonic() + 10
    while not _queued(router) and time.monotonic() < deadline:
        time.sleep(0.001)  # until it is queued at the router
    assert wait.wait(LONG_MS) == {router}
    assert list(drain(router)) == [[b"w", b"m"]]


def test_messages_arriving_during_the_wait_and_between_sends_all_wake_it(pair: Pair) -> None:
    """A peer sends 300 messages at random moments while the loop waits,
    drains and answers each (a send on the socket between the waits): no
    wait may end empty while a message is on its way (a lost wake-up would
    sleep the whole LONG_MS and then return nothing)."""
    router, dealer = pair
    wait = ZmqWait([router])
    _first(router, dealer, wait)
    rng = random.Random(5)
    n = 300

    def sender() -> None:
        for i in range(n):
            time.sleep(rng.choice((0, 0, 0.0002, 0.001, 0.003)))
            dealer.send(b"%d" % i)

    thread = threading.Thread(target=sender)
    thread.start()
    got: list[bytes] = []
    empty = 0
    while len(got) < n:
        if not wait.wait(LONG_MS):
            empty += 1
            break
        for parts in drain(router):
            got.append(parts[1])
            router.send_multipart([b"w", b"ack"])  # a send between the waits
    thread.join()
    assert empty == 0
    assert got == [b"%d" % i for i in range(n)]


def test_a_plain_descriptor_wakes_it(pair: Pair) -> None:
    router, dealer = pair
    rfd, wfd = os.pipe()
    try:
        wait = ZmqWait([router], [rfd])
        _first(router, dealer, wait)
        threading.Timer(0.05, lambda: os.write(wfd, b"x")).start()
        assert wait.wait(LONG_MS) == {rfd}
    finally:
        os.close(rfd)
        os.close(wfd)


def test_a_socket_left_unasked_still_wakes_the_wait(pair: Pair) -> None:
    # The lean turn asks only the bus: another socket, asked by the wait
    # before and untouched since, wakes it through its armed descriptor.
    router, dealer = pair
    ctx = router.context
    other = ctx.socket(zmq.PAIR)
    other.bind("inproc://other")
    peer = ctx.socket(zmq.PAIR)
    peer.connect("inproc://other")
    try:
        wait = ZmqWait([router, other])
        _first(router, dealer, wait)
        assert wait.wait(0) == set()  # asks both: both armed
        threading.Timer(0.2, peer.send, (b"x",)).start()
        assert wait.wait(LONG_MS, (router,)) == {other}
        assert other.recv() == b"x"
    finally:
        other.close(0)
        peer.close(0)
