"""What the Pacemaker configuration holds, decided once for every output syntax.

`build_plan(config, stonith_params)` turns haresources and ha.cf into:

* one group per haresources line, its members in start order, each a
  primitive with a monitor operation (`agents.agent_for` picks the agent);
* `drbddisk::NAME` taken out of its group as a promotable ocf:linbit:drbd
  clone, the group colocated with the promoted instance and ordered after
  the promotion;
* a location preference (score `HOME_SCORE`) for each group's home node, and
  a ban from every member-only node of a bigger cluster (haresources homes
  groups on two nodes; the others never run them);
* `resource-stickiness` above that score for `auto_failback off`, 0 otherwise;
* fencing devices from `stonith_host` lines (`stonith:TYPE`, the plugin's
  positional parameters named by `stonith_params(TYPE)`, the last one taking
  the rest of the line), and
  `stonith-enabled=true` always, with a loud note when no device could be made.

Anything the export cannot carry over is a `note`: each output shows the
notes as comments and `hbeat export` prints them on stderr. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.config.model import AutoFailback, ClusterConfig
from hbeat.export.agents import agent_for, drbd_agent, is_drbddisk

HOME_SCORE = 100
STICKY_SCORE = 200
NO_FENCING = ("NO FENCING DEVICE IS CONFIGURED. stonith-enabled is true, so Pacemaker "
              "will not start any resource until you add one (pcs stonith create / "
              "crm configure primitive ... stonith:...). Do not set stonith-enabled=false "
              "on a cluster with shared storage: a node that only looks dead could still "
              "be writing to it")


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    interval: str
    timeout: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Primitive:
    id: str
    standard: str
    provider: str | None
    type: str
    params: tuple[tuple[str, str], ...]
    ops: tuple[Op, ...]
    source: str
    """Where it came from (`haresources:5 Filesystem::/dev/vg0/data::/srv::ext4`)."""

    @property
    def spec(self) -> str:
        if self.provider:
            return f"{self.standard}:{self.provider}:{self.type}"
        return f"{self.standard}:{self.type}"


@dataclass(frozen=True, slots=True)
class Clone:
    """A promotable clone of one primitive (DRBD)."""

    id: str
    primitive: Primitive
    meta: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    node: str
    members: tuple[Primitive, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Location:
    id: str
    rsc: str
    node: str
    score: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Colocation:
    id: str
    rsc: str
    with_rsc: str
    with_role: str


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    first: str
    first_action: str
    then: str
    then_action: str


@dataclass(frozen=True, slots=True)
class Plan:
    cluster_name: str
    nodes: tuple[str, ...]
    groups: tuple[Group, ...]
    clones: tuple[Clone, ...]
    stonith: tuple[Primitive, ...]
    locations: tuple[Location, ...]
    colocations: tuple[Colocation, ...]
    orders: tuple[Order, ...]
    properties: tuple[tuple[str, str], ...]
    rsc_defaults: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())
    fencing_configured: bool = False


_BAD = re.compile(r"[^A-Za-z0-9-]+")


class _Ids:
    """XML ids: letters, digits, `_` and `-`, starting with a letter; unique."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, hint: str) -> str:
        base = _BAD.sub("_", hint).strip("_-") or "rsc"
        if not base[0].isalpha():
            base = "r_" + base
        candidate, n = base, 2
        while candidate in self.used:
            candidate, n = f"{base}_{n}", n + 1
        self.used.add(candidate)
        return candidate


DRBD_MONITORS = (Op("monitor", "29s", "20s", "Promoted"), Op("monitor", "31s", "20s",
                                                              "Unpromoted"))
DRBD_META = (("promotable", "true"), ("promoted-max", "1"), ("promoted-node-max", "1"),
             ("clone-max", "2"), ("clone-node-max", "1"), ("notify", "true"))


