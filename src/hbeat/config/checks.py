"""Cross checks over the parsed files: heartbeat's own, then hbeat's.

heartbeat's (hb:heartbeat/config.c init_config, texts kept): at least one
medium, at least one node, the local node listed, deadtime > 2 x keepalive,
initdead >= deadtime (WARN below 10 s), deadping > 2 x keepalive when set,
the legacy auto_failback deprecation, and the logd/no-log rule.

hbeat's own: node names the wire can carry (printable ASCII, at most 99
characters); timers the supervisor lease can honour (`hbeat.lease`);
warntime between keepalive and deadtime (WARN: heartbeat
accepts any value, but outside that range the late-heartbeat warning is
useless); every haresources node is a `node`; group keys unique and no
resource in two groups; each resource script resolves (`<config>/resource.d`,
then hbeat's `/usr/lib/hbeat/resource.d`, then the init directory;
`OCF::agent::...` also needs the agent) and is an executable regular file;
serial devices are character devices; the interfaces named by
bcast/ucast/mcast exist.

More than two nodes (ours): 3.0.6's holdings (`local`/`foreign`) are a
two-node notion, and with a third node every node would take "foreign"
groups over at once. hbeat lets groups fail over within one pair: with more
than two nodes in ha.cf, haresources must home its groups on exactly two
nodes; the other nodes are members only (membership, cl_status, the status
feed; never a resource). A third home node, or a single one (which node
would take its groups over?), is an ERROR at the line that shows it.

STONITH (ours: heartbeat logs a bad device and goes on unfenced; hbeat
refuses to start, so fencing is never silently lost): every `stonith` /
`stonith_host` line needs cluster-glue's `stonith` command, a type that
`stonith -L` lists, at least the parameters `stonith -t TYPE -n` names (stonith_host)
or a readable file (stonith); a stonith_host line must name a node of
ha.cf or `*`; and when any line is given, at least one must apply to this
node (else this node would take over unfenced while its peer fences).
See docs/fencing.md.

A one-node cluster is accepted with a WARN, as heartbeat accepts it: it is
how a cluster is built one node at a time, and a lab can run one node.
Apart from the `SystemProbe` it is handed, nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbeat.config.model import Bcast, HaCf, Level, Mcast, Problem, ResourceGroup, Serial, Ucast
from hbeat.config.paths import describe_candidates, script_candidates
from hbeat.config.probe import SystemProbe
from hbeat.lease import lease_problem

MAX_NODE_NAME = 99  # heartbeat's HOSTLENG (100) with the NUL


def check_hacf(hacf: HaCf, node_name: str) -> list[Problem]:
    """heartbeat's checks on ha.cf alone, plus the warntime range."""
    out: list[Problem] = []
    path = hacf.path

    def error(line: int | None, message: str) -> None:
        out.append(Problem(path, line, Level.ERROR, message))

    def warn(line: int | None, message: str) -> None:
        out.append(Problem(path, line, Level.WARN, message))

    if not hacf.media:
        error(None, "No heartbeat media defined (add a bcast, ucast, mcast or serial line)")
    if not hacf.nodes:
        error(None, "no nodes defined (add a node line for each cluster member)")
    elif node_name not in hacf.nodes:
        error(None, f"Current node [{node_name}] not in configuration! Cluster nodes are "
                    "named by `uname -n` and must be declared with a node directive "
                    "(or pass --node-name)")
    elif len(hacf.nodes) == 1:
        warn(hacf.node_lines[0], f"only one node ({hacf.nodes[0]}) is declared: "
                                 "there is nobody to fail over to")

    for name, node_line in zip(hacf.nodes, hacf.node_lines, strict=False):
        name_problem = node_name_problem(name)
        if name_problem is not None:
            error(node_line, name_problem)

    t = hacf.timers
    line = hacf.line_of("deadtime") or hacf.line_of("keepalive")
    if t.deadtime_ms <= 2 * t.keepalive_ms:
        error(line, f"Dead time [{t.deadtime_ms}] is too small compared to keeplive "
                    f"[{t.keepalive_ms}]: deadtime must be more than 2 x keepalive")
    else:
        lease = lease_problem(t.keepalive_ms, t.deadtime_ms)
        if lease is not None:
            error(line, lease)
    line = hacf.line_of("initdead") or hacf.line_of("deadtime")
    if t.initdead_ms < t.deadtime_ms:
        error(line, f"Initial dead time [{t.initdead_ms}] is smaller than deadtime "
                    f"[{t.deadtime_ms}]")
    elif t.initdead_ms < 10000:
        warn(line, f"Initial dead time [{t.initdead_ms} ms] may be too small! "
                   "It should be >= deadtime and >= 10 seconds")
    if "deadping" not in t.defaulted and t.deadping_ms <= 2 * t.keepalive_ms:
        error(hacf.line_of("deadping"), f"Ping dead time [{t.deadping_ms}] is too small "
                                        f"compared to keeplive [{t.keepalive_ms}]")
    line = hacf.line_of("warntime") or hacf.line_of("deadtime")
    if t.warntime_ms >= t.deadtime_ms:
        warn(line, f"warntime [{t.warntime_ms} ms] is not less than deadtime "
                   f"[{t.deadtime_ms} ms]: no late-heartbeat warning can come before "
                   "the node is declared dead")
    elif t.warntime_ms <= t.keepalive_ms:
        warn(line, f"warntime [{t.warntime_ms} ms] is not more than keepalive "
                   f"[{t.keepalive_ms} ms]: every heartbeat will be reported late")

    if not hacf.auto_failback.nice_failback:
        warn(hacf.line_of("auto_failback") or hacf.line_of("nice_failback"),
             "Deprecated 'legacy' auto_failback option selected. "
             "Please convert to 'auto_failback on'.")

    log = hacf.logging
    has_log = bool(log.logfile or log.debugfile or log.syslog_facility)
    use_logd_line = hacf.line_of("use_logd")
    if not has_log and use_logd_line is not None and not log.use_logd:
        error(use_logd_line, "No log entry found in ha.cf and use_logd is set to off")
    elif not has_log:
        warn(use_logd_line, "No log entry found in ha.cf: heartbeat would use logd; hbeat "
                            "has no ha_logd client and logs to syslog (facility daemon)")
    elif log.use_logd:
        warn(use_logd_line, "use_logd: hbeat has no ha_logd client; it logs to the "
                            "logfile, debugfile and logfacility given here")
    return out


