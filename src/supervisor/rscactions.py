"""What the resource machine emits: its actions and the group-state words they carry.

Shared by `resources` (the ownership policy), `jobrunner` and
`standbyexchange`; the daemon carries the actions out. The full contract is
in docs/resources.md ("Events and actions").
"""

from __future__ import annotations

from dataclasses import dataclass

from linklayer.message import Field

from .fencing import FenceStateChanged, RunFence
from .membership import Log

STOPPED = "stopped"
STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"
FAILED = "failed"
STOP_FAILED = "stop-failed"
PARTIAL = "partial"  # found partly running (or with a failed status) by the start-up probe
HELD_STATES = frozenset({STARTING, RUNNING, STOPPING, PARTIAL})
# What counts in our holdings: a stop-failed group may still run here.
CLAIMED_STATES = HELD_STATES | {STOP_FAILED}
TRANSITION = "transition"


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send these fields through `Membership.send` (it adds src, seq, hg, ts, ...)."""

    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class RunScript:
    """Run resource `resource_index` of group `group_key` with `action`; report via
    script_done. `quiet`: a monitor's call, logged at debug level unless it fails."""

    op_id: int
    group_key: str
    resource_index: int
    action: str
    timeout_s: float
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class GroupStateChanged:
    group_key: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class HeldChanged:
    """What `cl_status rscstatus` now prints."""

    held: str


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """Resource monitoring did something to group `group_key` (docs/resources.md,
    "Monitoring"): `event` is failed, restart, restart-here, handover, restarted,
    restart-failed or ignored; `restarts`: restarts counted within the window now."""

    group_key: str
    event: str
    resource: str | None
    reason: str
    restarts: int


@dataclass(frozen=True, slots=True)
class ShutdownComplete:
    """Every group is released and the peer had its chance to take over: exit now."""


Action = (
    SendMessage
    | RunScript
    | Log
    | GroupStateChanged
    | HeldChanged
    | MonitorEvent
    | ShutdownComplete
    | RunFence
    | FenceStateChanged
)

__all__ = [
    "CLAIMED_STATES",
    "FAILED",
    "HELD_STATES",
    "PARTIAL",
    "RUNNING",
    "STARTING",
    "STOPPED",
    "STOPPING",
    "STOP_FAILED",
    "TRANSITION",
    "Action",
    "GroupStateChanged",
    "HeldChanged",
    "Log",
    "MonitorEvent",
    "RunScript",
    "SendMessage",
    "ShutdownComplete",
]
