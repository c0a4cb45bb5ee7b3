"""`hbeat status` and `hbeat watch`: the I/O around hbeat.statusview.

`status` asks the supervisor for a snapshot over the control API and prints
the summary (`--json`: the raw snapshot). `watch` subscribes to the status feed (`ipc://<runtime>/status`),
asks for a snapshot on the feed (control command `snapshot` with
`publish: true`, repeated until one arrives, since a new subscription takes
a moment to reach the publisher), then prints every message as it comes:
a line per event, or one JSON object per line with `--json`.

Exit status (both): 0 when the daemon answered (and `watch` stopped on
`--count`, `--timeout` or Ctrl-C), 1 when `watch --count N` timed out before
N messages, 3 when no daemon runs on that runtime directory, 4 when it
cannot be asked (permission denied, an error reply).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hbeat.config.paths import DEFAULT_RUNTIME_DIR, RUNTIME_DIR_ENV, resolve_runtime_dir
from hbeat.control import (
    QUERY,
    AccessDenied,
    ControlClient,
    ControlError,
    DaemonUnreachable,
    check_access,
)
from hbeat.feedclient import (
    SNAPSHOT_RETRY_S,
    CurveKeys,
    FeedClient,
    FeedMessage,
    FeedTimeout,
)
from hbeat.statusview import ViewError, json_line, render_event, render_status

EXIT_OK = 0
EXIT_TIMEOUT = 1
EXIT_NOT_RUNNING = 3
EXIT_UNKNOWN = 4


def add_runtime_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime-dir", metavar="DIR",
                        help=f"the node's runtime directory (default: ${RUNTIME_DIR_ENV}, "
                             f"else {DEFAULT_RUNTIME_DIR})")


def _runtime_dir(args: argparse.Namespace) -> Path:
    return Path(resolve_runtime_dir(args.runtime_dir, os.environ))


def _unreachable(prog: str, runtime: Path, exc: Exception) -> int:
    text = str(exc)
    if isinstance(exc, AccessDenied):
        print(f"{prog}: cannot ask the daemon in {runtime}: {text}", file=sys.stderr)
        return EXIT_UNKNOWN
    print(f"{prog}: hbeat is not running (runtime directory {runtime}: {text})",
          file=sys.stderr)
    return EXIT_NOT_RUNNING


# ---------------------------------------------------------------- status
def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("One-screen summary of this node: nodes and links, workers, "
                          "counters and resources (phase, standby stage, the running "
                          "operation, what the start-up probe found). Exit 0 when the "
                          "daemon answers, 3 when it is not running.")
    add_runtime_dir(parser)
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="how long to wait for the daemon's answer (default 5)")
    parser.add_argument("--json", action="store_true",
                        help="print the raw snapshot (docs/status-feed.md) as JSON")


def run_status(args: argparse.Namespace, out: TextIO) -> int:
    runtime = _runtime_dir(args)
    client = ControlClient(runtime, timeout_ms=max(1, int(args.timeout * 1000)), socket=QUERY)
    try:
        snap = client.call("snapshot")
    except (DaemonUnreachable, AccessDenied) as exc:
        return _unreachable("hbeat status", runtime, exc)
    except ControlError as exc:
        print(f"hbeat status: the daemon refused: {exc.message}", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.json:
        out.write(json.dumps(snap, indent=2) + "\n")
        return EXIT_OK
    try:
        out.write(render_status(snap, time.time()))
    except ViewError as exc:
        print(f"hbeat status: unreadable answer from {runtime}/control: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    return EXIT_OK


# ---------------------------------------------------------------- watch
def watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Follow the status feed live: a line per node, link and cluster "
                          "event in heartbeat's words, after a summary of the current state.")
    add_runtime_dir(parser)
    parser.add_argument("--json", action="store_true",
                        help='print every feed message as one JSON line {"topic":..,"body":..}')
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after N printed messages (the first snapshot counts)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="stop after S seconds (exit 1 if --count was not reached)")
    parser.add_argument("--connect", metavar="tcp://HOST:PORT",
                        help="follow a remote node's TCP feed (ha.cf status_tcp) instead "
                             "of the local one; the state shows with its next periodic "
                             "snapshot (at most 10 s)")
    parser.add_argument("--curve-server-key", metavar="FILE",
                        help="with --connect: the node's public certificate (server.key)")
    parser.add_argument("--curve-key", metavar="FILE",
                        help="with --connect: this client's certificate with its secret "
                             "key (client.key_secret); its public half must be in the "
                             "node's client keys directory")


class _Watch:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.runtime = _runtime_dir(args)
        self.printed = 0
        self.local: str | None = None
        self.synced = False
        self.tz = dt.datetime.now().astimezone().tzinfo

    def show(self, topic: str, body: dict[str, Any]) -> None:
        if topic == "snapshot":
            self.local = str(body.get("local", self.local))
        if self.args.json:
            self.out.write(json_line(topic, body) + "\n")
        elif topic == "snapshot":
            if self.synced:
                return  # periodic state sync: nothing new for a human
            self.out.write(render_status(body, time.time()) + "\n")
        else:
            self.out.write(render_event(topic, body, local=self.local, tz=self.tz,
                                        received=time.time()) + "\n")
        self.out.flush()
        self.printed += 1

    def done(self) -> bool:
        return self.args.count is not None and self.printed >= self.args.count

    def run(self) -> int:
        args = self.args
        client = ControlClient(self.runtime, timeout_ms=3000, socket=QUERY)
        remote = getattr(args, "connect", None)
        curve: CurveKeys | None = None
        if remote:
            problem, curve = remote_feed_options(args)
            if problem:
                print(f"hbeat watch: {problem}", file=sys.stderr)
                return 2
        else:
            try:
                check_access(client.path)
                check_access(self.runtime / "status")
            except (DaemonUnreachable, AccessDenied) as exc:
                return _unreachable("hbeat watch", self.runtime, exc)
        deadline = time.monotonic() + args.timeout if args.timeout is not None else None

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        def warn(exc: ViewError) -> None:
            print(f"hbeat watch: WARN: {exc}", file=sys.stderr)

        with FeedClient(self.runtime, reconnect_ms=50, on_bad=warn, endpoint=remote,
                        curve=curve) as feed:
            while not self.synced:
                if remote:
                    # no control API over TCP: wait for the periodic snapshot
                    got = feed.receive(left())
                    if got is None:
                        return self._timed_out()
                    if got.topic == "snapshot":
                        self._receive(got)
                    continue
                try:
                    # Before the first snapshot an event has no context: sync drops it.
                    first = feed.sync(client, timeout=left(), retry=SNAPSHOT_RETRY_S)
                except FeedTimeout:
                    return self._timed_out()
                except (DaemonUnreachable, AccessDenied) as exc:
                    return _unreachable("hbeat watch", self.runtime, exc)
                except ControlError as exc:
                    print(f"hbeat watch: the daemon refused: {exc.message}", file=sys.stderr)
                    return EXIT_UNKNOWN
                self._receive(first)
            while not self.done():
                msg = feed.receive(left())
                if msg is None:
                    return self._timed_out()
                self._receive(msg)
        return EXIT_OK

    def _receive(self, msg: FeedMessage) -> None:
        try:
            self.show(msg.topic, msg.body)
        except ViewError as exc:
            print(f"hbeat watch: WARN: {exc}", file=sys.stderr)
            return
        if msg.topic == "snapshot":
            self.synced = True

    def _timed_out(self) -> int:
        if self.args.count is None:
            return EXIT_OK
        print(f"hbeat watch: timed out after {self.args.timeout:g} s with {self.printed} of "
              f"{self.args.count} message(s)", file=sys.stderr)
        return EXIT_TIMEOUT


def remote_feed_options(args: argparse.Namespace) -> tuple[str | None, CurveKeys | None]:
    """`--connect`'s checks and CURVE keys: (a usage problem or None, the keys)."""
    remote = str(args.connect)
    if not remote.startswith("tcp://"):
        return f"--connect {remote}: expected tcp://HOST:PORT", None
    server, mine = args.curve_server_key, args.curve_key
    if (server is None) != (mine is None):
        return "--curve-server-key and --curve-key go together", None
    if server is None:
        return None, None  # an `insecure` feed
    try:
        return None, CurveKeys.load(server, mine)
    except ValueError as exc:
        return str(exc), None


def run_watch(args: argparse.Namespace, out: TextIO) -> int:
    if not getattr(args, "connect", None) and (
            getattr(args, "curve_key", None) or getattr(args, "curve_server_key", None)):
        print("hbeat watch: --curve-key and --curve-server-key need --connect",
              file=sys.stderr)
        return 2
    if args.count is not None and args.count < 1:
        print("hbeat watch: --count must be at least 1", file=sys.stderr)
        return 2
    if args.timeout is not None and args.timeout <= 0:
        print("hbeat watch: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        return _Watch(args, out).run()
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `hbeat watch | head`: the reader is gone, so are we
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return EXIT_OK

