"""Starting a worker by forking the supervisor instead of a new interpreter.

A worker started as `python -m workers.link ...` is a fresh interpreter that
imports ZeroMQ, the codec and the bus definitions again: 12-15 MiB of private
memory per process. Forked from the supervisor, which has already imported
them (`prewarm`), it shares those pages with the supervisor copy-on-write
and owns only what it writes afterwards. `gc.freeze()` in the child, at
once after the fork, keeps its garbage collector from writing into the
inherited objects (which would copy their pages); the supervisor freezes
its own start-up objects once, before its first fork
(`freeze_startup_objects`), so that its own full collections do not copy
the pages it shares with its workers either; and it takes the free slots
of its object pools (`supervisor/poolfill.py`), so the child's first
objects do not land one per shared page, and gives the kernel back the free
pages of its malloc heap (`hbeat.addrspace.release_free_heap`). docs/processes.md ("Memory") has
the figures and the trade-offs.

The child is made to look like the fresh interpreter it replaces: every
descriptor but 0-2 and `pass_fds` closed (the supervisor's sockets, its
watchdog device and its lock stay with the supervisor), signal handlers and
mask as a new Python process has them, fresh stdout/stderr objects (a lock
held by another supervisor thread at the fork would otherwise be held for
ever), then `<module>.main(argv)`; it never returns into the supervisor's
code and leaves through `os._exit`, so no finalizer of the supervisor's
objects runs in it. The worker sets its own process title and
parent-death signal, as before.

`ForkedProcess` answers the few `subprocess.Popen` calls the worker pool
makes (`pid`, `poll`, `returncode`, `send_signal`, `wait`, `kill`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from hbeat.addrspace import release_free_heap
from supervisor import poolfill

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

# What a fresh interpreter has: SIGINT raises KeyboardInterrupt, SIGPIPE is
# ignored (Python sets that up at start), everything else the default.
_FRESH: dict[int, Handler] = {signal.SIGINT: signal.default_int_handler,
                              signal.SIGPIPE: signal.SIG_IGN}


_startup_frozen = False


def freeze_startup_objects() -> None:
    """Once, before the first fork: move every object the supervisor holds
    (its modules, classes, functions, configuration) out of its own garbage
    collector for good (`gc.freeze()`). A full collection writes into every
    tracked object's header; in the supervisor that copied every page it
    shares with its workers. The price: a reference cycle among these
    objects that later becomes garbage is never freed (freed by reference
    counting otherwise, as any object); they are the start-up state, made
    once."""
    global _startup_frozen
    if not _startup_frozen:
        gc.collect()  # what is garbage now is freed, not frozen
        gc.freeze()
        _startup_frozen = True


def prewarm(module: str) -> None:
    """Import `module` here, in the supervisor, so forked workers share its pages."""
    importlib.import_module(module)


class ForkedProcess:
    """A worker forked from this process (see the module docstring)."""

    def __init__(self, module: str, argv: Sequence[str], *, pass_fds: Sequence[int] = (),
                 env: dict[str, str] | None = None) -> None:
        self.args = [module, *argv]
        self.returncode: int | None = None
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()  # or the child would write it a second time
        freeze_startup_objects()
        poolfill.fill()  # the child's first objects go to empty pools
        release_free_heap()  # free pages are not inherited resident
        enabled = gc.isenabled()
        gc.disable()  # no collection between the fork and the child's freeze
        try:
            pid = os.fork()
            if pid == 0:
                gc.freeze()  # O(1): the inherited objects leave the child's collector
        finally:
            if enabled:
                gc.enable()
        if pid == 0:
            _child(module, list(argv), set(pass_fds), env)
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1  # reaped elsewhere: gone, status unknown
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"worker {self.pid} still running after {timeout} s")
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _child(module: str, argv: list[str], keep: set[int], env: dict[str, str] | None
           ) -> NoReturn:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in signal.valid_signals():
            if sig in (signal.SIGKILL, signal.SIGSTOP):
                continue
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, _FRESH.get(sig, signal.SIG_DFL))
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        low = 3
        for fd in [*sorted(keep), os.sysconf("SC_OPEN_MAX")]:
            os.closerange(low, fd)
            low = fd + 1
        for fd, name in ((1, "stdout"), (2, "stderr")):
            try:
                stream = open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115
            except OSError:  # closed in the supervisor: None, as a new interpreter has it
                stream = None
            setattr(sys, name, stream)
        if env is not None and env != dict(os.environ):
            os.environ.clear()
            os.environ.update(env)
        main = importlib.import_module(module).main
        result = main(argv)
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            for out in (sys.stdout, sys.stderr):
                if out is not None:
                    out.flush()
        finally:
            os._exit(code)
