"""The supervisor loop's wait: its ZeroMQ sockets and plain descriptors in one `poll`.

`zmq.Poller` (libzmq's `zmq_poll`) asks each ZeroMQ socket for its events
(ZMQ_EVENTS: a `getpid` and a `poll` of the socket's mailbox each) before
it sleeps, then polls every descriptor once without waiting, then sleeps,
then asks every socket again: 14 system calls for one quiet wait on three
sockets and a pipe. `ZmqWait.wait` asks each socket once, and only when
none has a message waiting sleeps in one `poll` on the sockets' ZMQ_FD
descriptors and the plain ones: 7.

ZMQ_FD is edge-triggered: it becomes readable when a command reaches the
socket's mailbox (a message arriving on a pipe the socket had found empty),
and reading ZMQ_EVENTS clears it. So a socket whose ZMQ_EVENTS said "nothing"
just before the sleep makes its descriptor readable as soon as something
arrives, as libzmq's own poll relies on; nothing may be sent or received on
the sockets between that check and the sleep (`wait` does both). A socket
whose descriptor woke the wait is reported as ready: it may still hold no
message (the command was another one), and the caller reads it without
blocking, until ZMQ_EVENTS or EAGAIN says it is empty.

Given a `LeasePoll` and its `LeasePlan` (the daemon's), the sleep is
`LeasePoll.poll` (linklayer/leasepoll.py): the same one poll, made in C,
which keeps the supervisor's lease renewed while the loop sleeps (a signal
that interrupts it has its handler run, and the sleep goes on for what is
left). `last` is what ended the latest sleep: a stall, the sequence board's
watched count, when the sleep was last awake.
"""

from __future__ import annotations

import select
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import zmq

from linklayer.leasepoll import LeasePlan, LeasePoll, LeaseWake

if TYPE_CHECKING:
    from typing import TypeAlias

    Waitable: TypeAlias = zmq.Socket[bytes] | int

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_FD = int(zmq.FD)


class ZmqWait:
    """Wait for input on `sockets` (ZeroMQ) and `fds` (plain descriptors)."""

    def __init__(self, sockets: Sequence[zmq.Socket[bytes]], fds: Sequence[int] = (),
                 lease: tuple[LeasePoll, LeasePlan] | None = None) -> None:
        self.sockets = tuple(sockets)
        self.lease = lease
        self.last: LeaseWake | None = None
        """What ended the latest sleep in the lease poll (None: no sleep yet)."""
        self.awake_ns = 0
        """Until when the latest `wait` vouches that the process ran without a
        stall (from its `awake_since_ns`): its end, or the last moment before
        a stall it saw, between its sleeps or inside one."""
        self._poll = select.poll()
        self._by_fd: dict[int, Waitable] = {}
        for sock in self.sockets:
            fd = cast(int, sock.get(_FD))
            self._by_fd[fd] = sock
            self._poll.register(fd, select.POLLIN)
        for fd in fds:
            self._by_fd[fd] = fd
            self._poll.register(fd, select.POLLIN)
        self._fd_order = tuple(self._by_fd)

    def wait(self, timeout_ms: int, awake_since_ns: int | None = None) -> set[Waitable]:
        """What has input (sockets, descriptors), after at most `timeout_ms`
        (not at all when a socket already has a message). With a lease:
        `awake_since_ns`, when the caller last knew it ran (default: now);
        `awake_ns` says until when the wait knows it ran on."""
        ready: set[Waitable] = {s for s in self.sockets if cast(int, s.get(_EVENTS)) & _POLLIN}
        timeout_ms = 0 if ready else max(0, timeout_ms)
        if self.lease is None:
            for fd, _mask in self._poll.poll(timeout_ms):
                ready.add(self._by_fd[fd])
            return ready
        board, plan = self.lease
        end_ns = time.monotonic_ns() + timeout_ms * 1_000_000
        awake = time.monotonic_ns() if awake_since_ns is None else awake_since_ns
        while True:
            wake = board.poll(self._fd_order, timeout_ms, plan)
            self.last = wake
            ready.update(self._by_fd[fd] for fd in wake.ready)
            if wake.started_ns - awake > plan.stall_ns:
                # Stopped before this sleep began: vouch for nothing after.
                self.awake_ns = awake
                return ready
            self.awake_ns = awake = wake.alive_ns
            if not wake.interrupted or wake.stalled:
                return ready
            # A signal: its handler has run by now (and written to the signal
            # pipe, if it has one); sleep on for what is left.
            timeout_ms = max(0, -((time.monotonic_ns() - end_ns) // 1_000_000))
