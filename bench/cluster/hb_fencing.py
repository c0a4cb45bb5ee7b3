"""The wrongly-declared-dead paths on real heartbeat 3.0.6 without STONITH (for the comparison).

Same lab shape, timings and stand-in group as the fencing fault suite's
hbeat cluster (tests/lab/fencing/lab.py, tests/lab/faults/fencing_paths.py): otter
and weasel on `bcast eth1`, keepalive 500ms, deadtime 3, initdead 6,
`auto_failback off`, one recorded stand-in group `probe::weasel` homed on
weasel. Each path breaks the cluster so that the node not holding the group
declares the holder dead while it runs on, heals, then waits until the
stand-ins' records show one holder for 3 s (at most `SETTLE_S`); the
double-run window is the overlap of two holders in the records from the
fault to that point. A group still on both nodes at the end counts up to
there and is reported as not converged; heartbeat is then restarted on
otter (it gives its copy up) before the next path.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.harness import HeartbeatConfig, HeartbeatNode, Lab, wait_for
from tests.harness.heartbeat_lab import authkeys_text, ha_cf
from tests.harness.procs import run
from tests.lab.failover.standins import Records, write_standin
from tests.lab.faults.fencing_paths import NFT_TABLE

NAMES = ("otter", "weasel")
GROUP = "probe::weasel"
TIMINGS = {"keepalive": "500ms", "deadtime": "3", "warntime": "2", "initdead": "6"}
HB_TAKEOVER = "/usr/share/heartbeat/hb_takeover"
SETTLE_S = 40.0
STALL_S = 1.0 + 3.0 + 2.0  # the same SIGSTOP as hbeat's path (lease + deadtime + 2 s)


@dataclass
class HbOutcome:
    window: float
    converged: bool


class HbCluster:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        shared = lab.dir / "hbfencing"
        shared.mkdir()
        self.records = Records(shared / "events.log")
        script = write_standin(shared / "scripts", "probe", self.records.path, shared / "ctl")
        (shared / "ctl").mkdir()
        hacf = ha_cf(list(NAMES), **TIMINGS, media=["bcast eth1"], auto_failback="off")
        self.nodes = {
            n: HeartbeatNode(lab[n], HeartbeatConfig(hacf, authkeys_text("sha1", "secret"),
                                                     f"weasel {GROUP}\n", {"probe": script}))
            for n in NAMES
        }

    def start(self, names: tuple[str, ...] = NAMES) -> None:
        for n in names:
            self.nodes[n].start()

    def holders(self) -> set[str]:
        return self.records.holders().get(GROUP, set())

    def wait_one_holder(self, timeout: float) -> bool:
        since: list[float] = []

        def one() -> bool:
            if len(self.holders()) != 1:
                since.clear()
                return False
            since.append(time.monotonic())
            return since[-1] - since[0] >= 3.0

        try:
            wait_for(one, timeout, interval=0.2)
        except Exception:
            return False
        return True

    def window(self, t0: float) -> float:
        now = time.time()
        return sum(max(0.0, min(a.end or now, b.end or now) - max(a.start, b.start, t0))
                   for a, b in self.records.overlaps())

    def roles(self) -> tuple[str, str]:
        holders = self.holders()
        assert len(holders) == 1, holders
        holder = holders.pop()
        return holder, next(n for n in NAMES if n != holder)

    def taker_holds(self, taker: str, timeout: float) -> None:
        with contextlib.suppress(Exception):
            wait_for(lambda: taker in self.holders(), timeout, interval=0.1)


def _finish(c: HbCluster, t0: float) -> HbOutcome:
    converged = c.wait_one_holder(SETTLE_S)
    return HbOutcome(c.window(t0), converged)


def stall(c: HbCluster) -> HbOutcome:
    holder, taker = c.roles()
    pid = c.nodes[holder].master_pid()
    t0 = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_S)
        c.taker_holds(taker, 10)
    finally:
        os.kill(pid, signal.SIGCONT)
    return _finish(c, t0)


def asymmetric(c: HbCluster) -> HbOutcome:
    holder, taker = c.roles()
    t0 = time.time()
    script = (f"table ip {NFT_TABLE} {{\n  chain in {{\n    type filter hook input priority 0; "
              f"policy accept;\n    ip saddr {c.lab[holder].ip} drop\n  }}\n}}\n")
    run(["ip", "netns", "exec", c.lab[taker].netns, "nft", "-f", "-"], input=script.encode())
    try:
        c.taker_holds(taker, 15)
        time.sleep(2.0)
    finally:
        run(["ip", "netns", "exec", c.lab[taker].netns, "nft", "delete", "table", "ip",
             NFT_TABLE], check=False)
    return _finish(c, t0)


def partition(c: HbCluster) -> HbOutcome:
    _holder, taker = c.roles()
    t0 = time.time()
    c.lab.cut("weasel", at="switch")
    try:
        c.taker_holds(taker, 15)
        time.sleep(2.0)
    finally:
        c.lab.restore("weasel", at="switch")
    return _finish(c, t0)


def boot_alone(c: HbCluster) -> HbOutcome:
    _holder, taker = c.roles()
    c.nodes[taker].stop()
    t0 = time.time()
    c.lab.cut("weasel", at="switch")
    try:
        c.start((taker,))
        c.taker_holds(taker, 25)
        time.sleep(2.0)
    finally:
        c.lab.restore("weasel", at="switch")
    return _finish(c, t0)


def takeover_partition(c: HbCluster) -> HbOutcome:
    holder, taker = c.roles()
    t0 = time.time()
    c.lab.cut("weasel", at="switch")
    try:
        wait_for(lambda: c.nodes[taker].nodestatus(holder) == "dead", 15, interval=0.2)
        c.nodes[taker].node.run([HB_TAKEOVER, "all"], check=False)
        c.taker_holds(taker, 15)
        time.sleep(2.0)
    finally:
        c.lab.restore("weasel", at="switch")
    return _finish(c, t0)


PATHS: dict[str, Callable[[HbCluster], HbOutcome]] = {
    "stall": stall,
    "asymmetric": asymmetric,
    "partition": partition,
    "boot_alone": boot_alone,
    "takeover_partition": takeover_partition,
}


def run_heartbeat_paths(lab: Lab, seed: int, rounds: int,
                        note: Callable[[str], None] = print) -> dict[str, list[HbOutcome]]:
    rng = random.Random(seed)
    c = HbCluster(lab)
    c.start()
    for n in NAMES:
        c.nodes[n].wait_active([p for p in NAMES if p != n], timeout=40)
    if not c.wait_one_holder(40):
        raise RuntimeError(f"heartbeat did not start the group: {c.records.holders()}")
    out: dict[str, list[HbOutcome]] = {}
    for _ in range(rounds):
        for name in rng.sample(list(PATHS), len(PATHS)):
            res = PATHS[name](c)
            note(f"heartbeat {name}: double run {res.window:.3f} s"
                 f"{'' if res.converged else ' (NOT converged)'}")
            out.setdefault(name, []).append(res)
            if not res.converged:
                _recover(c, note)
    return out


def _recover(c: HbCluster, note: Callable[[str], None]) -> None:
    """Both nodes still run the group: stop heartbeat on the node not preferred
    for it (it gives its copy up), start it again, as an administrator would."""
    note("heartbeat: restarting otter to end the double run")
    c.nodes["otter"].stop()
    if not c.wait_one_holder(SETTLE_S):
        raise RuntimeError(f"heartbeat still double-runs: {c.records.holders()}")
    c.start(("otter",))
    for n in NAMES:
        c.nodes[n].wait_active([p for p in NAMES if p != n], timeout=40)
    if not c.wait_one_holder(SETTLE_S):
        raise RuntimeError(f"heartbeat did not settle: {c.records.holders()}")