def build_plan(config: ClusterConfig,
               stonith_params: Callable[[str], tuple[str, ...] | None]) -> Plan:
    ids = _Ids()
    notes: list[str] = []
    groups: list[Group] = []
    clones: list[Clone] = []
    locations: list[Location] = []
    colocations: list[Colocation] = []
    orders: list[Order] = []
    res_file = "haresources"
    members_only = tuple(n for n in config.nodes if n not in config.resource_nodes)
    for group in config.groups:
        members: list[Primitive] = []
        group_clones: list[Clone] = []
        for res in group.resources:
            source = f"{res_file}:{res.line} {res.text}"
            if is_drbddisk(res):
                agent = drbd_agent(res)
                prim = Primitive(ids.make(agent.id_hint), agent.standard, agent.provider,
                                 agent.type, agent.params, DRBD_MONITORS, source)
                clone = Clone(ids.make(prim.id + "-clone"), prim, DRBD_META)
                group_clones.append(clone)
                if members:
                    notes.append(f"{source}: DRBD is promoted before the whole group "
                                 "starts; in haresources it came after "
                                 + ", ".join(m.source.split(" ", 1)[1] for m in members))
                continue
            agent = agent_for(res, config.config_dir)
            notes += [f"{res_file}:{res.line}: {n}" for n in agent.notes]
            members.append(Primitive(ids.make(agent.id_hint), agent.standard, agent.provider,
                                     agent.type, agent.params,
                                     (Op("monitor", "10s", agent.monitor_timeout),), source))
        clones += group_clones
        for clone in group_clones:
            locations += [Location(ids.make(f"ban_{clone.id}_{node}"), clone.id, node,
                                   "-INFINITY") for node in members_only]
        source = f"{res_file}:{group.line} {group.node} {group.key}"
        if members:
            gid = ids.make("grp_" + group.key)
            groups.append(Group(gid, group.node, tuple(members), source))
            locations.append(Location(ids.make(f"loc_{gid}_{group.node}"), gid, group.node,
                                      str(HOME_SCORE)))
            locations += [Location(ids.make(f"ban_{gid}_{node}"), gid, node, "-INFINITY")
                          for node in members_only]
            for clone in group_clones:
                colocations.append(Colocation(ids.make(f"col_{gid}_{clone.id}"), gid,
                                              clone.id, "Promoted"))
                orders.append(Order(ids.make(f"ord_{clone.id}_{gid}"), clone.id, "promote",
                                    gid, "start"))
        else:
            for clone in group_clones:
                locations.append(Location(ids.make(f"loc_{clone.id}_{group.node}"), clone.id,
                                          group.node, str(HOME_SCORE), "Promoted"))

    stonith, fencing_notes = _fencing(config, stonith_params, ids)
    notes += fencing_notes
    if not stonith:
        notes.insert(0, NO_FENCING)
    failback = config.auto_failback
    if failback is AutoFailback.OFF:
        stickiness = str(STICKY_SCORE)
    else:
        stickiness = "0"
        if failback is AutoFailback.LEGACY:
            notes.append("auto_failback legacy is exported as auto_failback on: groups "
                         "move back to their home node when it returns")
    for stonith_prim in stonith:
        locations.extend(_stonith_locations(stonith_prim, config.nodes, ids))
    return Plan(
        cluster_name=config.hacf.cluster,
        nodes=config.nodes,
        groups=tuple(groups),
        clones=tuple(clones),
        stonith=tuple(stonith),
        locations=tuple(locations),
        colocations=tuple(colocations),
        orders=tuple(orders),
        properties=(("stonith-enabled", "true"),),
        rsc_defaults=(("resource-stickiness", stickiness),),
        notes=tuple(notes),
        fencing_configured=bool(stonith),
    )


@dataclass(frozen=True, slots=True)
class _StonithLine:
    directive: str
    host: str
    type: str
    values: tuple[str, ...]
    file: str | None
    text: str


def _stonith_lines(items: tuple[object, ...]) -> list[_StonithLine]:
    """ha.cf's stonith directives, whether the parsed model keeps them as the
    line's words (`"stonith_host * null a b"`) or as typed device records
    (directive, source, type, params, file)."""
    out: list[_StonithLine] = []
    for item in items:
        if isinstance(item, str):
            words = item.split()
            directive, rest = words[0], words[1:]
            if directive == "stonith":
                out.append(_StonithLine(directive, "*", rest[0] if rest else "", (),
                                        rest[1] if len(rest) > 1 else None, item))
            else:
                out.append(_StonithLine(directive, rest[0].lower() if rest else "",
                                        rest[1] if len(rest) > 1 else "",
                                        tuple(rest[2:]), None, item))
            continue
        directive = str(getattr(item, "directive", "stonith_host"))
        host = str(getattr(item, "source", "*")).lower()
        type_ = str(getattr(item, "type", ""))
        params = tuple(str(p) for p in getattr(item, "params", ()))
        file = getattr(item, "file", None)
        text = " ".join([directive, *([] if directive == "stonith" else [host]), type_,
                         *([str(file)] if file else params)])
        out.append(_StonithLine(directive, host, type_, params,
                                None if file is None else str(file), text))
    return out


def _fencing(config: ClusterConfig, stonith_params: Callable[[str], tuple[str, ...] | None],
             ids: _Ids) -> tuple[list[Primitive], list[str]]:
    prims: list[Primitive] = []
    notes: list[str] = []
    cf = "ha.cf"
    for line in _stonith_lines(tuple(config.hacf.stonith)):
        text, type_ = line.text, line.type
        if line.directive == "stonith":
            notes.append(f"{cf}: [{text}]: the device's parameters are in "
                         f"{line.file or 'its configuration file'}; "
                         f"create the device by hand (stonith -t {type_} -n lists the "
                         "parameter names)")
            continue
        if not line.host or not type_:
            notes.append(f"{cf}: [{text}]: needs a host and a device type; not exported")
            continue
        names = stonith_params(type_)
        if names is None:
            notes.append(f"{cf}: [{text}]: STONITH plugin {type_} is not installed here, "
                         "so its parameter names are unknown; not exported")
            continue
        values = list(line.values)
        if len(values) > len(names):
            # as cluster-glue reads a parameter string: the last one takes the
            # rest of the line (`stonith_host * null otter weasel`: hostlist)
            values = [*values[:len(names) - 1], " ".join(values[len(names) - 1:])]
        params = tuple(zip(names, values, strict=False))
        host = line.host
        hint = f"fence_{host if host != '*' else 'any'}_{type_}"
        source = f"{cf} {line.directive} {host} {type_}"
        prims.append(Primitive(ids.make(hint), "stonith", None, type_, params,
                               (Op("monitor", "60s", "20s"),), source))
    return prims, notes


def _stonith_locations(prim: Primitive, nodes: tuple[str, ...], ids: _Ids) -> list[Location]:
    """`stonith_host NODE ...`: the device is reachable from NODE only."""
    host = prim.source.split()[2]
    if host == "*" or host not in nodes:
        return []
    return [Location(ids.make(f"loc_{prim.id}_{node}"), prim.id, node, "-INFINITY")
            for node in nodes if node != host]
