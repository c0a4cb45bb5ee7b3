"""The `hbeat` command: argument parsing and the subcommands' front ends.

Each subcommand is a `_Command`: a name, a help line, a function that adds
its own options, and a function that runs it and returns the exit status.
Every subcommand gets the common `--config-dir` and `--node-name` options.
The modules of the other subcommands (status views, export, journal
viewers: CLI only) are imported only when their subcommand is asked for, so
the daemon (`hbeat run`) never loads them: every page it imports is shared
by, or copied into, the workers it forks (docs/processes.md, "Memory").
Exit status: 0 success (warnings alone do not fail), 1 on a configuration
error, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from hbeat.addrspace import default_thread_stack, one_malloc_arena
from hbeat.config.fencing import watchdog_timeout_s
from hbeat.config.load import inspect_config
from hbeat.config.model import ClusterConfig, Level, Mcast, Serial, Ucast
from hbeat.config.paths import (
    CONFIG_DIR_ENV,
    DEFAULT_CONFIG_DIR,
    DEFAULT_RUNTIME_DIR,
    DEFAULT_STATE_DIR,
    NODE_NAME_ENV,
    RUNTIME_DIR_ENV,
    STATE_DIR_ENV,
    resolve_config_dir,
    resolve_node_name,
    resolve_runtime_dir,
    resolve_state_dir,
)
from hbeat.config.pingcheck import ipfail_summary

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2
SUPERVISOR_THREAD_STACK = 1024 * 1024  # its Python threads and ZeroMQ's (8 MiB by default)


def _lazy_arguments(module: str, name: str) -> Callable[[argparse.ArgumentParser], None]:
    """`module.name(parser)`, the module imported on the first call."""
    def add(parser: argparse.ArgumentParser) -> None:
        function: Callable[[argparse.ArgumentParser], None] = getattr(
            importlib.import_module(module), name)
        function(parser)
    return add


def _lazy_run(module: str, name: str) -> Callable[[argparse.Namespace, TextIO], int]:
    """`module.name(args, out)`, the module imported on the first call."""
    def run(args: argparse.Namespace, out: TextIO) -> int:
        function: Callable[[argparse.Namespace, TextIO], int] = getattr(
            importlib.import_module(module), name)
        return function(args, out)
    return run


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO], int]
    aliases: tuple[str, ...] = ()


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-dir", metavar="DIR",
                        help=f"configuration directory (default: ${CONFIG_DIR_ENV}, "
                             f"else {DEFAULT_CONFIG_DIR})")
    common.add_argument("--node-name", metavar="NAME",
                        help=f"this node's name (default: ${NODE_NAME_ENV}, else uname -n)")
    return common


# ---------------------------------------------------------------- check
def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Read ha.cf, haresources and authkeys as the daemon would, "
                          "print a summary and every problem, and exit 1 on any error.")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print only the problems and the verdict line")
    parser.add_argument("--validate", action="store_true",
                        help="also run validate-all of every OCF-backed resource on this node "
                             "(hbeat's wrappers, OCF::agent::instance): changes nothing, "
                             "reports what an agent misses (exit 5) or rejects (exit 6)")


def _run_check(args: argparse.Namespace, out: TextIO) -> int:
    config_dir = resolve_config_dir(args.config_dir, os.environ)
    node_name = resolve_node_name(args.node_name, os.environ)
    config, problems = inspect_config(config_dir, node_name)
    quiet = bool(getattr(args, "quiet", False))
    validated: list[str] = []
    if getattr(args, "validate", False) and config is not None:
        from hbeat import rscvalidate

        found, validated = rscvalidate.problems(
            rscvalidate.run(config), os.path.join(config.config_dir, "haresources"))
        problems = [*problems, *found]
        if any(p.level is Level.ERROR for p in found):
            config = None
    if not quiet:
        print(f"hbeat check: {config_dir} as node {node_name}", file=out)
    for problem in problems:
        print(problem.render(), file=out)
    errors = sum(1 for p in problems if p.level is Level.ERROR)
    warnings = len(problems) - errors
    gap = "" if quiet else "\n"
    if config is not None:
        if not quiet:
            print(file=out)
            _summary(config, out)
            _validated(validated, out)
        print(f"{gap}Configuration OK ({_count(warnings, 'warning')}).", file=out)
        return EXIT_OK
    print(f"{gap}Configuration has {_count(errors, 'error')} and "
          f"{_count(warnings, 'warning')}.", file=out)
    return EXIT_CONFIG


def _validated(lines: list[str], out: TextIO) -> None:
    if lines:
        print("resources (validate-all on this node):", file=out)
        for line in lines:
            print(line, file=out)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _summary(config: ClusterConfig, out: TextIO) -> None:
    hacf = config.hacf
    t = hacf.timers

    def write(text: str) -> None:
        print(text, file=out)

    write(f"this node:      {config.node_name}")
    write(f"nodes:          {' '.join(config.nodes)}")
    write("media:")
    for m in config.media:
        if isinstance(m, Serial):
            detail = f"{m.baud} baud"
        elif isinstance(m, Ucast):
            detail = f"to {m.peer} udp port {m.port}"
        elif isinstance(m, Mcast):
            detail = f"group {m.group} udp port {m.port} ttl {m.ttl} loop {m.loop}"
        else:
            detail = f"udp port {m.port}"
        write(f"  {m.kind:<7}{m.name}  {detail}  (line {m.line})")
    write("timers:")
    rules = {
        "keepalive": "default", "deadtime": "default",
        "warntime": "default: deadtime/2", "deadping": "default: = deadtime",
        "initdead": ("default: = deadtime" if t.deadtime_ms > 10000 else
                     "default: 12 s" if t.deadtime_ms < 6000 else "default: 2 x deadtime"),
    }
    for name, ms in (("keepalive", t.keepalive_ms), ("deadtime", t.deadtime_ms),
                     ("warntime", t.warntime_ms), ("initdead", t.initdead_ms),
                     ("deadping", t.deadping_ms)):
        note = f"  ({rules[name]})" if name in t.defaulted else ""
        write(f"  {name:<10}{ms:>8} ms{note}")
    write(f"auto_failback:  {config.auto_failback.value}")
    if hacf.watchdog is not None:
        write(f"watchdog:       {hacf.watchdog}, timeout {watchdog_timeout_s(t)} s "
              f"(deadtime - keepalive, whole seconds)")
    for client in hacf.clients:
        skip = "  [not run: hbeat makes ipfail's decision]" if client.is_ipfail else ""
        write(f"{client.kind + ':':<16}{client.command} as {client.user}  (line {client.line})"
              f"{skip}")
    if hacf.ping_nodes:
        write("ping nodes:")
        for pn in hacf.ping_nodes:
            hosts = "" if pn.kind == "ping" else f"  up while any answers: {' '.join(pn.addresses)}"
            write(f"  {pn.name}  ({pn.kind}, line {pn.line}){hosts}")
        write(f"  echo every keepalive ({t.keepalive_ms} ms), dead after deadping "
              f"({t.deadping_ms} ms)")
    if hacf.ping_nodes or hacf.ipfail is not None or hacf.ipfail_client is not None:
        write(f"ipfail:         {ipfail_summary(hacf)}")
    log = config.logging
    targets = [f"logfile {log.logfile}"] if log.logfile else []
    targets += [f"debugfile {log.debugfile}"] if log.debugfile else []
    targets += [f"syslog {log.syslog_facility}"] if log.syslog_facility else []
    write(f"logging:        {', '.join(targets) or 'syslog daemon'}")
    if hacf.metrics_listen or hacf.metrics_textfile:  # hbeat's own, off unless set
        where = [f"http://{hacf.metrics_listen[0]}:{hacf.metrics_listen[1]}/metrics"
                 ] if hacf.metrics_listen else []
        where += [f"textfile {hacf.metrics_textfile}"] if hacf.metrics_textfile else []
        write(f"metrics:        {', '.join(where)}")
    if hacf.status_tcp is not None:
        tcp = hacf.status_tcp
        write(f"status feed:    also on {tcp.endpoint} "
              f"({'CURVE' if tcp.curve else 'INSECURE: no authentication'})")
    if hacf.monitor is not None:  # hbeat's own, off unless set
        mon = hacf.monitor
        write(f"monitor:        every {mon.interval_ms} ms, {mon.restarts} restart(s) within "
              f"{mon.window_ms} ms, then to the peer  (line {mon.line})")
    write("resource groups:" if config.groups else "resource groups: none")
    for group in config.groups:
        write(f"  {group.node}  (line {group.line}, key {group.key})")
        for rsc in group.resources:
            call = " ".join((rsc.script, *rsc.args))
            write(f"    {call:<40} {rsc.path}")
    keyring = config.keyring
    signing = keyring.signing_key
    how = f"{signing.index} ({signing.method.value})" if signing else "none"
    write(f"authkeys:       signing key {how}, {_count(len(keyring.keys), 'key')}")


# ---------------------------------------------------------------- run
def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run the cluster daemon in the foreground (what systemd starts): "
                          "the supervisor and one worker process per medium.")
    parser.add_argument("--runtime-dir", metavar="DIR",
                        help=f"sockets and shared state (default: ${RUNTIME_DIR_ENV}, "
                             f"else {DEFAULT_RUNTIME_DIR})")
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"generation number and node UUID (default: ${STATE_DIR_ENV}, "
                             f"else {DEFAULT_STATE_DIR})")


def _run_run(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from supervisor.daemon import Options, Supervisor

    config_dir = resolve_config_dir(args.config_dir, os.environ)
    node_name = resolve_node_name(args.node_name, os.environ)
    config, problems = inspect_config(config_dir, node_name)
    for problem in problems:
        print(problem.render(), file=sys.stderr)
    if config is None:
        print(f"ERROR: Configuration error, heartbeat not started ({config_dir}).",
              file=sys.stderr)
        return EXIT_CONFIG
    try:
        from setproctitle import setproctitle

        setproctitle("hbeat: supervisor")
    except ImportError:
        pass
    # Before the supervisor starts any thread: one malloc arena and 1 MiB
    # thread stacks, which the workers it forks inherit (hbeat/addrspace.py).
    one_malloc_arena()
    default_thread_stack(SUPERVISOR_THREAD_STACK)
    options = Options(
        runtime_dir=Path(resolve_runtime_dir(args.runtime_dir, os.environ)),
        state_dir=Path(resolve_state_dir(args.state_dir, os.environ)),
    )
    code = Supervisor(config, options).run()
    # Everything is released and logged (the log writer is flushed by its
    # exit handler, run here): leave without the interpreter's finalization,
    # which tears down every module and object one by one, 50-300 ms on the
    # loaded bench machine that a `systemctl stop` or restart would wait for
    # (bench/README.md, "Operations").
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


COMMANDS: tuple[_Command, ...] = (
    _Command("check", "validate the configuration and print a summary",
             _check_arguments, _run_check),
    _Command("run", "run the cluster daemon in the foreground", _run_arguments, _run_run),
    _Command("status", "one-screen summary of this node (exit 3: not running)",
             _lazy_arguments("hbeat.statuscmd", "status_arguments"),
             _lazy_run("hbeat.statuscmd", "run_status")),
    _Command("watch", "follow the status feed live (--json for scripts)",
             _lazy_arguments("hbeat.statuscmd", "watch_arguments"),
             _lazy_run("hbeat.statuscmd", "run_watch")),
    _Command("outdate-peer", "DRBD fence-peer handler: outdate the peer's disk (exit 3-7)",
             _lazy_arguments("hbeat.outdatecmd", "outdate_arguments"),
             _lazy_run("hbeat.outdatecmd", "run_outdate")),
    _Command("export", "write a Pacemaker (crmsh, pcs, CIB) or corosync configuration",
             _lazy_arguments("hbeat.export.command", "export_arguments"),
             _lazy_run("hbeat.export.command", "run_export")),
    _Command("why", "the last cluster decisions with their causes (alias: history)",
             _lazy_arguments("hbeat.whycmd", "why_arguments"),
             _lazy_run("hbeat.whycmd", "run_why"), aliases=("history",)),
)


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` asks for (its first word that is not an option),
    or None (none, or `--help` before it)."""
    for word in argv:
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand with its options; with `only` (a subcommand's name
    or alias), the others are listed without their options, and their
    modules are not imported."""
    wanted = next((c for c in COMMANDS if only in (c.name, *c.aliases)), None)
    parser = argparse.ArgumentParser(
        prog="hbeat",
        description="hbeat: a high-availability cluster daemon, a drop-in for "
                    "Linux-HA Heartbeat in haresources mode.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, parents=[common],
                                    aliases=list(command.aliases))
        if wanted is None or command is wanted:
            command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(requested_command(words))
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    return run(args, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
