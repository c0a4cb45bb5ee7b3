"""The start-up probe's verdicts: what a probed group is, and whether to adopt or release it.

Pure functions for `resources` (docs/resources.md, "Start-up probe and
adoption"); they read what they are given and change nothing:

* `findings(group, statuses, found)`: None for a group found stopped, else
  the resources found not stopped, the state it is in (running or
  partial) and the log line saying so.
* `release_reason(...)`: why a group found here must be stopped (the peer
  keeps it), or None to adopt it.
* `verdict_logs(...)`: the log lines of that decision.
* `probed(...)`: a group's probe is over: record its findings on it.
* `resolve(...)`: that decision for every group still undecided; it marks
  them decided (and the released ones `releasing`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hbeat.config.model import ResourceGroup
from hbeat.logfmt import Level

from . import groupops as go
from . import rscmessages as rm
from .rscactions import PARTIAL, RUNNING, STOPPED, Log

Hold = rm.Hold


class PeerFacts(Protocol):
    """What the rule needs to know of the peer."""

    name: str
    alive: bool
    released: bool  # sent shutdone
    hold_known: bool
    hold: Hold


@dataclass(frozen=True, slots=True)
class Findings:
    resources: tuple[str, ...]  # the texts of the resources not found stopped
    state: str  # RUNNING or PARTIAL
    log: Log


def findings(
    group: ResourceGroup,
    statuses: tuple[go.ResourceStatus, ...],
    found: go.ResourceStatus | None,
) -> Findings | None:
    """What the probe of `group` found (None: every resource said stopped)."""
    if found is go.ResourceStatus.STOPPED:
        return None
    texts = tuple(
        r.text
        for r, st in zip(group.resources, statuses, strict=True)
        if not st.not_running
    )
    if found is go.ResourceStatus.RUNNING:
        return Findings(
            texts, RUNNING, Log(Level.INFO, f"Resource group {group.key} is already running here.")
        )
    log = Log(
        Level.WARN,
        f"Resource group {group.key} is partly running here (not stopped: {' '.join(texts)}).",
    )
    return Findings(texts, PARTIAL, log)


def release_reason(
    cls: Hold,
    home: str,
    me: str,
    *,
    nice: bool,
    peer: PeerFacts | None,
    incumbent: bool,
) -> str | None:
    """Why a group of class `cls` (preferred node `home`) found running here must be
    stopped, or None to adopt it. `incumbent`: the peer reported itself stable."""
    if peer is None or not peer.alive or peer.released:
        return None
    if not nice:
        if cls is Hold.LOCAL:
            return None
        return f"its home node {peer.name} is up (auto_failback legacy)"
    if not peer.hold_known or not peer.hold & cls.mirrored():
        return None
    if incumbent:
        return f"{peer.name} holds it"
    if home != me:
        return f"{peer.name} holds it too and is its preferred node"
    return None


def verdict_logs(key: str, state: str, found: tuple[str, ...], why: str | None) -> list[Log]:
    """The log lines of adopting (`why` None) or releasing group `key`."""
    if why is None:
        if state == RUNNING:
            return [Log(Level.INFO, f"Adopting resource group {key}: it keeps running here.")]
        return [
            Log(Level.INFO, f"Adopting resource group {key}: its other resources will be started.")
        ]
    out = [Log(Level.CRIT, f"Resource {text} is active, and should not be!") for text in found]
    out.append(Log(Level.WARN, f"Releasing resource group {key} found running here: {why}."))
    return out


class FoundGroup(Protocol):
    """A group as `resolve` reads and marks it (`rscgroups.Group`)."""

    @property
    def key(self) -> str: ...

    cls: Hold
    home: str
    state: str
    found: tuple[str, ...]
    undecided: bool
    releasing: bool


G = TypeVar("G", bound=FoundGroup)


class ProbedGroup(Protocol):
    """A group as `probed` records its probe on it (`rscgroups.Group`)."""

    group: ResourceGroup
    state: str
    probed: bool
    found: tuple[str, ...]
    undecided: bool


def probed(
    g: ProbedGroup, statuses: tuple[go.ResourceStatus, ...], found: go.ResourceStatus | None
) -> Findings | None:
    """`g`'s probe is over: it is probed; its findings (None: found stopped, or `g`
    was started or stopped meanwhile) make it undecided until `resolve`."""
    g.probed = True
    if g.state != STOPPED:
        return None
    f = findings(g.group, statuses, found)
    if f is not None:
        g.found = f.resources
        g.undecided = True
    return f


def resolve(
    groups: Iterable[G], me: str, *, nice: bool, peer: PeerFacts | None, incumbent: bool
) -> tuple[list[Log], Hold, list[G]]:
    """Adopt or release every undecided group (in haresources order). Returns the
    log lines, the classes adopted and the groups to stop (haresources order)."""
    out: list[Log] = []
    adopted = Hold.NONE
    stale: list[G] = []
    for g in groups:
        if not g.undecided:
            continue
        g.undecided = False
        why = release_reason(g.cls, g.home, me, nice=nice, peer=peer, incumbent=incumbent)
        out += verdict_logs(g.key, g.state, g.found, why)
        if why is None:
            adopted |= g.cls
        else:
            g.releasing = True
            stale.append(g)
    return out, adopted, stale


__all__ = [
    "Findings",
    "FoundGroup",
    "PeerFacts",
    "ProbedGroup",
    "findings",
    "probed",
    "release_reason",
    "resolve",
    "verdict_logs",
]
