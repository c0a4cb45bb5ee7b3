"""What the operator is told about resource groups that could not be stopped.

A stop-failed group may still run here, so it stays held by this node until
the administrator acts (docs/resources.md, "Stop failure"). These pure
builders give the CRIT lines of those rules the same wording wherever
`resources` needs them: the failure itself (`failed_stop`), what to do
about it (`advice`, repeated every `stop_failed_crit_ms`), a graceful stop
it holds up (`shutdown_blocked`), a legacy request refused for it
(`refused_ip_request`), and the hand-over of the groups that did stop when
it holds up the protocol that stopped them (`handed_over`); `Reminder` is
when the advice is repeated.
"""

from __future__ import annotations

from hbeat.logfmt import Level

from . import rscmessages as rm
from .rscactions import Action, Log, SendMessage


def failed_stop(key: str, *, after_start: bool) -> Log:
    what = "a failed start" if after_start else "a release"
    return Log(Level.CRIT, f"Resource group {key} could not be stopped after {what}.")


def advice(key: str, peer: str | None, *, leaving: bool, nice: bool, retry_ms: int) -> Log:
    """What a stop-failed group means and what the administrator can do.

    `leaving`: our graceful stop waits for it; `nice`: auto_failback on/off
    (standby exists); `retry_ms`: how often the shutdown retries the stop."""
    head = f"Resource group {key} may still be running here: this node keeps holding it"
    if leaving:
        how = (
            f"the shutdown waits for it. Stop its resources by hand: the stop is retried "
            f"every {retry_ms // 1000} s and on SIGTERM"
        )
    elif not nice:
        how = "stop its resources by hand, then restart hbeat here (its shutdown retries it)"
    elif peer is None:
        how = "stop its resources by hand, then run hb_takeover here to start it again"
    else:
        how = (
            f"stop its resources by hand, then run hb_standby here (or hb_takeover on "
            f"{peer}) to hand it over, or hb_takeover here to run it here"
        )
    if peer is not None:
        head += f" and {peer} is not let take it over"
    return Log(Level.CRIT, f"{head}; {how}.")


def shutdown_blocked(names: str, peer: str | None, retry_ms: int, *, first: bool) -> list[Log]:
    """The graceful stop cannot complete: groups `names` (space-separated) did not stop."""
    retry_s = retry_ms // 1000
    if not first:
        return [
            Log(
                Level.CRIT,
                f"Shutdown still blocked: resource group(s) {names} could not be stopped; "
                f"retrying in {retry_s} s.",
            )
        ]
    other = peer if peer is not None else "another node"
    return [
        Log(
            Level.CRIT,
            f"Shutdown cannot complete: resource group(s) {names} could not be stopped and "
            f"may still be running here. Not sending shutdone: {other} will not take "
            f"them over while this node runs. Retrying the stops every {retry_s} s and "
            f"on SIGTERM.",
        ),
        Log(
            Level.CRIT,
            f"hbeat.service never kills a stuck shutdown (TimeoutStopSec=infinity). If "
            f"hbeat is killed anyway (systemctl kill), {other} takes every group over "
            f"after deadtime as after a crash, with {names} possibly still running here: "
            f"stop them by hand, and configure STONITH or a watchdog so that a crashed "
            f"node is fenced.",
        ),
    ]


def refused_ip_request(peer: str, key: str) -> Log:
    return Log(
        Level.CRIT,
        f"Refusing ip-request from {peer} for resource group {key}: it could not be stopped here.",
    )


def handed_over(key: str, peer: str, why: str) -> list[Action]:
    """Give `peer` group `key`, stopped here by a standby or shutdown (`why`) that
    cannot hand it over itself because a stop-failed group holds it up."""
    return [
        Log(Level.WARN, f"Handing resource group {key} to {peer} ({why})."),
        SendMessage(rm.ip_request_resp_fields(peer, key, True)),
    ]


class Reminder:
    """The CRIT advice about stop-failed groups is repeated every `period_ms` while
    any is left (armed by the first stop failure)."""

    def __init__(self, period_ms: int) -> None:
        self.period_ms = period_ms
        self.at: int | None = None  # the next reminder

    def arm(self, now: int) -> None:
        if self.at is None:
            self.at = now + self.period_ms

    def due(self, now: int) -> bool:
        return self.at is not None and now >= self.at

    def again(self, now: int, *, any_left: bool) -> bool:
        """A reminder is due: whether to give it (then the next is armed)."""
        self.at = now + self.period_ms if any_left else None
        return any_left


__all__ = [
    "Reminder",
    "failed_stop",
    "handed_over",
    "refused_ip_request",
    "shutdown_blocked",
]
