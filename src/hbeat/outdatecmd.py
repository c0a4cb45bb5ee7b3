"""`hbeat outdate-peer`: the DRBD fence-peer handler (replaces dopd's drbd-peer-outdater).

drbd.conf: `handlers { fence-peer "/usr/bin/hbeat outdate-peer"; }` with
`fencing resource-only;` (README, "DRBD"). DRBD runs it with the resource
in $DRBD_RESOURCE and the peer's host name in $DRBD_PEER (8.3) or
$DRBD_PEERS (8.4 and later); `-r` and `-p` override them. It asks the local
hbeat (control API `outdate-peer`), which asks the peer over every hbeat
link to run `drbdadm outdate <resource>`, then polls for the answer and
exits with DRBD's fence-peer code (hbeat.drbdfence): 3, 4, 5, 6 (7 is never
returned: hbeat's STONITH reports are not consulted), or 1 when it cannot
tell (no local hbeat, a refused request). It gives up after `-t` seconds
(default 10) with 5, the peer not having answered.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from hbeat import drbdfence as df
from hbeat.config.paths import DEFAULT_RUNTIME_DIR, RUNTIME_DIR_ENV, resolve_runtime_dir
from hbeat.control import ControlClient, ControlError, DaemonUnreachable

POLL_S = 0.1


def outdate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("DRBD fence-peer handler: ask the peer, over every hbeat link, to "
                          "outdate its disk; exit with DRBD's fence-peer code.")
    parser.add_argument("-r", "--resource", help="DRBD resource (default: $DRBD_RESOURCE)")
    parser.add_argument("-p", "--peer", help="peer node (default: $DRBD_PEER or "
                                             "$DRBD_PEERS, else the only peer)")
    parser.add_argument("-t", "--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="give up (exit 5) after this long (default 10)")
    parser.add_argument("--runtime-dir", metavar="DIR",
                        help=f"the daemon's runtime directory (default: ${RUNTIME_DIR_ENV}, "
                             f"else {DEFAULT_RUNTIME_DIR})")


def run_outdate(args: argparse.Namespace, out: TextIO) -> int:
    env = os.environ
    resource = args.resource or env.get("DRBD_RESOURCE", "")
    peer: str | None = (args.peer or env.get("DRBD_PEER")
                        or next(iter(env.get("DRBD_PEERS", "").split()), None))
    peer = peer.lower() if peer else None
    prog = "hbeat outdate-peer"
    if not resource:
        print(f"{prog}: no resource: set $DRBD_RESOURCE or give -r", file=sys.stderr)
        return df.FAILED
    if not 0 < args.timeout <= 600:
        print(f"{prog}: -t must be more than 0 and at most 600 seconds", file=sys.stderr)
        return df.FAILED
    client = ControlClient(Path(resolve_runtime_dir(args.runtime_dir, env)), timeout_ms=2000)
    deadline = time.monotonic() + args.timeout
    try:
        asked = client.call("outdate-peer", resource=resource, peer=peer,
                            timeout_ms=int(args.timeout * 1000))
        while True:
            answer = client.call("outdate-peer-result", id=asked["id"])
            if answer.get("done"):
                code = int(answer["code"])
                print(f"{prog}: {resource}: {answer.get('why')} (exit {code})", file=out)
                return code
            if time.monotonic() >= deadline:
                print(f"{prog}: {resource}: no answer from {asked.get('peer')} within "
                      f"{args.timeout:g} s (exit {df.PEER_UNREACHABLE})", file=out)
                return df.PEER_UNREACHABLE
            time.sleep(POLL_S)
    except DaemonUnreachable as exc:
        print(f"{prog}: hbeat is not running here ({exc}): cannot reach the peer's "
              f"hbeat (exit {df.FAILED})", file=sys.stderr)
    except ControlError as exc:
        print(f"{prog}: refused: {exc.message} (exit {df.FAILED})", file=sys.stderr)
    return df.FAILED
