"""The resource machine's record of each haresources group, and rules read off it.

`Group` is one group as `resources` tracks it: its class (LOCAL: its
haresources node is us; FOREIGN: the other's), its state (`rscactions`),
what the start-up probe found and the flags of a pending hand-off.
`ordered` lists a class in haresources order, `hold_bits` gives the
holdings we report in `rsc_hold`, `would_run` whether a queued step still
makes sense when its turn comes (docs/resources.md, "Semantics",
"Holdings"), `after_op` the state an operation leaves a group in,
`shutdown_stops` what our shutdown stops, and `retaken` what hb_takeover
makes of a group that failed here. Which group changes state when is
`resources`'. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hbeat.config.model import ResourceGroup
from hbeat.logfmt import Level

from . import groupops as go
from . import rscmessages as rm
from .jobrunner import OpFinished, Step
from .rscactions import (
    CLAIMED_STATES,
    FAILED,
    PARTIAL,
    RUNNING,
    STARTING,
    STOP_FAILED,
    STOPPED,
    Log,
)

Hold = rm.Hold


@dataclass
class Group:
    group: ResourceGroup
    home: str
    cls: Hold
    state: str = STOPPED
    handoff_pending: bool = False
    handoff_logged: bool = False
    from_peer_failure: bool = False
    probed: bool = False
    found: tuple[str, ...] = ()  # resources the start-up probe did not find stopped
    undecided: bool = False  # found by the probe, neither adopted nor released yet
    releasing: bool = False  # found by the probe and being stopped (not ours to keep)
    cannot_run: str | None = None  # why it cannot run on this node (a status said OCF 5/6)

    @property
    def key(self) -> str:
        return self.group.key


def table(groups: Iterable[ResourceGroup], me: str) -> dict[str, Group]:
    return {g.key: Group(g, g.node, Hold.LOCAL if g.node == me else Hold.FOREIGN) for g in groups}


def ordered(groups: Iterable[Group], cls: Hold, *, reverse: bool = False) -> list[Group]:
    """The groups of class `cls`, in haresources order (stop order if `reverse`)."""
    gs = [g for g in groups if g.cls & cls]
    return list(reversed(gs)) if reverse else gs


def hold_bits(groups: Iterable[Group], claim: Hold, committed: set[str]) -> Hold:
    """A class is held when one of its groups is claimed or about to start here
    (`committed`); a class with no groups when we took responsibility (`claim`)."""
    bits = Hold.NONE
    gs = list(groups)
    for cls in (Hold.LOCAL, Hold.FOREIGN):
        members = [g for g in gs if g.cls is cls]
        if not members:
            if claim & cls:
                bits |= cls
        elif any(g.state in CLAIMED_STATES or g.key in committed for g in members):
            bits |= cls
    return bits


def would_run(step: Step, g: Group, *, probing: bool, leaving: bool) -> bool:
    """Whether a queued step on `g` still makes sense when its turn comes
    (`probing`: the start-up probe runs; `leaving`: our shutdown is under way)."""
    if step.probe:
        return probing
    if step.monitor:
        return not leaving and g.state == RUNNING
    if step.start:
        if leaving:
            return False
        if g.state == FAILED:
            # A takeover retries a failed start, but never one that cannot run here
            # (OCF 5/6 from its status: `cannotrun`); hb_takeover clears that first.
            return step.retry_failed and g.cannot_run is None
        return g.state in (STOPPED, PARTIAL)
    if g.state == STOP_FAILED:
        return step.retry_failed  # only an explicit retry (standby, shutdown) stops it again
    return g.state in (RUNNING, STARTING, PARTIAL) or not g.probed


def after_op(g: Group, fin: OpFinished, *, leaving: bool) -> str:
    """The state a start or stop (not a probe) leaves `g` in; sets its hand-off
    flags (`leaving`: our shutdown is under way: a failed start is not handed on)."""
    if fin.kind is not go.Kind.START:
        g.releasing = False
    g.cannot_run = fin.cannot_run if fin.outcome is go.Outcome.START_FAILED else None
    if fin.outcome is go.Outcome.STARTED:
        return RUNNING
    if fin.outcome is go.Outcome.STOPPED:
        # A restart's stop of resources first..top leaves the others running.
        return PARTIAL if fin.first else STOPPED
    if fin.outcome is go.Outcome.START_FAILED:
        g.handoff_pending = not leaving
        g.handoff_logged = False
        return FAILED
    # STOP_FAILED: it may still run here, so it stays ours (docs/resources.md, "Stop
    # failure"): never handed on, not even after a failed start's rollback.
    g.handoff_pending = False
    g.handoff_logged = False
    return STOP_FAILED


def shutdown_stops(groups: list[Group]) -> tuple[list[Step], list[str], Hold]:
    """Our shutdown: the stops (right to left, stop-failed and unprobed groups
    included), the groups it releases (claimed now) and the classes of the
    stop-failed groups (still held)."""
    steps = [
        Step(g.key, False, retry_failed=True)
        for g in ordered(groups, Hold.ALL, reverse=True)
        if g.state in (RUNNING, STARTING, PARTIAL, STOP_FAILED) or not g.probed
    ]
    by_key = {g.key: g for g in groups}
    released = [s.key for s in reversed(steps) if by_key[s.key].state in CLAIMED_STATES]
    still = Hold.NONE
    for g in groups:
        if g.state == STOP_FAILED:
            still |= g.cls
    return steps, released, still


def retaken(g: Group) -> tuple[str, list[Log]] | None:
    """hb_takeover of `g`'s class: a failed group is stopped and may start again;
    a stop-failed one may still run here, so it is held and completed here by the
    acquisition. Returns its new state and what is said, or None (unchanged)."""
    if g.state == FAILED:
        g.handoff_pending = False
        g.handoff_logged = False
        g.cannot_run = None  # asked again: its start begins with a status
        return STOPPED, []
    if g.state == STOP_FAILED:
        text = f"hb_takeover: resource group {g.key} (stop-failed) will be completed here."
        return PARTIAL, [Log(Level.INFO, text)]
    return None
