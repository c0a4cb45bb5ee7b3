"""The control API's commands, and the snapshot they and the feed publish.

Each `cmd_<name>` method is the command `<name>` (`debug_stall` is
`debug-stall`); its docstring is its help text (`help` lists them all).
Arguments arrive as the request's `args` object; a bad one raises
ControlError with a stable errno (hbeat.control). The snapshot's schema is
docs/status-feed.md. The supervisor is reached through `Host`, the part of
it the commands use (supervisor.daemon implements it; this module does not
import it).
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from hbeat import __version__, drbdfence
from hbeat.config.model import ClusterConfig, ResourceGroup
from hbeat.control import ControlErrno, ControlError
from hbeat.ipc.statusfeed import SNAPSHOT_SCHEMA
from hbeat.logfmt import Level
from supervisor import membership as mb
from supervisor import outdate as od
from supervisor import resources as rs
from supervisor.feed import Feed
from supervisor.journal import Journal
from supervisor.membership import Membership
from supervisor.pinglink import PingLink
from supervisor.workerpool import WorkerPool


class Host(Protocol):
    """What the commands and the snapshot need of the supervisor."""

    config: ClusterConfig
    node: str
    generation: int
    started_wall: float
    link_names: tuple[str, ...]
    groups: dict[str, ResourceGroup]
    counters: dict[str, int]
    membership: Membership
    resources: rs.Resources | None
    feed: Feed
    pool: WorkerPool
    ping: PingLink
    debug: bool
    stall_ms: int
    stall_every_s: float
    next_stall: float
    journal: Journal

    def log(self, level: Level, text: str) -> None: ...

    def apply_resources(self, actions: list[rs.Action]) -> None: ...

    @property
    def outdater(self) -> od.Outdater: ...

    def apply_outdate(self, effects: list[od.Effect]) -> None: ...

HBVERSION = f"3.0.6 (node: hbeat-{__version__})"
MAX_STALL_MS = 60_000
STANDBY_WORDS = ("all", "local", "foreign", "failback")


class ControlCommands:
    def __init__(self, sup: Host) -> None:
        self.sup = sup

    def run(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"cmd_{command.replace('-', '_')}", None)
        if handler is None:
            raise ControlError(ControlErrno.UNKNOWN_COMMAND, f"unknown command {command!r}")
        result: dict[str, Any] = handler(args)
        return result

    def cmd_help(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every command with its help text."""
        return {
            name[4:].replace("_", "-"): (getattr(self, name).__doc__ or "").strip()
            for name in dir(self)
            if name.startswith("cmd_")
        }

    def cmd_snapshot(self, args: dict[str, Any]) -> dict[str, Any]:
        """The whole node state (docs/status-feed.md); `publish: true` also
        sends it on the status feed."""
        snap = build_snapshot(self.sup)
        if args.get("publish"):
            self.sup.feed.snapshot(snap)
        return snap

    def cmd_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """The decision journal (docs/journal.md), oldest first; `since`
        (Unix seconds) keeps the entries recorded since then."""
        since = args.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)):
            raise ControlError(ControlErrno.BAD_ARGUMENT, "since must be a number (Unix time)")
        journal = self.sup.journal
        return {"node": self.sup.node, "capacity": journal.capacity,
                "entries": [e.to_json() for e in journal.entries(since=since)]}

    def cmd_standby(self, args: dict[str, Any]) -> dict[str, Any]:
        """hb_standby: give resources to the peer; `which` is all (default),
        local, foreign or failback."""
        return self._standby_or_takeover("standby", args)

    def cmd_takeover(self, args: dict[str, Any]) -> dict[str, Any]:
        """hb_takeover: take resources from the peer; `which` is all (default),
        local, foreign or failback."""
        return self._standby_or_takeover("takeover", args)

    def _standby_or_takeover(self, what: str, args: dict[str, Any]) -> dict[str, Any]:
        which = str(args.get("which", "all"))
        if which not in STANDBY_WORDS:
            raise ControlError(ControlErrno.BAD_ARGUMENT,
                               f"wrong resources({which}): expected all, local, foreign "
                               "or failback")
        resources = self.sup.resources
        if resources is None:
            config = self.sup.config
            if config.groups:
                raise ControlError(ControlErrno.REFUSED,
                                   f"this node runs no resources: haresources homes its "
                                   f"groups on {' and '.join(config.resource_nodes)}; run "
                                   f"hb_{what} there")
            raise ControlError(ControlErrno.REFUSED,
                               "no resource groups are configured (haresources is empty)")
        method = resources.standby if what == "standby" else resources.takeover
        self.sup.apply_resources(method(which, time.monotonic_ns() // 1_000_000))
        return {"held": resources.held}

    def cmd_debug_stall(self, args: dict[str, Any]) -> dict[str, Any]:
        """Debugging only (daemon started with HBEAT_DEBUG=1): block the
        supervisor's loop `ms` milliseconds every `every_s` seconds (`ms` 0: stop).
        Proves the link workers keep their schedule without the supervisor."""
        sup = self.sup
        if not sup.debug:
            raise ControlError(ControlErrno.REFUSED,
                               "debug-stall is a debugging hook: start the daemon with "
                               "HBEAT_DEBUG=1 to use it")
        ms, every_s = args.get("ms"), args.get("every_s", 1.0)
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= MAX_STALL_MS:
            raise ControlError(ControlErrno.BAD_ARGUMENT,
                               f"debug-stall: 'ms' must be a whole number 0..{MAX_STALL_MS}, "
                               f"not {ms!r}")
        if (not isinstance(every_s, (int, float)) or isinstance(every_s, bool)
                or not every_s * 1000 > ms or every_s <= 0):
            raise ControlError(ControlErrno.BAD_ARGUMENT,
                               f"debug-stall: 'every_s' must be a number of seconds longer "
                               f"than the stall ({ms} ms), not {every_s!r}")
        sup.stall_ms, sup.stall_every_s = ms, float(every_s)
        sup.next_stall = time.monotonic() + sup.stall_every_s
        if ms:
            sup.log(Level.WARN, f"debug-stall: the supervisor will block {ms} ms "
                                f"every {every_s} s")
        else:
            sup.log(Level.INFO, "debug-stall: off")
        return {"ms": ms, "every_s": sup.stall_every_s}


    def cmd_outdate_peer(self, args: dict[str, Any]) -> dict[str, Any]:
        """DRBD fence-peer (`hbeat outdate-peer`): ask `peer` (default: the only
        peer) to outdate DRBD resource `resource`; `timeout_ms` (default 10000).
        Returns `id`; poll `outdate-peer-result` with it."""
        sup = self.sup
        resource = args.get("resource")
        if not isinstance(resource, str) or not drbdfence.valid_resource(resource):
            raise ControlError(ControlErrno.BAD_ARGUMENT, f"bad DRBD resource {resource!r}")
        peer = args.get("peer")
        peers = sup.config.peers
        if peer is None or peer not in peers:
            if len(peers) != 1:
                raise ControlError(ControlErrno.NO_SUCH_NODE,
                                   f"peer {peer!r} is not a cluster node (nodes: "
                                   f"{', '.join(peers) or 'none'})")
            peer = peers[0]
        timeout = args.get("timeout_ms", 10_000)
        if not isinstance(timeout, int) or not 0 < timeout <= 600_000:
            raise ControlError(ControlErrno.BAD_ARGUMENT, "timeout_ms: 1..600000")
        now = time.monotonic_ns() // 1_000_000
        alive = sup.membership.node_status(peer) in (mb.UP, mb.ACTIVE)
        fenced = (not alive and sup.resources is not None and sup.resources.fencing
                  .fenced_since(peer, sup.membership.last_status_at(peer)))
        reqid, effects = sup.outdater.ask(resource, peer, alive, timeout, now,
                                          peer_fenced=fenced)
        sup.apply_outdate(effects)
        return {"id": reqid, "peer": peer}

    def cmd_outdate_peer_result(self, args: dict[str, Any]) -> dict[str, Any]:
        """The state of an `outdate-peer` request `id`: `done`, and when done the
        fence-peer exit `code` and `why`."""
        reqid = args.get("id")
        if not isinstance(reqid, int):
            raise ControlError(ControlErrno.BAD_ARGUMENT, "id: a number from outdate-peer")
        entry = self.sup.outdater.result(reqid, time.monotonic_ns() // 1_000_000)
        if entry is None:
            raise ControlError(ControlErrno.BAD_ARGUMENT, f"no outdate-peer request {reqid}")
        if entry.code is None:
            return {"done": False}
        return {"done": True, "code": entry.code, "why": entry.why}


def build_snapshot(sup: Host) -> dict[str, Any]:
    """The status snapshot (docs/status-feed.md), from membership's and the
    resource manager's own snapshots; monotonic deadlines become ms from now.
    Node entries hold only what changes with the node's state (tests and
    tools compare them), not the ever-moving time left before a death."""
    now = time.monotonic_ns() // 1_000_000
    ms = mb.snapshot(sup.membership, now)
    ms_nodes: dict[str, Any] = ms["nodes"]  # type: ignore[assignment]
    nodes = []
    for name in sup.config.nodes:
        view = ms_nodes.get(name) or ms_nodes[name.lower()]
        nodes.append({
            "name": name, "status": view["status"], "type": "normal", "weight": 100,
            "site": "",
            "links": [{"name": link, "status": view["links"][link]} for link in sup.link_names],
        })
    # Ping nodes among the others in ha.cf's order, which heartbeat keeps
    # (cl_status lists its nodes in the reverse of it).
    hacf = sup.config.hacf
    line_of = dict(zip(hacf.nodes, hacf.node_lines, strict=False))
    ranked = [(line_of.get(n["name"], 0), n) for n in nodes]
    ranked += [(p.line, n) for p, n in zip(hacf.ping_nodes, sup.ping.snapshot_nodes(),
                                          strict=True)]
    nodes = [n for _, n in sorted(ranked, key=lambda item: item[0])]
    counters: dict[str, int] = ms["counters"]  # type: ignore[assignment]
    return {
        "schema": SNAPSHOT_SCHEMA,
        "at": time.time(),
        "local": sup.node,
        "version": __version__,
        "hbversion": HBVERSION,
        "managed_by": "haresources",
        "local_status": ms["local_status"],
        "comm_up": ms["comm_up"],
        "generation": sup.generation,
        "pid": os.getpid(),
        "started": sup.started_wall,
        "nodes": nodes,
        "parameters": dict(sup.config.hacf.parameters) | {"hbversion": HBVERSION},
        "resources": _resources_snapshot(sup, now),
        "workers": [
            {"name": s.name, "pid": s.pid, "state": s.state, "restarts": s.restarts}
            for s in sup.pool.slots.values()
        ],
        "counters": sup.counters | counters,
    }


def _left(deadline: object, now: int) -> int | None:
    return max(0, deadline - now) if isinstance(deadline, int) else None


def _resources_snapshot(sup: Host, now: int) -> dict[str, Any]:
    texts = {key: [r.text for r in g.resources] for key, g in sup.groups.items()}
    if sup.resources is None:
        # No groups, or a member-only node of a larger cluster (the groups run
        # on the resource pair, never here): nothing is ever held here.
        return {"held": "none", "phase": "none", "shutdown_stuck": False, "peer": None,
                "standby": None, "job": None, "queued_jobs": [], "operation": None,
                "fencing": None, "boot_wait": False, "monitor": None,
                "groups": [{"key": key, "node": g.node, "state": "stopped",
                            "resources": texts[key], "found": [], "cannot_run": None,
                            "monitor": None}
                           for key, g in sup.groups.items()]}
    rs: dict[str, Any] = dict(sup.resources.snapshot())
    standby = rs["standby"]
    if standby is not None:
        standby = {"role": standby["role"], "which": standby["which"],
                   "stage": standby["stage"], "deadline_in_ms": _left(standby["deadline_ms"], now)}
    queue: list[str] = list(rs["queue"])  # job names, the running one first
    op = rs["running_op"]
    operation = None
    if op is not None:
        resources = texts.get(op["group"], [])
        index = op["index"]
        group_op = rs["groups"][op["group"]].get("operation") or {}
        operation = {
            "job": group_op.get("job", queue[0] if queue else None),
            "group": op["group"], "index": index,
            "resource": op.get("resource")
            or (resources[index] if 0 <= index < len(resources) else "?"),
            "action": op["action"],
            "elapsed_ms": max(0, now - op["issued_ms"]),
            "deadline_in_ms": _left(op["deadline_ms"], now),
        }
    groups = [
        {"key": key, "node": g.node, "state": rs["groups"][key]["state"],
         "resources": texts[key], "found": list(rs["groups"][key]["found"]),
         "cannot_run": rs["groups"][key]["cannot_run"],
         "monitor": _monitor_view(rs["groups"][key].get("monitor"), now)}
        for key, g in sup.groups.items()
    ]
    return {"held": rs["held"], "phase": rs["phase"], "shutdown_stuck": rs["shutdown_stuck"],
            "peer": rs["peer"], "standby": standby, "job": queue[0] if queue else None,
            "queued_jobs": queue[1:], "operation": operation, "groups": groups,
            "fencing": _fencing_view(rs["fencing"]), "boot_wait": bool(rs["boot_wait"]),
            "monitor": rs.get("monitor")}


def _monitor_view(m: Any, now: int) -> dict[str, Any] | None:
    """`resources.groups[].monitor` of docs/status-feed.md (null when monitoring is off)."""
    if m is None:
        return None
    last = m["last_failure_ms"]
    return {"watched": m["watched"], "next_in_ms": _left(m["next_ms"], now),
            "failures": m["failures"], "restarts": m["restarts"],
            "last_failure": m["last_failure"],
            "last_failure_elapsed_ms": None if last is None else max(0, now - last),
            "action": m["action"]}


def _fencing_view(f: Any) -> dict[str, Any] | None:
    """`resources.fencing` of docs/status-feed.md (null without a STONITH device)."""
    if not f.get("configured"):
        return None
    return {"devices": list(f["devices"]),
            "peers": [{"node": node, **p} for node, p in f["peers"].items()]}
