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
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import zmq

if TYPE_CHECKING:
    from typing import TypeAlias

    Waitable: TypeAlias = zmq.Socket[bytes] | int

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_FD = int(zmq.FD)


class ZmqWait:
    """Wait for input on `sockets` (ZeroMQ) and `fds` (plain descriptors)."""

    def __init__(self, sockets: Sequence[zmq.Socket[bytes]], fds: Sequence[int] = ()) -> None:
        self.sockets = tuple(sockets)
        self._poll = select.poll()
        self._by_fd: dict[int, Waitable] = {}
        for sock in self.sockets:
            fd = cast(int, sock.get(_FD))
            self._by_fd[fd] = sock
            self._poll.register(fd, select.POLLIN)
        for fd in fds:
            self._by_fd[fd] = fd
            self._poll.register(fd, select.POLLIN)

    def wait(self, timeout_ms: int, ask: Sequence[zmq.Socket[bytes]] | None = None
             ) -> set[Waitable]:
        """What has input (sockets, descriptors), after at most `timeout_ms`
        (not at all when a socket already has a message). `ask`: the sockets
        whose ZMQ_EVENTS are read first (default all). A socket may be left
        out only when the last wait asked it and found nothing, and nothing
        was sent or received on it since: its descriptor is then armed."""
        sockets = self.sockets if ask is None else ask
        ready: set[Waitable] = {s for s in sockets if cast(int, s.get(_EVENTS)) & _POLLIN}
        for fd, _mask in self._poll.poll(0 if ready else max(0, timeout_ms)):
            ready.add(self._by_fd[fd])
        return ready
