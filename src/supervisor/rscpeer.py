"""What the resource machine knows of the peer, and how the peer's reports change it.

`PeerState` is the other node of the pair as `resources` sees it: alive or
not, the holdings its last `resource` report gave (`rsc_hold`), whether it
said it was stable, leaving (`info=shutdown`) or gone (`shutdone`). Its
methods apply one peer report or cluster event each (message parsing is
`rscmessages`; the decisions they lead to stay in `resources`);
`accept` parses a delivered message and checks its sender. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.logfmt import Level

from . import rscmessages as rm
from .messages import Envelope, MessageError
from .rscactions import Log
from .rscsnapshot import PeerView

Hold = rm.Hold


@dataclass
class PeerState:
    name: str
    alive: bool = True
    hold: Hold = Hold.NONE
    hold_known: bool = False
    # `hold` is what it runs, not what it is letting go of or about to take.
    # A report sent as it begins to stop groups (info=shutdown, info=standby)
    # says what it will hold once they are stopped, and a group we hand it
    # makes its last report old; shutdone, its next report, or our takeover
    # settle it again.
    hold_settled: bool = True
    # ... and said while stable: a node in its start-up negotiation reports
    # `isstable=0` with what it holds so far and starts its groups next.
    hold_stable: bool = False
    stable: bool = False
    released: bool = False  # sent shutdone
    leaving: bool = False  # sent resource info=shutdown
    fresh_report: bool = False  # a stable report not yet audited
    dead_before_comm_up: bool = False
    # (its holdings, ours) when we last sent our report after "Both machines
    # own our resources!"; None since it died, restarted, or the conflict ended
    told_we_own_ours: tuple[Hold, Hold] | None = None
    report_asked: bool = False  # sent isstable=0 then 1 to have it report; no full report since

    def unsettled(self) -> None:
        """Dead or restarted: not stable, no report to audit."""
        self.stable = False
        self.fresh_report = False
        self.report_asked = False
        self.told_we_own_ours = None

    def starting(self) -> None:
        """It sent `starting`: a fresh start-up, nothing of its past holds."""
        self.unsettled()
        self.released = False
        self.leaving = False

    def report(self, rep: rm.ResourceReport) -> bool:
        """Apply a `resource` report; returns whether it was a full one."""
        if not rep.full:
            if rep.info == rm.INFO_MACH_DOWN:
                self.hold |= rep.hold
                self.hold_known = True
            return False
        self.hold = rep.hold
        self.hold_known = True
        self.hold_settled = rep.info not in (rm.INFO_SHUTDOWN, rm.INFO_STANDBY)
        self.hold_stable = rep.stable
        self.report_asked = False
        self.stable = rep.stable
        self.fresh_report = rep.stable
        if rep.info == rm.INFO_SHUTDOWN:
            self.leaving = True
            self.unsettled()
        return True

    def holds_nothing(self) -> None:
        self.hold = Hold.NONE
        self.hold_known = True
        self.hold_settled = True
        self.hold_stable = True

    def shutdone(self) -> None:
        """It sent `shutdone`: it gave up everything and is leaving."""
        self.holds_nothing()
        self.unsettled()
        self.released = True
        self.leaving = True

    def fencing_needed(self, *, nice: bool) -> bool:
        """Whether, dead, it may still run groups (it neither sent `shutdone` nor,
        auto_failback on/off, reported holding nothing while stable). A peer
        that died while it stopped groups (its `info=shutdown` or
        `info=standby` report says what it will hold), while it started groups
        we handed it, or in its start-up negotiation (`isstable=0`: it starts
        its groups next) may run one: 3.0.6 skipped STONITH then; we do not
        (docs/resources.md, "Death of the peer")."""
        if self.released:
            return False
        return not (nice and self.hold_known and self.hold_settled and self.hold_stable
                    and self.hold is Hold.NONE)

    def ready_for(self, *, nice: bool) -> bool:
        """Alive and settled enough to be handed a group."""
        return self.alive and not self.leaving and (self.stable or not nice)

    def view(self) -> PeerView:
        return {
            "name": self.name,
            "alive": self.alive,
            "hold": self.hold.word if self.hold_known else None,
            "stable": self.stable,
        }


def accept(
    env: Envelope, node: str, peer: PeerState | None
) -> tuple[rm.ResourceMessage | None, list[Log]]:
    """A message delivered from `node`: the resource message to act on, or None
    with an ERROR (malformed, or not from our peer) or without (not about resources)."""
    try:
        msg = rm.parse_resource_message(env)
    except MessageError as exc:
        return None, [Log(Level.ERROR, str(exc))]
    if msg is None:
        return None, []
    if peer is None or node != peer.name:
        return None, [Log(Level.ERROR, f"resource message from unknown node {node}")]
    return msg, []
