"""Our graceful stop: its progress, its two timers and its messages.

Owns where the shutdown of this node stands (requested, release queued,
stuck on stop-failed groups, waiting for the peer's takeover) and what it
says at each step (3.0.6's lines, docs/resources.md "Our graceful stop" and
"Stop failure" rule 5). The policy in `resources` stops the groups and sets
its phase; this module never touches groups. Pure; times are monotonic ms.

Interface: `request(op_running)` (first SIGTERM), `giving_up(still)` (the
release job is queued), then `released(now, wait_for_peer=)` when every stop
succeeded or `blocked(now, names, peer)` when some did not; `retrying(...)`
/ `already_retrying(...)`, `retry_due(now)`, `wait_expired(now)`,
`complete()`, `deadlines(stuck)`.
"""

from __future__ import annotations

from hbeat.logfmt import Level

from . import rscmessages as rm
from . import stopfailure as sf
from .rscactions import Action, Log, SendMessage, ShutdownComplete

Hold = rm.Hold


class ShutdownFlow:
    """See the module docstring. `wait_ms`: how long we wait for the peer's
    takeover confirmation; `retry_ms`: how often stuck stops are retried."""

    def __init__(self, wait_ms: int, retry_ms: int) -> None:
        self.wait_ms = wait_ms
        self.retry_ms = retry_ms
        self.requested = False
        self.release_queued = False
        self.stuck = False  # stop-failed groups hold the shutdown up
        self.retry_at: int | None = None
        self.wait_deadline: int | None = None

    def deadlines(self, stuck: bool) -> list[int | None]:
        return [self.wait_deadline, self.retry_at if stuck else None]

    def request(self, op_running: bool) -> list[Action]:
        self.requested = True
        if op_running:
            return [Log(Level.INFO, "Shutdown delayed until current resource activity finishes.")]
        return []

    def giving_up(self, still: Hold) -> list[Action]:
        """The release of every group is queued; `still`: classes held by stop-failed
        groups (3.0.6 says rsc_hold=none here; a group already stop-failed is still ours)."""
        self.release_queued = True
        return [
            Log(Level.INFO, "Giving up all HA resources."),
            SendMessage(rm.resource_fields(still, False, rm.INFO_SHUTDOWN)),
        ]

    def released(self, now: int, *, wait_for_peer: bool) -> tuple[list[Action], bool]:
        """Every group stopped: `shutdone`. Returns the actions and whether the shutdown
        completes now (else we wait for the peer's takeover until `wait_expired`)."""
        out: list[Action] = []
        if self.stuck:
            self.stuck = False
            self.retry_at = None
            out.append(Log(Level.INFO, "The failed stops succeeded: completing the shutdown."))
        out += [
            Log(Level.INFO, "All HA resources relinquished."),
            SendMessage(rm.shutdone_fields()),
        ]
        if wait_for_peer:
            out.append(Log(Level.INFO, "Waiting to allow resource takeover to complete"))
            self.wait_deadline = now + self.wait_ms
            return out, False
        return out, True

    def blocked(self, now: int, names: str, peer: str | None) -> tuple[list[Action], bool]:
        """Groups `names` did not stop: no `shutdone`; retry later. Returns the CRIT
        lines and whether this is the first time (then the stopped groups are handed
        to the peer one by one by the caller)."""
        self.retry_at = now + self.retry_ms
        first = not self.stuck
        self.stuck = True
        return list(sf.shutdown_blocked(names, peer, self.retry_ms, first=first)), first

    def retry_due(self, now: int) -> bool:
        return self.retry_at is not None and now >= self.retry_at

    def already_retrying(self, why: str) -> list[Action]:
        return [Log(Level.INFO, f"Shutdown: {why}; the stops are being retried already.")]

    def retrying(self, why: str, names: str) -> list[Action]:
        self.retry_at = None
        return [Log(Level.INFO, f"Shutdown: {why}: retrying the stop of {names}.")]

    def wait_expired(self, now: int) -> list[Action]:
        """The peer did not confirm its takeover in time: the WARN, then `complete`."""
        if self.wait_deadline is None or now < self.wait_deadline:
            return []
        return [Log(Level.WARN, "No takeover confirmation from the other node: stopping anyway.")]

    def complete(self) -> list[Action]:
        self.wait_deadline = None
        return [ShutdownComplete()]


__all__ = ["ShutdownFlow"]
