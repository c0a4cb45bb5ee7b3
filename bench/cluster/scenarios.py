"""The cluster measurements: keepalive jitter, CPU/memory cost, failover, false deaths.

Each scenario owns one harness lab (two daemon nodes plus a `client` node on
the same bridge that runs the nanosecond capture). Scenarios are built, then
`begin()`, left running for the phase, then `finish()` returns a plain
dict of results; the runner runs several scenarios of one phase side by side.
Failover runs its own loop (`run()`), meant for a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.harness import Lab, wait_for

from . import procstat, stats, wire
from .daemons import CLASSIC, NODES, BenchCluster, Profile, count_lines, read_probe_events

STALL = {"ms": 800, "every_s": 2.0}  # debug-stall: well inside the 2 s lease at keepalive 1
LOSS_PCT = 20.0
LINK_DEAD = re.compile(r"Link \S+ dead")
SCHED_NAMES = {os.SCHED_OTHER: "OTHER", os.SCHED_FIFO: "FIFO", os.SCHED_RR: "RR"}


def sched_policies(pids: list[int]) -> list[str]:
    """Policy/priority of each process (its main thread) and of an hbeat
    link worker's keepalive thread (`hb-ticker`), which has its own."""
    out = []
    for pid in pids:
        tasks = [(pid, "")]
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                if (task / "comm").read_text().strip() == "hb-ticker":
                    tasks.append((int(task.name), " [hb-ticker]"))
        for tid, suffix in tasks:
            try:
                policy = os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK
                prio = os.sched_getparam(tid).sched_priority
            except OSError:
                continue
            out.append(f"{procstat.title(pid)}{suffix}: {SCHED_NAMES.get(policy, policy)}/{prio}")
    return out


