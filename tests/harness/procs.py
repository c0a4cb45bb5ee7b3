"""Process plumbing for the lab: running commands with clear errors, long-running
processes with their output in a file, and finding/killing processes by namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from .waiting import wait_for


class HarnessError(RuntimeError):
    """The lab could not be set up or driven as asked."""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 30.0,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command; with `check`, a non-zero exit raises HarnessError
    quoting the command, its exit code and its stderr."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input.decode("latin-1") if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"command timed out after {timeout:g} s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise HarnessError(
            f"command failed (exit {proc.returncode}): {' '.join(argv)}\n"
            f"stderr: {proc.stderr.strip()}\nstdout: {proc.stdout.strip()}"
        )
    return proc


class Proc:
    """A long-running process whose stdout and stderr go to `log_path`."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(argv[0]).name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send_signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `sig`, wait for exit (SIGKILL after `timeout`), return the exit code."""
        self.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            return self.popen.wait(10)

    def check_alive(self, doing: str) -> None:
        if not self.alive():
            raise HarnessError(
                f"{self.name} (pid {self.pid}) exited with {self.popen.returncode} "
                f"while {doing}; its output ({self.log_path}):\n{self.output()[-3000:]}"
            )

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, pid={self.pid}, alive={self.alive()})"


def ns_inode(pid: int, kind: str) -> str | None:
    """The namespace identity (e.g. 'mnt:[4026532]') of a process, or None if gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_ns(kind: str, ident: str) -> list[int]:
    """Every live process whose namespace of `kind` is `ident`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and ns_inode(int(entry), kind) == ident:
            out.append(int(entry))
    return out


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (tells pid reuse apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_until_gone(
    lister: Callable[[], list[int]], *, timeout: float = 10.0, what: str = "processes"
) -> None:
    """SIGKILL whatever `lister()` returns until it returns nothing."""

    def gone() -> bool:
        pids = lister()
        kill_pids(pids)
        return not pids

    wait_for(
        gone,
        timeout,
        what=f"{what} to die",
        describe=lambda: [f"{p} {cmdline(p)}" for p in lister()],
    )
