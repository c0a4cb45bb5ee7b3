"""The standby exchange: stages of the hb_standby / hb_takeover / auto-failback handover.

Owns the one standby exchange that may be under way (our role in it, the set,
the stage, its deadline) and the exact 3.0.6 messages and log lines of each
stage (docs/heartbeat-protocol.md §5.4). It never touches groups: the policy
in `resources` stops or starts them between stages and tells the exchange
when that is over. Pure; times are integer monotonic ms.

Interface (docs/resources.md, "Standby exchange"):

* Sets: `standby_set(word)` (hb_standby), `takeover_set(word)` (hb_takeover
  here: the wire word and the set), `requested_set(word)` (a peer's
  `hb_takeover`: the set we go standby with).
* Asker (going standby): `ask(which, now)`, then `answer(info)` says
  RELEASE; the policy calls `releasing(peer, left)` and stops the groups,
  then `released(sb)` (all stopped) or `aborted(sb, peer, names, report)`
  (a stop failed); `answer(done)` says COMPLETED.
* Taker: `accept(which)` for a peer's `info=me`; `answer(done)` says
  ACQUIRE: `acquiring(sb, peer, mine)`, then `acquired(sb, report)`.
  `on_report(...)` ends our wait when the asker aborted.
* `blocked(...)` (why a new request is refused), `clear()`,
  `cancel_peer_restarted()`, `cancel_declared_dead(peer)`, `tick(now)`
  (10 s for the first answer, an hour for each stage that moves groups),
  `deadline`, `snapshot()`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypedDict

from hbeat.logfmt import Level

from . import rscmessages as rm
from .rscactions import Action, Log, SendMessage

Hold = rm.Hold

# What hb_standby, hb_takeover and the standby messages get under auto_failback legacy.
NOT_NICE = Log(Level.ERROR, "Standby mode only implemented when nice_failback on")
STANDBY_WORDS = {"all": Hold.ALL, "local": Hold.LOCAL, "foreign": Hold.FOREIGN}
# A peer's hb_takeover [word] asks us to give up that set of *its* view.
_SWAPPED = {"all": Hold.ALL, "local": Hold.FOREIGN, "foreign": Hold.LOCAL}


def standby_set(which: str) -> Hold:
    """The set hb_standby [which] gives up (`failback` = `foreign`)."""
    hold = STANDBY_WORDS.get("foreign" if which == "failback" else which)
    if hold is None:
        raise ValueError(f"bad standby set [{which}]: expected all, local, foreign or failback")
    return hold


def takeover_set(which: str) -> tuple[str, Hold]:
    """hb_takeover [which] here: the word sent to the peer and the set we take.

    `failback` is sent as `local` (a 3.0.6 peer turns that into standby foreign)."""
    wire = "local" if which == "failback" else which
    hold = STANDBY_WORDS.get(wire)
    if hold is None:
        raise ValueError(f"bad takeover set [{which}]: expected all, local, foreign or failback")
    return wire, hold


def requested_set(which: str) -> Hold:
    """A peer's `hb_takeover [which]`: the set we go standby with (local and foreign
    swapped; `failback` gives the peer back its own groups, where 3.0.6 gives all)."""
    return _SWAPPED.get(which, Hold.FOREIGN)


class StandbyView(TypedDict):
    role: str  # asker | taker
    which: str  # the set, from the asker's point of view
    stage: str  # wait_other | releasing | wait_done | wait_release | acquiring
    deadline_ms: int | None


class SbRole(enum.Enum):
    ASKER = "asker"  # heartbeat's A: the node going standby
    TAKER = "taker"  # B: the node taking the groups


class SbStage(enum.IntEnum):
    """Stage numbers are what `Ignored standby message ... in state N` prints."""

    NONE = 0
    WAIT_OTHER = 1  # A: sent info=me, waiting for info=other
    RELEASING = 2  # A: stopping the groups
    WAIT_DONE = 3  # A: sent done, waiting for B's done
    WAIT_RELEASE = 4  # B: sent info=other, waiting for A's done
    ACQUIRING = 5  # B: starting the groups


@dataclass
class Standby:
    role: SbRole
    which: Hold  # from the asker's point of view
    stage: SbStage
    deadline: int | None = None
    release_seen: bool = False  # B: A's `resource ... info=standby` (it began stopping)

    def as_dict(self) -> StandbyView:
        return {
            "role": self.role.value,
            "which": self.which.word,
            "stage": self.stage.name.lower(),
            "deadline_ms": self.deadline,
        }


class Next(enum.Enum):
    """What the policy does about a peer's `ask_resources` answer."""

    RELEASE = "release"  # asker: stop the set, then `released`/`aborted`
    ACQUIRE = "acquire"  # taker: start the mirrored set, then `acquired`
    COMPLETED = "completed"  # asker: the exchange is over; report our holdings
    IGNORED = "ignored"  # nothing to do but the returned log


