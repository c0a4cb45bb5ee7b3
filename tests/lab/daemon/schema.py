"""The status feed schema, read from docs/status-feed.md itself, and checks against it.

The page's field tables (a `#### \\`path\\`` heading, then a `| field | type
| meaning |` table) are the schema: `load_schema()` parses them, so the page
and what the tests hold the daemon to cannot drift apart. `check_snapshot`
and `check_event` return the list of problems (empty when the object
conforms): a documented field missing or of another type, a field the page
does not document, and the value rules the page states in words (node and
link states, ha.cf order, topics matching bodies). Written from the page,
independently of the daemon and of hbeat.statusview.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[3] / "docs" / "status-feed.md"
NODE_STATES = {"init", "up", "active", "dead", "ping"}
LINK_STATES = {"up", "dead"}
HELD = {"all", "local", "foreign", "none", "transition"}
FENCE_STATES = {"idle", "attempting", "failed", "fenced"}
BASE_TYPES = {"string", "integer", "number", "boolean", "list", "object", "map"}

_HEADING = re.compile(r"^#{2,6}\s+`([^`]+)`\s*$")


@dataclass(frozen=True)
class Schema:
    objects: dict[str, dict[str, str]]
    """path (`snapshot`, `snapshot.nodes[]`, `node.<name>`, ...) -> {field: type}."""
    cluster_events: dict[str, tuple[str, ...]]
    """cluster event -> the fields it adds to the common ones."""
    snapshot_schema: str
    event_schema: str


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text: str) -> Schema:
    objects: dict[str, dict[str, str]] = {}
    events: dict[str, tuple[str, ...]] = {}
    path: str | None = None
    table: str | None = None  # "fields" / "events" while inside such a table
    for number, line in enumerate(text.splitlines(), 1):
        if m := _HEADING.match(line):
            path, table = m.group(1), None
            continue
        if not line.startswith("|"):
            table = None
            continue
        cells = _cells(line)
        if table is None:
            if cells[:2] == ["field", "type"] and path is not None:
                table = "fields"
                if path in objects:
                    raise ValueError(f"{DOC.name}:{number}: a second table for {path}")
                objects[path] = {}
            elif cells[:2] == ["event", "fields"]:
                table = "events"
            else:
                table = "other"
            continue
        if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue  # the separator row
        if table == "fields":
            assert path is not None
            name, kind = cells[0].strip("`"), cells[1]
            if any(k.strip() not in BASE_TYPES | {"null"} for k in kind.split(" or ")):
                raise ValueError(f"{DOC.name}:{number}: unknown type {kind!r} of {path}.{name}")
            objects[path][name] = kind
        elif table == "events":
            fields = tuple(f.strip().strip("`") for f in cells[1].split(",") if f.strip())
            events[cells[0].strip("`")] = fields
    snap = re.search(r"`schema` \| string \| `(hbeat\.status/[0-9.]+)`", text)
    event = re.search(r"`schema` \| string \| `(hbeat\.event/[0-9.]+)`", text)
    if snap is None or event is None:
        raise ValueError(f"{DOC.name}: the schema versions are not documented")
    return Schema(objects, events, snap.group(1), event.group(1))


@cache
def load_schema() -> Schema:
    return parse(DOC.read_text())


def _type_ok(value: object, kind: str) -> bool:
    for k in kind.split(" or "):
        k = k.strip()
        if k == "null" and value is None:
            return True
        if k == "string" and isinstance(value, str):
            return True
        if k == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if k == "boolean" and isinstance(value, bool):
            return True
        if k == "list" and isinstance(value, list):
            return True
        if k in ("object", "map") and isinstance(value, dict):
            return True
    return False


def check_object(path: str, obj: Any, where: str = "",
                 extra: Sequence[str] = ()) -> list[str]:
    """`obj` against the table of `path` (and the nested tables under it);
    `extra` names fields allowed besides the table's."""
    schema = load_schema()
    where = where or path
    if not isinstance(obj, dict):
        return [f"{where}: {type(obj).__name__}, not an object"]
    fields = schema.objects[path]
    errors: list[str] = []
    for name, kind in fields.items():
        if name not in obj:
            errors.append(f"{where}: documented field {name!r} is missing")
            continue
        value = obj[name]
        if not _type_ok(value, kind):
            errors.append(f"{where}.{name} = {value!r} is not {kind}")
            continue
        if isinstance(value, dict) and f"{path}.{name}" in schema.objects:
            errors += check_object(f"{path}.{name}", value, f"{where}.{name}")
        if isinstance(value, list) and f"{path}.{name}[]" in schema.objects:
            for i, item in enumerate(value):
                errors += check_object(f"{path}.{name}[]", item, f"{where}.{name}[{i}]")
    for name in obj:
        if name not in fields and name not in extra:
            errors.append(f"{where}: field {name!r} is not documented in {DOC.name}")
    return errors


