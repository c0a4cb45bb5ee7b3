"""`cl_status` as heartbeat 3.0.6 prints it: a pure renderer over a status snapshot.

`render(argv, snapshot, now=, pid=, hostname=)` returns (stdout, stderr, exit
code) byte for byte as heartbeat's cl_status would for the same cluster state
(docs/heartbeat-protocol.md §8; the replay test checks every recorded call in
tests/data/interop/cl_status.json). `snapshot` is the control API's `snapshot` result
(docs/status-feed.md), or None when no daemon answers. Nothing here does I/O
or reads a clock; `clstatus_main` is the shell around it.

Behaviours kept from heartbeat on purpose:

* The sub-command is looked up first (an unknown one is a log-line error, exit
  11, daemon or not); then the daemon is "signed on"; every sub-command but
  `hbstatus` fails with the sign-on log lines and exit 1 when that fails, before
  its options are even looked at.
* Options are parsed the way glibc getopt() does over `argv[1:]` (options and
  parameters may be mixed, `--` ends options, `-p` takes an argument), and
  getopt's own complaints name the sub-command (`hbstatus: invalid option --
  'x'`). `hbstatus` ignores bad options after that complaint; the others log
  `Error: getopt returned...` and exit 11.
* Nodes are listed in reverse ha.cf order and links in reverse media order.
* Errors that heartbeat logs go to stderr as log lines
  (`Nov 25 05:01:18 otter cl_status: [241]: ERROR: ...`); the few it prints
  plainly (`Not enough parameters.`, `Error. May be due to incorrect node name`)
  stay plain, with heartbeat's inconsistent wording per sub-command.

What hbeat cannot have: no ccm, so `hbstatus -v` never prints a ccm
membership block (heartbeat prints none either with `crm off`, as recorded);
no API clients, so `clientstatus` answers `offline` for any client of the
local node and times out (`No timely response.`, exit 13) for any other node,
which is what heartbeat did for clients that are not signed on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hbeat.config.timeparse import TimeSyntaxError, parse_msec
from hbeat.logfmt import Level, format_line

OK = 0
NORMAL_FAIL = 1
PARAMETER_ERROR = 11
TIMEOUT = 12
UNKNOWN_ERROR = 13

SIGNON_REASON = "hb_api_signon: Can't initiate connection to heartbeat"

USAGE = (
    "Usage: cl_status <sub-command> [<options>] [<parameters>]\n"
    "\n"
    "Sub-commands:\n"
    "clientstatus <node-name> <client-id> [<timeout>]\n"
    "\tShow the status of heartbeat clients.\n"
    "hblinkstatus <node-name> <link-name>\n"
    "\tShow the status of a heartbeat link\n"
    "hbstatus\n"
    "\tIndicate if heartbeat is running on the local system.\n"
    "\tOptions:\n"
    '\t\t-v\tverbose: also add "listnodes -v" output\n'
    "listnodes [<option>]\n"
    "\tList the nodes in the cluster.\n"
    "\tOptions:\n"
    "\t\t-p\tlist only 'ping' type nodes\n"
    "\t\t-n\tlist only 'normal' type nodes\n"
    "\t\t-v\tverbose: also list type and status,\n"
    '\t\t\tthen add "listhblinks -v" output\n'
    "listhblinks <node-name>\n"
    "\tList the network interfaces used as hearbeat links.\n"
    "\tOptions:\n"
    "\t\t-v\tverbose: list link status as well\n"
    "nodestatus <node-name>\n"
    "\tList the node status.\n"
    "nodeweight <node-name>\n"
    "\tList the node weight.\n"
    "nodesite <node-name>\n"
    "\tList the node site.\n"
    "nodetype <node-name>\n"
    "\tList the nodes of a given type.\n"
    "rscstatus\n"
    "\tShow the status of cluster resources.\n"
    "hbparameter -p <parameter-name>\n"
    "\tRetrieve the value of a cluster parameter.\n"
    "\tAs for the valid parameter names, please refer to the man page.\n"
)


class SnapshotError(ValueError):
    """The daemon's snapshot does not have the documented shape; str() says where."""


@dataclass(frozen=True)
class Link:
    name: str
    status: str


