"""`hbeat why` (alias `hbeat history`): the I/O around hbeat.journalview.

Asks the running daemon for its journal on the query socket (command
`history`; root and haclient members), or, when no daemon answers, reads
`<state dir>/hb_journal` itself (root only: the file is 0600). Prints the
last decisions with their causes and chains, or `--json`.

Exit status: 0 the journal was read (even empty), 2 a bad option,
4 neither the daemon nor the file could be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from hbeat.config.paths import (
    DEFAULT_STATE_DIR,
    STATE_DIR_ENV,
    resolve_node_name,
    resolve_runtime_dir,
    resolve_state_dir,
)
from hbeat.control import QUERY, AccessDenied, ControlClient, ControlError, DaemonUnreachable
from hbeat.ipc.journal import Entry, JournalError, parse_journal
from hbeat.journalview import decisions, parse_since, render, select, to_json
from hbeat.statuscmd import add_runtime_dir

JOURNAL_FILE = "hb_journal"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREADABLE = 4


def why_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("The last cluster decisions with their causes: who was declared "
                           "dead (and the last keepalive on each link), what was fenced, "
                           "which scripts ran (exit code, duration), who asked for a "
                           "standby or takeover, groups acquired and released, failed "
                           "starts and stops. From the running daemon, else from the "
                           "journal file in the state directory.")
    add_runtime_dir(parser)
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"where the journal file is when no daemon runs (default: "
                             f"${STATE_DIR_ENV}, else {DEFAULT_STATE_DIR})")
    parser.add_argument("--since", metavar="TIME",
                        help="decisions since TIME: 30m, 2h, 1d, HH:MM[:SS] (today), "
                             "YYYY-MM-DD[ HH:MM[:SS]]")
    parser.add_argument("--last", type=int, metavar="N", help="only the last N decisions")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document (docs/journal.md) for scripts")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="how long to wait for the daemon's answer (default 5)")


def _from_daemon(runtime: Path, timeout_s: float) -> list[Entry]:
    client = ControlClient(runtime, timeout_ms=max(1, int(timeout_s * 1000)), socket=QUERY)
    result = client.call("history")
    raw = result.get("entries")
    if not isinstance(raw, list):
        raise JournalError("the daemon's answer has no entry list")
    return [Entry.from_json(item) for item in raw]


def _from_file(path: Path) -> tuple[list[Entry], list[str]]:
    with path.open("rb") as f:
        data = f.read()
    parsed = parse_journal(data, source=str(path))
    return parsed.entries, parsed.problems


def run_why(args: argparse.Namespace, out: TextIO) -> int:
    prog = "hbeat why"
    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since, time.time())
        except ValueError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.last is not None and args.last < 0:
        print(f"{prog}: --last must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    runtime = Path(resolve_runtime_dir(args.runtime_dir, os.environ))
    path = Path(resolve_state_dir(args.state_dir, os.environ)) / JOURNAL_FILE
    node = resolve_node_name(getattr(args, "node_name", None), os.environ)
    why_not = ""
    try:
        entries = _from_daemon(runtime, args.timeout)
        source = "daemon"
    except (DaemonUnreachable, AccessDenied, ControlError, JournalError) as exc:
        why_not = (exc.message if isinstance(exc, ControlError) else str(exc))
        try:
            entries, problems = _from_file(path)
        except FileNotFoundError:
            entries, problems = [], []
            if isinstance(exc, AccessDenied):
                print(f"{prog}: {why_not}", file=sys.stderr)
                return EXIT_UNREADABLE
        except OSError as err:
            print(f"{prog}: the daemon did not answer ({why_not}) and {path} cannot be "
                  f"read: {err.strerror}", file=sys.stderr)
            return EXIT_UNREADABLE
        for problem in problems:
            print(f"{prog}: WARN: {problem}", file=sys.stderr)
        source = str(path)
    chosen = select(decisions(entries), since=since, last=args.last)
    if args.json:
        out.write(json.dumps(to_json(chosen, node=node, source=source), indent=2) + "\n")
        return EXIT_OK
    if source != "daemon":
        out.write(f"(hbeat is not answering: {why_not}; read from {path})\n")
    out.write(render(chosen, node=node))
    return EXIT_OK
