"""What every worker process does first: take its process title, arrange to
die with the supervisor, leave the supervisor's signals to the supervisor,
and greet the supervisor on the worker bus for its setup."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import zmq

from hbeat.ipc.bus import Hello

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)

SUPERVISORS_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
"""A terminal's Ctrl-C or hang-up reaches the whole process group, and `kill
-HUP` may hit the wrong pid: only the supervisor acts on these, and it stops
its workers itself."""


def set_title(name: str) -> None:
    """`hbeat: <name>` in ps and top (setproctitle is optional)."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return
    setproctitle(f"hbeat: {name}")


def die_with_parent() -> bool:
    """SIGTERM when the supervisor dies. False when it already has (before
    the request took effect): the caller should leave at once."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid() != 1


def become_worker(name: str) -> bool:
    """Title, death with the parent, and signals for a worker that holds
    nothing to flush: SIGTERM (from the supervisor, or the parent-death
    signal) ends it at once, since an exception raised at a random point
    (say, inside ZeroMQ's clean-up at exit) could leave the interpreter hung
    in Context.term() until the supervisor kills it; the supervisor's signals
    and SIGPIPE are ignored. False when the parent is already gone."""
    set_title(name)
    if not die_with_parent():
        return False
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for sig in (*SUPERVISORS_SIGNALS, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    return True


Greeted = tuple["zmq.Context[zmq.Socket[bytes]]", "zmq.Socket[bytes]", list[bytes]]


def greet_supervisor(endpoint: str, name: str) -> Greeted | None:
    """Join the worker bus as `name`, say hello and return the supervisor's
    first answer (the worker's setup, not yet decoded) with the context and
    socket. None, the reason on stderr, when no answer comes within 10 s."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    bus = ctx.socket(zmq.DEALER)
    bus.setsockopt(zmq.IDENTITY, name.encode())
    bus.setsockopt(zmq.LINGER, 500)  # bounds the close at exit
    bus.connect(endpoint)
    bus.send_multipart(Hello(os.getpid(), name).encode())
    if not bus.poll(10_000):
        print(f"ERROR: {name}: no setup from the supervisor within 10 s", file=sys.stderr)
        bus.close(linger=0)
        ctx.term()
        return None
    return ctx, bus, bus.recv_multipart()
