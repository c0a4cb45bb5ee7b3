"""The resource machine's snapshot: its schema, typed, and the builder of each part.

`Resources.snapshot()` returns a `ResourcesView` (plain JSON-ready dicts);
the status feed and `hbeat status` read it. The fields and their meaning are
in docs/resources.md ("Snapshot"). Per group it says what an operator needs
when something is stuck: its state, what the start-up probe found, the
operation running on it (start time, call, deadlines) and the standby
exchange it is part of. Pure: built from what the machine passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypedDict

from . import rscmessages as rm
from .jobrunner import RunnerSnapshot
from .standbyexchange import SbRole, Standby, StandbyView

Hold = rm.Hold


class CallView(TypedDict):
    op_id: int
    index: int
    resource: str
    action: str
    issued_ms: int
    timeout_s: float
    deadline_ms: int


class OperationView(TypedDict):
    group: str
    kind: str  # start | stop | probe
    job: str
    started_ms: int
    retry_at_ms: int | None  # a failed stop waits for its retry until then
    call: CallView | None


class MonitorView(TypedDict):
    """Resource monitoring's settings (ha.cf `monitor`)."""

    interval_ms: int
    restarts: int
    window_ms: int


class GroupMonitorView(TypedDict):
    """A group's monitoring here (docs/resources.md, "Monitoring")."""

    watched: bool  # it runs here and is probed
    next_ms: int | None  # the next probe (None: none scheduled, or one under way)
    failures: int  # failed probes since the daemon started
    restarts: int  # restarts counted within the window now
    last_failure: str | None
    last_failure_ms: int | None
    action: str | None  # restarting | handing-over


# "class" is a keyword: the functional form.
GroupView = TypedDict(
    "GroupView",
    {
        "node": str,
        "state": str,
        "class": str,
        "found": list[str],
        "probed": bool,
        "undecided": bool,
        "operation": OperationView | None,
        "standby": StandbyView | None,
        "handoff_pending": bool,
        "cannot_run": str | None,
        "monitor": GroupMonitorView | None,
    },
)


class PeerView(TypedDict):
    name: str
    alive: bool
    hold: str | None
    stable: bool


class RunningOpView(TypedDict):
    op_id: int
    group: str
    index: int
    action: str
    resource: str
    issued_ms: int
    deadline_ms: int


class ResourcesView(TypedDict):
    held: str
    hold_bits: str
    phase: str
    shutdown_stuck: bool
    auto_failback: str
    groups: dict[str, GroupView]
    peer: PeerView | None
    standby: StandbyView | None
    running_op: RunningOpView | None
    queue: list[str]
    fencing: dict[str, object]  # fencing.Fencing.snapshot()
    boot_wait: bool
    monitor: MonitorView | None  # None: resource monitoring is off



class GroupFacts(Protocol):
    """What the builder reads of the machine's group record."""

    @property
    def key(self) -> str: ...

    home: str
    cls: Hold
    state: str
    found: tuple[str, ...]
    probed: bool
    undecided: bool
    handoff_pending: bool
    cannot_run: str | None


def operation(run: RunnerSnapshot) -> OperationView | None:
    op = run.op
    if op is None:
        return None
    call: CallView | None = None
    if op.call is not None:
        c = op.call
        call = {
            "op_id": c.op_id,
            "index": c.index,
            "resource": c.resource,
            "action": c.action,
            "issued_ms": c.issued_ms,
            "timeout_s": c.timeout_s,
            "deadline_ms": c.deadline_ms,
        }
    return {
        "group": op.group,
        "kind": op.kind,
        "job": op.job,
        "started_ms": op.started_ms,
        "retry_at_ms": op.retry_at_ms,
        "call": call,
    }


def running_op(run: RunnerSnapshot) -> RunningOpView | None:
    """The script call in flight, if any."""
    op = run.op
    if op is None or op.call is None:
        return None
    c = op.call
    return {
        "op_id": c.op_id,
        "group": op.group,
        "index": c.index,
        "action": c.action,
        "resource": c.resource,
        "issued_ms": c.issued_ms,
        "deadline_ms": c.deadline_ms,
    }


def groups(
    records: Iterable[GroupFacts],
    run: RunnerSnapshot,
    standby: Standby | None,
    monitor: Mapping[str, GroupMonitorView] | None = None,
) -> dict[str, GroupView]:
    """Every group's view: its operation if one runs on it, the standby exchange
    if the group is in its set (seen from this node), its monitoring if on."""
    op = operation(run)
    sb_set = Hold.NONE
    if standby is not None:
        sb_set = standby.which if standby.role is SbRole.ASKER else standby.which.mirrored()
    sb_view = standby.as_dict() if standby is not None else None
    out: dict[str, GroupView] = {}
    for g in records:
        out[g.key] = {
            "node": g.home,
            "state": g.state,
            "class": g.cls.word,
            "found": list(g.found),
            "probed": g.probed,
            "undecided": g.undecided,
            "operation": op if op is not None and op["group"] == g.key else None,
            "standby": sb_view if g.cls & sb_set else None,
            "handoff_pending": g.handoff_pending,
            "cannot_run": g.cannot_run,
            "monitor": None if monitor is None else monitor[g.key],
        }
    return out


__all__ = [
    "CallView",
    "GroupFacts",
    "GroupMonitorView",
    "GroupView",
    "MonitorView",
    "OperationView",
    "PeerView",
    "ResourcesView",
    "RunningOpView",
    "groups",
    "operation",
    "running_op",
]
