"""The supervisor's signals: caught as flags, acted on by the loop.

A handler only notes the signal; the wake-up pipe (`signal.set_wakeup_fd`)
makes the supervisor's poll return at once, and the loop calls `process()`,
which does the work outside any handler:

* HUP (`systemctl reload hbeat`, whose ExecReload is `kill -HUP $MAINPID`):
  reread ha.cf, haresources and authkeys. A configuration with an error
  (what `hbeat check` reports) is refused: its errors are logged and the
  running one is kept. Otherwise `supervisor.reload.plan_reload` says what
  changed; live changes are applied (keys reach the link workers on their
  key channels, a new keepalive interval through the sequence board and a
  `reschedule` bus message, timers reach membership, logging the log sink
  and the executor), and a change that needs a restart
  is named in a WARN and nothing is applied. Resources are never given up.
* USR1 / USR2: raise / lower the debug level (`debug now set to N`), for
  the supervisor's log and the resource scripts' `HA_debug`.
* TERM and INT: the graceful stop (the supervisor's `stop` handler). heartbeat ignores
  INT; hbeat stops on it so that Ctrl-C stops `hbeat run` in a terminal
  (README, "Signals"). PIPE is ignored.
* CHLD: a child ended; `take_child_exit()` says so once, and the loop then
  reaps its workers (`WorkerPool.poll`) instead of asking each one with a
  `waitpid` on every turn (docs/processes.md, "Fewer wake-ups").

The link workers and the executor ignore INT, HUP, USR1 and USR2 (a
terminal's Ctrl-C or hang-up reaches the whole process group): only the
supervisor decides.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

import zmq

from hbeat.config.load import inspect_config
from hbeat.config.model import ClusterConfig, Medium, Problem
from hbeat.config.model import Level as ProblemLevel
from hbeat.ipc.bus import Reschedule
from hbeat.ipc.seqboard import SeqBoard
from hbeat.logfmt import Level
from hbeat.sdnotify import Notifier
from supervisor.executorlink import ExecutorLink
from supervisor.logsink import LogSink
from supervisor.membership import Action, Membership
from supervisor.quietlinks import quiet_gap_ms
from supervisor.reload import ReloadPlan, debug_level, plan_reload
from supervisor.workerpool import WorkerPool


class Host(Protocol):
    """What the signals need of the supervisor (supervisor.daemon implements
    it; this module does not import it)."""

    config: ClusterConfig
    node: str
    log_sink: LogSink
    executor: ExecutorLink
    membership: Membership
    board: SeqBoard
    bus: zmq.Socket[bytes]
    workers_by_name: dict[str, Medium]
    pool: WorkerPool
    notifier: Notifier
    ready_sent: bool
    shutdown_started: bool

    def log(self, level: Level, text: str) -> None: ...

    def apply(self, actions: list[Action]) -> None: ...

    def retime(self, keepalive_ms: int, deadtime_ms: int) -> None: ...


StopHandler = Callable[[int, FrameType | None], Any]


CAUGHT = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class Signals:
    """Installs the handlers and the wake-up pipe; `process()` acts on what came."""

    def __init__(self, sup: Host, stop: StopHandler) -> None:
        self.sup = sup
        self.pending: list[int] = []
        self.rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wfd = wfd
        self._reader: threading.Thread | None = None
        self._read: tuple[ClusterConfig | None, list[Problem]] | BaseException | None = None
        self._again = False
        self._notify = False
        self.child_exited = True  # nothing reaped yet: the first turn looks
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        for sig in CAUGHT:
            signal.signal(sig, self._note)
        signal.signal(signal.SIGCHLD, self._child)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.pending.append(signum)  # nothing else in a handler

    def _child(self, _signum: int, _frame: FrameType | None) -> None:
        self.child_exited = True  # the wake-up pipe ends the loop's poll

    def take_child_exit(self) -> bool:
        """Whether a child ended (SIGCHLD) since the last call. A child that
        ends after this call raises the flag again: a reaping that follows the
        call finds every child that ended before it."""
        taken, self.child_exited = self.child_exited, False
        return taken

    def drain(self) -> None:
        """Empty the wake-up pipe (the loop polls it)."""
        while True:
            try:
                if not os.read(self.rfd, 256):
                    return
            except BlockingIOError:
                return

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        os.close(self.rfd)
        os.close(self._wfd)

    def process(self) -> None:
        """Act on the signals noted since the last call, in arrival order,
        and on a finished reread."""
        self._reread_done()
        if not self.pending:
            return
        taken, self.pending = self.pending, []
        for signum in taken:
            if signum == signal.SIGHUP and self.sup.shutdown_started:
                self.sup.log(Level.INFO, "Signal HUP during shutdown: configuration not "
                                         "reread.")
            elif signum == signal.SIGHUP:
                self.reload()
            elif signum in (signal.SIGUSR1, signal.SIGUSR2):
                self.debug(signum == signal.SIGUSR1)

    # --- USR1 / USR2 ----------------------------------------------------------

    def debug(self, up: bool) -> None:
        sup = self.sup
        sup.log_sink.debug = debug_level(sup.log_sink.debug, up)
        sup.executor.set_logging(sup.config.logging, sup.log_sink.debug)
        sup.log(Level.INFO, f"debug now set to {sup.log_sink.debug} [pid {os.getpid()}]")

    # --- HUP ------------------------------------------------------------------

    def reload(self) -> None:
        """Start rereading the files on a thread: the checks may run commands
        (`stonith -L`, up to 20 s) and the loop must go on renewing the lease
        meanwhile. `process()` applies the result when the thread is done (it
        wakes the loop through the wake-up pipe). A HUP during a reread is
        one more reread after it. systemd hears RELOADING=1 before and
        READY=1 after (once the daemon was ready at all)."""
        if self._reader is not None:
            self._again = True
            return
        sup = self.sup
        self._notify = sup.ready_sent
        if self._notify:
            sup.notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}",
                                "STATUS=Rereading the configuration.")
        sup.log(Level.INFO, f"Signal HUP: rereading the configuration in "
                            f"{sup.config.config_dir}.")
        config_dir, node = sup.config.config_dir, sup.node

        def read() -> None:
            try:
                self._read = inspect_config(config_dir, node)
            except Exception as exc:  # reported by the loop
                self._read = exc
            os.write(self._wfd, b"\0")

        self._reader = threading.Thread(target=read, name="config reread", daemon=True)
        self._reader.start()

    def _reread_done(self) -> None:
        if self._reader is None or self._reader.is_alive():
            return
        self._reader = None
        result, self._read = self._read, None
        try:
            if isinstance(result, BaseException) or result is None:
                raise RuntimeError(repr(result))
            self._reload(*result)
        except Exception as exc:  # a bug must not take the cluster down
            self.sup.log(Level.ERROR, f"Rereading the configuration failed: {exc}; "
                                      "running configuration kept.")
        finally:
            if self._notify:
                self.sup.notifier.ready("Configuration reread.")
        if self._again:
            self._again = False
            self.reload()

    def _reload(self, config: ClusterConfig | None, problems: list[Problem]) -> None:
        sup = self.sup
        if config is None:
            errors = sum(1 for p in problems if p.level is ProblemLevel.ERROR)
            for problem in problems:  # as `hbeat check` prints them
                sup.log(Level.ERROR if problem.level is ProblemLevel.ERROR else Level.WARN,
                        str(problem))
            sup.log(Level.ERROR, f"Configuration error ({errors} "
                                 f"error{'' if errors == 1 else 's'}, see `hbeat check`): "
                                 "new configuration refused, running configuration kept.")
            return
        plan = plan_reload(sup.config, config)
        if plan.apply:
            for problem in problems:
                sup.log(Level.WARN, str(problem))
        for level, text in plan.lines:
            sup.log(level, text)
        if plan.apply:
            self.apply(config, plan)

    def apply(self, config: ClusterConfig, plan: ReloadPlan) -> None:
        """Switch the running configuration to `config` (plan.apply is True:
        only live-applicable directives differ)."""
        sup = self.sup
        t = config.timers
        # Membership first: it refuses timers it cannot run (ValueError)
        # before anything has changed.
        retimed = sup.membership.retime(t.keepalive_ms, t.deadtime_ms, t.warntime_ms,
                                        t.initdead_ms, time.monotonic_ns() // 1_000_000)
        sup.config = config
        if plan.logging:
            level = config.logging.debug if "debug" in plan.logging else sup.log_sink.debug
            sup.log_sink.reconfigure(config.logging)
            sup.log_sink.debug = level
        sup.executor.config = config
        sup.executor.set_logging(config.logging, sup.log_sink.debug)
        if "keepalive" in plan.timers:
            sup.board.reschedule(time.monotonic_ns(), t.keepalive_ms * 1_000_000)
        sup.retime(t.keepalive_ms, t.deadtime_ms)
        if plan.timers:
            sup.apply(retimed)  # the new dt goes out in the keepalives
        if plan.keys:
            self.push_keys(config)
        if {"keepalive", "deadtime", "warntime"} & set(plan.timers):
            self.push_schedule()
        sup.log(Level.INFO, "New configuration in effect: " + ", ".join(plan.live) + ".")

    def push_keys(self, config: ClusterConfig) -> None:
        """New keys reach the link workers on their private key channels
        (hbeat/ipc/keychannel.py; never the bus). A worker that cannot be
        reached now gets them when it is restarted (it asks the running
        configuration)."""
        for name in self.sup.pool.push_keys(config.keyring):
            self.sup.log(Level.WARN, f"{name}: could not hand over the new keys now; "
                                     "it gets them when restarted.")

    def push_schedule(self) -> None:
        """Every link worker rereads the keepalive schedule from the board
        (ready or still starting: one not started yet reads it at start) and
        takes the new gap of its quiet keepalives."""
        sup = self.sup
        timers = sup.membership.config
        body = Reschedule(quiet_gap_ms(timers.keepalive_ms, timers.warntime)).encode()
        for name in self.sup.workers_by_name:
            self.sup.bus.send_multipart([name.encode(), *body])
