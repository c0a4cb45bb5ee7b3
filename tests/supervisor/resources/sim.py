"""A two-node test bench for `Resources`: a fake clock, an in-order message bus and fake executors.

Nothing here replaces the machine under test: each node runs a real
`Resources`; the bus stamps its messages (src/seq/ts) and hands the parsed
`Envelope` to the other node after `latency_ms`, as membership would. Each
node's fake executor keeps the set of resources running on that node and
answers `RunScript` after `script_ms`: start/stop succeed unless told
otherwise, status answers 0 "running" or 3 "stopped", a call set to
HANG never answers and one set to FAIL_RUNNING exits 1 with the resource
running afterwards (a start that half worked) or as it was (a stop that
did not work). Every
`GroupStateChanged` goes into one global timeline ordered by (time, event
number) so tests can check that no two nodes ever hold a group at once.

Besides the machines' own view (the group-state timeline), the bench keeps
the executors' truth: `runlog` records, in order, every moment a resource
becomes or stops being *possibly running* on a node: from the moment its
`start` is issued (a start that fails may have left something behind) until
a `stop` of it succeeds, a `status` of it answers stopped, or the node dies
with its services. Resources a
test marks running by hand (`node.running`) count from the next event.
`assert_never_run_twice` checks from it that no resource ever (possibly)
ran on two nodes at once, whatever the machines believed.

Script calls are recorded per node: `calls` holds those made for starts,
stops and failures, `probe_calls` the `status` calls of the start-up probe
(the ones issued while the machine's phase is `probing`). Like the daemon,
which calls `Resources.start` when the process starts and `comm_up` only
once the peer was heard, the bench boots every node (`boot=True`): its
probe runs before time 0, so tests begin at 0 with probed machines.
`restart` boots a node the same way but at the current time: its probe runs
first and its comm-up waits for it. `kill(..., services_survive=True)` is a
`kill -9` of hbeat alone: what the scripts started keeps running.

`freeze(name)` is a SIGSTOP of the node's supervisor: its machine runs no
timer and handles nothing, and what reaches it (the peer's messages, its
executor's results) waits, in order, until `thaw(name)` hands it over, as
the link workers and the executor, which run on, keep it on the bus. A
frozen node sends nothing, since it does nothing; the peer may declare it
dead meanwhile (`freeze(name, declared_dead_after=...)`), and then hears it
again at the thaw (`node_up`, then `node_returned_after_partition`, as
membership reports a node back with its generation unchanged).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.config.model import AutoFailback, Resource, ResourceGroup
from hbeat.ipc.executor import check_action, judge
from hbeat.logfmt import Level
from linklayer.message import STRING, Field
from supervisor import fencing as fc
from supervisor import resources as rs
from supervisor.messages import field_value, parse_envelope
from supervisor.rscactions import MonitorEvent

HANG = "hang"
FAIL_RUNNING = "fail-running"  # the call fails (exit 1) and leaves the resource running
OK = 0


def group(line: int, node: str, *texts: str) -> ResourceGroup:
    rscs = []
    for t in texts:
        script, *args = t.split("::")
        rscs.append(Resource(t, script, tuple(args), line))
    return ResourceGroup(node, tuple(rscs), line)


# the seed scenario: weasel prefers a DRBD disk with an LVM volume group on it
SEED_GROUPS = (group(1, "weasel", "drbddisk::r0", "LVM::vg0", "Filesystem::/dev/vg0/data::/srv"),)


@dataclass
class Node:
    name: str
    res: rs.Resources
    alive: bool = True
    running: set[tuple[str, int]] = field(default_factory=set)
    maybe: set[tuple[str, int]] = field(default_factory=set)  # started, not known stopped
    observed: set[tuple[str, int]] = field(default_factory=set)  # last state put in runlog
    behaviour: dict[tuple[str, int, str], int | str | None] = field(default_factory=dict)
    logs: list[tuple[int, str, str]] = field(default_factory=list)
    sent: list[tuple[int, tuple[Field, ...]]] = field(default_factory=list)
    calls: list[tuple[int, str, int, str]] = field(default_factory=list)
    probe_calls: list[tuple[int, str, int, str]] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    shutdown_complete_at: int | None = None
    seen_dead: set[str] = field(default_factory=set)
    seq: int = 0
    incarnation: int = 0
    fence_rc: int | None = 0  # what this node's STONITH device answers (None: timeout)
    fences: list[tuple[int, str, int | None]] = field(default_factory=list)

    def log_texts(self, level: str | None = None) -> list[str]:
        return [t for _, lv, t in self.logs if level is None or lv == level]

    def sent_summary(self) -> list[str]:
        """`t=... name=value ...` of every message sent, in order."""
        return [" ".join(f"{n.decode()}={v.decode()}" for n, _t, v in f) for _, f in self.sent]

    @property
    def rscstatus(self) -> str:
        return self.res.held


@dataclass(order=True)
class _Event:
    at: int
    order: int
    fn: Callable[[], None] = field(compare=False)


class Sim:
    def __init__(
        self,
        groups: tuple[ResourceGroup, ...] = SEED_GROUPS,
        mode: AutoFailback = AutoFailback.OFF,
        nodes: tuple[str, ...] = ("otter", "weasel"),
        *,
        latency_ms: int = 2,
        script_ms: int = 100,
        boot: bool = True,
        **timers: int,
    ) -> None:
        n_resources = sum(len(g.resources) for g in groups)
        self.now = -(script_ms * n_resources + 1) if boot else 0
        self.order = 0
        self.groups = groups
        self.mode = mode
        self.node_names = nodes
        self.timers = timers
        self.latency_ms = latency_ms
        self.script_ms = script_ms
        self.queue: list[_Event] = []
        self.timeline: list[tuple[int, int, str, str, str, str]] = []
        # (time, order, node, group key, resource index, possibly running from now on)
        self.runlog: list[tuple[int, int, str, str, int, bool]] = []
        self.cut = False  # partition: messages are lost both ways
        self.drop_from: set[str] = set()  # asymmetric partition: what these nodes send is lost
        self.frozen: set[str] = set()  # SIGSTOPped supervisors (`freeze`)
        self.deferred: dict[str, list[Callable[[], None]]] = {}  # what waits for a thaw
        self.nodes: dict[str, Node] = {}
        for n in nodes:
            self.nodes[n] = Node(n, self._machine(n))
            self.nodes[n].states = {g.key: rs.STOPPED for g in groups}
        if boot:
            for node in self.nodes.values():
                self.apply(node, node.res.start(self.now))
            self.run_until(0)
            for node in self.nodes.values():
                assert node.res.phase is rs.Phase.INIT, (node.name, node.res.phase)
                assert [(k, i, a) for _t, k, i, a in node.probe_calls] == [
                    (g.key, i, "status") for g in groups for i in range(len(g.resources))
                ]

    def _machine(self, name: str) -> rs.Resources:
        cfg = rs.ResourcesConfig(
            local=name,
            nodes=self.node_names,
            groups=self.groups,
            auto_failback=self.mode,
            **self.timers,  # type: ignore[arg-type]
        )
        return rs.Resources(cfg, self.now)

    # --- scheduling ---------------------------------------------------------

    def at(self, when: int, fn: Callable[[], None]) -> None:
        self.order += 1
        heapq.heappush(self.queue, _Event(when, self.order, fn))

    def run_until(self, t: int, stop: Callable[[], bool] | None = None) -> None:
        for _ in range(200000):
            if stop is not None and stop():
                return
            nxt = self.queue[0].at if self.queue else None
            due: tuple[int, Node] | None = None
            for node in self.nodes.values():
                if not node.alive or node.name in self.frozen:
                    continue
                d = node.res.next_deadline(self.now)
                if d is not None and (due is None or d < due[0]):
                    due = (d, node)
            if due is not None and due[0] <= t and (nxt is None or due[0] <= nxt):
                self.now = max(self.now, due[0])
                node = due[1]
                self.apply(node, node.res.tick(self.now))
                continue
            if nxt is None or nxt > t:
                self.now = max(self.now, t)
                return
            ev = heapq.heappop(self.queue)
            self.now = max(self.now, ev.at)
            ev.fn()
        raise AssertionError("simulation did not settle")

    def run_for(self, ms: int) -> None:
        self.run_until(self.now + ms)

    def settle(self, limit_ms: int = 120_000) -> None:
        """Run until nothing is scheduled (timers included) or `limit_ms` passed."""
        end = self.now + limit_ms

        def idle() -> bool:
            return not self.queue and all(
                not n.alive or n.name in self.frozen or n.res.next_deadline(self.now) is None
                for n in self.nodes.values()
            )

        self.run_until(end, idle)

    # --- node actions -------------------------------------------------------

    def observe(self) -> None:
        """Put every change of what (possibly) runs on each node into `runlog`."""
        for node in self.nodes.values():
            now = node.running | node.maybe
            for rsc in sorted(now ^ node.observed):
                self.order += 1
                self.runlog.append((self.now, self.order, node.name, rsc[0], rsc[1], rsc in now))
            node.observed = set(now)

    def apply(self, node: Node, actions: list[rs.Action]) -> None:
        self.observe()
        for a in actions:
            self.order += 1
            if isinstance(a, rs.SendMessage):
                self._send(node, a.fields)
            elif isinstance(a, rs.RunScript):
                self._run(node, a)
            elif isinstance(a, rs.Log):
                node.logs.append((self.now, a.level.value, a.text))
            elif isinstance(a, rs.GroupStateChanged):
                assert node.states[a.group_key] == a.old, (node.name, a)
                node.states[a.group_key] = a.new
                self.timeline.append((self.now, self.order, node.name, a.group_key, a.old, a.new))
            elif isinstance(a, rs.HeldChanged):
                node.held.append((self.now, a.held))
                assert a.held == node.res.held
            elif isinstance(a, rs.ShutdownComplete):
                node.shutdown_complete_at = self.now
            elif isinstance(a, fc.RunFence):
                self._fence(node, a)
            elif isinstance(a, fc.FenceStateChanged):
                node.logs.append((self.now, "fence", f"{a.node} {a.old} -> {a.new}"))
            elif isinstance(a, MonitorEvent):
                node.logs.append((self.now, "monitor", f"{a.group_key} {a.event} {a.resource}"))
            else:  # pragma: no cover - the Action union is closed
                raise AssertionError(a)

    def _send(self, node: Node, fields: tuple[Field, ...]) -> None:
        node.sent.append((self.now, fields))
        node.seq += 1
        stamped = (
            *fields,
            (b"src", STRING, node.name.encode()),
            (b"seq", STRING, format(node.seq, "x").encode()),
            (b"hg", STRING, format(100 + node.incarnation, "x").encode()),
            (b"ts", STRING, format(1_800_000_000 + self.now // 1000, "x").encode()),
        )
        env = parse_envelope(stamped)
        dest = field_value(fields, b"dest")
        inc = node.incarnation
        for other in self.nodes.values():
            if other is node or (dest is not None and dest.decode() != other.name):
                continue
            if self.cut or node.name in self.drop_from:
                continue
            target = other

            def deliver(target: Node = target, env=env, sender: Node = node,
                        arrived: bool = False) -> None:
                # The network's verdict is at arrival; a frozen target reads
                # what arrived when it runs again, whatever the network is then.
                if not arrived and (not sender.alive or sender.incarnation != inc or self.cut
                                    or sender.name in self.drop_from):
                    return
                if self.wait_for_thaw(target, lambda: deliver(target, env, sender, True)):
                    return
                if target.alive:
                    self.apply(target, target.res.message(sender.name, env, self.now))

            self.at(self.now + self.latency_ms, deliver)

    def _fence(self, node: Node, call: fc.RunFence) -> None:
        """A fake power switch: rc 0 powers the target off (services die) after script_ms."""
        inc = node.incarnation

        def done() -> None:
            if self.wait_for_thaw(node, done):
                return
            if not node.alive or node.incarnation != inc:
                return
            rc = node.fence_rc
            node.fences.append((self.now, call.node, rc))
            target = self.nodes[call.node]
            if rc == 0:  # powered off: hung or not, its services die with it
                target.alive = False
                target.running.clear()
                target.maybe.clear()
                self.observe()
                for key, st in target.states.items():
                    if st in rs.CLAIMED_STATES:
                        self.order += 1
                        self.timeline.append((self.now, self.order, target.name, key, st,
                                              "fenced"))
                        target.states[key] = "fenced"
            self.apply(node, node.res.fence_done(call.op_id, rc, self.now))

        self.at(self.now + self.script_ms, done)

    def partition(self, detect_ms: int = 10_000, *, only: str | None = None) -> None:
        """Messages are lost both ways; after `detect_ms` each live node (or only
        `only`) declares the other dead, though it runs on."""
        self.cut = True
        for observer in self.nodes.values():
            if only is not None and observer.name != only:
                continue
            for other in self.nodes.values():
                if other is not observer:
                    self.at(self.now + detect_ms,
                            lambda o=observer, n=other.name: self._dead(o, n))

    def split_brain(self) -> None:
        """A partition past deadtime seen by both at once: messages are lost both
        ways and each node declares the other dead now (the caller settles)."""
        self.cut = True
        for observer in self.nodes.values():
            for other in self.nodes.values():
                if other is not observer:
                    self.apply(observer, observer.res.node_dead(other.name, self.now))

    def wait_for_thaw(self, node: Node, fn: Callable[[], None]) -> bool:
        """Keep `fn` (something `node` would do or hear now) for its thaw if it
        is frozen; True if kept."""
        if node.name not in self.frozen:
            return False
        self.deferred.setdefault(node.name, []).append(fn)
        return True

    def freeze(self, name: str, declared_dead_after: int | None = None) -> None:
        """SIGSTOP of `name`'s supervisor (module docstring); the other nodes
        declare it dead after `declared_dead_after` ms if it is still frozen then."""
        self.frozen.add(name)
        node = self.nodes[name]
        if declared_dead_after is None:
            return
        inc = node.incarnation

        def declare(observer: Node) -> None:
            if (name in self.frozen and node.incarnation == inc and observer.alive
                    and observer.name not in self.frozen and name not in observer.seen_dead):
                self._dead(observer, name, inc)

        for other in self.nodes.values():
            if other is not node:
                self.at(self.now + declared_dead_after, lambda o=other: declare(o))

    def thaw(self, name: str) -> None:
        """`name` runs again: it handles what waited for it, in order, and the nodes
        that declared it dead hear it back."""
        self.frozen.discard(name)
        for fn in self.deferred.pop(name, []):
            fn()
        for other in self.nodes.values():
            if other.name != name and other.alive and name in other.seen_dead:
                other.seen_dead.discard(name)
                self.apply(other, other.res.node_up(name, self.now))
                self.apply(other, other.res.node_returned_after_partition(name, self.now))

    def _run(self, node: Node, call: rs.RunScript) -> None:
        record = node.probe_calls if node.res.phase is rs.Phase.PROBING else node.calls
        record.append((self.now, call.group_key, call.resource_index, call.action))
        how = node.behaviour.get((call.group_key, call.resource_index, call.action), OK)
        target = (call.group_key, call.resource_index)
        if call.action == "start":
            node.maybe.add(target)
            self.observe()
        if how == HANG:
            return
        inc = node.incarnation

        def done() -> None:
            if self.wait_for_thaw(node, done):
                return
            if not node.alive or node.incarnation != inc:
                return
            rc: int | None
            output = ""
            if call.action == "status":
                if how == OK:
                    rc = 0 if target in node.running else 3
                    output = "running" if rc == 0 else "stopped"
                    if rc == 3:  # the truth, asked: what a failed call left is gone
                        node.maybe.discard(target)
                else:
                    rc = how if isinstance(how, int) else None
            elif how == FAIL_RUNNING:
                rc = 1
                if call.action == "start":  # a stop that did not work changes nothing
                    node.running.add(target)
            else:
                rc = how if isinstance(how, int) else None
                if rc == 0:
                    if call.action == "start":
                        node.running.add(target)
                    else:
                        node.running.discard(target)
                        node.maybe.discard(target)
            self.observe()
            verdict = judge(check_action(call.action), rc, output)  # the executor's
            self.apply(node, node.res.script_done(call.op_id, rc, verdict, self.now))

        self.at(self.now + self.script_ms, done)

    # --- cluster events -----------------------------------------------------

    def comm_up(self, *names: str) -> None:
        for n in names or self.node_names:
            node = self.nodes[n]
            self.apply(node, node.res.comm_up(self.now))

    def kill(self, name: str, detect_ms: int = 10_000, *, services_survive: bool = False) -> None:
        """The node dies with everything on it; the others see it dead after `detect_ms`.

        `services_survive`: only hbeat dies (kill -9): the started resources keep running."""
        node = self.nodes[name]
        node.alive = False
        if not services_survive:
            node.running.clear()
            node.maybe.clear()
        self.observe()
        for key, st in node.states.items():
            if st in rs.CLAIMED_STATES:
                self.order += 1
                self.timeline.append((self.now, self.order, name, key, st, "crashed"))
                node.states[key] = "crashed"
        inc = node.incarnation
        for other in self.nodes.values():
            if other is not node:
                self.at(self.now + detect_ms, lambda o=other: self._dead(o, name, inc))

    def _dead(self, observer: Node, name: str, incarnation: int | None = None) -> None:
        """`observer` declares `name` dead, unless it restarted in the meantime (membership
        then sees a new generation instead of a death)."""
        if incarnation is not None and self.nodes[name].incarnation != incarnation:
            return
        if self.wait_for_thaw(observer, lambda: self._dead(observer, name, incarnation)):
            return  # frozen: its membership notices when it runs again
        if observer.alive:
            observer.seen_dead.add(name)
            self.apply(observer, observer.res.node_dead(name, self.now))

    def restart(self, name: str, *, comm_up: bool = True) -> None:
        """The node boots again: a fresh machine; the others hear its new
        generation (peer_restarted, then node_up if they held it dead).
        `comm_up=False`: its comm-up is left to the caller (a node booting while
        its peer is down waits for initdead, declares the peer dead, then comes up)."""
        node = self.nodes[name]
        node.incarnation += 1
        node.seq = 0
        node.alive = True
        node.res = self._machine(name)
        node.calls, node.logs, node.sent, node.held = [], [], [], []
        node.probe_calls = []
        node.shutdown_complete_at = None
        node.states = {g.key: rs.STOPPED for g in self.groups}
        node.seen_dead = set()
        self.apply(node, node.res.start(self.now))  # the probe, as the process starts
        def hears(other: Node) -> None:
            """membership: a new generation (peer_restarted), and a node held
            dead is alive again (node_up); a frozen node hears it when it runs."""
            if self.wait_for_thaw(other, lambda: hears(other)) or not other.alive:
                return
            self.apply(other, other.res.peer_restarted(name, self.now))
            if name in other.seen_dead:
                other.seen_dead.discard(name)
                self.apply(other, other.res.node_up(name, self.now))

        for other in self.nodes.values():
            if other is not node and other.alive:
                hears(other)
        if comm_up:
            self.apply(node, node.res.comm_up(self.now))

    def shutdown(self, name: str) -> None:
        node = self.nodes[name]
        self.apply(node, node.res.shutdown(self.now))

    def stop_process(self, name: str, after_ms: int = 0) -> None:
        """After ShutdownComplete the process exits; the peer notices deadtime later."""
        node = self.nodes[name]
        node.alive = False
        inc = node.incarnation
        for other in self.nodes.values():
            if other is not node:
                self.at(self.now + after_ms, lambda o=other: self._dead(o, name, inc))

    # --- checks -------------------------------------------------------------

    def holders(self, key: str) -> list[str]:
        """Live nodes whose machine holds `key` (stop-failed counts: it may run there)."""
        return [
            n.name
            for n in self.nodes.values()
            if n.alive and n.states.get(key) in rs.CLAIMED_STATES
        ]

    def assert_never_two_holders(self, since: int = 0) -> None:
        """From the timeline: at no instant do two nodes hold the same group."""
        state: dict[tuple[str, str], str] = {}
        for when, _order, node, key, _old, new in sorted(self.timeline, key=lambda e: e[1]):
            state[(node, key)] = new
            if when < since:
                continue
            holding = [n for (n, k), st in state.items() if k == key and st in rs.CLAIMED_STATES]
            assert len(holding) <= 1, f"t={when}: {key} held by {holding}"

    def runs_on(self, key: str, index: int) -> set[str]:
        """Nodes on which resource `index` of group `key` possibly runs now (the executors)."""
        self.observe()
        return {n.name for n in self.nodes.values() if (key, index) in n.observed}

    def assert_never_run_twice(self, since: int | None = None) -> None:
        """From the executors' `runlog`: no resource possibly ran on two nodes at once
        (at or after `since`, when given)."""
        self.observe()
        where: dict[tuple[str, int], set[str]] = {}
        for when, _order, node, key, index, up in self.runlog:
            nodes = where.setdefault((key, index), set())
            if up:
                nodes.add(node)
            else:
                nodes.discard(node)
            if since is not None and when < since:
                continue
            assert len(nodes) <= 1, f"t={when}: resource {index} of {key} runs on {sorted(nodes)}"

    def starts_after(self, t: int) -> list[tuple[str, int, str, int]]:
        """(node, time, group, index) of every start issued at or after `t`, on any node."""
        return [
            (n.name, when, key, index)
            for n in self.nodes.values()
            for when, key, index, action in n.calls
            if action == "start" and when >= t
        ]


def texts(node: Node, level: Level | None = None) -> list[str]:
    return node.log_texts(level.value if level is not None else None)
