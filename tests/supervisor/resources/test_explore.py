"""Random faults on the two-node bench, then the audit of what both nodes hold.

Each run draws an auto_failback mode, a set of groups and a sequence of
events, several of them under way at once: partitions (each side declares
the other dead after deadtime; the heal tells both, as membership does),
SIGSTOPs of a supervisor (`Sim.freeze`: the peer declares it dead, and it
reads what waited for it when it runs again), crashes and `kill -9` of hbeat
alone, restarts, hb_standby and hb_takeover, graceful stops, failing and
hanging starts and stops. At the end every fault is repaired, every node
is up and the bench runs until nothing is left to do; then, as the lab's
fault suite audits a cluster: every group is held by one node at most
(unless its stop failed somewhere: it may run there, by design), no
resource runs on two nodes, each node's belief matches what its executor
runs, and, auto_failback on/off, each holds its peer stable. A run without
a partition, a freeze or a `kill -9` (the faults fencing is for) must never
have run a resource twice at any moment.

The seeds are fixed, so CI replays the same runs; $HBEAT_SIM_SEED sets
another first seed and $HBEAT_SIM_RUNS the number of runs (the failures
name their seed and event list). A dozen bugs of the resource machine were
found this way (docs/resources.md, "Split brain", "Standby exchange",
"Semantics").
"""

from __future__ import annotations

import os
import random

from hbeat.config.model import AutoFailback, ResourceGroup
from supervisor import resources as rs

from .sim import FAIL_RUNNING, HANG, SEED_GROUPS, Sim, group
from .test_fencing import FENCED

NAMES = ("otter", "weasel")
DEAD_MS = 10_000
GROUP_SETS: tuple[tuple[ResourceGroup, ...], ...] = (
    SEED_GROUPS,
    (*SEED_GROUPS, group(2, "otter", "IPaddr::10.0.0.7")),
)
EVENTS = ("partition", "heal", "freeze", "thaw", "kill", "kill9", "restart", "startfail",
          "stopfail", "fix", "standby", "takeover", "shutdown", "wait")
WAITS = (0, 50, 500, 3_000, 11_000, 40_000)


def other(name: str) -> str:
    return NAMES[1] if name == NAMES[0] else NAMES[0]


class World:
    """The bench with membership's rules on top: who declares whom dead, and when."""

    def __init__(self, sim: Sim, log: list[str]) -> None:
        self.sim = sim
        self.log = log
        self.cut_since: int | None = None
        self.unsafe = False  # a fault that only fencing makes safe happened

    def _declare(self, observer: str, name: str) -> None:
        node = self.sim.nodes[observer]
        if (node.alive and observer not in self.sim.frozen and self.sim.nodes[name].alive
                and name not in node.seen_dead):
            node.seen_dead.add(name)
            self.sim.apply(node, node.res.node_dead(name, self.sim.now))

    def partition(self) -> None:
        sim = self.sim
        sim.cut = True
        since = self.cut_since = sim.now
        for name in NAMES:
            sim.at(sim.now + DEAD_MS,
                   lambda o=name: self.cut_since == since and self._declare(o, other(o)))

    def can_heal(self) -> bool:
        return self.cut_since is not None and self.sim.now > self.cut_since + DEAD_MS

    def heal(self) -> None:
        sim = self.sim
        sim.cut = False
        self.cut_since = None
        for node in sim.nodes.values():
            if node.name not in sim.frozen:  # a frozen one hears the peer at its thaw
                self._hear_again(node.name)

    def _hear_again(self, observer: str) -> None:
        """`observer` hears again the live peers it held dead (a heal)."""
        sim = self.sim
        node = sim.nodes[observer]
        for name in sorted(node.seen_dead):
            if node.alive and sim.nodes[name].alive and name not in sim.frozen:
                node.seen_dead.discard(name)
                sim.apply(node, node.res.node_up(name, sim.now))
                sim.apply(node, node.res.node_returned_after_partition(name, sim.now))

    def thaw(self, name: str) -> None:
        """Cut off for deadtime while frozen, it finds the peer's last keepalive
        stale and declares it dead at once. (Powered off meanwhile by the peer's
        fence, it stays off.)"""
        if not self.sim.nodes[name].alive:
            self.sim.frozen.discard(name)
            self.sim.deferred.pop(name, None)
            return
        self.sim.thaw(name)
        if self.cut_since is not None and self.sim.now >= self.cut_since + DEAD_MS:
            self._declare(name, other(name))
        elif self.cut_since is None:
            self._hear_again(name)

    def restart(self, name: str) -> None:
        """`name` boots. With its peer down it hears nobody: at initdead it
        declares the peer dead, then comes up alone (heard by then, the peer
        is up and it comes up with it)."""
        sim = self.sim
        sim.frozen.discard(name)
        sim.deferred.pop(name, None)
        peer = sim.nodes[other(name)]
        if peer.alive and peer.name not in sim.frozen:
            sim.restart(name)
            return
        sim.restart(name, comm_up=False)
        node = sim.nodes[name]
        inc = node.incarnation

        def initdead() -> None:
            if not node.alive or node.incarnation != inc or sim.wait_for_thaw(node, initdead):
                return
            if not peer.alive or peer.name in sim.frozen:  # a frozen peer sends nothing
                node.seen_dead.add(peer.name)
                sim.apply(node, node.res.node_dead(peer.name, sim.now))
            sim.apply(node, node.res.comm_up(sim.now))

        sim.at(sim.now + DEAD_MS, initdead)

    def exit_completed(self) -> None:
        for node in self.sim.nodes.values():
            if (node.alive and node.shutdown_complete_at is not None
                    and node.name not in self.sim.frozen):
                self.log.append(f"t={self.sim.now} exit {node.name}")
                self.sim.stop_process(node.name)


