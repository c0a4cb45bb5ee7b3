"""Resource groups that cannot run on this node (a status said OCF exit 5 or 6).

A `status` whose verdict is `not-installed` or `not-configured`
(hbeat.ipc.executor.judge: OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED) means the
resource does not run here and cannot (docs/resources.md, "Exit codes").
Such a group is never "possibly running": the start-up probe marks it
`failed` here with the reason (`mark_found`), so it is never held, stopped,
retried or reported stop-failed, and it is handed to the peer by the
ordinary hand-off of a failed start (`handoff`, an `ip-request-resp` that
heartbeat 3.0.6 acts on too). A hand-off from the peer for a group that
cannot run here either is refused with one ERROR saying it runs nowhere
(`refused_handoff`); a takeover leaves it out (`rscgroups.would_run`) and
says so (`not_taken`); hb_takeover clears the mark and asks its status
again (`rscgroups.retaken`). The texts live here; when it happens is `resources`'.
Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hbeat.logfmt import Level

from .rscactions import Log


class Unrunnable(Protocol):
    """A group record (`rscgroups.Group`) as these rules read and mark it."""

    @property
    def key(self) -> str: ...

    cannot_run: str | None
    handoff_pending: bool
    handoff_logged: bool


def mark_found(g: Unrunnable, why: str, peer: str | None) -> list[Log]:
    """The probe found `g` unable to run here (`why`): it is to be `failed` here
    and handed to `peer` once the peer can take it."""
    g.cannot_run = why
    g.handoff_pending = True
    g.handoff_logged = False
    other = f"it is left to {peer}" if peer is not None else "no other node is configured"
    return [
        Log(
            Level.ERROR,
            f"Resource group {g.key} cannot run on this node ({why}): it is not running "
            f"here, will not be started here, and {other}.",
        )
    ]


def refused_handoff(g: Unrunnable, peer: str) -> list[Log]:
    """`peer` handed us `g`, which cannot run here either: it runs nowhere. Nothing
    is sent back; our own hand-off, if still pending, still goes out once, so the
    peer learns it too (each node hands a group over at most once)."""
    return [
        Log(
            Level.ERROR,
            f"Resource group {g.key} cannot run on this node ({g.cannot_run}) and "
            f"{peer} cannot run it either: it is not running anywhere. Install or "
            f"configure what is missing, then run hb_takeover on the node that should "
            f"run it.",
        )
    ]


def not_taken(groups: Sequence[Unrunnable], dead: str) -> list[Log]:
    """The takeover of `dead`'s resources leaves out what cannot run here."""
    return [
        Log(
            Level.ERROR,
            f"Not taking over resource group {g.key} from {dead}: it cannot run on this "
            f"node ({g.cannot_run}); it is not running anywhere. Install or configure what "
            f"is missing, then run hb_takeover here.",
        )
        for g in groups
    ]


__all__ = ["Unrunnable", "mark_found", "not_taken", "refused_handoff"]
