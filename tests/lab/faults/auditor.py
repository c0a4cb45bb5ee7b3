"""The audits run after every fault step, and the wait for the cluster to settle.

`Auditor(cluster)`:

* `settle(timeout)`: until, for STABLE_S without a break, every live node
  sees every live node active and every down node dead, every link between
  live nodes up, nothing in transition, its resource peer (when live)
  stable, and every group running on exactly one live node or, when it is
  failed somewhere, on none (deadline-based; raises `WaitTimeout` with the
  last observed state).
* `audit(step, allow)`: runs each audit and returns the violations found
  (`Violation(step, audit, detail)`), never raising, so the suite can count
  them and go on:
  - `holders`: every group held by exactly one live node per every live
    snapshot, or deliberately by none (failed on a node, held nowhere), and
    the stand-ins' records agree with the snapshots;
  - `overlap`: the records never show two nodes holding a group at once,
    except inside a declared split-brain window (`split_windows`);
  - `agreement`: on every live node, the snapshot, the status feed (the last
    event per node and per link since the node started) and `cl_status`
    (`nodestatus`, `hblinkstatus`, `rscstatus`) say the same;
  - `logs`: no ERROR/CRIT line in any node's log since the last audit other
    than the always-allowed ones and `allow` (the fault's expected lines).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hbeat.control import DaemonUnreachable
from tests.harness import wait_for
from tests.lab.failover.standins import Interval

from .cluster import FaultCluster

HELD = frozenset({"starting", "running", "stopping"})
SETTLED = frozenset({"running", "stopped", "failed"})
BAD_LINE = re.compile(r"\b(ERROR|CRIT):")
ALWAYS_ALLOWED: tuple[str, ...] = ()
# The settled state must hold this long (three keepalives and then some), so a
# takeover decided just before the check cannot slip past it.
STABLE_S = 2.0


@dataclass(frozen=True)
class Violation:
    step: str
    audit: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.step}] {self.audit}: {self.detail}"


class Auditor:
    def __init__(self, cluster: FaultCluster) -> None:
        self.c = cluster
        self.audits_run = 0
        self.split_windows: list[tuple[float, float]] = []
        self._log_offsets: dict[str, int] = {}

    # --- settling -----------------------------------------------------------

    def _state(self) -> tuple[bool, dict[str, Any]]:
        c = self.c
        live = set(c.live())
        seen: dict[str, Any] = {}
        ok = True
        holders: dict[str, set[str]] = {g: set() for g in c.groups}
        failed: set[str] = set()
        for name in sorted(live):
            snap = c[name].snapshot()
            nodes = {n["name"]: n for n in snap["nodes"]}
            res = snap["resources"]
            states = {g["key"]: g["state"] for g in res["groups"]}
            seen[name] = {"local": snap["local_status"], "held": res["held"],
                          "nodes": {k: v["status"] for k, v in nodes.items()},
                          "groups": states}
            if snap["local_status"] != "active" or res["held"] == "transition":
                ok = False
            # What it believes of its resource peer: a live peer has settled too
            # (held "in flux" for good, it refuses hb_standby: seed 1344415903).
            rpeer = res.get("peer")
            if rpeer is not None and rpeer["name"] in live:
                seen[name]["peer stable"] = rpeer["stable"]
                if not rpeer["stable"]:
                    ok = False
            for peer in c.names:
                if peer == name:
                    continue
                want = "active" if peer in live else "dead"
                if nodes.get(peer, {}).get("status") != want:
                    ok = False
                if peer in live:
                    links = {lk["name"]: lk["status"] for lk in nodes[peer]["links"]}
                    common = set(c.links(name)) & set(c.links(peer))
                    if any(links.get(lk) != "up" for lk in common):
                        ok = False
                    seen[name][f"links {peer}"] = links
            for key, state in states.items():
                if state not in SETTLED:
                    ok = False
                if state in HELD:
                    holders[key].add(name)
                if state == "failed":
                    failed.add(key)
        for key, who in holders.items():
            if len(who) > 1 or (not who and key not in failed):
                ok = False
        return ok, seen

    def settle(self, timeout: float) -> dict[str, Any]:
        last: dict[str, Any] = {}
        since: list[float] = []

        def settled() -> bool:
            ok, seen = self._state()
            last.clear()
            last.update(seen)
            if not ok:
                since.clear()
                return False
            if not since:
                since.append(time.monotonic())
            return time.monotonic() - since[0] >= STABLE_S

        wait_for(settled, timeout, interval=0.2, ignore=(DaemonUnreachable,),
                 what="the cluster to settle", describe=lambda: dict(last))
        return last

    # --- audits -------------------------------------------------------------

    def audit(self, step: str, allow: Iterable[str] = ()) -> list[Violation]:
        out: list[Violation] = []
        for name, check in (("holders", self._holders), ("overlap", self._overlap),
                            ("agreement", self._agreement)):
            self.audits_run += 1
            try:
                out += [Violation(step, name, d) for d in check()]
            except Exception as exc:  # an audit that cannot run is a violation too
                out.append(Violation(step, name, f"audit raised {exc!r}"))
        self.audits_run += 1
        out += [Violation(step, "logs", d) for d in self._logs(list(allow))]
        return out

    def _holders(self) -> list[str]:
        c = self.c
        live = c.live()
        snap: dict[str, set[str]] = {g: set() for g in c.groups}
        failed: set[str] = set()
        for name in live:
            for key, state in c[name].group_states().items():
                if state in HELD:
                    snap[key].add(name)
                if state == "failed":
                    failed.add(key)
        recs = c.records.holders()
        bad = []
        for key, who in snap.items():
            if len(who) > 1 or (not who and key not in failed):
                bad.append(f"group {key} held by {sorted(who) or 'nobody'} "
                           f"(failed somewhere: {key in failed})")
            if recs.get(key, set()) != who:
                bad.append(f"group {key}: the records say {sorted(recs.get(key, set()))}, "
                           f"the snapshots {sorted(who)}")
        return bad

    def _inside_split(self, a: Interval, b: Interval) -> bool:
        start = max(a.start, b.start)
        return any(lo <= start <= hi for lo, hi in self.split_windows)

    def _overlap(self) -> list[str]:
        return [f"{a.resource} on {a.node} [{a.start:.3f}, {a.end}] and on {b.node} "
                f"[{b.start:.3f}, {b.end}]"
                for a, b in self.c.records.overlaps() if not self._inside_split(a, b)]

    def _agreement(self) -> list[str]:
        c = self.c
        bad = []
        for name in c.live():
            snap = c[name].snapshot()
            feed = c.feeds[name]
            feed.drain()
            last_node: dict[str, str] = {}
            last_link: dict[tuple[str, str], str] = {}
            for topic, body in feed.events:
                if topic.startswith("node."):
                    last_node[body["node"]] = body["new"]
                elif topic.startswith("link."):
                    last_link[(body["node"], body["link"])] = body["new"]
            for node in snap["nodes"]:
                peer, status = node["name"], node["status"]
                if peer == name:
                    continue
                cl = c[name].cl_status("nodestatus", peer).stdout.strip()
                if cl != status:
                    bad.append(f"{name}: cl_status nodestatus {peer} = {cl!r}, "
                               f"snapshot {status!r}")
                if peer in last_node and last_node[peer] != status:
                    bad.append(f"{name}: feed says {peer} {last_node[peer]!r}, "
                               f"snapshot {status!r}")
                for link in node["links"]:
                    lk, ls = link["name"], link["status"]
                    cl = c[name].cl_status("hblinkstatus", peer, lk).stdout.strip()
                    if cl != ls:
                        bad.append(f"{name}: cl_status hblinkstatus {peer} {lk} = {cl!r}, "
                                   f"snapshot {ls!r}")
                    if (peer, lk) in last_link and last_link[(peer, lk)] != ls:
                        bad.append(f"{name}: feed says link {peer}:{lk} "
                                   f"{last_link[(peer, lk)]!r}, snapshot {ls!r}")
            held = snap["resources"]["held"]
            cl = c[name].cl_status("rscstatus").stdout.strip()
            if cl != held:
                bad.append(f"{name}: cl_status rscstatus = {cl!r}, snapshot {held!r}")
        return bad

    def _logs(self, allow: list[str]) -> list[str]:
        patterns = [re.compile(p) for p in (*ALWAYS_ALLOWED, *allow)]
        bad = []
        for name in self.c.names:
            path = self.c.log_path(name)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            start = self._log_offsets.get(name, 0)
            if start > len(data):
                start = 0
            self._log_offsets[name] = len(data)
            for line in data[start:].decode(errors="replace").splitlines():
                if BAD_LINE.search(line) and not any(p.search(line) for p in patterns):
                    bad.append(f"{name}: unexpected log line: {line}")
        return bad

    def skip_logs(self) -> None:
        """Forget log lines written so far (start-up) without judging them."""
        self._logs([".*"])
