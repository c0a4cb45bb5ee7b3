"""What `hbeat status` and `hbeat watch` print: pure rendering, no I/O.

`render_status` turns a snapshot (docs/status-feed.md, `hbeat.status/1.x`)
into the one-screen summary; `event_text` / `render_event` turn one feed
message (topic + body) into a line in heartbeat's words (`node weasel: is
dead`, `Link weasel:eth1 up.`), stamped with the event's own time; `json_line`
is the `--json` form. The clock and the time zone are parameters, so the
output is a function of the input alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hbeat.ipc.statusfeed import EVENT_SCHEMA, SNAPSHOT_SCHEMA, same_major

_SNAPSHOT_FIELDS = ("local", "local_status", "generation", "nodes", "workers", "counters")


class ViewError(ValueError):
    """A snapshot or feed message that does not follow docs/status-feed.md."""


def _schema_ok(found: object, expected: str) -> bool:
    """Same schema family and major version (`hbeat.status/1`, `hbeat.status/1.2`)."""
    return same_major(found, expected)


def check_snapshot(snap: object) -> Mapping[str, Any]:
    """The snapshot itself, or ViewError naming the first thing wrong with it."""
    if not isinstance(snap, Mapping):
        raise ViewError(f"snapshot: expected a JSON object, got {type(snap).__name__}")
    if not _schema_ok(snap.get("schema"), SNAPSHOT_SCHEMA):
        raise ViewError(
            f"snapshot: schema is {snap.get('schema')!r}, this hbeat reads {SNAPSHOT_SCHEMA}"
        )
    for name in _SNAPSHOT_FIELDS:
        if name not in snap:
            raise ViewError(f"snapshot: field {name!r} is missing")
    for name in ("nodes", "workers"):
        if not isinstance(snap[name], list):
            raise ViewError(f"snapshot: field {name!r} must be a list")
    for i, node in enumerate(snap["nodes"]):
        if not isinstance(node, Mapping) or "name" not in node or "status" not in node:
            raise ViewError(f"snapshot: nodes[{i}] needs 'name' and 'status'")
    if not isinstance(snap["counters"], Mapping):
        raise ViewError("snapshot: field 'counters' must be an object")
    return snap


def format_duration(seconds: float) -> str:
    """`45s`, `3m 07s`, `2h 03m 07s`, `4d 02h 03m` (negative clamps to 0s)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def _links_text(links: object) -> str:
    if not isinstance(links, list) or not links:
        return "-"
    return ", ".join(
        f"{lk.get('name', '?')} {lk.get('status', '?')}" for lk in links if isinstance(lk, Mapping)
    )


def render_status(snap: Mapping[str, Any], now: float) -> str:
    """The one-screen summary of `hbeat status` (`now`: epoch seconds, for the uptime)."""
    check_snapshot(snap)
    local = str(snap["local"])
    started = snap.get("started")
    uptime = (
        format_duration(now - float(started)) if isinstance(started, (int, float)) else "unknown"
    )
    head = (
        f"hbeat {snap.get('version', '?')} on {local}: {snap['local_status']}"
        f"   generation {snap['generation']}   pid {snap.get('pid', '?')}   up {uptime}"
    )
    lines = [head]
    if snap.get("hbversion") or snap.get("managed_by"):
        lines.append(
            f"  speaks heartbeat {snap.get('hbversion', '?')}, "
            f"{snap.get('managed_by', '?')} mode"
        )
    lines.append("")
    rows: list[list[str]] = [["NODE", "STATUS", "TYPE", "LINKS"]]
    for node in snap["nodes"]:
        name = str(node["name"])
        rows.append([
            name + (" (local)" if name == local else ""),
            str(node["status"]),
            str(node.get("type", "normal")),
            _links_text(node.get("links")),
        ])
    lines += _table(rows, indent="")
    lines.append("")
    workers = [w for w in snap["workers"] if isinstance(w, Mapping)]
    if workers:
        wrows = [["WORKER", "PID", "STATE", "RESTARTS"]]
        wrows += [
            [str(w.get("name", "?")), str(w.get("pid", "?")), str(w.get("state", "?")),
             str(w.get("restarts", "?"))]
            for w in workers
        ]
        lines += _table(wrows, indent="")
    else:
        lines.append("WORKERS: none")
    lines.append("")
    counters = snap["counters"]
    pairs = [f"{k} {counters[k]}" for k in counters]
    lines += _wrap("counters: ", pairs, width=78)
    resources = snap.get("resources")
    lines += resources_lines(resources if isinstance(resources, Mapping) else {})
    return "\n".join(lines) + "\n"


