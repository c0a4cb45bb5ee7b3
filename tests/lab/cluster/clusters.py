"""Cluster set-ups shared by the cluster and interop tests.

One ha.cf for every node of a lab (the way heartbeat is deployed), at fast
timings that real heartbeat 3.0.6 accepts (keepalive 500ms, deadtime 4,
warntime 2, initdead 8), built with the harness's `ha_cf`; helpers start
hbeat (or real heartbeat) on every node and compare cl_status outputs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence

from tests.harness import HeartbeatConfig, HeartbeatNode, Lab, SerialCable, ha_cf
from tests.harness.hbeatnode import HbeatConfig, HbeatNode

TTY = "/run/ttyS0"
KEEPALIVE_MS = 500
DEADTIME_MS = 4000
TIMINGS = {"keepalive": "500ms", "deadtime": "4", "warntime": "2", "initdead": "8"}


def fast_hacf(nodes: Sequence[str], media: Sequence[str], *, serial: bool = False,
              extra: Sequence[str] = ()) -> str:
    return ha_cf(list(nodes), **TIMINGS, baud=38400, serial=[TTY] if serial else [],
                 media=list(media), extra=list(extra))


def start_hbeat(lab: Lab, hacf: str | Callable[[str], str], authkeys: str, *,
                cable: SerialCable | None = None,
                names: Sequence[str] | None = None) -> dict[str, HbeatNode]:
    """hbeat on every node of `names` (default: all lab nodes); `hacf` may be a
    function of the node name (ucast lines differ per node)."""
    out = {}
    for name in names or list(lab.nodes):
        text = hacf(name) if callable(hacf) else hacf
        ttys = {TTY: cable.path(name)} if cable is not None and name in (cable.a, cable.b) else {}
        out[name] = HbeatNode(lab[name], HbeatConfig(text, authkeys), ttys=ttys)
    for node in out.values():
        node.start()
    return out


def start_heartbeat(lab: Lab, hacf: str, authkeys: str, *, cable: SerialCable | None = None,
                    names: Sequence[str] | None = None) -> dict[str, HeartbeatNode]:
    """Real heartbeat 3.0.6 on every node of `names` (no resources)."""
    config = HeartbeatConfig(ha_cf=hacf, authkeys=authkeys, haresources="")
    out = {}
    for name in names or list(lab.nodes):
        ttys = {TTY: cable.path(name)} if cable is not None and name in (cable.a, cable.b) else {}
        out[name] = HeartbeatNode(lab[name], config, ttys=ttys)
    for node in out.values():
        node.start()
    return out


_LOG_PREFIX = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) cl_status: \[\d+\]: ", re.M)
_VERSION = re.compile(r"3\.0\.6 \(node: [^)]*\)")


def normalise(res: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) with log timestamps, pids and the version's
    build tag (`3.0.6 (node: <generation or hbeat version>)`) blanked."""

    def clean(text: str) -> str:
        text = _LOG_PREFIX.sub(r"<date> \1 cl_status: [<pid>]: ", text)
        return _VERSION.sub("3.0.6 (node: <build>)", text)

    return res.returncode, clean(res.stdout), clean(res.stderr)


def diff_report(ours: dict[str, tuple[int, str, str]],
                theirs: dict[str, tuple[int, str, str]]) -> str:
    lines = []
    for key in theirs:
        if ours.get(key) != theirs[key]:
            lines.append(f"cl_status {key}:\n  heartbeat: {theirs[key]!r}\n"
                         f"  hbeat:     {ours.get(key)!r}")
    return "\n".join(lines)