# How long a stage that moves groups may take before the exchange is given up
# (heartbeat 3.0.6 gives each of them an hour, as it gives the first answer 10 s):
# a peer that dropped its side (it declared us dead, or restarted) would
# otherwise be waited for for ever, and with it every standby request and
# the audit of its reports (docs/resources.md, "Standby exchange").
RESOURCE_STAGE_TIMEOUT_MS = 3_600_000


class StandbyExchange:
    """See the module docstring."""

    def __init__(self, me: str, timeout_ms: int,
                 stage_timeout_ms: int = RESOURCE_STAGE_TIMEOUT_MS) -> None:
        self.me = me
        self.timeout_ms = timeout_ms
        self.stage_timeout_ms = stage_timeout_ms
        self.current: Standby | None = None

    @property
    def active(self) -> bool:
        return self.current is not None

    @property
    def deadline(self) -> int | None:
        return self.current.deadline if self.current is not None else None

    def snapshot(self) -> StandbyView | None:
        return self.current.as_dict() if self.current is not None else None

    def clear(self) -> None:
        self.current = None

    def cancel_peer_restarted(self) -> list[Action]:
        if self.current is None:
            return []
        self.current = None
        return [Log(Level.WARN, "Standby request cancelled: the other node restarted.")]

    def cancel_declared_dead(self, peer: str) -> list[Action]:
        """The peer declared us dead (its `stonith node=<us>`): it dropped its side of
        the exchange then, and would never send the `done` we or it wait for."""
        if self.current is None:
            return []
        self.current = None
        return [Log(Level.WARN, f"Standby request cancelled: {peer} declared us dead.")]

    def tick(self, now: int) -> list[Action]:
        sb = self.current
        if sb is None or sb.deadline is None or now < sb.deadline:
            return []
        self.current = None
        return [Log(Level.INFO, "No reply to standby request.  Standby request cancelled.")]

    def blocked(
        self, who: str, which: Hold, now: int, *, peer_in_flux: bool, local_in_flux: bool
    ) -> list[Action]:
        """Why a new standby request from `who` is refused now ([] if it is not)."""
        sb = self.current
        if sb is not None:
            left = max(0, (sb.deadline - now + 999) // 1000) if sb.deadline is not None else 0
            return [
                Log(
                    Level.WARN,
                    f"Standby in progress- new request from {who} ignored [{left} seconds left]",
                )
            ]
        if peer_in_flux:
            return [
                Log(
                    Level.WARN,
                    f"standby message [{which.word}] from {who} ignored.  Other side is in flux.",
                )
            ]
        if local_in_flux:
            return [
                Log(
                    Level.WARN,
                    f"standby message [{which.word}] from {who} ignored.  local resources in flux.",
                )
            ]
        return []

    # --- asker --------------------------------------------------------------

    def ask(self, which: Hold, now: int) -> list[Action]:
        """We go standby [which]: ask the peer (the caller checked `blocked`)."""
        self.current = Standby(SbRole.ASKER, which, SbStage.WAIT_OTHER, now + self.timeout_ms)
        return [
            SendMessage(rm.ask_resources_fields(which, rm.ASK_ME)),
            Log(Level.INFO, f"{self.me} wants to go standby [{which.word}]"),
        ]

    def releasing(self, peer: str, left: Hold, now: int) -> list[Action]:
        """The peer agreed: we stop the set now; `left` is what we still hold after it."""
        sb = self.current
        assert sb is not None
        sb.stage = SbStage.RELEASING
        sb.deadline = now + self.stage_timeout_ms
        word = sb.which.word
        return [
            Log(Level.INFO, f"standby: {peer} can take our {word} resources"),
            SendMessage(rm.resource_fields(left, False, rm.INFO_STANDBY)),
            Log(Level.INFO, f"give up {word} HA resources (standby)."),
        ]

    def released(self, sb: Standby, now: int) -> list[Action]:
        """Every group of the set stopped: tell the peer to take them."""
        sb.stage = SbStage.WAIT_DONE
        sb.deadline = now + self.stage_timeout_ms
        word = sb.which.word
        return [
            Log(Level.INFO, f"{word} HA resource release completed (standby)."),
            SendMessage(rm.ask_resources_fields(sb.which, rm.ASK_DONE)),
            Log(Level.INFO, f"Local standby process completed [{word}]."),
        ]

    def aborted(self, sb: Standby, peer: str, names: str, report: Action) -> list[Action]:
        """A stop failed: no `done`; our stable `report` ends the peer's wait
        (docs/resources.md, "Stop failure" rule 4)."""
        if self.current is sb:
            self.current = None
        return [
            Log(
                Level.CRIT,
                f"Standby [{sb.which.word}] aborted: resource group(s) {names} could not be "
                f"stopped here and stay held by this node; {peer} will not take them.",
            ),
            report,
        ]

    # --- taker --------------------------------------------------------------

    def accept(self, which: Hold, now: int) -> list[Action]:
        """The peer goes standby [which] and we take the set (the caller checked it).
        Its `resource ... info=standby` (sent before it stops anything, by 3.0.6
        too) is due within the first answer's 10 s; an asker that dropped its
        request meanwhile (it held us dead, its `stonith` report lost) never
        sends it, and we would wait an hour holding its reports unaudited."""
        self.current = Standby(SbRole.TAKER, which, SbStage.WAIT_RELEASE,
                               now + self.timeout_ms)
        return [SendMessage(rm.ask_resources_fields(which, rm.ASK_OTHER))]

    def acquiring(self, sb: Standby, peer: str, mine: Hold, now: int) -> list[Action]:
        sb.stage = SbStage.ACQUIRING
        sb.deadline = now + self.stage_timeout_ms
        return [
            Log(Level.INFO, f"standby: acquire [{sb.which.word}] resources from {peer}"),
            Log(Level.INFO, f"acquire {mine.word} HA resources (standby)."),
        ]

    def acquired(self, sb: Standby, report: Action) -> list[Action]:
        if self.current is sb:
            self.current = None
        mine = sb.which.mirrored()
        return [
            Log(Level.INFO, f"{mine.word} HA resource acquisition completed (standby)."),
            SendMessage(rm.ask_resources_fields(sb.which, rm.ASK_DONE)),
            Log(Level.INFO, f"Standby resource acquisition done [{sb.which.word}]."),
            report,
        ]

    def on_report(self, peer: str, rep: rm.ResourceReport, now: int) -> list[Action]:
        """A full report from the peer while we wait, as taker, for its release."""
        sb = self.current
        if sb is None or sb.role is not SbRole.TAKER or sb.stage is not SbStage.WAIT_RELEASE:
            return []
        if rep.info == rm.INFO_STANDBY:
            sb.release_seen = True
            sb.deadline = now + self.stage_timeout_ms  # it stops the set: that may take long
        elif sb.release_seen and rep.stable and rep.hold & sb.which:
            # The asker began releasing, then reported itself stable and still
            # holding part of the set, without `done`: it aborted its standby (a
            # stop failed there, "Stop failure" rule 4). Nothing is handed to us.
            self.current = None
            return [
                Log(
                    Level.WARN,
                    f"Standby takeover of [{sb.which.word}] resources from {peer} "
                    f"cancelled: {peer} still holds [{rep.hold.word}] resources.",
                )
            ]
        return []

    # --- answers ------------------------------------------------------------

    def answer(self, peer: str, info: str) -> tuple[Next, Standby | None, list[Action]]:
        """A peer's `ask_resources info=other|done` (not `me`): what to do next."""
        sb = self.current
        if info == rm.ASK_OTHER:
            if sb is not None and sb.role is SbRole.ASKER and sb.stage is SbStage.WAIT_OTHER:
                return Next.RELEASE, sb, []
        elif sb is not None and sb.role is SbRole.TAKER and sb.stage is SbStage.WAIT_RELEASE:
            return Next.ACQUIRE, sb, []
        elif sb is not None and sb.role is SbRole.ASKER and sb.stage is SbStage.WAIT_DONE:
            self.current = None
            log = Log(
                Level.INFO,
                f"Other node completed standby takeover of {sb.which.word} resources.",
            )
            return Next.COMPLETED, sb, [log]
        stage = sb.stage if sb is not None else SbStage.NONE
        log = Log(
            Level.ERROR, f"Ignored standby message '{info}' from {peer} in state {int(stage)}"
        )
        return Next.IGNORED, sb, [log]


__all__ = [
    "STANDBY_WORDS",
    "Next",
    "SbRole",
    "SbStage",
    "Standby",
    "StandbyExchange",
    "StandbyView",
    "requested_set",
    "standby_set",
    "takeover_set",
]