def node_name_problem(name: str) -> str | None:
    """Why the wire cannot carry `name` as a node name (None: it can).

    Node names travel as string values (`src`, `dest`, the space-separated
    `nodelist`; docs/wire-format.md) in ASCII and heartbeat keeps them in
    HOSTLENG (100) bytes with the terminating NUL."""
    bad = [c for c in name if not 0x21 <= ord(c) <= 0x7E]
    if bad:
        shown = name if name.isprintable() else name.encode("unicode_escape").decode()
        return (f"node name [{shown}] has U+{ord(bad[0]):04X}: node names travel on the "
                "wire as printable ASCII (letters, digits, '-', '.'); use the node's ASCII "
                "host name (uname -n)")
    if len(name) > MAX_NODE_NAME:
        return (f"node name [{name[:20]}...] is {len(name)} characters: heartbeat keeps at "
                f"most {MAX_NODE_NAME}; use a shorter host name")
    return None


def check_media_system(hacf: HaCf, probe: SystemProbe) -> list[Problem]:
    """Serial devices are character devices; interfaces exist."""
    out: list[Problem] = []
    interfaces = probe.interfaces()
    for medium in hacf.media:
        if isinstance(medium, Serial):
            kind = probe.device_kind(medium.device)
            if kind == "missing":
                out.append(Problem(hacf.path, medium.line, Level.ERROR,
                                   f"Nonexistent serial port [{medium.device}]"))
            elif kind != "char":
                out.append(Problem(hacf.path, medium.line, Level.ERROR,
                                   f"Serial port [{medium.device}] not a char device"))
        elif isinstance(medium, Bcast | Ucast | Mcast) and medium.interface not in interfaces:
            out.append(Problem(hacf.path, medium.line, Level.ERROR,
                               f"{medium.kind}: IP interface [{medium.interface}] does not "
                               f"exist (known: {', '.join(sorted(interfaces)) or 'none'})"))
    return out


def check_stonith(hacf: HaCf, node_name: str, probe: SystemProbe) -> list[Problem]:
    """Every STONITH line can be carried out on this machine (module docstring)."""
    if not hacf.stonith:
        return []
    out: list[Problem] = []
    path = hacf.path

    def error(line: int | None, message: str) -> None:
        out.append(Problem(path, line, Level.ERROR, message))

    command = probe.stonith_command()
    if command is None:
        error(hacf.stonith[0].line,
              f"{hacf.stonith[0].directive}: cluster-glue's stonith command is not installed "
              "(looked for /usr/sbin/stonith): install cluster-glue, or remove every "
              "stonith/stonith_host line (takeovers are then unfenced)")
        return out
    types = probe.stonith_types()
    for dev in hacf.stonith:
        if dev.source != "*" and dev.source not in hacf.nodes:
            error(dev.line, f"stonith_host [{dev.source}]: not a node of this cluster (nodes: "
                            f"{', '.join(hacf.nodes)}): the line would apply to no node; name "
                            "the node that uses the device, or *")
            continue
        if types is not None and dev.type not in types:
            error(dev.line, f"Invalid Stonith type [{dev.type}]: `{command} -L` does not list "
                            "it (install its plugin, e.g. /usr/lib/stonith/plugins/external/"
                            f"{dev.type.removeprefix('external/')}, or fix the name)")
            continue
        if dev.file is not None:
            why = probe.readable_file(dev.file)
            if why is not None:
                error(dev.line, f"Invalid Stonith config file [{dev.file}]: {why}")
        elif dev.usable_on(node_name):
            names = probe.stonith_config_names(dev.type)
            # Positional, as `stonith -p` reads them: the last one takes the rest.
            if names is not None and len(dev.params) < len(names):
                error(dev.line, f"Invalid Stonith configuration parameter [{' '.join(dev.params)}]"
                                f": {dev.type} takes {len(names)} parameter(s) in this order: "
                                f"{' '.join(names)}")
    if node_name in hacf.nodes and not any(d.usable_on(node_name) for d in hacf.stonith):
        error(hacf.stonith[0].line,
              f"no stonith/stonith_host line applies to this node ({node_name}): it would take "
              f"over unfenced while its peer fences; add `stonith_host {node_name} <type> "
              "<params>` or use `stonith_host * ...`")
    return out


