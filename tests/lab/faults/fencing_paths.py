"""The paths on which a live peer is wrongly declared dead, for the fencing fault suite.

Each path is a function `(cluster, rng, ctx) -> PathOutcome` on a
`FencedCluster` (tests/lab/fencing/lab.py: otter and weasel on `bcast
eth1`, one recorded stand-in group; the suite runs without the serial
cable, whose missing device would stop a node booting with its links down,
and tests/lab/fencing covers the cut of both links with the cable): it
breaks the cluster so that
the node not holding the group (the *taker*) declares the holder dead
while the holder runs on, waits until the taker holds the group (or, where
nothing may move, long enough for a wrong takeover to have happened),
heals, and reboots the node the power switch turned off, if any:

* `stall`: SIGSTOP of the holder's supervisor for lease + deadtime + 2 s;
* `asymmetric`: with nftables in the taker's namespace, every packet from
  the holder dropped (the holder still hears the taker; a serial cable, if
  any, unplugged);
* `partition`: the links cut (eth1 at the switch, a serial cable unplugged);
* `boot_alone`: the taker's hbeat stopped, both links cut, the taker started
  again (it never hears the holder: initdead);
* `takeover_partition`: both links cut and `hb_takeover all` run on the
  taker as soon as it sees the holder dead.

The holder's switch has a fencing delay (`delay.<holder>`), so the taker's
shot lands first when both shoot. With fencing the power-off is recorded
as the end of the holder's holding (the plugin's crash record).
`PathOutcome.window` is the double-run time the stand-ins' records show
inside the path (seconds: the sum of every overlap of two holders).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.control import DaemonUnreachable
from tests.harness import wait_for
from tests.harness.procs import cmdline, run
from tests.lab.failover.cluster import HB_TAKEOVER
from tests.lab.fencing.lab import FencedCluster

from .injector import DEATH, Ctx, hold

DEADTIME_S = 3.0
LEASE_S = 1.0
NFT_TABLE = "hbeat_asym"
# ERROR/CRIT lines these paths legitimately cause.
ALLOW = (*DEATH, r"ERROR: Both machines own", r"ERROR: serial /run/ttyS0",
         r"ERROR: Host \S+ not reset!", r"ERROR: STONITH of \S+ failed",
         r"CRIT: \S+ is not heard and no STONITH device is configured",
         r"ERROR: .*STONITH \S+ .*timed out")


@dataclass
class PathOutcome:
    window: float = 0.0
    checks: list[str] = field(default_factory=list)
    fenced: list[str] = field(default_factory=list)


def _roles(c: FencedCluster) -> tuple[str, str]:
    holder = c.holder()
    assert holder is not None, "no node runs the group"
    taker = next(n for n in c.names if n != holder)
    for name in c.names:
        (c.power / f"delay.{name}").unlink(missing_ok=True)
    (c.power / f"delay.{holder}").write_text("5\n")
    return holder, taker


def _seen_dead(c: FencedCluster, observer: str, peer: str, timeout: float) -> None:
    wait_for(lambda: c[observer].node_states().get(peer) == "dead", timeout, interval=0.1,
             ignore=(DaemonUnreachable,), what=f"{observer} to see {peer} dead")


def _taker_holds(c: FencedCluster, taker: str, timeout: float) -> bool:
    try:
        wait_for(lambda: c.state(taker) == "running", timeout, interval=0.1,
                 ignore=(DaemonUnreachable,))
    except Exception:
        return False
    return True


def _window(c: FencedCluster, t0: float) -> float:
    total = 0.0
    now = time.time()
    for a, b in c.records.overlaps():
        start = max(a.start, b.start, t0)
        end = min(a.end or now, b.end or now)
        total += max(0.0, end - start)
    return total


def _finish(c: FencedCluster, t0: float, ops_before: int) -> PathOutcome:
    """Reboot what the switch turned off; measure the window since `t0`."""
    fenced = [op[3] for op in c.power_log()[ops_before:] if op[4] == "ok"]
    for name in dict.fromkeys(fenced):
        c.reboot(name)
    out = PathOutcome(window=_window(c, t0), fenced=list(dict.fromkeys(fenced)))
    return out


def _supervisor_pid(c: FencedCluster, name: str) -> int:
    for pid in c[name].pids():
        if cmdline(pid).startswith("hbeat: supervisor") or "hbeat run" in cmdline(pid):
            return pid
    raise AssertionError(f"no supervisor on {name}")


def stall(c: FencedCluster, rng: random.Random, ctx: Ctx) -> PathOutcome:
    holder, taker = _roles(c)
    seconds = LEASE_S + DEADTIME_S + 2.0
    pid = _supervisor_pid(c, holder)
    ctx.note(f"SIGSTOP of {holder}'s supervisor for {seconds:.1f} s (lease + deadtime + 2 s)")
    ops, t0 = len(c.power_log()), time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        hold(seconds, f"{holder} stalled")
        _taker_holds(c, taker, 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    return _finish(c, t0, ops)


def _nft_drop_from(c: FencedCluster, at: str, source: str) -> None:
    script = (f"table ip {NFT_TABLE} {{\n  chain in {{\n"
              f"    type filter hook input priority 0; policy accept;\n"
              f"    ip saddr {c.lab[source].ip} drop\n  }}\n}}\n")
    run(["ip", "netns", "exec", c.lab[at].netns, "nft", "-f", "-"], input=script.encode())


def _nft_clear(c: FencedCluster, at: str) -> None:
    run(["ip", "netns", "exec", c.lab[at].netns, "nft", "delete", "table", "ip", NFT_TABLE],
        check=False)


def asymmetric(c: FencedCluster, rng: random.Random, ctx: Ctx) -> PathOutcome:
    holder, taker = _roles(c)
    ctx.note(f"asymmetric partition: serial unplugged, {holder} -> {taker} dropped by nftables")
    ops, t0 = len(c.power_log()), time.time()
    if c.cable is not None:
        c.cable.close()
    _nft_drop_from(c, taker, holder)
    try:
        _seen_dead(c, taker, holder, DEADTIME_S + 5)
        _taker_holds(c, taker, 12)
        hold(2.0, "the asymmetric partition")
    finally:
        _nft_clear(c, taker)
        if c.cable is not None:
            c.cable.reopen()
    return _finish(c, t0, ops)


def partition(c: FencedCluster, rng: random.Random, ctx: Ctx) -> PathOutcome:
    holder, taker = _roles(c)
    ctx.note("both links cut")
    ops, t0 = len(c.power_log()), time.time()
    c.cut()
    try:
        _seen_dead(c, taker, holder, DEADTIME_S + 5)
        _taker_holds(c, taker, 12)
        hold(2.0, "the partition")
    finally:
        c.restore()
    return _finish(c, t0, ops)


def boot_alone(c: FencedCluster, rng: random.Random, ctx: Ctx) -> PathOutcome:
    holder, taker = _roles(c)
    ctx.note(f"{taker}'s hbeat stopped, both links cut, {taker} started alone")
    c[taker].stop()
    ops, t0 = len(c.power_log()), time.time()
    c.cut()
    try:
        c.start([taker], wait=False)
        _seen_dead(c, taker, holder, 20)
        _taker_holds(c, taker, 10)
        hold(2.0, "the boot alone")
    finally:
        c.restore()
    return _finish(c, t0, ops)


def takeover_partition(c: FencedCluster, rng: random.Random, ctx: Ctx) -> PathOutcome:
    holder, taker = _roles(c)
    ctx.note(f"both links cut, hb_takeover all on {taker} once it sees {holder} dead")
    ops, t0 = len(c.power_log()), time.time()
    c.cut()
    try:
        _seen_dead(c, taker, holder, DEADTIME_S + 5)
        env = {**os.environ, "HBEAT_RUNTIME_DIR": str(c[taker].runtime_dir)}
        res = c[taker].node.run([HB_TAKEOVER, "all"], check=False, env=env)
        if res.returncode != 0:
            return PathOutcome(checks=[f"hb_takeover on {taker} failed: {res}"])
        _taker_holds(c, taker, 12)
        hold(2.0, "the partition")
    finally:
        c.restore()
    return _finish(c, t0, ops)


PATHS: dict[str, Callable[[FencedCluster, random.Random, Ctx], PathOutcome]] = {
    "stall": stall,
    "asymmetric": asymmetric,
    "partition": partition,
    "boot_alone": boot_alone,
    "takeover_partition": takeover_partition,
}
