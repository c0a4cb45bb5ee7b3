"""`hbeat export`: read the configuration, render it, write it (the I/O shell).

Loads the configuration as `hbeat check` does (any error: exit 1 with the
problems; without --node-name or $HBEAT_NODE_NAME, a machine that is not a
cluster node reads it as the first node of ha.cf, since the export is the
same from every node), asks cluster-glue's `stonith -t TYPE -n` for the parameter
names of each STONITH plugin named by `stonith_host`, renders the chosen
syntax to stdout or `-o FILE` (created mode 0600: fencing parameters hold
passwords), and prints every note on stderr as a WARN
line, so nothing that was not carried over goes unsaid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import TextIO

from hbeat.config.hacf import parse_hacf
from hbeat.config.load import inspect_config
from hbeat.config.paths import HACF, NODE_NAME_ENV, resolve_config_dir, resolve_node_name
from hbeat.export.cib import render_cib
from hbeat.export.corosync import render_corosync
from hbeat.export.crmsh import render_crmsh
from hbeat.export.pcs import render_pcs
from hbeat.export.plan import build_plan

FORMATS = ("crmsh", "pcs", "cib", "corosync")
EXIT_OK, EXIT_CONFIG, EXIT_USAGE = 0, 1, 2


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Turn ha.cf and haresources into a Pacemaker configuration "
                          "(crmsh script, pcs script or CIB XML) or a corosync.conf. "
                          "What cannot be carried over is printed as WARN lines on "
                          "stderr and as comments in the output.")
    parser.add_argument("--to", choices=FORMATS, required=True,
                        help="output syntax")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write here instead of stdout")
    parser.add_argument("--address", action="append", default=[],
                        metavar="NODE:IFACE=ADDR",
                        help="corosync: NODE's address on the link of ha.cf interface IFACE "
                             "(repeat for each node and link)")


@cache
def stonith_param_names(plugin: str) -> tuple[str, ...] | None:
    """The plugin's parameter names in positional order, or None if unknown."""
    tool = shutil.which("stonith") or (
        "/usr/sbin/stonith" if os.path.exists("/usr/sbin/stonith") else None)
    if tool is None:
        return None
    try:
        result = subprocess.run([tool, "-t", plugin, "-n"], capture_output=True, text=True,
                                timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = tuple(result.stdout.split())
    return names if result.returncode == 0 and names else None


def _as_cluster_node(config_dir: str, node_name: str) -> str:
    """`node_name` if ha.cf lists it, else ha.cf's first node (or `node_name`
    when ha.cf cannot be read: the load then reports why)."""
    path = Path(config_dir) / HACF
    try:
        hacf, _problems = parse_hacf(path.read_bytes(), str(path))
    except OSError:
        return node_name
    if hacf is None or not hacf.nodes or node_name.lower() in hacf.nodes:
        return node_name
    return hacf.nodes[0]


def _parse_addresses(values: list[str]) -> dict[tuple[str, str], str] | str:
    out: dict[tuple[str, str], str] = {}
    for value in values:
        where, sep, address = value.partition("=")
        node, colon, iface = where.partition(":")
        if not (sep and colon and node and iface and address):
            return f"--address {value}: expected NODE:IFACE=ADDR"
        out[(node.lower(), iface)] = address
    return out


def run_export(args: argparse.Namespace, out: TextIO) -> int:
    addresses = _parse_addresses(list(args.address))
    if isinstance(addresses, str):
        print(f"ERROR: {addresses}", file=sys.stderr)
        return EXIT_USAGE
    config_dir = resolve_config_dir(args.config_dir, os.environ)
    node_name = resolve_node_name(args.node_name, os.environ)
    if args.node_name is None and NODE_NAME_ENV not in os.environ:
        node_name = _as_cluster_node(config_dir, node_name)
    config, problems = inspect_config(config_dir, node_name)
    if config is None:
        for problem in problems:
            print(problem.render(), file=sys.stderr)
        print(f"ERROR: configuration in {config_dir} has errors; nothing exported "
              "(hbeat check shows them all)", file=sys.stderr)
        return EXIT_CONFIG
    if args.to == "corosync":
        conf = render_corosync(config, addresses)
        text, notes = conf.text, conf.notes
    else:
        plan = build_plan(config, stonith_param_names)
        render = {"crmsh": render_crmsh, "pcs": render_pcs, "cib": render_cib}[args.to]
        text, notes = render(plan), plan.notes
    if args.output:
        try:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            print(f"ERROR: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        out.write(text)
    for note in notes:
        print(f"WARN: {note}", file=sys.stderr)
    return EXIT_OK
