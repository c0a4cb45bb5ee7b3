"""The operator's operations, timed (`--phases ops`): start-up, handover, stop, restart.

One lab per daemon, classic profile (keepalive 1, deadtime 10, initdead 20),
`auto_failback on`, one group `otter BenchProbe::svc1` (the probe script
stamps each call; its own run time is a few ms). Every figure is from the
operation's moment (launch or SIGTERM, CLOCK_REALTIME just before) to the
probe's `start` stamp on the node that must run the group, or to the last
daemon process gone; the daemon-up figure is the first status frame of the new
daemon on the wire. Per repetition, in this order:

* `handover`: SIGTERM to otter's daemon (`systemctl stop`) while it holds
  svc1 -> weasel's probe `start` (otter's `stop` of svc1 comes first: the
  handover waits for the releaser's stop); `stop`: the same SIGTERM -> otter's
  last daemon process gone.
* `startup_peer_up`: otter launched while weasel runs svc1 -> otter's
  `start` (auto_failback on: weasel stops svc1 and hands it back first).
* `restart`: SIGTERM to otter holding svc1, launch again once its processes
  are gone -> otter's `start` again (`restart_up`: -> the new daemon's first
  status frame on the wire after the relaunch, from the relaunch).

Once, first: `startup_both` (both launched together -> otter's `start`);
once, last: `startup_alone` (otter alone; hbeat with `boot_takeover
initdead`, heartbeat's behaviour, since hbeat's default waits for fencing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from tests.harness import Lab, wait_for

from . import stats, wire
from .daemons import CLASSIC, NODES, BenchCluster, read_probe_events

OTTER, WEASEL = NODES
SETTLE_S = 3.0  # after a group runs, before the next operation (reports settle)


class OpsScenario:
    def __init__(self, kind: str, reps: int) -> None:
        self.kind = kind
        self.reps = reps
        self.lab = Lab(list(NODES), client=True).start()
        self.cluster = BenchCluster(kind, self.lab, CLASSIC, resource=True,
                                    auto_failback="on",
                                    hbeat_extra=["boot_takeover initdead"])
        assert self.lab.client is not None
        self.capture = wire.NanoCapture(self.lab.client, self.lab.dir / "ops.pcap")
        self.samples: dict[str, list[float]] = {}
        self.restarts: list[int] = []  # launch times of a restarted otter
        self.errors: list[str] = []

    def _start_after(self, node: str, t_ns: int, timeout: float = 90.0,
                     action: str = "start") -> int:
        def found() -> int | None:
            return next((e.time_ns for e in read_probe_events(self.cluster.events)
                         if e.node == node and e.action == action and e.time_ns > t_ns), None)

        return wait_for(found, timeout, interval=0.01,
                        what=f"ops/{self.kind}: {node}'s svc1 {action}")

    def _add(self, key: str, value_ns: int) -> None:
        self.samples.setdefault(key, []).append(value_ns / 1e6)

    def _settle(self) -> None:
        time.sleep(SETTLE_S)

    def run(self, progress: Callable[[str], None] = print) -> None:
        self.capture.start()
        t = time.time_ns()
        self.cluster.start(wait=False)
        self._add("startup_both", self._start_after(OTTER, t) - t)
        self.cluster.wait_active()
        self._settle()
        for rep in range(self.reps):
            t = self.cluster.terminate(OTTER)
            self._add("handover", self._start_after(WEASEL, t) - t)
            self._add("stop", self.cluster.wait_gone(OTTER) - t)
            self._settle()
            t = time.time_ns()
            self.cluster.start([OTTER], wait=False)
            self._add("startup_peer_up", self._start_after(OTTER, t) - t)
            self._settle()
            t = self.cluster.terminate(OTTER)
            self.cluster.wait_gone(OTTER)
            self.restarts.append(time.time_ns())
            self.cluster.start([OTTER], wait=False)
            self._add("restart", self._start_after(OTTER, t) - t)
            self._settle()
            progress(f"ops/{self.kind}: repetition {rep + 1}/{self.reps} done")
        for node in (WEASEL, OTTER):
            self.cluster.terminate(node)
            self.cluster.wait_gone(node)
        for state in self.lab[OTTER].host_path("/run").glob("benchprobe.*"):
            state.unlink()
        t = time.time_ns()
        self.cluster.start([OTTER], wait=False)
        self._add("startup_alone", self._start_after(OTTER, t, timeout=120) - t)

    def finish(self) -> dict[str, Any]:
        frames = wire.frames(self.capture.stop())
        ip = self.lab[OTTER].ip
        for t in self.restarts:
            first = next((f.time_ns for f in frames if f.src_ip == ip and f.kind == "status"
                          and f.time_ns > t), None)
            if first is not None:
                self._add("restart_up", first - t)
        return {"kind": self.kind, "reps": self.reps, "errors": self.errors,
                "ops": {k: asdict(stats.summarize_latencies(v)) | {"values": v}
                        for k, v in self.samples.items()}}

    def close(self) -> None:
        self.lab.close()
