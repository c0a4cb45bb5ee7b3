"""What becomes of a group whose start failed here (its stop succeeded).

docs/resources.md ("Start failure"): the group is `failed` and handed to
the peer with `ip-request-resp` once the peer can take it (alive, not
leaving, stable with auto_failback on/off, no standby exchange under way);
a group the peer had handed us after its own failed start is not handed
back (it failed on both nodes); with no peer to take it, one ERROR says it
runs nowhere. `step` decides one pending hand-off. Pure.
"""

from __future__ import annotations

from typing import Protocol

from hbeat.logfmt import Level

from . import rscmessages as rm
from .rscactions import FAILED, Action, Log, SendMessage


class Pending(Protocol):
    """A group with a hand-off pending (`resources`' group record)."""

    @property
    def key(self) -> str: ...

    state: str
    handoff_pending: bool
    handoff_logged: bool
    from_peer_failure: bool
    cannot_run: str | None  # why it cannot run here (OCF 5/6), if that is why it failed


def step(g: Pending, peer: str | None, *, ready: bool, peer_gone: bool) -> list[Action]:
    """Hand `g` to `peer` if `ready`, else wait (saying once if `peer_gone`: no
    peer, or it is dead). Clears `handoff_pending` when the hand-off is over."""
    if g.state != FAILED:
        g.handoff_pending = False
        return []
    why = f" ({g.cannot_run})" if g.cannot_run else ""
    if g.from_peer_failure:
        g.handoff_pending = False
        text = f"Resource group {g.key} failed on both nodes{why}: it is not running anywhere."
        return [Log(Level.ERROR, text)]
    if ready and peer is not None:
        g.handoff_pending = False
        how = "cannot run" if g.cannot_run else "could not be started"
        return [
            Log(Level.WARN, f"Resource group {g.key} {how} here{why}: handing it to {peer}."),
            SendMessage(rm.ip_request_resp_fields(peer, g.key, True)),
        ]
    if not g.handoff_logged and peer_gone:
        g.handoff_logged = True
        how = "cannot run here" if g.cannot_run else "could not be started"
        text = (
            f"Resource group {g.key} {how}{why} and no other node can take it: "
            f"it is not running anywhere."
        )
        return [Log(Level.ERROR, text)]
    return []