def _ms_text(ms: object) -> str:
    """`850 ms`, `12.3 s`, `3m 07s` for a whole number of milliseconds."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return "?"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return format_duration(ms / 1000)


STAGE_WORDS = {
    "wait_other": "asked the peer, waiting for its go-ahead",
    "releasing": "stopping our groups for the peer",
    "wait_done": "groups stopped, waiting for the peer to finish",
    "wait_release": "waiting for the peer to stop its groups",
    "acquiring": "starting the groups the peer gave up",
}


def resources_lines(res: Mapping[str, Any]) -> list[str]:
    """The resource part of `hbeat status`: what is held, what the resource
    manager is doing (phase, standby/takeover stage, the running operation
    with its time against the deadline), what the start-up probe found, and
    why a group cannot run on this node (docs/resources.md, "Exit codes")."""
    lines = [f"resources held: {res.get('held', '?')}"]
    phase = res.get("phase")
    if isinstance(phase, str) and phase != "none":
        doing = f"resources phase: {phase}"
        if res.get("job"):
            doing += f"; job: {res['job']}"
        queued = res.get("queued_jobs")
        if isinstance(queued, list) and queued:
            doing += f"; queued: {', '.join(str(j) for j in queued)}"
        lines.append(doing)
    if res.get("shutdown_stuck"):
        lines.append("  SHUTDOWN STUCK: a group failed to stop; retrying its stops "
                     "(the peer cannot take it over safely)")
    sb = res.get("standby")
    if isinstance(sb, Mapping):
        role = "going standby (giving)" if sb.get("role") == "asker" else "taking over"
        stage = str(sb.get("stage", "?"))
        left = sb.get("deadline_in_ms")
        due = f", gives up in {_ms_text(left)}" if left is not None else ""
        lines.append(f"  standby: {role} {sb.get('which', '?')} resources; stage {stage} "
                     f"({STAGE_WORDS.get(stage, stage)}){due}")
    op = res.get("operation")
    if isinstance(op, Mapping):
        elapsed, left = op.get("elapsed_ms"), op.get("deadline_in_ms")
        limit = (f" of {_ms_text(elapsed + left)}" if isinstance(elapsed, int)
                 and isinstance(left, int) else "")
        late = " (PAST ITS DEADLINE)" if left == 0 else ""
        lines.append(f"  running: {op.get('action', '?')} {op.get('resource', '?')} "
                     f"(group {op.get('group', '?')}, job {op.get('job') or '-'}) "
                     f"for {_ms_text(elapsed)}{limit}{late}")
    peer = res.get("peer")
    if isinstance(peer, Mapping):
        hold = peer.get("hold") or "unknown"
        state = "alive" if peer.get("alive") else "dead"
        stable = ", stable" if peer.get("stable") else ""
        lines.append(f"  peer {peer.get('name', '?')}: {state}, holds {hold}{stable}")
    mon = res.get("monitor")
    if isinstance(mon, Mapping):
        lines.append(f"  monitor: every {_ms_text(mon.get('interval_ms'))}, up to "
                     f"{mon.get('restarts', '?')} restart(s) within "
                     f"{_ms_text(mon.get('window_ms'))}, then to the peer")
    groups = [g for g in res.get("groups", []) if isinstance(g, Mapping)]
    if groups:
        found = any(g.get("found") for g in groups)
        watched = any(isinstance(g.get("monitor"), Mapping) for g in groups)
        head = ["GROUP", "HOME", "STATE HERE", "RESOURCES"] + (["PROBE FOUND"] if found else [])
        head += ["MONITOR"] if watched else []
        grows = [head]
        for g in groups:
            row = [str(g.get("key", "?")), str(g.get("node", "?")), str(g.get("state", "?")),
                   " ".join(str(r) for r in g.get("resources", []))]
            if found:
                row.append(" ".join(str(r) for r in g.get("found", [])) or "-")
            if watched:
                m = g.get("monitor")
                row.append(monitor_text(m) if isinstance(m, Mapping) else "-")
            grows.append(row)
        lines += _table(grows, indent="  ")
        for g in groups:
            if g.get("cannot_run"):
                lines.append(f"  CANNOT RUN HERE: group {g.get('key', '?')}: {g['cannot_run']}")
    return lines + _fencing_lines(res)


def monitor_text(m: Mapping[str, Any]) -> str:
    """A group's monitoring in a few words (docs/status-feed.md, `groups[].monitor`)."""
    action = m.get("action")
    if action:
        text = str(action).replace("-", " ")
    elif m.get("watched"):
        left = m.get("next_in_ms")
        text = f"ok, next in {_ms_text(left)}" if left is not None else "probing"
    else:
        text = "not running here"
    if m.get("failures"):
        ago = m.get("last_failure_elapsed_ms")
        text += (f"; {m['failures']} failure(s), {m.get('restarts', 0)} restart(s) in window; "
                 f"last: {m.get('last_failure')}"
                 + (f", {_ms_text(ago)} ago" if ago is not None else ""))
    return text