@dataclass(frozen=True)
class Node:
    name: str
    status: str
    type: str
    weight: int
    site: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class View:
    """What cl_status needs from a snapshot, checked and typed."""

    local: str
    hbversion: str | None
    managed_by: str
    nodes: tuple[Node, ...]  # ha.cf order
    parameters: Mapping[str, str]
    held: str | None

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def parameter(self, name: str) -> str | None:
        value = self.parameters.get(name)
        if value is None and name == "hbversion":
            return self.hbversion
        return value


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    if key not in obj:
        if default is None:
            raise SnapshotError(f"snapshot: {where} has no {key!r}")
        return default
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SnapshotError(
            f"snapshot: {where}.{key} is {type(value).__name__}, expected {kind.__name__}"
        )
    return value


def parse_snapshot(snapshot: Mapping[str, Any]) -> View:
    """Check the fields cl_status uses; raises SnapshotError naming the bad field."""
    if not isinstance(snapshot, Mapping):
        raise SnapshotError(f"snapshot is {type(snapshot).__name__}, expected an object")
    nodes: list[Node] = []
    for i, raw in enumerate(_field(snapshot, "nodes", list, "snapshot")):
        where = f"nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise SnapshotError(f"snapshot: {where} is not an object")
        links: list[Link] = []
        for j, rl in enumerate(_field(raw, "links", list, where, [])):
            lw = f"{where}.links[{j}]"
            if not isinstance(rl, Mapping):
                raise SnapshotError(f"snapshot: {lw} is not an object")
            links.append(Link(_field(rl, "name", str, lw), _field(rl, "status", str, lw)))
        nodes.append(
            Node(
                name=_field(raw, "name", str, where),
                status=_field(raw, "status", str, where),
                type=_field(raw, "type", str, where, "normal"),
                weight=_field(raw, "weight", int, where, 100),
                site=_field(raw, "site", str, where, ""),
                links=tuple(links),
            )
        )
    params = _field(snapshot, "parameters", dict, "snapshot", {})
    for key, value in params.items():
        if not isinstance(value, str):
            raise SnapshotError(
                f"snapshot: parameters.{key} is {type(value).__name__}, expected str"
            )
    resources = _field(snapshot, "resources", dict, "snapshot", {})
    held = resources.get("held")
    if held is not None and not isinstance(held, str):
        raise SnapshotError(f"snapshot: resources.held is {type(held).__name__}, expected str")
    hbversion = snapshot.get("hbversion")
    if hbversion is not None and not isinstance(hbversion, str):
        raise SnapshotError(f"snapshot: hbversion is {type(hbversion).__name__}, expected str")
    return View(
        local=_field(snapshot, "local", str, "snapshot"),
        hbversion=hbversion,
        managed_by=_field(snapshot, "managed_by", str, "snapshot", "haresources"),
        nodes=tuple(nodes),
        parameters=dict(params),
        held=held,
    )


# --- glibc getopt() over argv[1:] ---------------------------------------------------------


@dataclass(frozen=True)
class Opt:
    char: str  # the option letter, or "?" for an error
    arg: str | None = None
    complaint: str = ""  # what getopt itself writes to stderr for "?"


def getopt(prog: str, args: list[str], optstring: str) -> tuple[list[Opt], list[str]]:
    """Options in order and the parameters, as GNU getopt (permuting) sees them.

    `prog` is what getopt names in its complaints: cl_status hands getopt
    argv+1, so that is the sub-command.
    """
    opts: list[Opt] = []
    params: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            params.extend(args[i:])
            break
        if not word.startswith("-") or word == "-":
            params.append(word)
            continue
        pos = 1
        while pos < len(word):
            c = word[pos]
            pos += 1
            spec = optstring.find(c)
            if c == ":" or spec < 0:
                opts.append(Opt("?", complaint=f"{prog}: invalid option -- '{c}'\n"))
                continue
            if optstring[spec + 1 : spec + 2] != ":":
                opts.append(Opt(c))
                continue
            if pos < len(word):
                opts.append(Opt(c, word[pos:]))
            elif i < len(args):
                opts.append(Opt(c, args[i]))
                i += 1
            else:
                opts.append(Opt("?", complaint=f"{prog}: option requires an argument -- '{c}'\n"))
            break
    return opts, params


# --- rendering ----------------------------------------------------------------------------


