"""A short time slice from the fair scheduler, for a process whose wake-ups are deadlines.

`shorten_slice(slice_ns)` asks the EEVDF scheduler (Linux >= 6.12) for a
short slice (`sched_setattr` with `sched_runtime`, policy unchanged,
SCHED_OTHER): the earlier virtual deadline lets the process's wake-up
preempt CPU-bound tasks at once instead of waiting for their slice to end.
Not real time: no priority over anything, the same fair share. The link
worker uses it for its keepalive ticks; the supervisor for its own deadlines
(a peer's death is decided when its loop wakes), with `reset_on_fork` so
that nothing it starts (workers, respawn clients, and through the executor
the resource scripts) inherits it. Older kernels accept and ignore it.
Measured in bench/README.md ("Time-critical paths"). `set_timer_slack`
lets such a process's sleeps end on time (prctl PR_SET_TIMERSLACK).
"""

from __future__ import annotations

import ctypes
import os

SLICE_NS = 100_000
SCHED_FLAG_RESET_ON_FORK = 0x01

_LIBC = ctypes.CDLL(None, use_errno=True)
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32),
    ]


def shorten_slice(slice_ns: int = SLICE_NS, *, reset_on_fork: bool = False) -> str | None:
    """The calling process gets a `slice_ns` slice under SCHED_OTHER at its
    current nice value; with `reset_on_fork`, its children start with the
    default slice (and a negative nice reset to 0, the kernel's rule for that
    flag). Returns why it could not be done, or None."""
    number = _SYS_SCHED_SETATTR.get(os.uname().machine)
    if number is None:
        return f"sched_setattr: no syscall number known for {os.uname().machine}"
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=os.SCHED_OTHER,
                      sched_flags=SCHED_FLAG_RESET_ON_FORK if reset_on_fork else 0,
                      sched_nice=os.getpriority(os.PRIO_PROCESS, 0), sched_runtime=slice_ns)
    if _LIBC.syscall(number, 0, ctypes.byref(attr), 0) != 0:
        return f"sched_setattr (slice {slice_ns} ns): {os.strerror(ctypes.get_errno())}"
    return None


PR_SET_TIMERSLACK = 29


def set_timer_slack(slack_ns: int) -> str | None:
    """The calling process's timer slack (how late the kernel may end its
    sleeps to batch wake-ups; 50 us by default). Returns why it could not be
    set, or None."""
    if _LIBC.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(slack_ns), 0, 0, 0) != 0:
        return f"prctl(PR_SET_TIMERSLACK, {slack_ns}): {os.strerror(ctypes.get_errno())}"
    return None
