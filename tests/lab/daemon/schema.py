"""A small checker for the status feed schema of docs/status-feed.md (version 1).

Written from the documentation, independently of the daemon and of
hbeat.statusview, so a drift between the page and the code fails a test.
Each check returns the list of problems (empty when the object conforms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NODE_STATES = {"init", "up", "active", "dead", "ping"}
LINK_STATES = {"up", "dead"}
HELD = {"all", "local", "foreign", "none", "transition"}


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _need(obj: dict[str, Any], where: str, spec: dict[str, Any], errors: list[str]) -> None:
    for key, kind in spec.items():
        if key not in obj:
            errors.append(f"{where}: missing {key!r}")
            continue
        v = obj[key]
        ok = {
            "str": isinstance(v, str), "num": _is_num(v), "int": _is_int(v),
            "list": isinstance(v, list), "dict": isinstance(v, dict),
        }[kind] if isinstance(kind, str) else v in kind
        if not ok:
            errors.append(f"{where}: {key!r} = {v!r} is not {kind}")


def check_snapshot(snap: Any, *, nodes: Sequence[str], media: Sequence[str]) -> list[str]:
    """Problems with a snapshot, given the cluster's ha.cf node and media order."""
    if not isinstance(snap, dict):
        return [f"snapshot is {type(snap).__name__}, not an object"]
    errors: list[str] = []
    _need(snap, "snapshot", {
        "schema": {"hbeat.status/1"}, "at": "num", "local": "str", "version": "str",
        "hbversion": "str", "managed_by": "str", "local_status": NODE_STATES - {"ping"},
        "generation": "int", "pid": "int", "nodes": "list", "parameters": "dict",
        "resources": "dict", "workers": "list", "counters": "dict",
    }, errors)
    if errors:
        return errors
    if [n.get("name") for n in snap["nodes"] if isinstance(n, dict)] != list(nodes):
        errors.append(f"snapshot: nodes {snap['nodes']!r} not in ha.cf order {list(nodes)}")
    for i, node in enumerate(snap["nodes"]):
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            errors.append(f"{where} is not an object")
            continue
        _need(node, where, {"name": "str", "status": NODE_STATES, "type": "str",
                            "weight": "int", "site": "str", "links": "list"}, errors)
        links = node.get("links", [])
        if isinstance(links, list):
            if [lk.get("name") for lk in links if isinstance(lk, dict)] != list(media):
                errors.append(f"{where}: links {links!r} not in ha.cf media order {list(media)}")
            for j, lk in enumerate(links):
                if isinstance(lk, dict):
                    _need(lk, f"{where}.links[{j}]", {"name": "str", "status": LINK_STATES},
                          errors)
                else:
                    errors.append(f"{where}.links[{j}] is not an object")
    for key, value in snap["parameters"].items():
        if not isinstance(value, str):
            errors.append(f"parameters[{key!r}] = {value!r} is not a string")
    _need(snap["resources"], "resources", {"held": HELD}, errors)
    for i, w in enumerate(snap["workers"]):
        if isinstance(w, dict):
            _need(w, f"workers[{i}]", {"name": "str", "pid": "int", "state": "str",
                                       "restarts": "int"}, errors)
        else:
            errors.append(f"workers[{i}] is not an object")
    for key, value in snap["counters"].items():
        if not _is_int(value):
            errors.append(f"counters[{key!r}] = {value!r} is not an integer")
    return errors


def check_event(topic: str, body: Any) -> list[str]:
    """Problems with a `node.*`, `link.*`, `cluster.*` or `resource.*` feed message."""
    if not isinstance(body, dict):
        return [f"{topic}: body is not an object"]
    errors: list[str] = []
    kind, _, rest = topic.partition(".")
    common = {"schema": {"hbeat.event/1"}, "at": "num"}
    if kind == "node":
        _need(body, topic, {**common, "node": "str", "old": NODE_STATES, "new": NODE_STATES,
                            "reason": "str"}, errors)
        if body.get("node") != rest:
            errors.append(f"{topic}: node {body.get('node')!r} does not match the topic")
    elif kind == "link":
        _need(body, topic, {**common, "node": "str", "link": "str", "old": LINK_STATES,
                            "new": LINK_STATES}, errors)
        if f"{body.get('node')}.{body.get('link')}" != rest:
            errors.append(f"{topic}: node/link do not match the topic")
    elif kind == "cluster":
        _need(body, topic, {**common, "event": "str"}, errors)
        if body.get("event") != rest:
            errors.append(f"{topic}: event {body.get('event')!r} does not match the topic")
    elif kind == "resource":
        _need(body, topic, {**common, "group": "str", "old": "str", "new": "str"}, errors)
        if body.get("group") != rest:
            errors.append(f"{topic}: group {body.get('group')!r} does not match the topic")
    else:
        errors.append(f"{topic}: unknown topic family {kind!r}")
    return errors