@dataclass
class _Run:
    now: float
    pid: int
    hostname: str
    human: bool = False
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def print(self, text: str) -> None:
        self.out.append(text)

    def eprint(self, text: str) -> None:
        self.err.append(text)

    def log(self, text: str) -> None:
        when = time.localtime(self.now)
        self.err.append(
            format_line(when, self.hostname, self.pid, Level.ERROR, text, entity="cl_status") + "\n"
        )

    def simple_options(self, prog: str, args: list[str]) -> list[str] | None:
        """The parameters after cl_status's `-m`-only option loop; None on a bad option.

        (This loop says "character", the listnodes, listhblinks and
        hbparameter loops say "character code": heartbeat's wording.)
        """
        opts, params = getopt(prog, args, "m")
        for opt in opts:
            if opt.char == "?":
                self.eprint(opt.complaint)
                self.log("Error: getopt returnedcharacter ?.")
                return None
            if opt.char == "m":
                self.human = True
        return params

    def required_params(self, prog: str, args: list[str], count: int,
                        short: str = "No enough parameter.\n") -> list[str] | None:
        """`simple_options`, then at least `count` parameters (else `short` on
        stderr, in the subcommand's own words); None when either fails."""
        params = self.simple_options(prog, args)
        if params is not None and len(params) < count:
            self.eprint(short)
            return None
        return params


def _list_links(run: _Run, view: View, host: str, verbose: bool) -> int:
    node = view.node(host)
    if node is None:
        run.log("Cannot start heartbeat link interface walk.")
        run.log("REASON: EINVAL")
        return UNKNOWN_ERROR
    if run.human:
        run.print("\tthis node has the following heartbeat links:\n")
    for link in reversed(node.links):
        run.print(f"\t{link.name}\t{link.status}\n" if verbose else f"\t{link.name}\n")
    return OK


def _list_nodes(run: _Run, view: View, normal_only: bool, ping_only: bool, verbose: bool) -> int:
    if normal_only and ping_only:
        normal_only = ping_only = False
    if run.human:
        run.print("The nodes are as follow:\n")
    for node in reversed(view.nodes):
        if normal_only and node.type != "normal":
            continue
        if ping_only and node.type != "ping":
            continue
        if verbose:
            run.print(f"\n{node.name}\t{node.status}\t(nodetype: {node.type})\n")
            _list_links(run, view, node.name, True)
        else:
            run.print(f"{node.name}\n")
    return OK


def _hbstatus(run: _Run, view: View | None, args: list[str], refusal: str | None) -> int:
    verbose = False
    for opt in getopt("hbstatus", args, "mv")[0]:
        if opt.char == "?":
            run.eprint(opt.complaint)  # and carry on: hbstatus has no error branch
        elif opt.char == "m":
            run.human = True
        elif opt.char == "v":
            verbose = True
    if view is None:
        if refusal is None:
            run.print("Heartbeat is stopped on this machine.\n")
            rc = NORMAL_FAIL
        else:
            run.print(
                "Heartbeat is apparently running on this machine, but refuses my connection\n"
            )
            rc = OK
        reason = refusal if refusal is not None else SIGNON_REASON
        if verbose and reason:
            run.print(f"({reason})\n")
        return rc
    if not verbose:
        run.print("Heartbeat is running on this machine.\n")
        return OK
    version = view.parameter("hbversion")
    haresources = view.managed_by == "haresources"
    if run.human:
        run.print(
            f"Heartbeat version {version}\n"
            if version is not None
            else "Heartbeat is running on this machine.\n"
        )
        run.print(
            'Resources controlled by "haresources"\n'
            if haresources
            else "Resources controlled by Pacemaker.\n"
        )
    else:
        run.print(f"version:\t{version if version is not None else 'unknown'}\n")
        run.print(
            'managed by:\t"haresources"\n'
            if haresources
            else f"managed by:\tpacemaker\t({view.managed_by})\n"
        )
    return _list_nodes(run, view, False, False, True)


def _listnodes(run: _Run, view: View, args: list[str]) -> int:
    opts, _params = getopt("listnodes", args, "mpnv")
    flags: set[str] = set()
    for opt in opts:
        if opt.char == "?":
            run.eprint(opt.complaint)
            run.log("Error: getopt returnedcharacter code ?.")
            return PARAMETER_ERROR
        if opt.char == "m":
            run.human = True
        flags.add(opt.char)
    return _list_nodes(run, view, "n" in flags, "p" in flags, "v" in flags)


