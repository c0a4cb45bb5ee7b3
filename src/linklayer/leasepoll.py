"""Waiting with a lease: the supervisor loop's sleep, in C, that keeps its lease renewed
(`hb_lease_*` in _frame.c).

`LeasePoll(path, size=, magic=, lease_at=, count_at=)` maps a board file (the sequence
board: hbeat/ipc/seqboard.py). `poll(fds, timeout_ms, plan)` sleeps in `poll(2)` with the
GIL released and, while it sleeps, sets the lease to now + `plan.lease_ns` whenever
`plan.next_renew_ns` is reached (then `next_renew_ns` = now + `plan.every_ns`). It returns
when a descriptor is readable, the timeout passes, a signal comes, the board's watched
count reaches `plan.count_at_least`, or it finds it slept far longer than asked (a stall:
the process was stopped or starved; `alive_ns` is then when it last woke before). A lease
renewed here proves that the caller's loop is waiting for input, or left its wait less
than a lease ago: docs/processes.md, "The lease kept while waiting".

Use one `LeasePoll` from one thread at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]

__all__ = ["MAX_FDS", "LeaseError", "LeasePlan", "LeasePoll", "LeaseWake"]

MAX_FDS = int(lib.HB_LP_MAX_FDS)
"""Descriptors one `poll` watches at most."""

_OK = int(lib.HB_OK)
_BAD_ARGUMENT = int(lib.HB_BAD_ARGUMENT)
_FDS = int(lib.HB_LP_FDS)
_TIMEOUT = int(lib.HB_LP_TIMEOUT)
_INTR = int(lib.HB_LP_INTR)
_ERROR = int(lib.HB_LP_ERROR)
_COUNT = int(lib.HB_LP_COUNT)
_STALL = int(lib.HB_LP_STALL)
_LEASE = int(lib.HB_LP_LEASE)
_OPEN_ERRORS = {
    int(lib.HB_BOARD_OPEN): "cannot open the board",
    int(lib.HB_BOARD_INVALID): "not the board expected (size or magic)",
    int(lib.HB_BAD_ARGUMENT): "bad layout (magic, lease or count offset)",
    int(lib.HB_NO_MEMORY): "cannot map the board",
}


class LeaseError(OSError):
    """A board that cannot be opened, or a lease that cannot be renewed: `errno` is the
    system's reason where one applies (else 0), `str()` names the board and what failed."""

    def __init__(self, errno: int, what: str) -> None:
        super().__init__(errno, what)

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass
class LeasePlan:
    """What `poll` keeps and watches (all in CLOCK_MONOTONIC ns). `next_renew_ns` is read
    and written back by every `poll`: the caller's own renewals move it too."""

    lease_ns: int
    every_ns: int
    next_renew_ns: int = 0
    count_at_least: int = 1 << 62
    stall_ns: int = 1 << 62


class LeaseWake(NamedTuple):
    """What ended one `poll`."""

    ready: tuple[int, ...]
    """The descriptors found readable (or hung up, or invalid)."""
    timeout: bool
    interrupted: bool
    """A signal interrupted poll(2) (its handler runs when Python resumes). One that
    comes while the wait is between two polls (renewing) is seen only through a
    descriptor it writes to: give the wait Python's `signal.set_wakeup_fd` pipe, as
    the supervisor does."""
    count_reached: bool
    """The watched count reached `plan.count_at_least`."""
    stalled: bool
    """The wait woke far later than it asked to (more than `plan.stall_ns`)."""
    renewals: int
    started_ns: int
    """When the wait began (CLOCK_MONOTONIC)."""
    alive_ns: int
    """When the wait last woke before a stall; else when it returned."""


