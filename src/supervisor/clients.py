"""`respawn` and `failfast` clients of ha.cf, run as heartbeat 3.0.6 runs them.

The rules (heartbeat's: docs/heartbeat-protocol.md §7; ours: docs/self-fencing.md):

* Each line's command runs as `/bin/sh -c "exec <command>"`, as the named
  user (its uid, primary gid and supplementary groups), in a process group
  of its own, stdin/stdout/stderr on /dev/null, SCHED_OTHER (it is started
  by the supervisor, which never runs real-time), with oom_score_adj 0 (not
  the daemon's -1000), as resource scripts are.
* When it exits it is started again, unless hbeat is shutting down, or it
  exited with status 100 (heartbeat's "do not respawn me"). An exit less
  than 30 s after its start counts as a quick one; a restart after a quick
  exit waits 1 s; after more than 10 quick exits in a row it is not started
  again (`Client ... "respawning too fast"`).
* A `failfast` client that dies abnormally (a signal, or a non-zero status
  outside a shutdown) makes the node reset itself (heartbeat reboots): the
  supervisor self-fences through the watchdog (`hbeat check` requires one).
* At shutdown, once the resource groups are released, every client's
  process group gets SIGTERM, last started first, and SIGKILL after 5 s.

`RespawnPolicy` is the pure part (time as a parameter, no I/O); `Clients`
starts and reaps the processes for the supervisor's loop. Starting a client
is one fork+exec (subprocess with user/group set in the child by Python's
C helper, no Python code between fork and exec): short enough for the loop.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.config.model import Client
from hbeat.logfmt import Level

SHORT_RUN_MS = 30_000
MAX_QUICK_EXITS = 10
NO_RESPAWN = 100
QUICK_RESTART_DELAY_MS = 1000
STOP_GRACE_S = 5.0
# The daemon runs with oom_score_adj -1000 (the unit); a client must not inherit
# it (raising it needs no privilege). The shell then execs the client itself.
OOM_RESET = "echo 0 >/proc/self/oom_score_adj 2>/dev/null;"

Logger = Callable[[Level, str], None]


@dataclass
class RespawnPolicy:
    """One client's restart bookkeeping."""

    client: Client
    started_ms: int = 0
    quick_exits: int = 0
    restarts: int = 0

    def exited(self, rc: int | None, signo: int | None, pid: int, now_ms: int,
               shutting_down: bool) -> tuple[int | None, bool, list[tuple[Level, str]]]:
        """(when to start it again or None, whether a failfast client died abnormally,
        log lines) for an exit with status `rc` or signal `signo`."""
        cmd = self.client.command
        logs: list[tuple[Level, str]] = []
        if not shutting_down:
            if rc:
                logs.append((Level.ERROR, f"Client {cmd} exited with return code {rc}."))
            if signo:
                logs.append((Level.ERROR, f"Client {cmd} (pid={pid}) killed by signal "
                                          f"{signo}."))
        fatal = self.client.kind == "failfast" and not shutting_down and bool(signo or rc)
        if shutting_down or rc == NO_RESPAWN:
            return None, fatal, logs
        self.restarts += 1
        quick = now_ms < self.started_ms + SHORT_RUN_MS
        self.quick_exits = self.quick_exits + 1 if quick else 0
        if self.quick_exits > MAX_QUICK_EXITS:
            logs.append((Level.ERROR, f'Client {cmd} "respawning too fast"'))
            self.quick_exits = 0
            return None, fatal, logs
        logs.append((Level.ERROR, f'Respawning client "{cmd}":'))
        delay = QUICK_RESTART_DELAY_MS if self.quick_exits else 0
        return now_ms + delay, fatal, logs


@dataclass
class _Running:
    policy: RespawnPolicy
    proc: subprocess.Popen[bytes] | None = None
    start_at: int | None = 0
    order: int = field(default=0)


class Clients:
    """The supervisor's respawn clients (see the module docstring)."""

    def __init__(self, clients: tuple[Client, ...], log: Logger,
                 on_fatal: Callable[[str], None]) -> None:
        self.log = log
        self.on_fatal = on_fatal
        self.entries = [_Running(RespawnPolicy(c)) for c in clients]
        self.shutting_down = False
        self._order = 0

    def next_deadline(self) -> int | None:
        due = [e.start_at for e in self.entries if e.proc is None and e.start_at is not None]
        return min(due) if due else None

    def poll(self, now_ms: int) -> None:
        """Reap exited clients; start those that are due."""
        for entry in self.entries:
            proc = entry.proc
            if proc is not None and proc.poll() is not None:
                rc = proc.returncode
                entry.proc = None
                signo = -rc if rc < 0 else None
                start_at, fatal, logs = entry.policy.exited(
                    rc if rc >= 0 else None, signo, proc.pid, now_ms, self.shutting_down)
                for level, text in logs:
                    self.log(level, text)
                entry.start_at = start_at
                if fatal:
                    self.on_fatal(f"failfast client {entry.policy.client.command} died")
            if (entry.proc is None and entry.start_at is not None and now_ms >= entry.start_at
                    and not self.shutting_down):
                self._start(entry, now_ms)

    def _start(self, entry: _Running, now_ms: int) -> None:
        client = entry.policy.client
        entry.start_at = None
        try:
            user = pwd.getpwnam(client.user)
        except KeyError:
            self.log(Level.ERROR, f"Cannot setup child process {client.command}: no such "
                                  f"user [{client.user}]")
            return
        uid, gid = user.pw_uid, user.pw_gid
        self.log(Level.INFO, f'Starting child client "{client.command}" ({uid},{gid})')
        if not os.access(client.program, os.X_OK):
            self.log(Level.ERROR, f"Cannot exec {client.command}: not an executable file")
            return
        drop = os.geteuid() == 0 or uid != os.geteuid()
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", f"{OOM_RESET} exec {client.command}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, close_fds=True, process_group=0,
                user=uid if drop else None, group=gid if drop else None,
                extra_groups=os.getgrouplist(client.user, gid) if drop else None,
            )
        except OSError as exc:
            self.log(Level.ERROR, f"Cannot setup child process {client.command}: "
                                  f"{exc.strerror}")
            return
        entry.proc = proc
        entry.policy.started_ms = now_ms
        self._order += 1
        entry.order = self._order
        self.log(Level.INFO, f'Starting "{client.command}" as uid {uid}  gid {gid} '
                             f"(pid {proc.pid})")

    def pids(self) -> list[int]:
        return [e.proc.pid for e in self.entries if e.proc is not None]

    def stop_all(self) -> None:
        """SIGTERM to each client's process group, last started first; SIGKILL after
        STOP_GRACE_S. Called once, after the resource groups are released."""
        self.shutting_down = True
        running = sorted((e for e in self.entries if e.proc is not None),
                         key=lambda e: -e.order)
        for entry in running:
            assert entry.proc is not None
            self.log(Level.INFO, f"killing {entry.policy.client.command} process group "
                                 f"{entry.proc.pid} with signal {signal.SIGTERM.value}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(entry.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for entry in running:
            assert entry.proc is not None
            try:
                entry.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(entry.proc.pid, signal.SIGKILL)
                entry.proc.wait()
            entry.proc = None