def _one_node(run: _Run, args: list[str], prog: str, short: str) -> str | None:
    params = run.required_params(prog, args, 1, short)
    return None if params is None else params[0]


def _nodestatus(run: _Run, view: View, args: list[str]) -> int:
    name = _one_node(run, args, "nodestatus", "Not enough parameters.\n")
    if name is None:
        return PARAMETER_ERROR
    node = view.node(name)
    if node is None:
        run.eprint("Error. May be due to incorrect node name\n")
        return PARAMETER_ERROR
    run.print(f"The cluster node {name} is {node.status}\n" if run.human else f"{node.status}\n")
    return OK if node.status in ("active", "up", "ping") else NORMAL_FAIL


def _node_query(
    command: str,
    too_few: str,
    unknown: str,
    value: Callable[[Node], object],
    human: str,
) -> Callable[[_Run, View, list[str]], int]:
    """A one-node query (nodeweight, nodesite, nodetype). The messages differ
    between sub-commands in heartbeat itself, so each keeps its own."""

    def query(run: _Run, view: View, args: list[str]) -> int:
        name = _one_node(run, args, command, too_few)
        if name is None:
            return PARAMETER_ERROR
        node = view.node(name)
        if node is None:
            run.eprint(unknown)
            return PARAMETER_ERROR
        shown = value(node)
        run.print(human.format(name=name, value=shown) if run.human else f"{shown}\n")
        return OK

    return query


_nodeweight = _node_query(
    "nodeweight", "Not enough parameters.\n", "Error. Maybe due to incorrect node name.\n",
    lambda node: node.weight, "The weight of the cluster node {name} is {value}\n",
)
_nodesite = _node_query(
    "nodesite", "Not enough parameters.\n", "Error. May be due to incorrect node name\n",
    lambda node: node.site, "The site of the cluster node {name} is {value}\n",
)
_nodetype = _node_query(
    "nodetype", "No enough parameter.\n", "Error. May be due to incorrect node name\n",
    lambda node: node.type, "The node {name}'s type: {value}\n",
)


def _listhblinks(run: _Run, view: View, args: list[str]) -> int:
    opts, params = getopt("listhblinks", args, "mv")
    verbose = False
    for opt in opts:
        if opt.char == "?":
            run.eprint(opt.complaint)
            run.log("Error: getopt returnedcharacter code ?.")
            return PARAMETER_ERROR
        if opt.char == "m":
            run.human = True
        verbose = verbose or opt.char == "v"
    if not params:
        run.eprint("No enough parameter.\n")
        return PARAMETER_ERROR
    return _list_links(run, view, params[0], verbose)


def _hblinkstatus(run: _Run, view: View, args: list[str]) -> int:
    params = run.required_params("hblinkstatus", args, 2)
    if params is None:
        return PARAMETER_ERROR
    host, ifname = params[0], params[1]
    node = view.node(host)
    link = None if node is None else next((x for x in node.links if x.name == ifname), None)
    if link is None:
        run.log("Cannot get heartbeat link status")
        run.log("REASON: ")
        return UNKNOWN_ERROR
    run.print(
        f"The node {host}'s heartbeat link {ifname} is {link.status}\n"
        if run.human
        else f"{link.status}\n"
    )
    return OK if link.status == "up" else NORMAL_FAIL


def _clientstatus(run: _Run, view: View, args: list[str]) -> int:
    params = run.required_params("clientstatus", args, 2)
    if params is None:
        return PARAMETER_ERROR
    host, client = params[0], params[1]
    # params[2], the timeout in ms, only bounds how long heartbeat waits for a
    # peer that will not answer; hbeat knows the answer at once.
    if host != view.local:
        run.log(f"Cannot get heartbeat client {client}'s status")
        run.log("REASON: No timely response.")
        return UNKNOWN_ERROR
    run.print("offline\n")  # hbeat has no API clients; -m changes nothing here
    return NORMAL_FAIL


