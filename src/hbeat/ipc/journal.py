"""The decision journal's record: one typed entry, its JSON line, and the
parser of a journal file (docs/journal.md).

The supervisor writes entries (`supervisor/journal.py`) to
`<state dir>/hb_journal`, one JSON object per line, and serves them on the
query socket (`history`); `hbeat why` reads them from the socket, or from
the file when no daemon runs. Both sides use `Entry.to_json`/`from_json`
and `parse_journal` from here. Pure: no I/O, no clock.

An entry is either a *cause* (a node declared dead, a standby asked for, the
daemon starting, ...: `CAUSES`), which opens a decision, or a *step* of the
decision it belongs to (`decision` is the cause's `seq`): a fencing attempt,
a script call, a group acquired or released. To record a new kind of event,
add it to `Kind` (and to `CAUSES` when it opens a decision) and give
`hbeat.journalview` a line for it.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MAX_TEXT = 400
"""Longest string kept in an entry (a cause, a detail value): longer ones are cut."""
MAX_LINE = 16 * 1024
"""Longest journal line accepted when reading (longer: skipped as damaged)."""


class Kind(enum.StrEnum):
    # causes: each opens a decision
    STARTUP = "startup"  # the daemon started (start-up probe and acquisition)
    SHUTDOWN = "shutdown"  # the daemon was asked to stop (handover, then exit)
    NODE_DEAD = "node-dead"  # a node declared dead; detail: links {medium: ago_ms}
    NODE_BACK = "node-back"  # a dead node heard again
    PEER_RESTARTED = "peer-restarted"  # the peer runs a new generation
    PARTITION_HEALED = "partition-healed"
    REQUEST = "request"  # standby/takeover asked: detail what, which, by, uid, pid
    SELF_FENCE = "self-fence"
    MONITOR_FAILED = "monitor-failed"  # a monitored resource failed its probe: resource, restarts
    # steps of a decision
    FENCE = "fence"  # a STONITH attempt finished: plugin, rc, result, duration_ms
    SCRIPT = "script"  # a resource script call finished: resource, action, rc, verdict
    GROUP = "group"  # a group changed state: old, new, why
    REFUSED = "refused"  # the request of this decision was refused: the reason
    MONITOR = "monitor"  # what monitoring did next: event (restart, handover, ...), resource


CAUSES = frozenset({Kind.STARTUP, Kind.SHUTDOWN, Kind.NODE_DEAD, Kind.NODE_BACK,
                    Kind.PEER_RESTARTED, Kind.PARTITION_HEALED, Kind.REQUEST,
                    Kind.SELF_FENCE, Kind.MONITOR_FAILED})

REASONS = {
    Kind.NODE_DEAD: "failover", Kind.REQUEST: "request", Kind.STARTUP: "startup",
    Kind.SHUTDOWN: "shutdown", Kind.NODE_BACK: "failback", Kind.PEER_RESTARTED: "failback",
    Kind.PARTITION_HEALED: "partition", Kind.SELF_FENCE: "self-fencing",
    Kind.MONITOR_FAILED: "monitor",
}
"""The word for why groups moved, by the kind of the decision's cause (a
request says its own: standby, takeover, ip-request)."""

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class JournalError(ValueError):
    """A journal line or entry that cannot be used; the message says why."""


def _clip(value: Any) -> Any:
    """Strings cut to MAX_TEXT, containers clipped recursively, numbers kept."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT - 3] + "..."
    if isinstance(value, Mapping):
        return {str(k)[:MAX_TEXT]: _clip(v) for k, v in list(value.items())[:32]}
    if isinstance(value, list | tuple):
        return [_clip(v) for v in list(value)[:32]]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip(str(value))  # anything else (an enum, a path) as its text


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry. `wall` is the time it was recorded (Unix seconds),
    `decision` the `seq` of the cause it belongs to (its own for a cause)."""

    seq: int
    wall: float
    kind: Kind
    decision: int
    cause: str = ""
    """Why, in an operator's words (for a cause); for a step, what happened."""
    node: str | None = None
    group: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_cause(self) -> bool:
        return self.kind in CAUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION, "seq": self.seq, "time": round(self.wall, 3), "kind": self.kind.value,
            "decision": self.decision, "cause": self.cause, "node": self.node,
            "group": self.group, "detail": dict(self.detail),
        }

    def to_line(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"),
                          ensure_ascii=True).encode("ascii") + b"\n"

    @classmethod
    def from_json(cls, body: Any) -> Entry:
        if not isinstance(body, dict):
            raise JournalError("an entry must be a JSON object")
        if body.get("v") != VERSION:
            raise JournalError(f"unknown journal version {body.get('v')!r}")
        try:
            kind = Kind(str(body.get("kind")))
        except ValueError:
            raise JournalError(f"unknown kind {str(body.get('kind'))[:40]!r}") from None
        seq, decision, wall = body.get("seq"), body.get("decision"), body.get("time")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise JournalError("seq must be a positive whole number")
        if not isinstance(decision, int) or isinstance(decision, bool) or not 0 < decision <= seq:
            raise JournalError("decision must be a whole number in 1..seq")
        if not isinstance(wall, int | float) or isinstance(wall, bool) or not math.isfinite(wall):
            raise JournalError("time must be a number")
        cause = body.get("cause", "")
        detail = body.get("detail", {})
        node, group = body.get("node"), body.get("group")
        if not isinstance(cause, str) or not isinstance(detail, dict):
            raise JournalError("cause must be a string and detail an object")
        if not all(v is None or isinstance(v, str) for v in (node, group)):
            raise JournalError("node and group must be strings or null")
        return cls(seq, float(wall), kind, decision, cause, node, group, detail)


