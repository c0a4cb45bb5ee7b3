"""Split-brain convergence: which copies of doubly held groups we give up.

After a partition (or a start-up alone without fencing) both nodes may run
the same groups (docs/resources.md, "Split brain"). With auto_failback
on/off, each stable report of the peer is audited (`audit`): if the peer
holds our foreign class, we stop our copies of its groups ("Both machines
own foreign resources!"); if it holds our local class while we run ours,
we say so and, stable, send our report (`resources` sends it once per pair
of holdings): the peer releases its copies of our groups only when a
stable report of ours shows we hold them. After a one-sided partition (we
were frozen past deadtime; only the peer saw a partition) we would
otherwise never send one and both would keep the groups for good; after
an asymmetric partition our first answer was lost (the peer could not
hear us), so the report the peer sends when it hears us again gets one
too (it is a turn to stable). The peer's answer stops its copies or claims
nothing new; when neither side can stop its copy, the once-per-holdings
rule ends the exchange. Legacy: when a partition heals we give back every
foreign group we run (`partition_copies`) and `resources` asks for ours
again. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hbeat.logfmt import Level

from . import rscmessages as rm
from .rscactions import FAILED, PARTIAL, RUNNING, STOP_FAILED, Log

Hold = rm.Hold

BOTH_OWN_FOREIGN = "Both machines own foreign resources!"
BOTH_OWN_OURS = "Both machines own our resources!"


class GroupFacts(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def from_peer_failure(self) -> bool: ...
    @property
    def releasing(self) -> bool: ...


@dataclass(frozen=True)
class Audit:
    logs: list[Log]
    give_back: list[str]  # foreign groups to stop, in stop order
    ours_doubly_held: bool  # the peer holds our groups while we run them


def audit(peer_hold: Hold, foreign: Sequence[GroupFacts], local: Sequence[GroupFacts]) -> Audit:
    """Audit the peer's stable report `peer_hold` against our foreign groups
    (in stop order) and our local ones (in haresources order)."""
    logs: list[Log] = []
    give_back: list[str] = []
    if peer_hold & Hold.LOCAL:
        give_back = [
            g.key
            for g in foreign
            if g.state in (RUNNING, PARTIAL) and not g.from_peer_failure and not g.releasing
        ]
        if give_back:
            logs.append(Log(Level.ERROR, BOTH_OWN_FOREIGN))
    doubly = bool(
        peer_hold & Hold.FOREIGN
        and any(g.state == RUNNING for g in local)
        and not any(g.state in (FAILED, STOP_FAILED) for g in local)
    )
    if doubly:
        logs.append(Log(Level.ERROR, BOTH_OWN_OURS))
    return Audit(logs, give_back, doubly)


def partition_copies(foreign: Sequence[GroupFacts]) -> tuple[list[Log], list[str]]:
    """Legacy, a partition healed: the foreign groups (in stop order) we give back."""
    keys = [g.key for g in foreign if g.state in (RUNNING, PARTIAL)]
    return ([Log(Level.ERROR, BOTH_OWN_FOREIGN)] if keys else []), keys
