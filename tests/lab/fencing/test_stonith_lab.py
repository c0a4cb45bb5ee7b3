"""STONITH in the lab: a real cluster-glue `stonith` and an external plugin that powers
a lab node off (tests/lab/fencing/lab.py), with both links between the nodes cut.

* With a working switch the survivor (otter: weasel's device has a fencing
  delay, so otter's shot lands first) fences weasel before it starts
  weasel's group, and the group never runs on both nodes (the stand-ins'
  records, with the power-off as the end of weasel's holding). DRBD's
  fence-peer handler `hbeat outdate-peer` on otter then exits 7 (peer
  fenced); while the fence keeps failing (broken switch) it exits 5.
* With a broken switch nothing is started anywhere new: the group stays on
  weasel, otter retries and says so in its log, `hbeat status`, the feed
  and `cl_status`; when the links come back the fence is called off.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab, wait_for
from tests.harness.hbeatnode import HBEAT
from tests.lab.daemon.schema import check_event, check_snapshot
from tests.lab.failover.cluster import HB_TAKEOVER
from tests.lab.journal.why import why_decisions

from .lab import GROUP, TTY, FencedCluster
from .test_outdate_peer import DRBDADM


def _status(c: FencedCluster, name: str) -> str:
    node = c[name]
    res = node.node.run([HBEAT, "status", "--runtime-dir", str(node.runtime_dir)], check=False)
    assert res.returncode == 0, res
    return res.stdout


def _drbdadm(lab: Lab) -> tuple[Path, Path]:
    """test_outdate_peer.py's stand-in drbdadm (for $HBEAT_DRBDADM) and its calls."""
    calls, states = lab.dir / "drbdadm.calls", lab.dir / "drbd-states"
    states.mkdir()
    calls.touch()
    script = lab.dir / "drbdadm"
    script.write_text(DRBDADM.format(calls=calls, states=states))
    script.chmod(0o755)
    return script, calls


def _outdate_peer(c: FencedCluster, name: str = "otter") -> subprocess.CompletedProcess[str]:
    """`hbeat outdate-peer` on `name`, as DRBD starts its fence-peer handler."""
    node = c[name]
    return node.node.run([HBEAT, "outdate-peer", "-t", "3", "--runtime-dir",
                          str(node.runtime_dir)], check=False,
                         env={**os.environ, "DRBD_RESOURCE": "r0", "DRBD_PEER": "weasel"})


def test_partition_survivor_fences_before_taking_over(lab: Lab) -> None:
    drbdadm, calls = _drbdadm(lab)
    c = FencedCluster(lab, env={"HBEAT_DRBDADM": str(drbdadm)})
    c.start()
    c.wait_state("weasel", "running")
    (c.power / "delay.weasel").write_text("5\n")  # otter's shot lands first
    t_cut = c.cut()
    c.wait_state("otter", "running", timeout=40)
    ops = c.power_log()
    assert [op[1:] for op in ops] == [["otter", "reset", "weasel", "ok"]], ops
    fenced_at = float(ops[0][0])
    starts = c.records.find(node="otter", resource=GROUP, action="start", result="ok",
                            after=t_cut)
    assert starts and starts[0].t > fenced_at, (starts, fenced_at)
    assert c.records.overlaps() == [], c.records.overlaps()
    assert lab["weasel"].processes() == [], lab["weasel"].describe_processes()
    log = c["otter"].log()
    for line in (f"info: Resetting node weasel with [{c.type}]", "info: node weasel now reset.",
                 "info: Resources being acquired from weasel."):
        assert line in log, c.log_tail("otter")
    assert "No STONITH device configured." not in log
    snap = c["otter"].snapshot()
    assert check_snapshot(snap, nodes=["otter", "weasel"], media=[TTY, "eth1"]) == []
    fencing = snap["resources"]["fencing"]
    assert fencing["devices"] == [c.type]
    assert [(p["node"], p["state"], p["last_result"]) for p in fencing["peers"]] == [
        ("weasel", "fenced", "OK")]
    events = [(t, b) for t, b in otter_feed(c) if t == "fence.weasel"]
    assert [b["new"] for _t, b in events][-2:] == ["attempting", "fenced"]
    assert all(check_event(t, b) == [] for t, b in events)
    # DRBD's fence-peer handler on the survivor: weasel is down and fenced.
    res = _outdate_peer(c)
    assert res.returncode == 7, res
    assert "weasel is dead and was fenced" in res.stdout, res
    assert calls.read_text() == ""  # nothing could be asked of the powered-off peer
    # hbeat why (docs/journal.md): the death, then the fence with its plugin, then the starts
    death = [d for d in why_decisions(c["otter"]) if d["kind"] == "node-dead"][-1]
    assert death["cause"]["node"] == "weasel" and set(death["cause"]["detail"]["links"]) == {
        TTY, "eth1"}
    steps = [(s["kind"], s["detail"].get("plugin"), s["detail"].get("rc"))
             for s in death["steps"]]
    assert steps[0] == ("fence", c.type, 0), steps
    assert [k for k, _p, _r in steps[1:]] == ["script", "group"], steps