def _fencing_lines(res: Mapping[str, Any]) -> list[str]:
    """STONITH devices and each peer's fence (docs/fencing.md), when configured."""
    lines: list[str] = []
    if res.get("boot_wait"):
        lines.append("start-up: waiting for the peer (not heard, no STONITH: run hb_takeover "
                     "if it is down)")
    fencing = res.get("fencing")
    if not isinstance(fencing, Mapping):
        return lines
    lines.append(f"STONITH devices: {' '.join(str(d) for d in fencing.get('devices', []))}")
    peers = [p for p in fencing.get("peers", []) if isinstance(p, Mapping)]
    if peers:
        rows = [["PEER", "FENCE", "ATTEMPTS", "LAST RESULT"]]
        for p in peers:
            last = f"{p.get('last_result') or '-'}"
            if p.get("last_rc") not in (None, 0):
                last += f" (rc {p.get('last_rc')})"
            state = str(p.get("state", "?")) + (" (called off)" if p.get("cancelled") else "")
            rows.append([str(p.get("node", "?")), state, str(p.get("attempts", 0)), last])
        lines += _table(rows, indent="  ")
    return lines


def _wrap(label: str, items: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    current = label
    pad = " " * len(label)
    for item in items:
        sep = "" if current in (label, pad) else ", "
        if len(current) + len(sep) + len(item) > width and current not in (label, pad):
            lines.append(current + ",")
            current = pad + item
        else:
            current += sep + item
    lines.append(current if items else label + "none")
    return lines


def _field(body: Mapping[str, Any], name: str, topic: str) -> str:
    if name not in body:
        raise ViewError(f"feed message {topic!r}: field {name!r} is missing")
    return str(body[name])


def event_text(topic: str, body: Mapping[str, Any], local: str | None = None) -> str:
    """One feed message in heartbeat's words (without the time stamp)."""
    kind = topic.split(".", 1)[0]
    if kind == "snapshot":
        check_snapshot(body)
        nodes = ", ".join(f"{n['name']} {n['status']}" for n in body["nodes"])
        return f"snapshot: {body['local']} {body['local_status']}; nodes {nodes}"
    if not _schema_ok(body.get("schema"), EVENT_SCHEMA):
        raise ViewError(
            f"feed message {topic!r}: schema is {body.get('schema')!r}, "
            f"this hbeat reads {EVENT_SCHEMA}"
        )
    if kind == "node":
        node, new = _field(body, "node", topic), _field(body, "new", topic)
        if new == "dead":
            reason = body.get("reason")
            return f"node {node}: is dead" + (f" ({reason})" if reason else "")
        if node == local:
            return f"Local status now set to: '{new}'"
        return f"Status update for node {node}: status {new}"
    if kind == "link":
        node, link = _field(body, "node", topic), _field(body, "link", topic)
        return f"Link {node}:{link} {_field(body, 'new', topic)}."
    if kind == "cluster":
        return _cluster_text(topic, body)
    if kind == "fence":
        node, new = _field(body, "node", topic), _field(body, "new", topic)
        return f"STONITH of {node}: {body.get('old', '?')} -> {new}"
    if kind == "monitor":
        group, event = _field(body, "group", topic), _field(body, "event", topic)
        rsc = f" {body['resource']}" if body.get("resource") else ""
        where = f" on {body['node']}" if body.get("node") else ""
        return (f"monitor of group {group}: {event}{rsc} ({body.get('reason', '')}); "
                f"{body.get('restarts', '?')} restart(s) in window{where}")
    if kind == "resource":
        group, new = _field(body, "group", topic), _field(body, "new", topic)
        where = f" on {body['node']}" if body.get("node") else ""
        return f"resource group {group}: {body.get('old', '?')} -> {new}{where}"
    extra = {k: v for k, v in body.items() if k not in ("schema", "at")}
    return f"{topic}: {json.dumps(extra, sort_keys=True)}"


def _cluster_text(topic: str, body: Mapping[str, Any]) -> str:
    event = _field(body, "event", topic)
    node = body.get("node")
    if event == "comm-up":
        return "Comm_now_up(): updating status to active"
    if event == "node-dead" and node:
        return f"Membership: node {node} left the cluster (dead)"
    if event == "peer-restarted" and node:
        return (f"Heartbeat restart on node {node} (generation {body.get('old_generation', '?')}"
                f" -> {body.get('new_generation', '?')})")
    if event == "partition" and node:
        return f"Cluster node {node} returning after partition."
    if event == "late-heartbeat" and node:
        interval = body.get("interval_ms")
        return f"Late heartbeat: Node {node}: interval {interval} ms"
    if event == "rejected-packets":
        counts = body.get("counts")
        parts = [f"{c.get('count', '?')} {c.get('code', '?')} from {c.get('peer', '?')}"
                 for c in counts if isinstance(c, dict)] if isinstance(counts, list) else []
        return (f"rejected packets on {body.get('medium', '?')}: "
                f"{', '.join(parts) or 'none'} (total {body.get('total', '?')})")
    extra = {k: v for k, v in body.items() if k not in ("schema", "at", "event")}
    return f"cluster {event}: {json.dumps(extra, sort_keys=True)}"


def format_time(at: float, tz: dt.tzinfo | None) -> str:
    """`HH:MM:SS.mmm` of an epoch time in `tz` (None: UTC)."""
    stamp = dt.datetime.fromtimestamp(at, tz or dt.UTC)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def render_event(
    topic: str,
    body: Mapping[str, Any],
    *,
    local: str | None = None,
    tz: dt.tzinfo | None = None,
    received: float | None = None,
) -> str:
    """`HH:MM:SS.mmm text`: the event's `at`, else the time it was received."""
    at = body.get("at")
    when = float(at) if isinstance(at, (int, float)) else received
    stamp = format_time(when, tz) if when is not None else "--:--:--.---"
    return f"{stamp} {event_text(topic, body, local)}"


def json_line(topic: str, body: Mapping[str, Any]) -> str:
    """A feed message as one JSON line: `{"topic": ..., "body": {...}}`."""
    return json.dumps({"topic": topic, "body": body}, separators=(",", ":"), sort_keys=False)


def parse_feed_message(parts: Sequence[bytes]) -> tuple[str, dict[str, Any]]:
    """(topic, body) of a two-frame feed message, or ViewError saying what is wrong."""
    if len(parts) != 2:
        raise ViewError(f"feed message has {len(parts)} frame(s), expected 2 (topic, JSON)")
    try:
        topic = parts[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ViewError(f"feed message topic is not UTF-8: {exc}") from exc
    try:
        body = json.loads(parts[1])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ViewError(f"feed message {topic!r}: body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ViewError(f"feed message {topic!r}: body must be a JSON object")
    return topic, body