class LeasePoll:
    """A board file mapped for its lease (`lease_at`) and a watched count (`count_at`,
    -1: none), both little-endian int64 fields."""

    def __init__(self, path: str | os.PathLike[str], *, size: int, magic: bytes, lease_at: int,
                 count_at: int = -1) -> None:
        self.path = Path(path)
        err = ffi.new("hb_error *")
        handle = lib.hb_lease_new(os.fsencode(self.path), size, magic, len(magic), lease_at,
                                  count_at, err)
        if handle == ffi.NULL:
            code = int(err.code)
            errno = int(err.offset) if code == int(lib.HB_BOARD_OPEN) else 0
            reason = _OPEN_ERRORS.get(code, f"error {code}")
            if errno:
                reason += f": {os.strerror(errno)}"
            raise LeaseError(errno, f"lease board {self.path}: {reason}")
        self._handle: Any = handle
        self._plan: Any = ffi.new("hb_lease_plan *")
        self._res: Any = ffi.new("hb_lease_result *")
        self._errnum: Any = ffi.new("int32_t *")
        self._fds: Any = ffi.new("int32_t[]", MAX_FDS)
        self._fds_for: tuple[int, ...] = ()

    def close(self) -> None:
        if self._handle is not None:
            lib.hb_lease_free(self._handle)
            self._handle = None

    def _live(self) -> Any:
        if self._handle is None:
            raise ValueError(f"lease board {self.path}: closed")
        return self._handle

    def renew(self, until_ns: int) -> None:
        """Set the lease to `until_ns` (under the board's lock)."""
        if lib.hb_lease_renew(self._live(), until_ns, self._errnum) != _OK:
            errno = int(self._errnum[0])
            raise LeaseError(errno, f"lease board {self.path}: cannot lock it to renew the "
                                    f"lease: {os.strerror(errno)}")

    def until_ns(self) -> int:
        """The lease as it stands (read under the board's lock)."""
        value = int(lib.hb_lease_until(self._live()))
        if value < 0:
            raise LeaseError(0, f"lease board {self.path}: cannot lock it to read the lease")
        return value

    def poll(self, fds: Sequence[int], timeout_ms: int, plan: LeasePlan) -> LeaseWake:
        """Sleep until something in `fds` is readable or `timeout_ms` (< 0: none) passes,
        keeping the lease as `plan` says. LeaseError when a renewal fails, OSError when
        poll(2) does."""
        handle = self._live()
        fds = tuple(fds)
        if fds != self._fds_for:
            if len(fds) > MAX_FDS:
                raise ValueError(f"lease poll: {len(fds)} descriptors, at most {MAX_FDS}")
            for i, fd in enumerate(fds):
                self._fds[i] = fd
            self._fds_for = fds
        p = self._plan
        p.lease_ns = plan.lease_ns
        p.every_ns = plan.every_ns
        p.next_renew_ns = plan.next_renew_ns
        p.count_at_least = plan.count_at_least
        p.stall_ns = plan.stall_ns
        flags = int(lib.hb_lease_poll(handle, self._fds, len(fds), timeout_ms, p, self._res))
        if flags == -_BAD_ARGUMENT:
            raise ValueError(f"lease poll: bad plan {plan!r}: every field but next_renew_ns "
                             "and count_at_least must be > 0")
        plan.next_renew_ns = int(p.next_renew_ns)
        res = self._res
        if flags & _LEASE:
            errno = int(res.err)
            raise LeaseError(errno, f"lease board {self.path}: cannot lock it to renew the "
                                    f"lease: {os.strerror(errno)}")
        if flags & _ERROR:
            errno = int(res.err)
            raise OSError(errno, f"lease poll: poll failed: {os.strerror(errno)}")
        ready_bits = int(res.ready)
        ready = tuple(fd for i, fd in enumerate(fds) if ready_bits >> i & 1) \
            if flags & _FDS else ()
        return LeaseWake(ready, bool(flags & _TIMEOUT), bool(flags & _INTR),
                         bool(flags & _COUNT), bool(flags & _STALL), int(res.renewals),
                         int(res.started_ns), int(res.alive_ns))