def test_broken_switch_starts_nothing_and_reports_it(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c = FencedCluster(lab)
    c.start()
    c.wait_state("weasel", "running")
    (c.power / "broken").touch()
    t_cut = c.cut()
    otter = c["otter"]
    wait_for(lambda: len([op for op in c.power_log() if op[1] == "otter"]) >= 3, 40,
             what="three failed fences from otter", describe=c.power_log)
    assert all(op[4] == "failed-broken" for op in c.power_log())
    assert c.records.find(node="otter", resource=GROUP, action="start", after=t_cut) == []
    assert c.state("weasel") == "running" and c.state("otter") == "stopped"
    log = otter.log()
    assert "ERROR: Host weasel not reset!" in log, c.log_tail("otter")
    assert "ERROR: STONITH of weasel failed.  Retrying..." in log
    status = _status(c, "otter")
    assert "STONITH devices: " + c.type in status, status
    row = next(line.split() for line in status.splitlines() if line.strip().startswith("weasel")
               and "bad" in line)
    assert row[1] in ("failed", "attempting") and row[3] == "bad", row
    snap = otter.snapshot()
    assert check_snapshot(snap, nodes=["otter", "weasel"], media=[TTY, "eth1"]) == []
    (peer,) = snap["resources"]["fencing"]["peers"]
    assert peer["node"] == "weasel" and peer["last_result"] == "bad" and peer["last_rc"] == 5
    assert [b["new"] for t, b in otter_feed(c) if t == "fence.weasel"][:3] == [
        "attempting", "failed", "attempting"]
    # The fence has not succeeded: DRBD's fence-peer handler gets 5, never 7.
    res = _outdate_peer(c)
    assert res.returncode == 5 and "weasel is dead" in res.stdout, res
    cl = otter.cl_status("rscstatus")
    assert cl.stdout.strip() == "local", cl  # its own (empty) set, not weasel's group
    assert otter.cl_status("nodestatus", "weasel").stdout.strip() == "dead"
    # The links come back: the fence is called off, nothing moves.
    c.restore()
    wait_for(lambda: "STONITH of weasel called off" in otter.log(), 30,
             what="the fence called off", describe=lambda: c.log_tail("otter"))
    n = len(c.power_log())
    wait_for(lambda: otter.node_states().get("weasel") == "active", 30, what="weasel active")
    assert c.state("weasel") == "running" and c.state("otter") == "stopped"
    assert len(c.power_log()) <= n + 1  # at most the call that was running
    assert c.records.overlaps() == []


def otter_feed(c: FencedCluster) -> list[tuple[str, dict[str, object]]]:
    c.feeds["otter"].drain()
    return c.feeds["otter"].events


def test_check_refuses_an_unknown_plugin(lab: Lab) -> None:
    c = FencedCluster(lab, fencing=False, extra=["stonith_host * external/hbeatlab-nosuch x y"])
    node = c["otter"]
    res = node.node.run([HBEAT, "check", "--config-dir", str(node.config_dir), "--node-name",
                         "otter"], check=False)
    assert res.returncode != 0, res
    assert "Invalid Stonith type [external/hbeatlab-nosuch]" in res.stdout + res.stderr


# --- start-up with every link down (docs/fencing.md, boot_takeover) ------------------


def _boot_otter_alone(c: FencedCluster) -> float:
    """weasel runs the group; otter's hbeat is stopped, the link cut (a serial cable
    cannot be unplugged here: its device would be missing), otter started:
    it never hears weasel. Returns when otter's initdead has passed."""
    c.start()
    c.wait_state("weasel", "running")
    c["otter"].stop()
    t_cut = c.cut()
    c.start(["otter"], wait=False)
    wait_for(lambda: c["otter"].node_states().get("weasel") == "dead", 30,
             what="otter declares weasel dead after initdead")
    return t_cut


def test_boot_alone_unfenced_waits_by_default(lab_factory: Callable[..., Lab]) -> None:
    c = FencedCluster(lab_factory(2), fencing=False, serial=False)
    t_cut = _boot_otter_alone(c)
    otter = c["otter"]
    wait_for(lambda: "not taking over any resource group" in otter.log(), 20,
             what="otter's boot_takeover CRIT", describe=lambda: c.log_tail("otter"))
    assert "CRIT: weasel is not heard and no STONITH device is configured" in otter.log()
    assert c.records.find(node="otter", action="start", after=t_cut) == []
    assert "start-up: waiting for the peer" in _status(c, "otter")
    # The administrator's explicit decision: weasel is down (its power switched off).
    lab = c.lab
    lab["weasel"].kill_all()
    c.records.crash("weasel")
    res = otter.node.run([HB_TAKEOVER, "all"], check=False, env={
        **os.environ, "HBEAT_RUNTIME_DIR": str(otter.runtime_dir)})
    assert res.returncode == 0, res
    c.wait_state("otter", "running", timeout=30)
    assert c.records.overlaps() == []


def test_boot_alone_initdead_takes_over_unfenced_as_heartbeat(
        lab_factory: Callable[..., Lab]) -> None:
    c = FencedCluster(lab_factory(2), fencing=False, serial=False,
                      extra=["boot_takeover initdead"])
    _boot_otter_alone(c)
    c.wait_state("otter", "running", timeout=30)
    assert "WARN: No STONITH device configured." in c["otter"].log()
    overlaps = c.records.overlaps()
    assert overlaps, "heartbeat's boot takeover runs the group on both nodes here"


def test_boot_alone_with_fencing_fences_first(lab_factory: Callable[..., Lab]) -> None:
    c = FencedCluster(lab_factory(2), serial=False)
    t_cut = _boot_otter_alone(c)
    c.wait_state("otter", "running", timeout=40)
    ops = c.power_log()
    assert [op[1:] for op in ops] == [["otter", "reset", "weasel", "ok"]], ops
    starts = c.records.find(node="otter", resource=GROUP, action="start", result="ok",
                            after=t_cut)
    assert starts[0].t > float(ops[0][0])
    assert c.records.overlaps() == []
