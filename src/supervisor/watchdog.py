"""The `watchdog <device>` of ha.cf: open, set the timeout, pet, close with 'V'.

The supervisor owns the device (docs/self-fencing.md says why it, and not a
link worker, pets it): it opens it at start, sets the timeout
(`WDIOC_SETTIMEOUT`, whole seconds, `hbeat.config.fencing.watchdog_timeout_s`),
reads it back (`WDIOC_GETTIMEOUT`) and logs what was set, then writes one
byte on every turn of its loop (at most every `pet_every_ms`). A clean
shutdown writes the magic close character 'V' before closing, which stops
the timer. Any other end of the process (crash, kill -9, a self-fence)
closes it without 'V', and the device resets the node when the timeout runs
out, as heartbeat 3.0.6's own watchdog handling does
(docs/heartbeat-protocol.md §7; our differences: docs/self-fencing.md).

Writes never block: the device is opened O_NONBLOCK (a real watchdog never
blocks a write; the test harness' FIFO stand-in might). A pet that cannot
be written is simply missed: the safe direction.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from collections.abc import Callable

from hbeat.logfmt import Level

# <linux/watchdog.h>: _IOWR('W', 6, int) and _IOR('W', 7, int).
WDIOC_SETTIMEOUT = 0xC0045706
WDIOC_GETTIMEOUT = 0x80045707
MAGIC_CLOSE = b"V"
PET = b"\0"


class WatchdogError(Exception):
    """The device cannot be used as configured; the daemon must not start."""


Logger = Callable[[Level, str], None]


def pet_interval_ms(timeout_s: int, keepalive_ms: int) -> int:
    """How often the supervisor writes: a quarter of the timeout, at most one keepalive."""
    return max(10, min(keepalive_ms, timeout_s * 1000 // 4))


class Watchdog:
    """An open watchdog device (see the module docstring)."""

    def __init__(self, path: str, fd: int, timeout_s: int, pet_every_ms: int,
                 log: Logger) -> None:
        self.path = path
        self.fd: int | None = fd
        self.timeout_s = timeout_s
        self.pet_every_ms = pet_every_ms
        self.log = log
        self.next_pet_ms = 0
        self.petting = True
        self.missed = 0

    @classmethod
    def open(cls, path: str, timeout_s: int, deadtime_ms: int, keepalive_ms: int,
             log: Logger) -> Watchdog:
        """Open and arm the device; WatchdogError (device closed with 'V') when it
        cannot reset this node within deadtime."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise WatchdogError(f"Cannot open watchdog device: {path}: "
                                f"{exc.strerror}") from exc
        log(Level.INFO, f"Using watchdog device: {path}")
        dog = cls(path, fd, timeout_s, pet_interval_ms(timeout_s, keepalive_ms), log)
        try:
            dog._set_timeout(deadtime_ms)
        except WatchdogError:
            dog.close()
            raise
        dog.pet(0)
        return dog

    def _set_timeout(self, deadtime_ms: int) -> None:
        assert self.fd is not None
        wanted = self.timeout_s
        try:
            fcntl.ioctl(self.fd, WDIOC_SETTIMEOUT, struct.pack("i", wanted))
        except OSError as exc:
            if exc.errno not in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
                raise WatchdogError(f"WDIOC_SETTIMEOUT: Failed to set watchdog timer to "
                                    f"{wanted} seconds on {self.path}: {exc.strerror}"
                                    ) from exc
            self.log(Level.WARN, f"WDIOC_SETTIMEOUT: Failed to set watchdog timer to "
                                 f"{wanted} seconds on {self.path}: {exc.strerror}; it "
                                 f"must reset this node within {wanted} s of the last "
                                 "write by itself (a test stand-in, or a driver whose "
                                 "timeout is set by a module parameter such as softdog's "
                                 "soft_margin)")
        try:
            raw = fcntl.ioctl(self.fd, WDIOC_GETTIMEOUT, struct.pack("i", 0))
        except OSError:
            return
        actual = int(struct.unpack("i", raw)[0])
        if actual * 1000 >= deadtime_ms:
            raise WatchdogError(f"watchdog {self.path}: its timeout is {actual} s (asked "
                                f"for {wanted} s), not shorter than deadtime "
                                f"[{deadtime_ms} ms]: a hung node would be reset only "
                                "after its peer took over; use a driver that accepts "
                                "WDIOC_SETTIMEOUT or set its timeout below deadtime")
        self.timeout_s = actual
        self.log(Level.INFO, f"Set watchdog timeout to {actual} seconds "
                             f"(deadtime {deadtime_ms} ms).")

    def next_deadline(self) -> int | None:
        return self.next_pet_ms if self.petting and self.fd is not None else None

    def pet(self, now_ms: int) -> None:
        """Write once if due. Called on every turn of the supervisor's loop."""
        if not self.petting or self.fd is None or now_ms < self.next_pet_ms:
            return
        self.next_pet_ms = now_ms + self.pet_every_ms
        try:
            os.write(self.fd, PET)
        except BlockingIOError:
            self.missed += 1
        except OSError as exc:
            self.log(Level.ERROR, f"Watchdog write failure: {self.path}: {exc.strerror}")
            self.missed += 1

    def stop_petting(self, why: str) -> None:
        """Self-fence: no more writes; the device resets the node within the timeout.
        The descriptor stays open (closed only by the end of the process, without 'V')."""
        if not self.petting:
            return
        self.petting = False
        self.log(Level.CRIT, f"{why}: no longer feeding watchdog {self.path}: this node "
                             f"will be reset within {self.timeout_s} s.")

    def close(self) -> None:
        """Clean close: the magic character, then close (the timer stops)."""
        if self.fd is None:
            return
        if not self.petting:
            return  # fencing: leave it to run out
        try:
            os.write(self.fd, MAGIC_CLOSE)
        except OSError as exc:
            self.log(Level.ERROR, f"Watchdog write magic character failure: closing "
                                  f"{self.path}: {exc.strerror}")
        os.close(self.fd)
        self.fd = None
        self.log(Level.INFO, f"Watchdog {self.path} closed cleanly (magic close).")
