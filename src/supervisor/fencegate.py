"""The fencing gate in front of every takeover caused by the peer's death.

`fencing.Fencing` runs the STONITH calls; `FenceGate` holds what the
resource machine waits for (docs/fencing.md, docs/resources.md "Takeover
and the fencing gate"): the node whose reset a takeover waits for, whether
that fence was started by a start-up alone (`boot`), and whether a start-up
alone without a device took nothing (`boot_wait`, boot_takeover fenced).
It also gives those situations their log lines and `stonith` reports.
What is taken over once the gate opens is `resources`'. Pure.
"""

from __future__ import annotations

from hbeat.logfmt import Level

from . import fencing as fc
from . import rscmessages as rm
from .rscactions import Action, Log, SendMessage


class FenceGate:
    def __init__(self, fencing: fc.Fencing, boot_takeover: str) -> None:
        self.fencing = fencing
        self.boot_takeover = boot_takeover
        self.waiting_for: str | None = None  # the takeover waits for this node's fence
        self.boot = False  # ... started by the start-up alone
        self.boot_wait = False  # start-up alone, unfenced: waiting for the peer/hb_takeover

    def refuse_boot(self, peer: str, *, needed: bool) -> list[Action]:
        """A start-up alone: with every link down the peer may be alive and running
        everything. Without a device to fence it (boot_takeover fenced) we take
        nothing: the CRIT line, and `boot_wait` is set. Else []: go ahead."""
        if not needed or self.fencing.configured or self.boot_takeover != "fenced":
            return []
        self.boot_wait = True
        return [
            Log(
                Level.CRIT,
                f"{peer} is not heard and no STONITH device is configured: not "
                f"taking over any resource group (boot_takeover fenced). Waiting for "
                f"{peer}; if it is down, run hb_takeover here.",
            )
        ]

    def gated(self, *, needed: bool) -> bool:
        """Whether the takeover after a death must wait for a fence."""
        return needed and self.fencing.configured

    def begin(self, peer: str, now: int) -> list[fc.FenceAction]:
        """Fence the dead peer: nothing of its (nor ours) starts before it is reset."""
        self.waiting_for = peer
        return self.fencing.begin(peer, now)

    def unfenced(self, peer: str, *, needed: bool) -> list[Action]:
        """The takeover after a death goes ahead without a fence: what is said."""
        self.boot = False
        if not needed:
            return [
                Log(Level.INFO, f"Dead node {peer} gave up resources."),
                SendMessage(rm.stonith_fields(peer, "unneeded")),
            ]
        return [
            SendMessage(rm.stonith_fields(peer, "n_stnth")),
            Log(Level.WARN, "No STONITH device configured."),
            Log(Level.WARN, "Shared disks are not protected."),
            Log(Level.INFO, f"Resources being acquired from {peer}."),
        ]

    def opened(self, fenced: fc.Fenced, peer: str | None, *, may_take: bool) -> list[Action]:
        """A fence ended: the log line of a takeover that may go ahead now, else []
        (not the fence the gate waits for, called off, or `may_take` is False)."""
        if peer is None or fenced.node != peer or self.waiting_for != peer:
            return []
        self.waiting_for = None
        if fenced.cancelled or not may_take:
            return []
        self.boot = False
        return [Log(Level.INFO, f"Resources being acquired from {peer}.")]

    def heard(self, peer: str, why: str) -> tuple[list[fc.FenceAction], bool]:
        """The peer is alive: a fence not done yet is called off. Returns the
        fencing machine's actions and whether we took nothing at start-up (the
        caller then negotiates with the peer as at comm-up)."""
        actions: list[fc.FenceAction] = []
        if self.waiting_for == peer and self.fencing.pending(peer):
            actions = self.fencing.cancel(peer, why)
            self.waiting_for = None
        took_nothing = (self.boot and self.waiting_for is None) or self.boot_wait
        if took_nothing:
            self.boot = False
            self.boot_wait = False
        return actions, took_nothing

    def takeover_held(self, peer: str) -> list[Action]:
        """hb_takeover while the peer is being fenced: it waits for the fence."""
        if not self.fencing.pending(peer):
            return []
        return [
            Log(
                Level.WARN,
                f"hb_takeover: {peer} is being fenced; its resources are taken over "
                f"once STONITH reports it reset.",
            )
        ]

    def takeover_unfenced(self, peer: str, *, alive: bool) -> list[Action]:
        """hb_takeover while a start-up alone waits: the administrator's explicit
        decision (docs/fencing.md, boot_takeover) ends the wait."""
        if not self.boot_wait or alive:
            return []
        self.boot_wait = False
        return [
            Log(
                Level.WARN,
                f"hb_takeover: taking over without fencing {peer} (never heard "
                f"since start-up), as asked.",
            )
        ]
