"""Keeping a daemon process's address space small (docs/processes.md, "Memory").

glibc gives every thread that allocates its own malloc arena, each reserving
64 MiB of address space, and every thread an 8 MiB stack (the stack
rlimit). Neither costs RAM until touched, but a process that locks its
memory (`realtime on`) accounts all of it as locked (VmLck), and a worker
forked from the supervisor inherits the supervisor's reservations. And
free memory inside malloc's heap stays resident until it is given back
(`release_free_heap`). The calls are best effort: a libc without them
leaves the defaults.
"""

from __future__ import annotations

import contextlib
import ctypes

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)

_LIBC = ctypes.CDLL(None, use_errno=True)


def one_malloc_arena() -> None:
    """Every thread allocates from the main arena (call before threads start)."""
    with contextlib.suppress(AttributeError, OSError):
        _LIBC.mallopt(M_ARENA_MAX, 1)


def default_thread_stack(size: int) -> None:
    """Stack size of threads created from now on without an explicit size
    (ZeroMQ's I/O threads, Python's threads)."""
    with contextlib.suppress(AttributeError, OSError):
        attr = ctypes.create_string_buffer(128)  # pthread_attr_t is 56 bytes on x86_64
        if _LIBC.pthread_attr_init(attr) == 0:
            _LIBC.pthread_attr_setstacksize(attr, ctypes.c_size_t(size))
            _LIBC.pthread_setattr_default_np(attr)
            _LIBC.pthread_attr_destroy(attr)


def release_free_heap() -> None:
    """Give the kernel back the whole free pages inside malloc's heap
    (malloc_trim(0)): resident for nothing, and shared with, or copied
    into, every worker forked afterwards."""
    with contextlib.suppress(AttributeError, OSError):
        _LIBC.malloc_trim(ctypes.c_size_t(0))
