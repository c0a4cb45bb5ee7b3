"""Stand-in resource scripts that record every call, and the audit of those records.

`write_standin(directory, name, events, control)` writes an executable
`resource.d/<name>` (or init.d) script in heartbeat's calling convention
(`name [args...] start|stop|status`). Every call appends one line to the
shared `events` file (like tests/data/interop/config/LabProbe):

    <epoch.ns> <node> <resource> <action> <result>

where `<resource>` is the haresources text (`drbddisk::r0`, `LVM::vg0`,
`IPaddr::10.0.0.100`) and `<result>` is ok|failed|hanging for start/stop and
running|stopped for status. Running state is a file under
`/run/hbeat-standin/` on the node (the harness gives each node a private
/run), so it survives a daemon crash and goes when the test empties that /run
as a reboot would (FailoverCluster.crash). Status answers with LSB exit
codes (0 running, 3 stopped).

A test steers one call by writing a file `<control>/<node>.<key>.<action>`
(`key` is the resource text with every character outside [A-Za-z0-9._-]
replaced by `_`), holding `fail` (exit 1), `hang` (a child `sleep 600` in
the call's process group, its pid in `<...>.hang-pid`; the script never
returns) or `sleep SECONDS` (then behave normally).

`Records` parses the file; `holding_intervals()` turns it into intervals
[start ok, stop ok] per (resource, node) — a `crash` line written by the test
ends every interval of that node — and `overlaps()` lists any moment at which
two nodes held the same resource.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = "/run/hbeat-standin"
CRASH = "crash"
_SCRIPT = """#!/bin/sh
# hbeat failover-test stand-in for the {name} resource script (tests/lab/failover/standins.py).
NAME={name}
EVENTS={events}
CTL={control}
STATE_DIR={state_dir}
node=$(uname -n)
action=
args=
for word in "$@"; do
    if [ -n "$action" ]; then args="${{args:+$args::}}$action"; fi
    action=$word
done
rsc="$NAME${{args:+::$args}}"
key=$(printf '%s' "$rsc" | tr -c 'A-Za-z0-9._-' '_')
state="$STATE_DIR/$key"
record() {{ echo "$(date +%s.%N) $node $rsc $action $1" >> "$EVENTS"; }}
steer="$CTL/$node.$key.$action"
if [ -f "$steer" ]; then
    read -r how delay < "$steer"
    case "$how" in
    fail) record failed; echo "$rsc: $action failed (as the test asked)" >&2; exit 1;;
    hang) record hanging; sleep 600 & echo $! > "$CTL/$node.$key.hang-pid"; wait; exit 1;;
    sleep) sleep "$delay";;
    esac
fi
case "$action" in
start) mkdir -p "$STATE_DIR" && date +%s.%N > "$state" && record ok && exit 0
       record failed; exit 1;;
stop) rm -f "$state"; record ok; exit 0;;
status|monitor)
    if [ -f "$state" ]; then record running; echo "$rsc is running"; exit 0; fi
    record stopped; echo "$rsc is stopped"; exit 3;;
*) echo "usage: $NAME [args...] {{start|stop|status}}" >&2; exit 2;;
esac
"""


def write_standin(directory: Path, name: str, events: Path, control: Path) -> Path:
    """An executable stand-in `directory/name` recording into `events`."""
    for path in (events, control):
        if re.search(r"[\s'\"$`\\]", str(path)):
            raise ValueError(f"stand-in paths must be plain words, got {path}")
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(_SCRIPT.format(name=name, events=events, control=control,
                                     state_dir=STATE_DIR))
    script.chmod(0o755)
    return script


def control_key(resource: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", resource)


def steer(control: Path, node: str, resource: str, action: str, how: str) -> Path:
    """Make the next `action` calls of `resource` on `node` do `how` (fail|hang|sleep N)."""
    path = control / f"{node}.{control_key(resource)}.{action}"
    path.write_text(how + "\n")
    return path


def unsteer(control: Path, node: str, resource: str, action: str) -> None:
    (control / f"{node}.{control_key(resource)}.{action}").unlink(missing_ok=True)


def hang_pid(control: Path, node: str, resource: str) -> int | None:
    path = control / f"{node}.{control_key(resource)}.hang-pid"
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Record:
    t: float
    node: str
    resource: str
    action: str
    result: str


@dataclass(frozen=True)
class Interval:
    resource: str
    node: str
    start: float
    end: float | None  # None: still held

    def overlaps(self, other: Interval) -> bool:
        inf = float("inf")
        return self.start < (other.end or inf) and other.start < (self.end or inf)


class Records:
    """The shared events file, parsed on each call (it only grows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def all(self) -> list[Record]:
        out = []
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            parts = line.split()
            if len(parts) != 5:
                raise AssertionError(f"{self.path}:{n}: malformed record {line!r}")
            out.append(Record(float(parts[0]), *parts[1:]))
        return out

    def since(self, t: float) -> list[Record]:
        return [r for r in self.all() if r.t >= t]

    def find(self, *, node: str | None = None, resource: str | None = None,
             action: str | None = None, result: str | None = None,
             after: float = 0.0) -> list[Record]:
        return [r for r in self.all() if r.t >= after
                and (node is None or r.node == node)
                and (resource is None or r.resource == resource)
                and (action is None or r.action == action)
                and (result is None or r.result == result)]

    def crash(self, node: str) -> float:
        """Note that `node` crashed now: every resource it held is down from here on."""
        t = time.time()
        with self.path.open("a") as f:
            f.write(f"{t:.9f} {node} * {CRASH} ok\n")
        return t

    def holding_intervals(self) -> list[Interval]:
        open_: dict[tuple[str, str], float] = {}
        out: list[Interval] = []
        for r in sorted(self.all(), key=lambda r: r.t):
            if r.action == CRASH:
                for (rsc, node), start in list(open_.items()):
                    if node == r.node:
                        out.append(Interval(rsc, node, start, r.t))
                        del open_[(rsc, node)]
            elif r.action == "start" and r.result == "ok":
                open_.setdefault((r.resource, r.node), r.t)
            elif r.action == "stop" and r.result == "ok" and (r.resource, r.node) in open_:
                out.append(Interval(r.resource, r.node, open_.pop((r.resource, r.node)), r.t))
        out += [Interval(rsc, node, start, None) for (rsc, node), start in open_.items()]
        return out

    def overlaps(self, ignore: frozenset[str] = frozenset()) -> list[tuple[Interval, Interval]]:
        """Every pair of intervals in which two nodes held one resource at once."""
        by_rsc: dict[str, list[Interval]] = {}
        for iv in self.holding_intervals():
            if iv.resource not in ignore:
                by_rsc.setdefault(iv.resource, []).append(iv)
        bad = []
        for ivs in by_rsc.values():
            for i, a in enumerate(ivs):
                bad += [(a, b) for b in ivs[i + 1:] if a.node != b.node and a.overlaps(b)]
        return bad

    def holders(self) -> dict[str, set[str]]:
        """{resource: nodes holding it now} according to the records."""
        out: dict[str, set[str]] = {}
        for iv in self.holding_intervals():
            out.setdefault(iv.resource, set())
            if iv.end is None:
                out[iv.resource].add(iv.node)
        return out