class Scenario:
    """A lab with a two-node cluster of `kind` and a capture on the client."""

    def __init__(self, label: str, kind: str, profile: Profile = CLASSIC, *,
                 realtime: bool = False, serial: bool = False, resource: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.label = label
        self.kind = kind
        self.profile = profile
        self.lab = Lab(list(NODES), client=True).start()
        self.cluster = BenchCluster(kind, self.lab, profile, realtime=realtime, serial=serial,
                                    resource=resource, env=env)
        assert self.lab.client is not None
        self.capture = wire.NanoCapture(self.lab.client, self.lab.dir / "bench.pcap")
        self.started_ns = 0
        self.notes: list[str] = []
        self.cost: dict[str, Any] | None = None

    def begin(self) -> None:
        self.capture.start()
        self.cluster.start()
        self.cluster.wait_active()
        self.started_ns = time.time_ns()

    def settle(self, seconds: float = 8.0) -> None:
        """Let start-up sends pass (state changes, the dt window) before measuring."""
        deadline = time.monotonic() + seconds
        wait_for(lambda: time.monotonic() >= deadline, seconds + 5, interval=0.2,
                 what="start-up to settle")
        self.started_ns = time.time_ns()

    def close(self) -> None:
        self.lab.close()

    def measure_cost(self, seconds: float) -> dict[str, Any]:
        """CPU over `seconds` and memory of every process of both nodes."""
        pids = {n: self.cluster.pids(n) for n in NODES}
        t0 = time.monotonic()
        ticks0 = {p: procstat.cpu_ticks(p) for ps in pids.values() for p in ps}
        ns0 = {p: procstat.cpu_ns(p) for ps in pids.values() for p in ps}
        deadline = t0 + seconds
        wait_for(lambda: time.monotonic() >= deadline, seconds + 5, interval=0.5,
                 what="the cost window")
        elapsed = time.monotonic() - t0
        nodes = {}
        for node, ps in pids.items():
            procs = []
            for p in ps:
                mem = procstat.memory(p)
                procs.append({
                    "pid": p, "title": procstat.title(p),
                    "cpu_pct_ticks": 100 * (procstat.cpu_ticks(p) - ticks0[p])
                    / procstat.CLK_TCK / elapsed,
                    "cpu_pct_ns": 100 * (procstat.cpu_ns(p) - ns0[p]) / 1e9 / elapsed,
                    "rss_kb": mem.rss_kb, "pss_kb": mem.pss_kb, "uss_kb": mem.uss_kb,
                    "locked_kb": mem.locked_kb, "vmlck_kb": mem.vmlck_kb,
                    "top": procstat.top_mappings(p),
                })
            nodes[node] = procs
        self.cost = {"seconds": elapsed, "nodes": nodes}
        return self.cost


class JitterScenario(Scenario):
    """Keepalive jitter of both nodes at the profile's keepalive."""

    def __init__(self, label: str, kind: str, *, realtime: bool = False,
                 stall: bool = False) -> None:
        super().__init__(label, kind, CLASSIC, realtime=realtime,
                         env={"HBEAT_DEBUG": "1"} if stall else None)
        self.stall = stall

    def begin(self) -> None:
        super().begin()
        if self.stall:
            reply = self.cluster.control(NODES[0], "debug-stall", **STALL)
            self.notes.append(f"debug-stall on {NODES[0]}: {reply}")
        self.settle()
        self.sched = {n: sched_policies(self.cluster.pids(n)) for n in NODES}

    def finish(self) -> dict[str, Any]:
        end = time.time_ns()
        pcap = self.capture.stop()
        frames = wire.frames(pcap)
        per_node = {}
        for node in NODES:
            times = [t for t in wire.status_times(frames, node) if t >= self.started_ns]
            kept, extra = stats.drop_extra_sends(times, self.profile.keepalive_ms * 1_000_000)
            per_node[node] = asdict(stats.summarize_jitter(kept, self.profile.keepalive_ms
                                                           * 1_000_000)) | {"extra": extra}
        return {"label": self.label, "kind": self.kind, "duration_s": (end - self.started_ns)
                / 1e9, "nodes": per_node, "sched": self.sched, "notes": self.notes,
                "cost": self.cost, "pcap": str(pcap)}


class CostScenario(Scenario):
    """A node's steady cost in the seed configuration: serial and bcast, one
    resource group (`otter BenchProbe::svc1`), `realtime` on or off, the
    given profile's keepalive."""

    def __init__(self, label: str, kind: str, profile: Profile = CLASSIC, *,
                 realtime: bool = True) -> None:
        super().__init__(label, kind, profile, realtime=realtime, serial=True, resource=True)
        self.realtime = realtime

    def begin(self) -> None:
        super().begin()
        self.settle()

    def finish_cost(self, seconds: float) -> dict[str, Any]:
        cost = self.measure_cost(seconds)
        return {"label": self.label, "kind": self.kind, "profile": self.profile.name,
                "keepalive_ms": self.profile.keepalive_ms, "realtime": self.realtime, **cost}


class FalseDeathScenario(Scenario):
    """Fast profile, bcast eth1 with 20% loss leaving each node, plus a clean serial link."""

    def __init__(self, label: str, kind: str, profile: Profile) -> None:
        super().__init__(label, kind, profile, serial=True)
        self.log_offsets: dict[str, int] = {}
        self.mechanism = ""

    def begin(self) -> None:
        super().begin()
        for n in NODES:
            self.mechanism = self.lab.impair(n, loss=LOSS_PCT)
        self.started_ns = time.time_ns()
        self.log_offsets = {n: len(self.cluster.log_text(n)) for n in NODES}

    def finish(self) -> dict[str, Any]:
        end = time.time_ns()
        logs = {n: self.cluster.log_text(n)[self.log_offsets[n]:] for n in NODES}
        for n in NODES:
            self.lab.clear_impairment(n)
        frames = [f for f in wire.frames(self.capture.stop()) if f.time_ns >= self.started_ns]
        loss = {}
        for n in NODES:
            seqs = sorted({s for f in frames if f.kind == "status" and f.src == n
                           if (s := f.seq) is not None})
            expected = seqs[-1] - seqs[0] + 1 if seqs else 0
            loss[n] = 100 * (1 - len(seqs) / expected) if expected else None
        return {
            "label": self.label, "kind": self.kind, "duration_s": (end - self.started_ns) / 1e9,
            "mechanism": self.mechanism,
            "node_dead": sum(count_lines(t, ": is dead") for t in logs.values()),
            "link_dead": sum(len(LINK_DEAD.findall(t)) for t in logs.values()),
            "stonith_frames": sum(1 for f in frames if f.kind == "stonith"),
            "measured_loss_pct": loss,
            "dead_lines": [ln for t in logs.values() for ln in t.splitlines()
                           if " dead" in ln][:10],
        }


# The takeover's milliseconds after the deadline (ms, per kill; hbeat only: the
# survivor's journal has the decision's and the executor's stamps).
BREAKDOWN = (
    "decision_ms",          # deadline -> membership's decision (journal node-dead)
    "decision_to_wire_ms",  # decision -> stonith frame on the wire
    "decision_to_status_spawn_ms",  # decision -> the executor forks `status`
    "status_own_ms",        # `status` spawn -> exit (the script's own run)
    "status_exit_to_start_spawn_ms",  # its result, the order for `start`, the fork
    "start_own_ms",         # `start` spawn -> the probe's start stamp
    "scripts_own_ms",       # status_own + start_own
    "start_after_deadline_ms",  # the probe's start stamp - deadline
    "start_net_ms",         # start_after_deadline - scripts_own: the target's figure
)


def takeover_steps(journal: list[dict[str, Any]], victim: str, after_ns: int
                   ) -> dict[str, int]:
    """Stamps of the first takeover of `victim`'s death after `after_ns`: the
    decision (`decided_ns`) and the spawn/exit of its `status` and `start`."""
    dead = next((e for e in journal if e.get("kind") == "node-dead" and e.get("node") == victim
                 and (e.get("detail") or {}).get("decided_ns", 0) > after_ns), None)
    if dead is None:
        return {}
    out = {"decided": int(dead["detail"]["decided_ns"])}
    for e in journal:
        det = e.get("detail") or {}
        if (e.get("kind") == "script" and e.get("decision") == dead.get("seq")
                and det.get("spawn_ns") is not None):
            action = str(det.get("action"))
            stamps = [(action, det.get("spawn_ns"), det.get("exit_ns"))]
            if action == "start":  # the status before it, when the journal left it out
                stamps.insert(0, ("status", det.get("status_spawn_ns"),
                                  det.get("status_exit_ns")))
            for name, spawn, exited in stamps:
                if spawn is not None and f"{name}_spawn" not in out:
                    out[f"{name}_spawn"] = int(spawn)
                    if exited is not None:
                        out[f"{name}_exit"] = int(exited)
    return out


def breakdown(deadline: int, stonith: int | None, start: int | None,
              steps: dict[str, int]) -> dict[str, float | None]:
    """One kill's BREAKDOWN (ms; None where a stamp is missing)."""

    def span(a: int | None, b: int | None) -> float | None:
        return None if a is None or b is None else (b - a) / 1e6

    dec, st_sp, st_ex = steps.get("decided"), steps.get("status_spawn"), steps.get("status_exit")
    start_sp = steps.get("start_spawn")
    status_own, start_own = span(st_sp, st_ex), span(start_sp, start)
    own = None if status_own is None or start_own is None else status_own + start_own
    after = span(deadline, start)
    return {
        "decision_ms": span(deadline, dec), "decision_to_wire_ms": span(dec, stonith),
        "decision_to_status_spawn_ms": span(dec, st_sp), "status_own_ms": status_own,
        "status_exit_to_start_spawn_ms": span(st_ex, start_sp), "start_own_ms": start_own,
        "scripts_own_ms": own, "start_after_deadline_ms": after,
        "start_net_ms": None if after is None or own is None else after - own,
    }


class FailoverScenario(Scenario):
    """kill -9 of the node holding the resource, `reps` times, alternating nodes."""

    SETTLE_S = 7.0  # a node advertises deadtime + 2 s for its first 5 s

    def __init__(self, label: str, kind: str, profile: Profile, reps: int) -> None:
        super().__init__(label, kind, profile, resource=True)
        self.reps = reps
        self.kills: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def _acquired(self, name: str) -> int:
        return count_lines(self.cluster.log_text(name), "Initial resource acquisition complete")

    def _wait_stable(self, holder: str, since: dict[str, int], up_since: float) -> None:
        state = self.lab[holder].host_path("/run") / "benchprobe.svc1"
        wait_for(lambda: state.exists() and all(self._acquired(n) > since[n] for n in NODES),
                 90, interval=0.2, what=f"{self.label}: {holder} holding svc1, both settled",
                 describe=lambda: {n: self._acquired(n) for n in NODES})
        deadline = up_since + self.SETTLE_S
        wait_for(lambda: time.monotonic() >= deadline, self.SETTLE_S + 5, interval=0.2,
                 what="the startup dt window to pass")

    def _journal(self, name: str) -> list[dict[str, Any]]:
        """hbeat's decision journal of `name` (docs/journal.md); [] for heartbeat."""
        node = self.cluster.nodes[name]
        state_dir = getattr(node, "state_dir", None)
        if state_dir is None:
            return []
        try:
            text = (Path(state_dir) / "hb_journal").read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def run(self, progress: Callable[[str], None] = print) -> None:
        since = {n: 0 for n in NODES}
        t_up = time.monotonic()
        self.begin()
        holder = NODES[0]
        for rep in range(self.reps):
            self._wait_stable(holder, since, t_up)
            survivor = NODES[1] if holder == NODES[0] else NODES[0]
            t_kill = self.cluster.crash(holder)

            def started(surv: str = survivor, t: int = t_kill) -> bool:
                return any(e.node == surv and e.action == "start" and e.time_ns > t
                           for e in read_probe_events(self.cluster.events))

            try:
                wait_for(started, self.profile.deadtime_ms / 1000 + 30, interval=0.05,
                         what=f"{self.label}: {survivor} to start svc1")
            except Exception as exc:
                tail = "\n".join(self.cluster.log_text(survivor).splitlines()[-12:])
                self.errors.append(f"kill {rep + 1} (of {holder}): {exc}; {survivor}'s log "
                                   f"tail:\n{tail}")
                progress(f"{self.label}: kill {rep + 1} failed, restarting both nodes")
                self.cluster.crash(survivor)
                since = {n: self._acquired(n) for n in NODES}
                t_up = time.monotonic()
                self.cluster.start()
                holder = NODES[0]
                continue
            since = {n: self._acquired(n) if n == holder else -1 for n in NODES}
            t_restart = time.time_ns()
            t_up = time.monotonic()
            self.cluster.start([holder])
            self.kills.append({"victim": holder, "survivor": survivor, "t_kill": t_kill,
                               "t_restart": t_restart})
            progress(f"{self.label}: kill {rep + 1}/{self.reps} done")
            holder = survivor

    def finish(self) -> dict[str, Any]:
        frames = wire.frames(self.capture.stop())
        events = read_probe_events(self.cluster.events)
        ips = {n: self.lab[n].ip for n in NODES}
        rows = []
        for k in self.kills:
            victim, survivor = k["victim"], k["survivor"]
            before = [f for f in frames if f.src_ip == ips[victim] and f.time_ns <= k["t_restart"]]
            if not before:
                self.errors.append(f"no frame from {victim} before {k['t_kill']}")
                continue
            t_last_any = before[-1].time_ns
            statuses = [f.time_ns for f in before if f.kind == "status"]
            t_last = statuses[-1] if statuses else t_last_any
            stonith = next((f.time_ns for f in frames if f.src_ip == ips[survivor]
                            and f.kind == "stonith" and f.fields.get("node") == victim
                            and f.time_ns > t_last), None)
            start = next((e.time_ns for e in events if e.node == survivor
                          and e.action == "start" and e.time_ns > k["t_kill"]), None)
            # The takeover asks each resource its status before starting it:
            # the probe's stamps split the time after the decision.
            status = next((e.time_ns for e in events if e.node == survivor
                           and e.action == "status" and e.time_ns > k["t_kill"]), None)
            steps = takeover_steps(self._journal(survivor), victim, k["t_kill"])
            deadline = t_last + self.profile.deadtime_ms * 1_000_000
            rows.append({
                **k, "t_last": t_last,
                "kill_after_last_ms": (k["t_kill"] - t_last) / 1e6,
                "last_packet_after_last_status_ms": (t_last_any - t_last) / 1e6,
                "detect_from_last_packet_ms": None if stonith is None
                else (stonith - t_last_any) / 1e6,
                "detect_ms": None if stonith is None else (stonith - t_last) / 1e6,
                "start_ms": None if start is None else (start - t_last) / 1e6,
                "detect_from_kill_ms": None if stonith is None else (stonith - k["t_kill"]) / 1e6,
                "start_from_kill_ms": None if start is None else (start - k["t_kill"]) / 1e6,
                "overshoot_ms": None if stonith is None
                else (stonith - t_last) / 1e6 - self.profile.deadtime_ms,
                "stonith_to_status_ms": None if stonith is None or status is None
                else (status - stonith) / 1e6,
                "status_to_start_ms": None if status is None or start is None
                else (start - status) / 1e6,
                **breakdown(deadline, stonith, start, steps),
            })

        def summary(key: str) -> dict[str, Any] | None:
            vals = [r[key] for r in rows if r[key] is not None]
            return asdict(stats.summarize_latencies(vals)) if vals else None

        return {
            "label": self.label, "kind": self.kind, "profile": self.profile.name,
            "deadtime_ms": self.profile.deadtime_ms, "reps": len(rows),
            "detect": summary("detect_ms"), "start": summary("start_ms"),
            "detect_from_kill": summary("detect_from_kill_ms"),
            "detect_from_last_packet": summary("detect_from_last_packet_ms"),
            "start_from_kill": summary("start_from_kill_ms"),
            "overshoot": summary("overshoot_ms"),
            "stonith_to_status": summary("stonith_to_status_ms"),
            "status_to_start": summary("status_to_start_ms"),
            "missing_stonith": sum(1 for r in rows if r["detect_ms"] is None),
            "breakdown": {key: summary(key) for key in BREAKDOWN if any(
                r.get(key) is not None for r in rows)},
            "errors": self.errors, "rows": rows,
        }


def loadavg() -> tuple[float, float, float]:
    a, b, c = Path("/proc/loadavg").read_text().split()[:3]
    return float(a), float(b), float(c)
