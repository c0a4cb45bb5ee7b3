"""Self-fencing settings and their checks: the watchdog timeout, respawn clients.

What `hbeat check` and the supervisor must agree on is defined here once:

* `watchdog_timeout_s(timers)`: the timeout hbeat sets on the `watchdog`
  device (WDIOC_SETTIMEOUT takes whole seconds). heartbeat 3.0.6 sets
  deadtime + 10 ms, rounded up, so a hung heartbeat node is reset only
  after its peer has already taken over. hbeat sets the longest whole number
  of seconds that is at most deadtime minus one keepalive: the supervisor
  pets the device on every turn of its loop, its link workers stop sending
  within one lease of its last turn, so a hung node is reset before the
  peer's deadtime runs out (docs/fencing.md).
* `check_fencing(hacf, probe)`: the `watchdog` device must exist and be a
  character device (a FIFO is accepted for the test harness' stand-in) and
  deadtime must leave room for a timeout of at least one second; `respawn`
  lines naming a client hbeat replaces natively (dopd, ipfail) say what to
  do instead. Nothing here opens the device: opening a watchdog arms it.
"""

from __future__ import annotations

from hbeat.config.model import HaCf, Level, Problem, Timers
from hbeat.config.probe import SystemProbe

# respawn clients hbeat replaces, and what replaces them.
NATIVE_CLIENTS = {
    "dopd": "DRBD peer outdating is built into hbeat: remove the respawn line and set "
            "drbd.conf's `fence-peer` handler to `/usr/lib/hbeat/outdate-peer` "
            "(README, \"DRBD\")",
    "drbd-peer-outdater": "DRBD peer outdating is built into hbeat: remove the respawn "
                          "line and set drbd.conf's `fence-peer` handler to "
                          "`/usr/lib/hbeat/outdate-peer` (README, \"DRBD\")",
    "ipfail": "ipfail talks heartbeat's client API, which hbeat does not have; remove "
              "the respawn line (hbeat does not act on ping nodes yet)",
}


def watchdog_timeout_s(timers: Timers) -> int | None:
    """Whole seconds, at most deadtime - keepalive; None when deadtime is too short
    for any (less than one second plus one keepalive)."""
    seconds = (timers.deadtime_ms - timers.keepalive_ms) // 1000
    return seconds if seconds >= 1 else None


def native_client(program: str) -> str | None:
    """What replaces a respawn client hbeat implements itself, or None."""
    name = program.rsplit("/", 1)[-1]
    return NATIVE_CLIENTS.get(name)


def check_fencing(hacf: HaCf, probe: SystemProbe) -> list[Problem]:
    """The watchdog device and timeout (see the module docstring)."""
    out: list[Problem] = []
    device = hacf.watchdog
    if device is None:
        return out
    line = hacf.line_of("watchdog")
    t = hacf.timers
    if watchdog_timeout_s(t) is None:
        out.append(Problem(hacf.path, line, Level.ERROR,
                           f"watchdog {device}: deadtime [{t.deadtime_ms} ms] leaves no "
                           f"watchdog timeout of one second or more that is shorter than "
                           f"deadtime minus keepalive [{t.keepalive_ms} ms]: raise deadtime "
                           "to at least 1 s + keepalive, or remove the watchdog line"))
    kind = probe.watchdog_kind(device)
    if kind == "missing":
        out.append(Problem(hacf.path, line, Level.ERROR,
                           f"watchdog device [{device}] does not exist: load a watchdog "
                           "driver (`modprobe softdog`, or your board's driver) or remove "
                           "the line; without it this node cannot reset itself when hung"))
    elif kind not in ("char", "fifo"):
        out.append(Problem(hacf.path, line, Level.ERROR,
                           f"watchdog device [{device}] is not a character device"))
    return out