def check_groups(groups: list[ResourceGroup], hacf: HaCf, path: str, config_dir: str,
                 probe: SystemProbe) -> tuple[list[ResourceGroup], list[Problem]]:
    """Node names, key and resource uniqueness, script resolution.

    Returns the groups with each resource's `path` filled in where it resolved.
    """
    out: list[Problem] = []
    keys: dict[str, ResourceGroup] = {}
    owners: dict[str, ResourceGroup] = {}
    resolved: list[ResourceGroup] = []
    out += _check_resource_pair(groups, hacf, path)
    for group in groups:
        if hacf.nodes and group.node not in hacf.nodes:
            out.append(Problem(path, group.line, Level.ERROR,
                               f"Bad nodename in haresources [{group.node}]: it is not "
                               f"declared with a node directive in {hacf.path}"))
        first = keys.get(group.key)
        if first is not None:
            out.append(Problem(path, group.line, Level.ERROR,
                               f"resource group key [{group.key}] is already the key of the "
                               f"group at line {first.line}: ResourceManager names groups by "
                               "their first resource, so it must be unique"))
        else:
            keys[group.key] = group
        resources = []
        for resource in group.resources:
            owner = owners.get(resource.canonical)
            if owner is not None and not (first is not None and resource is group.resources[0]):
                where = ("earlier in this group" if owner is group
                         else f"in the group at line {owner.line}")
                out.append(Problem(path, resource.line, Level.ERROR,
                                   f"resource [{resource.text}] is already {where}: a "
                                   "resource may belong to one group, once"))
            owners.setdefault(resource.canonical, group)
            script_path, problem = _resolve(resource.script, resource.args, config_dir, probe)
            if problem:
                out.append(Problem(path, resource.line, Level.ERROR,
                                   f"resource [{resource.text}]: {problem}"))
            resources.append(dataclasses.replace(resource, path=script_path))
        resolved.append(dataclasses.replace(group, resources=tuple(resources)))
    return resolved, out


def _check_resource_pair(groups: list[ResourceGroup], hacf: HaCf, path: str) -> list[Problem]:
    """With more than two nodes, groups must be homed on exactly two of them."""
    if len(hacf.nodes) <= 2 or not groups:
        return []
    homes: dict[str, ResourceGroup] = {}
    for group in groups:
        if group.node in hacf.nodes:
            homes.setdefault(group.node, group)
    if len(homes) == 1:
        (only, first), = homes.items()
        others = ", ".join(n for n in hacf.nodes if n != only)
        return [Problem(path, first.line, Level.ERROR,
                        f"every group is homed on {only}: with {len(hacf.nodes)} nodes in "
                        f"{hacf.path} groups fail over within one pair of nodes, so "
                        f"haresources must name two nodes (which of {others} would take "
                        f"{only}'s groups over?); give one group to the other node of the "
                        f"pair")]
    out = []
    pair = list(homes)[:2]
    for node, group in list(homes.items())[2:]:
        out.append(Problem(path, group.line, Level.ERROR,
                           f"group homed on a third node [{node}] (after {pair[0]} and "
                           f"{pair[1]}): groups fail over within one pair of nodes, so with "
                           f"more than two nodes haresources may name only two of them; the "
                           f"other nodes are members that run no resources"))
    return out


def _resolve(script: str, args: tuple[str, ...], config_dir: str,
             probe: SystemProbe) -> tuple[str | None, str | None]:
    """(path, None) or (None, why not): ResourceManager's scriptpath()."""
    candidates = script_candidates(script, str(Path(config_dir) / "resource.d"),
                                   probe.lib_resource_dir, probe.init_dir)
    found = None
    reasons = []
    for candidate in candidates:
        state = probe.script_state(candidate)
        if state == "ok":
            found = candidate
            break
        if state == "not-executable":
            reasons.append(f"{candidate} is not executable")
        elif state == "not-file":
            reasons.append(f"{candidate} is not a regular file")
    if found is None:
        detail = "; ".join(reasons) if reasons else "no such file"
        return None, (f"Cannot locate resource script {script} (looked for "
                      f"{describe_candidates(candidates)}: {detail})")
    if script == "OCF":
        if not args:
            return found, "OCF resources are written OCF::agent::instance"
        if not probe.ocf_agents(args[0]):
            return found, (f"OCF agent [{args[0]}] not found as an executable "
                           f"{probe.ocf_dir}/*/{args[0]}")
    return found, None
