"""`hb_standby` and `hb_takeover`: heartbeat's two resource-moving commands.

    hb_standby  [all|foreign|local|failback]   give these resources to the peer
    hb_takeover [all|foreign|local|failback]   take these resources from the peer

Arguments, messages and exit codes follow heartbeat's scripts (default
`all`; one argument at most; `wrong resources(x).` and the usage text on a
bad one, exit 1). Instead of writing into heartbeat's FIFO they ask the local
hbeat supervisor through the control API (runtime directory from
$HBEAT_RUNTIME_DIR, default /run/hbeat); the outcome is logged by the
daemon in heartbeat's words ("Going standby [all].", ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hbeat.config.paths import resolve_runtime_dir
from hbeat.control import AccessDenied, ControlClient, ControlError, DaemonUnreachable

WORDS = ("all", "foreign", "local", "failback")


def _usage(prog: str) -> int:
    print("usage:")
    print(f"{prog} [all|foreign|local|failback]", file=sys.stderr)
    return 1


def _main(command: str, prog: str, argv: Sequence[str]) -> int:
    if len(argv) >= 2:
        print(f"{prog}: too many arguments")
        return _usage(prog)
    which = argv[0] if argv else "all"
    if which == "--help":
        return _usage(prog)
    if which not in WORDS:
        print(f"{prog}: wrong resources({which}).")
        return _usage(prog)
    runtime = Path(resolve_runtime_dir(None, os.environ))
    try:
        ControlClient(runtime).call(command, which=which)
    except DaemonUnreachable as exc:
        print(f"{prog}: hbeat is not running on this node ({exc})", file=sys.stderr)
        return 1
    except AccessDenied as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except ControlError as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return 1
    return 0


def standby_main(argv: Sequence[str] | None = None) -> int:
    return _main("standby", "hb_standby", sys.argv[1:] if argv is None else argv)


def takeover_main(argv: Sequence[str] | None = None) -> int:
    return _main("takeover", "hb_takeover", sys.argv[1:] if argv is None else argv)
