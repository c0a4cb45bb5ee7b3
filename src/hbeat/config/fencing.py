"""Self-fencing settings and their checks: the watchdog timeout, respawn clients.

What `hbeat check` and the supervisor must agree on is defined here once:

* `watchdog_timeout_s(timers)`: the timeout hbeat sets on the `watchdog`
  device (WDIOC_SETTIMEOUT takes whole seconds). heartbeat 3.0.6 sets
  deadtime + 10 ms, rounded up, so a hung heartbeat node is reset only
  after its peer has already taken over. hbeat sets the longest whole number
  of seconds that is at most deadtime minus one keepalive: the supervisor
  pets the device on every turn of its loop, its link workers stop sending
  within one lease of its last turn, so a hung node is reset before the
  peer's deadtime runs out (docs/self-fencing.md).
* `check_fencing(hacf, probe)`: the `watchdog` device must exist and be a
  character device (a FIFO is accepted for the test harness' stand-in) and
  deadtime must leave room for a timeout of at least one second.
* `check_clients`: `respawn`/`failfast` lines naming a client hbeat
  replaces natively say what to do instead (dopd: an ERROR, since DRBD
  would lose its peer outdating; ipfail is built in: hbeat/config/pingcheck.py);
  other clients need an
  existing user and an executable program; `failfast` (reboot when the
  client dies) needs a watchdog to reset the node with.
Nothing here opens the device: opening a watchdog arms it.
"""

from __future__ import annotations

from hbeat.config.model import HaCf, Level, Problem, Timers
from hbeat.config.probe import SystemProbe

# respawn clients hbeat replaces, how serious leaving them out is, and what to do.
_OUTDATER = ("dopd talks heartbeat's client API, which hbeat does not have, so hbeat does "
             "not run it: DRBD peer outdating is built into hbeat instead. Remove this "
             "line and set drbd.conf's fence-peer handler to \"/usr/bin/hbeat outdate-peer\" "
             "(README, \"DRBD\"); until then DRBD may promote a stale disk")
NATIVE_CLIENTS: dict[str, tuple[Level, str]] = {
    "dopd": (Level.ERROR, _OUTDATER),
    "drbd-peer-outdater": (Level.ERROR, _OUTDATER),
}
# `respawn ... ipfail` is not run either: hbeat makes its decision (hbeat/config/pingcheck.py).


def watchdog_timeout_s(timers: Timers) -> int | None:
    """Whole seconds, at most deadtime - keepalive; None when deadtime is too short
    for any (less than one second plus one keepalive)."""
    seconds = (timers.deadtime_ms - timers.keepalive_ms) // 1000
    return seconds if seconds >= 1 else None


def native_client(program: str) -> tuple[Level, str] | None:
    """How hbeat replaces a respawn client it implements itself, or None."""
    return NATIVE_CLIENTS.get(program.rsplit("/", 1)[-1])


def check_clients(hacf: HaCf, probe: SystemProbe) -> list[Problem]:
    """`respawn`/`failfast` lines: native clients named, users and programs exist."""
    out: list[Problem] = []
    for client in hacf.clients:
        head = f"{client.kind} {client.user} {client.command}"
        if client.is_ipfail:
            continue  # checked by hbeat.config.pingcheck
        native = native_client(client.program)
        if native is not None:
            level, what = native
            out.append(Problem(hacf.path, client.line, level, f"{head}: {what}"))
            continue
        if probe.user_ids(client.user) is None:
            out.append(Problem(hacf.path, client.line, Level.ERROR,
                               f"{head}: no such user [{client.user}]"))
        state = probe.script_state(client.program)
        if state != "ok":
            why = {"missing": "no such file", "not-file": "not a regular file",
                   "not-executable": "not executable"}[state]
            out.append(Problem(hacf.path, client.line, Level.ERROR,
                               f"{head}: Cannot exec {client.program}: {why}"))
        if client.kind == "failfast" and hacf.watchdog is None:
            out.append(Problem(hacf.path, client.line, Level.ERROR,
                               f"{head}: heartbeat reboots this node when a failfast client "
                               "dies; hbeat resets it through the watchdog, and ha.cf has "
                               "no watchdog line: add one (README, \"Watchdog\") or make "
                               "this a respawn line"))
    return out


def check_fencing(hacf: HaCf, probe: SystemProbe) -> list[Problem]:
    """The watchdog device and timeout (see the module docstring)."""
    out = check_clients(hacf, probe)
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
