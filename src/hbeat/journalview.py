"""`hbeat why`'s words: decisions from journal entries, as text or JSON. Pure.

`decisions(entries)` groups entries by the decision they belong to, in
order; `select` keeps those since a time and the last N; `render` writes a
few lines per decision, the cause first, then its chain (last keepalive per
link, fencing, scripts with their exit codes and durations, groups running
or released), each step with its time after the cause; `to_json` is the
stable form for scripts (docs/journal.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hbeat.ipc.journal import REASONS, VERSION, Entry, Kind


@dataclass
class Decision:
    seq: int
    cause: Entry | None  # None: the cause has left the journal already
    steps: list[Entry] = field(default_factory=list)

    @property
    def wall(self) -> float:
        first = self.cause or self.steps[0]
        return first.wall


def decisions(entries: Iterable[Entry]) -> list[Decision]:
    by_seq: dict[int, Decision] = {}
    for e in entries:
        d = by_seq.get(e.decision)
        if d is None:
            d = by_seq[e.decision] = Decision(e.decision, e if e.seq == e.decision else None)
        elif e.seq == e.decision:
            d.cause = e
        if e.seq != e.decision:
            d.steps.append(e)
    return sorted(by_seq.values(), key=lambda d: d.seq)


def select(found: Sequence[Decision], *, since: float | None = None,
           last: int | None = None) -> list[Decision]:
    out = [d for d in found if since is None or d.wall >= since
           or any(s.wall >= since for s in d.steps)]
    if last is not None:
        out = out[-last:] if last > 0 else []
    return out


# --- --since -----------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """`30m`, `2h`, `1d` ago; `HH:MM[:SS]` today (yesterday if that is in the
    future); `YYYY-MM-DD[ HH:MM[:SS]]` or ISO 8601; local time unless it says
    otherwise. ValueError with the accepted forms."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    local_now = dt.datetime.fromtimestamp(now).astimezone()
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            t = dt.datetime.strptime(text, fmt).time()
        except ValueError:
            continue
        when = dt.datetime.combine(local_now.date(), t, local_now.tzinfo)
        if when.timestamp() > now:
            when -= dt.timedelta(days=1)
        return when.timestamp()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected 30m, 2h, 1d, HH:MM[:SS] or "
                         "YYYY-MM-DD[ HH:MM[:SS]]") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


# --- text --------------------------------------------------------------------

def _clock(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _secs(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "?"
    return f"{ms / 1000:.1f} s" if ms < 60_000 else f"{ms / 60_000:.1f} min"


def headline(d: Decision) -> str:
    c = d.cause
    if c is None:
        return "(the cause has left the journal)"
    det = c.detail
    if c.kind is Kind.NODE_DEAD:
        return f"{c.node} declared dead: {c.cause}"
    if c.kind is Kind.REQUEST:
        what, which = det.get("what", "standby"), det.get("which", "all")
        return f"{what} [{which}] asked by {c.cause}"
    if c.kind is Kind.NODE_BACK:
        return f"{c.node} is back: {c.cause}" if c.cause else f"{c.node} is back"
    if c.kind is Kind.PEER_RESTARTED:
        return f"{c.node} restarted (generation {det.get('old')} -> {det.get('new')})"
    if c.kind is Kind.PARTITION_HEALED:
        return f"partition with {c.node} healed"
    if c.kind is Kind.STARTUP:
        return f"hbeat started ({c.cause})" if c.cause else "hbeat started"
    if c.kind is Kind.SHUTDOWN:
        return f"shutdown: {c.cause}" if c.cause else "shutdown"
    if c.kind is Kind.SELF_FENCE:
        return f"self-fencing: {c.cause}"
    if c.kind is Kind.MONITOR_FAILED:
        return f"monitor of group {c.group}: {c.cause}"
    return f"{c.kind.value}: {c.cause}"


def _links(det: Any) -> str | None:
    links = det.get("links") if hasattr(det, "get") else None
    if not isinstance(links, dict) or not links:
        return None
    parts = []
    for medium, info in links.items():
        ago = info.get("ago_ms") if isinstance(info, dict) else None
        parts.append(f"{medium} {_secs(ago)} before" if ago is not None
                     else f"{medium} never heard")
    return "last keepalive: " + ", ".join(parts)


def step_line(e: Entry) -> str:
    det = e.detail
    if e.kind is Kind.FENCE:
        ok = "ok" if det.get("rc") == 0 else f"FAILED (exit {det.get('rc')})" \
            if det.get("rc") is not None else "FAILED (timed out or not run)"
        return (f"fenced {e.node} with {det.get('plugin', '?')}: {ok} "
                f"in {_secs(det.get('duration_ms'))}")
    if e.kind is Kind.SCRIPT:
        rc = det.get("rc")
        exit_text = "timed out" if rc is None else f"exit {rc}"
        verdict = det.get("verdict", "?")
        return (f"{det.get('resource', '?')} {det.get('action', '?')}: {verdict} "
                f"({exit_text}, {_secs(det.get('duration_ms'))})")
    if e.kind is Kind.GROUP:
        new, why = det.get("new"), det.get("why", "")
        words = {"running": "running here", "stopped": "released", "failed": "START FAILED",
                 "stop-failed": "STOP FAILED", "partial": "found partly running"}
        tail = f" ({why})" if why else ""
        return f"group {e.group}: {words.get(str(new), str(new))}{tail}"
    if e.kind is Kind.REFUSED:
        return f"refused: {e.cause}"
    if e.kind is Kind.MONITOR:
        return f"monitor {det.get('event', '?')}: {e.cause}"
    return f"{e.kind.value}: {e.cause}"


def render(found: Sequence[Decision], *, node: str = "") -> str:
    if not found:
        return "No decisions in the journal" + (f" of {node}" if node else "") + ".\n"
    out: list[str] = []
    for d in found:
        out.append(f"{_clock(d.wall)}  {headline(d)}")
        if d.cause is not None:
            links = _links(d.cause.detail)
            if links:
                out.append(f"    {links}")
        for s in d.steps:
            after = s.wall - d.wall
            out.append(f"    +{after:6.1f} s  {step_line(s)}")
        out.append("")
    return "\n".join(out)


def _why(cause: Entry) -> str | None:
    if cause.kind is Kind.REQUEST:
        return str(cause.detail.get("what", "request"))
    return REASONS.get(cause.kind)


def to_json(found: Sequence[Decision], *, node: str = "", source: str = "") -> dict[str, Any]:
    return {
        "version": VERSION, "node": node, "source": source,
        "decisions": [
            {"seq": d.seq, "time": round(d.wall, 3),
             "kind": d.cause.kind.value if d.cause else None,
             "why": _why(d.cause) if d.cause else None,
             "headline": headline(d),
             "cause": d.cause.to_json() if d.cause else None,
             "steps": [s.to_json() for s in d.steps]}
            for d in found
        ],
    }
