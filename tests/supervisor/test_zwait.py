"""supervisor.zwait: the loop's one `poll` on its ZeroMQ sockets' ZMQ_FD and
plain descriptors wakes for every message, whenever it arrives, with real
sockets (ROUTER/DEALER over ipc, as the bus is) and a real pipe; each test
runs with the plain `select.poll` sleep and with the daemon's, the lease
poll of a real sequence board (linklayer/leasepoll.py), which also renews
the lease while it sleeps."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from hbeat.ipc.bus import drain
from hbeat.ipc.seqboard import COUNT_AT, LEASE_AT, MAGIC, SENT_RING, SIZE, SeqBoard
from linklayer.leasepoll import LeasePlan, LeasePoll
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


MakeWait = Callable[..., ZmqWait]


@pytest.fixture(params=["plain", "lease"])
def make_wait(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeWait]:
    """ZmqWait(sockets, fds) with the plain sleep, or the daemon's lease poll on a
    real sequence board (a lease of 1 s renewed every 100 ms)."""
    if request.param == "plain":
        yield ZmqWait
        return
    seq = SeqBoard.create(tmp_path / "seqboard", t0_ns=time.monotonic_ns(),
                          interval_ns=1_000_000_000, generation=1)
    lease = LeasePoll(seq.path, size=SIZE, magic=MAGIC, lease_at=LEASE_AT, count_at=COUNT_AT)
    plan = LeasePlan(lease_ns=1_000_000_000, every_ns=100_000_000,
                     count_at_least=SENT_RING // 2, stall_ns=1_000_000_000)

    def make(sockets: list[Sock], fds: tuple[int, ...] = ()) -> ZmqWait:
        return ZmqWait(sockets, fds, lease=(lease, plan))

    yield make
    lease.close()
    seq.close()


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


def test_nothing_waiting_times_out_empty(pair: Pair, make_wait: MakeWait) -> None:
    router, dealer = pair
    wait = make_wait([router])
    _first(router, dealer, wait)
    assert wait.wait(30) == set()


def test_a_message_already_waiting_ends_the_wait_at_once(pair: Pair, make_wait: MakeWait) -> None:
    router, dealer = pair
    wait = make_wait([router])
    _first(router, dealer, wait)
    dealer.send(b"m")
    deadline = time.monotonic() + 10
    while not _queued(router) and time.monotonic() < deadline:
        time.sleep(0.001)  # until it is queued at the router
    assert wait.wait(LONG_MS) == {router}
    assert list(drain(router)) == [[b"w", b"m"]]


def test_messages_arriving_during_the_wait_and_between_sends_all_wake_it(
        pair: Pair, make_wait: MakeWait) -> None:
    """A peer sends 300 messages at random moments while the loop waits,
    drains and answers each (a send on the socket between the waits): no
    wait may end empty while a message is on its way (a lost wake-up would
    sleep the whole LONG_MS and then return nothing)."""
    router, dealer = pair
    wait = make_wait([router])
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


def test_a_plain_descriptor_wakes_it(pair: Pair, make_wait: MakeWait) -> None:
    router, dealer = pair
    rfd, wfd = os.pipe()
    try:
        wait = make_wait([router], (rfd,))
        _first(router, dealer, wait)
        threading.Timer(0.05, lambda: os.write(wfd, b"x")).start()
        assert wait.wait(LONG_MS) == {rfd}
    finally:
        os.close(rfd)
        os.close(wfd)


def test_the_lease_is_renewed_while_it_sleeps_and_a_signal_does_not_end_it(
        pair: Pair, tmp_path: Path) -> None:
    router, dealer = pair
    seq = SeqBoard.create(tmp_path / "seqboard", t0_ns=time.monotonic_ns(),
                          interval_ns=1_000_000_000, generation=1)
    lease = LeasePoll(seq.path, size=SIZE, magic=MAGIC, lease_at=LEASE_AT, count_at=COUNT_AT)
    plan = LeasePlan(lease_ns=300_000_000, every_ns=50_000_000, stall_ns=300_000_000)
    old = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        wait = ZmqWait([router], (), lease=(lease, plan))
        _first(router, dealer, wait)
        main = threading.get_ident()
        threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGUSR1)).start()
        t0 = time.monotonic()
        t0_ns = time.monotonic_ns()
        assert wait.wait(400) == set()
        assert time.monotonic() - t0 >= 0.39  # the signal did not end it
        assert wait.last is not None and wait.last.timeout and not wait.last.stalled
        assert seq.read().lease_ns > time.monotonic_ns() + 200_000_000  # renewed late on
        assert plan.next_renew_ns >= t0_ns + 350_000_000  # moved on by each renewal
    finally:
        signal.signal(signal.SIGUSR1, old)
        lease.close()
        seq.close()


def test_a_stall_before_or_inside_the_sleep_is_not_vouched_for(pair: Pair,
                                                                tmp_path: Path) -> None:
    # The daemon advances its last turn to `awake_ns`: a stop of the process
    # after the caller last noted a turn, whether before the sleep began or
    # inside it, must leave `awake_ns` before the stop.
    router, dealer = pair
    seq = SeqBoard.create(tmp_path / "seqboard", t0_ns=time.monotonic_ns(),
                          interval_ns=1_000_000_000, generation=1)
    lease = LeasePoll(seq.path, size=SIZE, magic=MAGIC, lease_at=LEASE_AT, count_at=COUNT_AT)
    plan = LeasePlan(lease_ns=300_000_000, every_ns=50_000_000, stall_ns=200_000_000)
    try:
        wait = ZmqWait([router], (), lease=(lease, plan))
        _first(router, dealer, wait)
        noted = time.monotonic_ns()
        assert wait.wait(30, noted) == set()
        assert wait.awake_ns >= noted + 29_000_000  # a plain sleep: vouched to its end
        noted = time.monotonic_ns() - 500_000_000  # as if stopped 500 ms since
        wait.wait(30, noted)
        assert wait.awake_ns == noted
        assert wait.last is not None and not wait.last.stalled
    finally:
        lease.close()
        seq.close()