def check_snapshot(snap: Any, *, nodes: Sequence[str], media: Sequence[str]) -> list[str]:
    """Problems with a snapshot, given the cluster's ha.cf node and media order."""
    errors = check_object("snapshot", snap)
    if errors:
        return errors
    if snap["schema"] != load_schema().snapshot_schema:
        errors.append(f"snapshot: schema {snap['schema']!r}, the page documents "
                      f"{load_schema().snapshot_schema!r}")
    if snap["local_status"] not in NODE_STATES - {"ping"}:
        errors.append(f"snapshot: local_status {snap['local_status']!r}")
    if [n["name"] for n in snap["nodes"]] != list(nodes):
        errors.append(f"snapshot: nodes {snap['nodes']!r} not in ha.cf order {list(nodes)}")
    for i, node in enumerate(snap["nodes"]):
        if node["status"] not in NODE_STATES:
            errors.append(f"nodes[{i}].status {node['status']!r}")
        if [lk["name"] for lk in node["links"]] != list(media):
            errors.append(f"nodes[{i}]: links {node['links']!r} not in ha.cf media order "
                          f"{list(media)}")
        errors += [f"nodes[{i}].links: status {lk['status']!r}" for lk in node["links"]
                   if lk["status"] not in LINK_STATES]
    for key, value in snap["parameters"].items():
        if not isinstance(value, str):
            errors.append(f"parameters[{key!r}] = {value!r} is not a string")
    if snap["resources"]["held"] not in HELD:
        errors.append(f"resources.held {snap['resources']['held']!r}")
    for key, value in snap["counters"].items():
        if not _type_ok(value, "integer"):
            errors.append(f"counters[{key!r}] = {value!r} is not an integer")
    return errors


def event_path(topic: str) -> str | None:
    """The page's table for a feed topic (`node.weasel` -> `node.<name>`)."""
    kind = topic.split(".", 1)[0]
    for path in load_schema().objects:
        if path.startswith(f"{kind}.<"):
            return path
    return None


def check_event(topic: str, body: Any) -> list[str]:
    """Problems with a `node.*`, `link.*`, `cluster.*`, `resource.*`, `monitor.*` or
    `fence.*` feed message."""
    path = event_path(topic)
    if path is None:
        return [f"{topic}: topic family not documented in {DOC.name}"]
    kind, _, rest = topic.partition(".")
    extra: Sequence[str] = ()
    if kind == "cluster":
        events = load_schema().cluster_events
        if rest not in events:
            return [f"{topic}: cluster event {rest!r} not documented in {DOC.name}"]
        extra = events[rest]
    errors = check_object(path, body, topic, extra)
    if errors:
        return errors
    errors += [f"{topic}: documented field {f!r} of this event is missing"
               for f in extra if f not in body]
    if body["schema"] != load_schema().event_schema:
        errors.append(f"{topic}: schema {body['schema']!r}")
    if kind == "node":
        if body["node"] != rest:
            errors.append(f"{topic}: node {body['node']!r} does not match the topic")
        if {body["old"], body["new"]} - NODE_STATES:
            errors.append(f"{topic}: states {body['old']!r} -> {body['new']!r}")
        if not body["reason"]:
            errors.append(f"{topic}: empty reason")
    elif kind == "link":
        if f"{body['node']}.{body['link']}" != rest:
            errors.append(f"{topic}: node/link do not match the topic")
        if {body["old"], body["new"]} - LINK_STATES:
            errors.append(f"{topic}: states {body['old']!r} -> {body['new']!r}")
    elif kind == "cluster" and body["event"] != rest:
        errors.append(f"{topic}: event {body['event']!r} does not match the topic")
    elif kind in ("resource", "monitor") and body["group"] != rest:
        errors.append(f"{topic}: group {body['group']!r} does not match the topic")
    elif kind == "fence":
        if body["node"] != rest:
            errors.append(f"{topic}: node {body['node']!r} does not match the topic")
        if {body["old"], body["new"]} - FENCE_STATES:
            errors.append(f"{topic}: states {body['old']!r} -> {body['new']!r}")
    return errors
