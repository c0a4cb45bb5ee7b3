"""What a reread configuration changes, and whether it can be applied live.

`hbeat` rereads ha.cf, haresources and authkeys on SIGHUP (the unit's
`ExecReload`). heartbeat 3.0.6 restarts itself quickly when ha.cf changed
(keeping its resources) and rereads authkeys otherwise
(docs/heartbeat-protocol.md §9); hbeat never restarts: `plan_reload` compares
the running configuration with the one just read (already checked: a
configuration that fails `hbeat check` never gets here) and says

* which directives changed that can change live: the keys (authkeys), the
  timers (keepalive, deadtime, warntime, initdead, deadping), logging
  (logfile, debugfile, logfacility, use_logd, syslogmsgfmt, debug) and
  log_badpack, allow_crc;
* which changed that cannot (nodes, media, udpport, haresources, ...): then
  nothing at all is applied, each is named in a WARN, and the running
  configuration stays whole (a restart of hbeat applies them).

All or nothing, so the running configuration is always one that passed the
checks as a whole, and `cl_status hbparameter` shows what runs. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hbeat.config.model import ClusterConfig, HaCf, Medium, ResourceGroup
from hbeat.logfmt import Level

TIMERS = ("keepalive", "deadtime", "warntime", "initdead", "deadping")
LOGGING = ("logfile", "debugfile", "logfacility", "use_logd", "syslogmsgfmt", "debug")
# HaCf fields applied live besides timers and logging (field name = directive).
LIVE_FIELDS = ("log_badpack", "allow_crc")
# HaCf fields that are not directives of their own (derived, or positions).
DERIVED_FIELDS = frozenset({"path", "node_lines", "parameters", "lines", "timers",
                            "logging", "nodes", "media"})
# HaCf field -> the directive an administrator writes, where they differ.
DIRECTIVE = {"max_rexmit_delay_ms": "max_rexmit_delay", "ping_nodes": "ping"}

KEYS_REREAD = "Rereading authentication file."
UNCHANGED = "Configuration unchanged."
NOT_LIVE = "cannot change without a restart (running configuration kept)"


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The verdict on a reread configuration.

    `apply` is False when nothing is to be done (unchanged) or nothing may be
    done (`fixed` is not empty). `lines` are the log lines to write, in order.
    """

    keys: bool = False
    timers: tuple[str, ...] = ()
    logging: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    lines: tuple[tuple[Level, str], ...] = ()

    @property
    def live(self) -> tuple[str, ...]:
        """Every live-applicable directive that changed (authkeys as `authkeys`)."""
        return (("authkeys",) if self.keys else ()) + self.timers + self.logging + self.other

    @property
    def apply(self) -> bool:
        return bool(self.live) and not self.fixed


def _medium_key(medium: Medium) -> tuple[object, ...]:
    """A medium without its line number (a comment added above it changes
    nothing) and, for bcast and ucast, without the port `udpport` gives them
    (a new udpport is named as such, not as every medium it moves)."""
    skip = {"line"} if medium.kind in ("mcast", "serial") else {"line", "port"}
    return (medium.kind, *(getattr(medium, f.name) for f in dataclasses.fields(medium)
                           if f.name not in skip))


def _groups_key(groups: tuple[ResourceGroup, ...]) -> tuple[object, ...]:
    return tuple((g.node, tuple((r.text, r.script, r.args, r.path) for r in g.resources))
                 for g in groups)


def _timer_changes(old: HaCf, new: HaCf) -> tuple[str, ...]:
    """Timers whose value changed; one ha.cf leaves unset in both readings is
    not named (its default follows another: deadping and warntime deadtime's)."""
    changed = []
    for name in TIMERS:
        if name in old.timers.defaulted and name in new.timers.defaulted:
            continue
        if getattr(old.timers, f"{name}_ms") != getattr(new.timers, f"{name}_ms"):
            changed.append(name)
    return tuple(changed)


def _logging_changes(old: HaCf, new: HaCf) -> tuple[str, ...]:
    return tuple(name for name in LOGGING
                 if getattr(old.logging, name) != getattr(new.logging, name))


def _fixed_changes(old: ClusterConfig, new: ClusterConfig) -> tuple[str, ...]:
    """Directives (and files) that changed and cannot change while running."""
    fixed: list[str] = []
    if old.hacf.nodes != new.hacf.nodes:
        fixed.append("node")
    old_media = {_medium_key(m) for m in old.hacf.media}
    new_media = {_medium_key(m) for m in new.hacf.media}
    if [_medium_key(m) for m in old.hacf.media] != [_medium_key(m) for m in new.hacf.media]:
        kinds = {m.kind for m in (*old.hacf.media, *new.hacf.media)
                 if _medium_key(m) in old_media ^ new_media}
        fixed.extend(sorted(kinds) or ["media order"])
    for f in dataclasses.fields(HaCf):
        if f.name in DERIVED_FIELDS or f.name in LIVE_FIELDS:
            continue
        if getattr(old.hacf, f.name) != getattr(new.hacf, f.name):
            fixed.append(DIRECTIVE.get(f.name, f.name))
    if _groups_key(old.groups) != _groups_key(new.groups):
        fixed.append("haresources")
    return tuple(fixed)


def plan_reload(old: ClusterConfig, new: ClusterConfig) -> ReloadPlan:
    """Compare the running configuration `old` with the reread `new`."""
    keys = old.keyring != new.keyring
    timers = _timer_changes(old.hacf, new.hacf)
    logging = _logging_changes(old.hacf, new.hacf)
    other = tuple(name for name in LIVE_FIELDS
                  if getattr(old.hacf, name) != getattr(new.hacf, name))
    fixed = _fixed_changes(old, new)
    lines: list[tuple[Level, str]] = []
    if not (keys or timers or logging or other or fixed):
        return ReloadPlan(lines=((Level.INFO, UNCHANGED),))
    for name in fixed:
        lines.append((Level.WARN, f"{name} {NOT_LIVE}"))
    plan = ReloadPlan(keys, timers, logging, other, fixed)
    if fixed:
        if plan.live:
            lines.append((Level.WARN, "Not applied either: " + ", ".join(plan.live)
                          + " (restart hbeat to apply the new configuration)"))
        return dataclasses.replace(plan, lines=tuple(lines))
    if keys:
        lines.append((Level.INFO, KEYS_REREAD))
    for name in timers:
        old_ms = getattr(old.hacf.timers, f"{name}_ms")
        new_ms = getattr(new.hacf.timers, f"{name}_ms")
        lines.append((Level.INFO, f"{name} now {new_ms} ms (was {old_ms} ms)."))
    for name in (*logging, *other):
        lines.append((Level.INFO, f"{name} changed: applied."))
    return dataclasses.replace(plan, lines=tuple(lines))


def debug_level(level: int, raise_: bool) -> int:
    """SIGUSR1 raises the debug level by one, SIGUSR2 lowers it, never below 0
    (heartbeat's rule); ha.cf's own range (0..255) bounds it above."""
    return min(255, level + 1) if raise_ else max(0, level - 1)