def event(w: World, rnd: random.Random, ev: str, x: str) -> str | None:
    """Apply `ev` on node `x` if it can happen now; what it was, for the log."""
    sim = w.sim
    node = sim.nodes[x]
    active = node.alive and x not in sim.frozen
    if ev == "partition" and not sim.cut and all(n.alive for n in sim.nodes.values()):
        w.partition()
        w.unsafe = True
    elif ev == "heal" and w.can_heal():
        w.heal()
    elif ev == "freeze" and active:
        sim.freeze(x, declared_dead_after=DEAD_MS)
        w.unsafe = True
    elif ev == "thaw" and x in sim.frozen:
        w.thaw(x)
    elif ev in ("kill", "kill9") and active:
        sim.kill(x, detect_ms=DEAD_MS, services_survive=ev == "kill9")
        w.unsafe = w.unsafe or ev == "kill9"
    elif ev == "restart" and not node.alive and not sim.cut:
        w.restart(x)
    elif ev in ("startfail", "stopfail"):
        g = rnd.choice(sim.groups)
        i = rnd.randrange(len(g.resources))
        action = ev[:-4]
        how = rnd.choice([1, 1, HANG, FAIL_RUNNING] if action == "start" else [1, FAIL_RUNNING])
        node.behaviour[(g.key, i, action)] = how
        return f"{ev} {g.key}[{i}] {how}"
    elif ev == "fix":
        for n in sim.nodes.values():
            n.behaviour.clear()
    elif ev in ("standby", "takeover") and active:
        which = rnd.choice(["all", "foreign", "local"])
        call = node.res.standby if ev == "standby" else node.res.takeover
        sim.apply(node, call(which, sim.now))
        return f"{ev} {which}"
    elif ev == "shutdown" and active:
        sim.shutdown(x)
    elif ev != "wait":
        return None
    return ev


def audit(sim: Sim) -> None:
    for g in sim.groups:
        stop_failed = any(n.states[g.key] == rs.STOP_FAILED for n in sim.nodes.values())
        holders = sim.holders(g.key)
        assert len(holders) <= 1 or stop_failed, f"{g.key} held by {holders}"
        for i in range(len(g.resources)):
            runs = sorted(n.name for n in sim.nodes.values() if (g.key, i) in n.running)
            assert len(runs) <= 1 or stop_failed, f"{g.key}[{i}] runs on {runs}"
        for n in sim.nodes.values():
            if not n.alive:
                continue
            here = {i for k, i in n.running if k == g.key}
            state = n.states[g.key]
            assert state != rs.RUNNING or here == set(range(len(g.resources))), (
                f"{n.name} believes {g.key} running; it runs resources {sorted(here)}")
            assert state != rs.STOPPED or not here, (
                f"{n.name} believes {g.key} stopped; it runs resources {sorted(here)}")
    if sim.mode is not AutoFailback.LEGACY:
        for n in sim.nodes.values():
            peer = n.res.snapshot()["peer"]
            assert peer is not None and peer["stable"], f"{n.name} holds its peer {peer}"