def _rscstatus(run: _Run, view: View, args: list[str]) -> int:
    if run.simple_options("rscstatus", args) is None:
        return PARAMETER_ERROR
    if view.managed_by != "haresources":
        run.log("Cannot get cluster resource status of a pacemaker cluster; try crm_mon")
        return NORMAL_FAIL
    if view.held is None:
        run.log("Cannot get cluster resource status")
        run.log("REASON: ")
        return UNKNOWN_ERROR
    run.print(f"This node is holding {view.held} resources.\n" if run.human else f"{view.held}\n")
    return OK


def _hbparameter(run: _Run, view: View, args: list[str]) -> int:
    name: str | None = None
    for opt in getopt("hbparameter", args, "mp:")[0]:
        if opt.char == "?":
            run.eprint(opt.complaint)
            run.log("Error: getopt returnedcharacter code ?.")
            return PARAMETER_ERROR
        if opt.char == "m":
            run.human = True
        elif opt.char == "p":
            name = opt.arg
    if name is None:
        run.log("parameter name required")
        return PARAMETER_ERROR
    value = view.parameter(name)
    if value is None:
        run.log(f"Cannot get parameter {name}'s value")
        run.log("REASON: ")
        return NORMAL_FAIL
    run.print(f"Heartbeat parameter {name}'s value: {value}\n" if run.human else f"{value}\n")
    return OK


def _msec(view: View, name: str) -> int:
    """A timer as the API reports it (ms); 0 when unknown, as heartbeat's API does."""
    value = view.parameters.get(name)
    if value is None:
        return 0
    try:
        return parse_msec(value)
    except TimeSyntaxError:
        return 0


def _test(run: _Run, view: View, args: list[str]) -> int:
    del args  # cl_status's test parses no options
    run.print(
        f"Dead time: {_msec(view, 'deadtime')}\n"
        f" keeplive time: {_msec(view, 'keepalive')}\n"
        f" mynodeid: {view.local}\n"
        f" rsc: {view.held if view.held is not None else '(null)'}\n"
    )
    return OK


_Handler = Callable[[_Run, View, list[str]], int]

SUBCOMMANDS: dict[str, _Handler | None] = {
    "hbstatus": None,  # special: runs without a daemon too
    "listnodes": _listnodes,
    "nodestatus": _nodestatus,
    "nodeweight": _nodeweight,
    "nodesite": _nodesite,
    "nodetype": _nodetype,
    "listhblinks": _listhblinks,
    "hblinkstatus": _hblinkstatus,
    "clientstatus": _clientstatus,
    "rscstatus": _rscstatus,
    "hbparameter": _hbparameter,
    "test": _test,
}


def is_usage(argv: list[str]) -> bool:
    return len(argv) == 1 or (len(argv) == 2 and argv[1] == "-h")


def needs_daemon(argv: list[str]) -> bool:
    """Whether cl_status would contact the daemon for this command line at all."""
    return not is_usage(argv) and len(argv) > 1 and argv[1] in SUBCOMMANDS


def render(
    argv: list[str],
    snapshot: Mapping[str, Any] | None,
    *,
    now: float,
    pid: int,
    hostname: str,
    refusal: str | None = None,
) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) of `cl_status argv[1:]`.

    `snapshot` None means no daemon: with `refusal` None it was not reachable
    (heartbeat's "stopped"); with a reason, a daemon answered but refused
    (heartbeat's "apparently running ... refuses my connection").
    Raises SnapshotError when the snapshot lacks what the command needs.
    """
    if is_usage(argv):
        return USAGE, "", OK
    run = _Run(now=now, pid=pid, hostname=hostname)
    sub, args = argv[1], argv[2:]
    if sub not in SUBCOMMANDS:
        run.log(f"{sub}: invalid sub-command.")
        return "", "".join(run.err), PARAMETER_ERROR
    view = parse_snapshot(snapshot) if snapshot is not None else None
    handler = SUBCOMMANDS[sub]
    if handler is None:
        rc = _hbstatus(run, view, args, refusal)
    elif view is None:
        run.log("Cannot signon with heartbeat")
        run.log(f"REASON: {refusal if refusal is not None else SIGNON_REASON}")
        rc = NORMAL_FAIL
    else:
        rc = handler(run, view, args)
    return "".join(run.out), "".join(run.err), rc