def make_entry(seq: int, wall: float, kind: Kind, decision: int, cause: str = "", *,
               node: str | None = None, group: str | None = None,
               detail: Mapping[str, Any] | None = None) -> Entry:
    """An entry with its strings clipped (MAX_TEXT) and its detail JSON-safe
    (a value JSON cannot hold becomes its text): recording never raises."""
    clipped = _clip(dict(detail or {}))
    return Entry(seq, wall, Kind(kind), seq if kind in CAUSES else decision,
                 _clip(cause), _clip(node) if node is not None else None,
                 _clip(group) if group is not None else None, clipped)


@dataclass(frozen=True, slots=True)
class Parsed:
    entries: list[Entry]
    problems: list[str]
    """One line per skipped line: `<source>:<line>: <what is wrong>`."""
    clean: bool
    """No line was skipped and the data ends with a newline (nothing to repair)."""


def parse_journal(data: bytes, *, source: str = "hb_journal", first_line: int = 1) -> Parsed:
    """Every readable entry of `data` in order; damaged lines (a torn last line
    after a crash, garbage) are skipped and named in `problems`. Entries whose
    seq does not grow are skipped too (a journal is in seq order)."""
    entries: list[Entry] = []
    problems: list[str] = []
    lines = data.split(b"\n")
    torn_tail = lines[-1] != b""
    if not torn_tail:
        lines.pop()
    last_seq = 0
    for index, raw in enumerate(lines):
        where = f"{source}:{first_line + index}"
        if not raw.strip():
            continue
        if torn_tail and index == len(lines) - 1:
            problems.append(f"{where}: incomplete last line ({len(raw)} bytes, a write cut "
                            "short by a crash?): skipped")
            continue
        if len(raw) > MAX_LINE:
            problems.append(f"{where}: line of {len(raw)} bytes, more than {MAX_LINE}: skipped")
            continue
        try:
            entry = Entry.from_json(json.loads(raw))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            problems.append(f"{where}: not JSON ({exc}): skipped")
            continue
        except JournalError as exc:
            problems.append(f"{where}: {exc}: skipped")
            continue
        if entry.seq <= last_seq:
            problems.append(f"{where}: seq {entry.seq} after {last_seq}: skipped")
            continue
        last_seq = entry.seq
        entries.append(entry)
    return Parsed(entries, problems, clean=not problems and not torn_tail)
