"""Resource monitoring on a live pair: a real daemon killed behind hbeat's back.

otter and weasel (tests/lab/failover/cluster.py timings: keepalive 500 ms,
deadtime 4 s) run one group, `otter echod`: a real TCP daemon
(tests/lab/monitor/echod.py, detached, with a pid file in the node's /run)
behind a proper LSB init script (tests/lab/monitor/initscript.py) in
resource.d (and, in the second test, resource-agents' OCF Dummy above
it). ha.cf says `monitor 1 restarts 2 window 60`. The daemon is killed
with SIGKILL on otter: otter's probe (the script's `status`, exit 1: dead
with its pid file left) notices it and restarts it in place, twice;
the third kill is one too many within the window and the group moves to
weasel, which then answers on the port. The log, the status feed (every
`monitor` field of docs/status-feed.md, checked against the page) and
`hbeat status` say each step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Lab, ha_cf, wait_for
from tests.harness.hbeatnode import HBEAT, HbeatConfig
from tests.hbeat.config.seed import SEED_AUTHKEYS
from tests.lab.cluster.clusters import TIMINGS
from tests.lab.daemon.schema import check_event, check_snapshot, load_schema
from tests.lab.daemon.test_feed_doc import seen_fields
from tests.lab.failover.cluster import FailoverCluster
from tests.lab.journal.why import why_decisions

from .initscript import PIDFILE, PORT, write_initscript

GROUP = "echod"
NODES = ("otter", "weasel")
MONITOR = "monitor 1 restarts 2 window 60"
ASK = ("import socket, sys\n"
       f"s = socket.create_connection(('127.0.0.1', {PORT}), timeout=2)\n"
       "sys.stdout.write(s.recv(100).decode())\n")


class MonitoredCluster(FailoverCluster):
    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        hacf = ha_cf(list(self.names), **TIMINGS, media=["bcast eth1"],
                     auto_failback=auto_failback, extra=[MONITOR])
        return HbeatConfig(hacf, SEED_AUTHKEYS, self.haresources, env=self.env)


def answer(c: FailoverCluster, name: str) -> str | None:
    """What echod on `name` answers (`echod <node> <pid>`), None when nothing listens."""
    result = c.lab[name].run([sys.executable, "-c", ASK], check=False, timeout=10)
    return result.stdout.strip() if result.returncode == 0 else None


def daemon_pid(c: FailoverCluster, name: str) -> int:
    return int(c[name].node.host_path(PIDFILE).read_text())


def test_a_killed_daemon_is_restarted_then_moved_to_the_peer(lab: Lab) -> None:
    c = MonitoredCluster(lab, f"otter {GROUP}\n")
    for name in NODES:
        write_initscript(c[name].config_dir / "resource.d")
    c.start()
    c.wait_holders({GROUP: "otter"})
    first = wait_for(lambda: answer(c, "otter"), 10, what="echod answering on otter")
    pid = daemon_pid(c, "otter")
    assert first == f"echod otter {pid}"
    seen: set[tuple[str, str]] = set()

    def snap_ok(name: str) -> dict[str, Any]:
        snap = c[name].snapshot()
        assert check_snapshot(snap, nodes=NODES, media=["eth1"]) == [], name
        seen_fields("snapshot", snap, seen)
        return snap

    def group_monitor(name: str) -> dict[str, Any]:
        groups = snap_ok(name)["resources"]["groups"]
        return next(g for g in groups if g["key"] == GROUP)["monitor"]

    # Probes while all is well say nothing at the info level (no "Running" line)
    # and leave rscstatus alone (no `cluster.held` event, no `transition`).
    feed = c.feeds["otter"]
    feed.drain()
    watcher = c["otter"].log_watcher()
    time.sleep(3)
    assert "Running " not in watcher.text(), "a monitor probe was logged at info level"
    assert [t for t, _b in feed.drain() if t == "cluster.held"] == []
    assert c.rscstatus("otter") == "local"
    assert group_monitor("otter")["watched"] is True
    settings = snap_ok("otter")["resources"]["monitor"]
    assert settings == {"interval_ms": 1000, "restarts": 2, "window_ms": 60000}

    for n in (1, 2):
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        restarting = wait_for(lambda: (m := group_monitor("otter"))["action"] and m, 15,
                              interval=0.05, what=f"otter restarting echod ({n})")
        assert restarting["action"] == "restarting", restarting
        feed.wait_topic(f"monitor.{GROUP}", 15,
                        lambda b, n=n: b["event"] == "restarted" and b["restarts"] == n)
        back = wait_for(lambda: answer(c, "otter"), 10, what="echod back on otter")
        took = time.monotonic() - killed
        new_pid = daemon_pid(c, "otter")
        assert new_pid != pid and back == f"echod otter {new_pid}"
        pid = new_pid
        # within one interval plus its start time (and the scripts' own runs)
        assert took < 10, took
        mon = group_monitor("otter")
        assert (mon["failures"], mon["restarts"], mon["action"]) == (n, n, None), mon
        assert mon["last_failure"] == f"{GROUP}: status failed or timed out", mon
        assert mon["last_failure_elapsed_ms"] is not None
        assert c.groups("weasel")[GROUP] == "stopped"  # never left otter

    shown = subprocess.run([HBEAT, "status", "--runtime-dir", str(c["otter"].runtime_dir)],
                           capture_output=True, text=True, timeout=15)
    assert shown.returncode == 0, shown
    assert "monitor: every 1.0 s, up to 2 restart(s) within 1m 00s, then to the peer" in (
        shown.stdout), shown.stdout
    assert "2 failure(s), 2 restart(s) in window" in shown.stdout, shown.stdout

    # One failure too many within the window: the group goes to weasel.
    os.kill(pid, signal.SIGKILL)
    handing = wait_for(lambda: (m := group_monitor("otter"))["action"] == "handing-over" and m,
                       15, interval=0.05, what="otter handing echod over")
    assert handing["failures"] == 3
    c.wait_holders({GROUP: "weasel"}, elsewhere={"otter": "failed"})
    assert wait_for(lambda: answer(c, "weasel"), 10, what="echod on weasel").startswith(
        "echod weasel ")
    assert answer(c, "otter") is None
    assert wait_for(lambda: group_monitor("weasel")["next_in_ms"] is not None, 10,
                    what="weasel watching echod")
    assert group_monitor("otter")["watched"] is False

    log = c["otter"].log()
    for line in (
        f"ERROR: Resource {GROUP} of group {GROUP} failed its monitor: its status failed "
        "(return code 1)",
        f"WARN: Restarting {GROUP} of group {GROUP} in place (restart 1 of 2 within 60 s).",
        f"WARN: Restarting {GROUP} of group {GROUP} in place (restart 2 of 2 within 60 s).",
        f"info: Resource group {GROUP} restarted after a monitor failure of {GROUP}.",
        f"WARN: Resource group {GROUP} failed again after 2 restart(s) within 60 s: handing "
        "it to weasel.",
        f"WARN: Resource group {GROUP} stopped here after repeated monitor failures: handing "
        "it to weasel.",
    ):
        assert line in log, line

    feed.drain()
    events = [(t, b) for t, b in feed.events if t.startswith("monitor.")]
    assert [b["event"] for _t, b in events] == [
        "failed", "restart", "restarted", "failed", "restart", "restarted", "failed",
        "handover"]
    for topic, body in events:
        assert check_event(topic, body) == [], (topic, body)
        seen_fields("monitor.<group>", body, seen)
    for name in NODES:
        snap_ok(name)
    documented = {(path, name) for path, fields in load_schema().objects.items()
                  for name in fields
                  if path.startswith(("monitor.", "snapshot.resources.monitor",
                                      "snapshot.resources.groups[].monitor"))}
    documented |= {("snapshot.resources", "monitor"), ("snapshot.resources.groups[]", "monitor")}
    assert documented - seen == set(), "documented but never emitted"
    # hbeat why (docs/journal.md): each failure a decision, with what monitoring did
    failures = [d for d in why_decisions(c["otter"]) if d["kind"] == "monitor-failed"]
    assert [d["why"] for d in failures] == ["monitor"] * 3
    assert failures[0]["cause"]["group"] == GROUP
    assert failures[0]["cause"]["cause"] == f"{GROUP}: status failed or timed out"

    def told(d: dict[str, Any]) -> list[tuple[str, str]]:
        return [(s["kind"], s["detail"].get("event") or s["detail"].get("action")
                 or s["detail"].get("new")) for s in d["steps"]]

    for restarted in failures[:2]:
        steps = told(restarted)
        assert steps[0] == ("monitor", "restart") and steps[-1] == ("monitor", "restarted")
        assert ("script", "stop") in steps and ("script", "start") in steps, steps
    steps = told(failures[2])
    assert steps[0] == ("monitor", "handover") and ("group", "failed") in steps, steps


DUMMY = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")
DUMMY_STATE = "/run/hbeat-monitor-dummy.state"


def test_an_ocf_agent_is_probed_with_its_monitor_and_restarted_alone(lab: Lab) -> None:
    """`otter echod OCF::Dummy::x`: the Dummy agent's state file removed behind
    hbeat's back makes its `monitor` say 7 (not running); only Dummy, the
    top of the stack, is restarted: echod below it keeps its process."""
    if not os.access(DUMMY, os.X_OK):
        pytest.fail(f"{DUMMY} missing: apt-get install resource-agents")
    c = MonitoredCluster(lab, f"otter {GROUP} OCF::Dummy::x\n", real_scripts=["OCF"])
    for name in NODES:
        write_initscript(c[name].config_dir / "resource.d")
        conf = c[name].config_dir / "conf" / "OCF" / "Dummy"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "x").write_text(f"OCF_RESKEY_state={DUMMY_STATE}\n")
    c.start()
    c.wait_holders({GROUP: "otter"})
    state = c["otter"].node.host_path(DUMMY_STATE)
    assert state.exists()
    pid = daemon_pid(c, "otter")
    state.unlink()
    feed = c.feeds["otter"]
    failed = feed.wait_topic(f"monitor.{GROUP}", 15, lambda b: b["event"] == "failed")
    assert (failed["resource"], failed["reason"]) == ("OCF::Dummy::x", "not running")
    feed.wait_topic(f"monitor.{GROUP}", 15, lambda b: b["event"] == "restarted")
    wait_for(state.exists, 10, what="Dummy's state file back")
    assert daemon_pid(c, "otter") == pid  # echod, below Dummy, was not touched
    assert answer(c, "otter") == f"echod otter {pid}"
    c.wait_holders({GROUP: "otter"})
    log = c["otter"].log()
    assert (f"ERROR: Resource OCF::Dummy::x of group {GROUP} failed its monitor: its status "
            "says it is not running") in log
    assert f"info: Restarting resource group {GROUP}: stopping OCF::Dummy::x" in log
    assert f"info: Restarting resource group {GROUP}: starting OCF::Dummy::x" in log