def one_run(seed: int, steps: int, *, stonith: bool = False) -> list[str]:
    """One run; raises AssertionError (its message ends with the event log).
    `stonith`: both nodes fence through the bench's power switch, which
    sometimes fails; then no resource may ever run on two nodes."""
    rnd = random.Random(seed)
    mode = rnd.choice([AutoFailback.ON, AutoFailback.OFF, AutoFailback.LEGACY])
    sim = Sim(groups=rnd.choice(GROUP_SETS), mode=mode, **(FENCED if stonith else {}))
    log = [f"seed {seed}: auto_failback {mode.value}, {len(sim.groups)} group(s)"
           + (", STONITH" if stonith else "")]
    w = World(sim, log)
    try:
        sim.comm_up()
        sim.settle()
        for _ in range(steps):
            x = rnd.choice(NAMES)
            ev = rnd.choice(EVENTS + (("fencefail", "fencefix") if stonith else ()))
            if ev == "fencefail":
                sim.nodes[x].fence_rc = rnd.choice([1, None])
                done: str | None = f"fence device fails ({sim.nodes[x].fence_rc})"
            elif ev == "fencefix":
                sim.nodes[x].fence_rc = 0
                done = "fence device works"
            else:
                done = event(w, rnd, ev, x)
            if done is not None:
                log.append(f"t={sim.now} {x}: {done}")
            sim.run_for(rnd.choice(WAITS))
            w.exit_completed()
        log.append(f"t={sim.now} end: every fault repaired")
        for n in sim.nodes.values():
            n.behaviour.clear()
            n.fence_rc = 0
        for name in sorted(sim.frozen):
            w.thaw(name)
        if w.cut_since is not None:
            sim.run_until(max(sim.now, w.cut_since + DEAD_MS + 20))
            w.heal()
        sim.settle(600_000)
        w.exit_completed()
        sim.settle(600_000)
        for name in NAMES:
            if not sim.nodes[name].alive:
                w.restart(name)
                sim.settle(600_000)
        if stonith or not w.unsafe:
            sim.assert_never_run_twice()
        audit(sim)
    except AssertionError as e:
        raise AssertionError(f"{e}\n" + "\n".join(log)) from None
    return log


def test_random_faults_end_with_one_holder_per_group_and_settled_beliefs() -> None:
    first = int(os.environ.get("HBEAT_SIM_SEED", "20261206"))
    runs = int(os.environ.get("HBEAT_SIM_RUNS", "2000"))
    failed: list[str] = []
    for seed in range(first, first + runs):
        try:
            one_run(seed, steps=12)
        except AssertionError as e:
            failed.append(str(e))
    assert not failed, f"{len(failed)} of {runs} runs failed; the first:\n{failed[0]}"


# Seeds of `one_run(..., stonith=True)` that found bugs (as long as the explorer
# draws its events as it does now): a death mid-shutdown or mid-takeover of our
# groups left unfenced, a legacy peer's old shutdone outliving its restart.
STONITH_FOUND = (41, 43, 649, 1878, 3086, 5246, 5568)
# Runs of 25 events that found bugs: (seed, stonith). An old ip-request answered
# after the requester died; our own group started while the peer ran it after a
# hand-over, after a release report, or in its start-up negotiation; a taker
# waiting an hour for an asker that had dropped its request; a legacy peer that
# saw no partition keeping our group; two nodes answering each other's reports
# without end; a peer held "in flux" for good; and (604643) the
# bench's own: a frozen node lost what had reached it before a cut.
LONG_FOUND = ((102631, True), (106355, True), (108342, True), (109909, True),
              (108327, True), (302260, False), (604643, True), (907653, False),
              (1105638, False), (901730, False))


def test_the_long_runs_that_found_bugs() -> None:
    for seed, stonith in LONG_FOUND:
        one_run(seed, steps=25, stonith=stonith)


def test_random_faults_with_stonith_never_run_a_resource_twice() -> None:
    first = int(os.environ.get("HBEAT_SIM_SEED", "20261206"))
    runs = int(os.environ.get("HBEAT_SIM_RUNS", "2000"))
    failed: list[str] = []
    for seed in (*STONITH_FOUND, *range(first, first + runs)):
        try:
            one_run(seed, steps=12, stonith=True)
        except AssertionError as e:
            failed.append(str(e))
    assert not failed, f"{len(failed)} runs failed; the first:\n{failed[0]}"


def test_the_explorer_sees_a_group_left_on_both_nodes() -> None:
    """The audit is not blind: a split brain nobody heals is reported."""
    sim = Sim(mode=AutoFailback.OFF)
    w = World(sim, [])
    sim.comm_up()
    sim.settle()
    w.partition()
    sim.settle()
    try:
        audit(sim)
    except AssertionError as e:
        assert "held by ['otter', 'weasel']" in str(e)
    else:
        raise AssertionError("a group held on both nodes passed the audit")
