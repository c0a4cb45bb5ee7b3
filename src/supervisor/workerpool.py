"""Starting, watching and restarting the supervisor's worker processes.

Each worker runs `<module>.main(["--bus", <endpoint>, "--name", <name>, ...])`
in a child forked from the supervisor (supervisor/forkstart.py: it shares
the already imported code with the supervisor instead of loading its own
interpreter), or, with `fork=False`, as `python -m <module> ...`; either way
it sets its own process title and dies with the supervisor (parent-death
signal).
A worker that needs the authentication keys (`keyring` set) also gets one
end of a private socketpair, `--keys-fd N`, and the keys on it
(hbeat/ipc/keychannel.py); `push_keys` sends new ones to every such worker.
The pool restarts a dead worker after the delay its RestartPolicy gives and
tells the caller what happened, in heartbeat's words, so it can be logged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.ipc.keychannel import KEYS_FD_ARG, channel_pair, send_keyring
from hbeat.logfmt import Level
from linklayer.message import Keyring
from supervisor.forkstart import ForkedProcess, prewarm
from supervisor.restartpolicy import RestartPolicy

Process = subprocess.Popen[bytes] | ForkedProcess


@dataclass
class WorkerSlot:
    name: str
    module: str
    policy: RestartPolicy
    proc: Process | None = None
    restart_at: float | None = None
    restarts: int = 0
    state: str = "stopped"  # starting, running, restarting, stopped, failed
    pid: int = 0
    last_error: str = ""
    extra_args: list[str] = field(default_factory=list)
    keyring: Callable[[], Keyring] | None = None
    """Where this worker's keys come from (None: it gets none)."""
    key_channel: socket.socket | None = None


class WorkerPool:
    def __init__(self, bus_endpoint: str, env: dict[str, str] | None = None, *,
                 fork: bool = True) -> None:
        self.bus_endpoint = bus_endpoint
        self.slots: dict[str, WorkerSlot] = {}
        self.env = dict(os.environ if env is None else env)
        self.stopping = False
        self.fork = fork

    def add(self, name: str, module: str, policy: RestartPolicy,
            keyring: Callable[[], Keyring] | None = None) -> WorkerSlot:
        slot = WorkerSlot(name=name, module=module, policy=policy, keyring=keyring)
        self.slots[name] = slot
        if self.fork:
            prewarm(module)
        return slot

    def _spawn(self, slot: WorkerSlot, args: list[str], pass_fds: tuple[int, ...]) -> Process:
        if self.fork:
            return ForkedProcess(slot.module, args, pass_fds=pass_fds, env=self.env)
        return subprocess.Popen([sys.executable, "-m", slot.module, *args], env=self.env,
                                close_fds=True, pass_fds=pass_fds)

    def start(self, slot: WorkerSlot, now: float) -> None:
        args = ["--bus", self.bus_endpoint, "--name", slot.name, *slot.extra_args]
        if slot.key_channel is not None:
            slot.key_channel.close()
            slot.key_channel = None
        if slot.keyring is None:
            slot.proc = self._spawn(slot, args, ())
        else:
            ours, theirs = channel_pair()
            try:
                slot.proc = self._spawn(slot, [*args, KEYS_FD_ARG, str(theirs.fileno())],
                                        (theirs.fileno(),))
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            slot.key_channel = ours
            send_keyring(ours, slot.keyring())
        slot.pid = slot.proc.pid
        slot.state = "starting"
        slot.restart_at = None
        slot.policy.started(now)

    def start_all(self, now: float) -> None:
        for slot in self.slots.values():
            self.start(slot, now)

    def poll(self, now: float, *, reap: bool = True) -> list[tuple[Level, str]]:
        """Reap dead workers (with `reap`: the caller knows a child may have
        ended), start due restarts; return what to log."""
        logs: list[tuple[Level, str]] = []
        for slot in self.slots.values():
            code = slot.proc.poll() if reap and slot.proc is not None else None
            if code is not None:
                slot.proc = None
                if self.stopping:
                    slot.state = "stopped"
                    continue
                delay = slot.policy.died(now)
                slot.restart_at = now + delay
                slot.state = "restarting"
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                logs.append((
                    Level.ERROR,
                    f"{slot.name} process {slot.pid} died ({how}). "
                    f"Restarting in {delay * 1000:.0f} ms.",
                ))
            due = slot.restart_at
            if slot.state == "restarting" and due is not None and now >= due:
                self.start(slot, now)
                slot.restarts += 1
                logs.append((Level.INFO, f"{slot.name} restarted (pid {slot.pid})."))
        return logs

    def push_keys(self, keyring: Keyring) -> list[str]:
        """Send new keys to every running worker that takes keys; the names
        of those it could not reach (they get the new keys when restarted,
        since `keyring` is asked again then)."""
        missed = []
        for slot in self.slots.values():
            if slot.keyring is None or slot.key_channel is None:
                continue
            try:
                send_keyring(slot.key_channel, keyring)
            except OSError:
                missed.append(slot.name)
        return missed

    def next_deadline(self) -> float | None:
        due = [s.restart_at for s in self.slots.values() if s.restart_at is not None]
        return min(due) if due else None

    def stop_all(self, timeout_s: float = 5.0) -> None:
        self.stopping = True
        procs = [s.proc for s in self.slots.values() if s.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=timeout_s)
            except (subprocess.TimeoutExpired, TimeoutError):
                p.kill()
                p.wait()
        for s in self.slots.values():
            s.proc = None
            s.state = "stopped"
            if s.key_channel is not None:
                with contextlib.suppress(OSError):
                    s.key_channel.close()
                s.key_channel = None
