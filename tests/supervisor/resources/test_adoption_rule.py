"""`adoption`'s pure rules on their own: probe findings and the adopt/release decision."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hbeat.config.model import Resource, ResourceGroup
from hbeat.logfmt import Level
from supervisor import adoption
from supervisor import groupops as go
from supervisor import rscmessages as rm
from supervisor.rscactions import PARTIAL, RUNNING, Log

Hold = rm.Hold
R, S, F = go.ResourceStatus.RUNNING, go.ResourceStatus.STOPPED, go.ResourceStatus.FAILED
GROUP = ResourceGroup(
    "weasel", tuple(Resource(t, t.split("::")[0], (), 1) for t in ("drbddisk::r0", "LVM::vg0")), 1
)


@dataclass
class Peer:
    name: str = "otter"
    alive: bool = True
    released: bool = False
    hold_known: bool = True
    hold: Hold = Hold.NONE


def test_findings_of_a_stopped_running_and_partly_running_group() -> None:
    assert adoption.findings(GROUP, (S, S), S) is None
    running = adoption.findings(GROUP, (R, R), R)
    assert running == adoption.Findings(
        ("drbddisk::r0", "LVM::vg0"),
        RUNNING,
        Log(Level.INFO, "Resource group drbddisk::r0 is already running here."),
    )
    partial = adoption.findings(GROUP, (S, F), None)  # a failed status: possibly running
    assert partial is not None and (partial.resources, partial.state) == (("LVM::vg0",), PARTIAL)
    assert partial.log == Log(
        Level.WARN, "Resource group drbddisk::r0 is partly running here (not stopped: LVM::vg0)."
    )


@pytest.mark.parametrize(
    ("cls", "home", "nice", "peer", "incumbent", "why"),
    [
        (Hold.LOCAL, "weasel", True, None, False, None),  # alone
        (Hold.LOCAL, "weasel", True, Peer(alive=False, hold=Hold.ALL), True, None),  # peer dead
        (Hold.LOCAL, "weasel", True, Peer(released=True, hold=Hold.ALL), True, None),
        (Hold.LOCAL, "weasel", True, Peer(hold=Hold.LOCAL), True, None),  # peer holds its own
        (Hold.LOCAL, "weasel", True, Peer(hold_known=False), True, None),
        (Hold.LOCAL, "weasel", True, Peer(hold=Hold.FOREIGN), True, "otter holds it"),
        (Hold.LOCAL, "weasel", True, Peer(hold=Hold.FOREIGN), False, None),  # we prefer it
        (
            Hold.FOREIGN,
            "otter",
            True,
            Peer(hold=Hold.LOCAL),
            False,
            "otter holds it too and is its preferred node",
        ),
        (Hold.LOCAL, "weasel", False, Peer(), False, None),  # legacy: ours stay
        (
            Hold.FOREIGN,
            "otter",
            False,
            Peer(),
            False,
            "its home node otter is up (auto_failback legacy)",
        ),
    ],
)
def test_release_reason(
    cls: Hold, home: str, nice: bool, peer: Peer | None, incumbent: bool, why: str | None
) -> None:
    got = adoption.release_reason(cls, home, "weasel", nice=nice, peer=peer, incumbent=incumbent)
    assert got == why


def test_verdict_logs() -> None:
    assert adoption.verdict_logs("web", RUNNING, ("apache",), None) == [
        Log(Level.INFO, "Adopting resource group web: it keeps running here.")
    ]
    assert adoption.verdict_logs("web", PARTIAL, ("apache",), None) == [
        Log(Level.INFO, "Adopting resource group web: its other resources will be started.")
    ]
    assert adoption.verdict_logs(
        "web", PARTIAL, ("IPaddr::10.0.0.9", "apache"), "otter holds it"
    ) == [
        Log(Level.CRIT, "Resource IPaddr::10.0.0.9 is active, and should not be!"),
        Log(Level.CRIT, "Resource apache is active, and should not be!"),
        Log(Level.WARN, "Releasing resource group web found running here: otter holds it."),
    ]


def test_resolve_decides_every_undecided_group_once() -> None:
    from supervisor.rscgroups import table

    other = ResourceGroup("otter", (Resource("IPaddr::10.0.0.7", "IPaddr", (), 2),), 2)
    groups = table((GROUP, other), "weasel")
    mine, theirs = groups["drbddisk::r0"], groups["IPaddr::10.0.0.7"]
    for g in (mine, theirs):
        g.state, g.found, g.undecided = RUNNING, (g.key,), True
    peer = Peer(hold=Hold.LOCAL)  # otter holds its own class: our copy of its group goes
    logs, adopted, stale = adoption.resolve(
        groups.values(), "weasel", nice=True, peer=peer, incumbent=True
    )
    assert adopted is Hold.LOCAL and stale == [theirs]
    assert theirs.releasing and not mine.releasing
    assert not mine.undecided and not theirs.undecided
    assert logs == [
        *adoption.verdict_logs(mine.key, RUNNING, mine.found, None),
        *adoption.verdict_logs(theirs.key, RUNNING, theirs.found, "otter holds it"),
    ]
    assert adoption.resolve(groups.values(), "weasel", nice=True, peer=peer,
                            incumbent=True) == ([], Hold.NONE, [])


def test_probed_records_the_findings_on_the_group() -> None:
    from supervisor.rscgroups import table

    g = table((GROUP,), "weasel")[GROUP.key]
    assert adoption.probed(g, (S, S), S) is None
    assert g.probed and not g.undecided
    f = adoption.probed(g, (R, R), R)
    assert f is not None and f.state == RUNNING
    assert g.found == ("drbddisk::r0", "LVM::vg0") and g.undecided
    g2 = table((GROUP,), "weasel")[GROUP.key]
    g2.state = "starting"  # started meanwhile: nothing to decide
    assert adoption.probed(g2, (R, R), R) is None and g2.probed and not g2.undecided
