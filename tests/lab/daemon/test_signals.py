"""Signals to a running daemon that holds a resource group (supervisor/signals.py).

otter and weasel run hbeat, weasel holds a group of recording stand-ins
(tests/lab/failover/cluster.py). The reload is what the unit's
`ExecReload=/bin/kill -HUP $MAINPID` does: `/bin/kill -HUP <supervisor pid>`
run on the node.

* SIGHUP with new authkeys and timers on both nodes: both daemons stay up,
  the group stays on weasel with no stop or start recorded, the new
  deadtime shows in `cl_status hbparameter`, a frame signed with the old key
  is now rejected while the peer's frames (new key) keep arriving.
* SIGHUP with a configuration `hbeat check` refuses: the problem is in the
  log, the running configuration is kept; a change that needs a restart
  (udpport) is named and nothing is applied.
* SIGHUP with a new logfile: the lines that follow go there.
* USR1/USR2 move the debug level (`debug now set to N`); `cl_status
  hbparameter -p debug` keeps showing ha.cf's value, as heartbeat's does.
  HUP, USR1, USR2, INT and PIPE sent to the link worker and the executor end
  neither; INT to the supervisor is the graceful stop (the group moves to
  otter), where heartbeat ignores it (README, "Signals").
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import linklayer
from linklayer.message import STRING
from tests.harness import Lab, LogWatcher, authkeys_text, ha_cf, wait_for
from tests.lab.cluster.attack import keyring, send_udp
from tests.lab.cluster.clusters import TIMINGS
from tests.lab.failover.cluster import FailoverCluster

pytestmark = [pytest.mark.root]

GROUP = "drbddisk::r0"
HARESOURCES = "weasel drbddisk::r0 apache\n"
SCRIPTS = ("drbddisk", "apache")
OLD_SECRET = "2d5c8f0e9b7a41c3"  # the seed's (tests/hbeat/config/seed.py)
NEW_KEYS = authkeys_text("sha1", "a-brand-new-secret", index=2)
NEW_LOG = "/var/log/ha-log.new"


def hacf(**changes: Any) -> str:
    """The cluster's ha.cf (tests/lab/failover/cluster.py) with `changes`."""
    return ha_cf(["otter", "weasel"], **{**TIMINGS, **changes}, media=["bcast eth1"],
                 auto_failback="off")


def supervisor_pid(c: FailoverCluster, name: str) -> int:
    return int(c[name].snapshot()["pid"])


def kill(c: FailoverCluster, name: str, sig: str, pid: int | None = None) -> None:
    """`/bin/kill -SIG pid` on the node (the supervisor by default), as ExecReload does."""
    target = supervisor_pid(c, name) if pid is None else pid
    res = c[name].node.run(["/bin/kill", f"-{sig}", str(target)], check=False)
    assert res.returncode == 0, res


def parameter(c: FailoverCluster, name: str, param: str) -> str:
    res = c[name].cl_status("hbparameter", "-p", param)
    assert res.returncode == 0, res
    return res.stdout.strip()


def no_group_moves(c: FailoverCluster, since: float) -> None:
    moves = [r for r in c.records.find(after=since) if r.action in ("start", "stop")]
    assert moves == [], f"resource scripts ran start/stop: {moves}"
    assert c.groups("weasel")[GROUP] == "running"


def old_key_frame() -> bytes:
    """A message signed with the old key (its content never matters: a frame
    that fails authentication is dropped before it is read)."""
    fields = [(b"t", STRING, b"hbeat-test"), (b"src", STRING, b"otter")]
    return linklayer.encode_netstring(fields, keyring("sha1", OLD_SECRET))


@pytest.mark.slow
def test_sighup_applies_keys_and_timers_and_refuses_bad_configurations(lab: Lab) -> None:
    c = FailoverCluster(lab, HARESOURCES, scripts=SCRIPTS)
    c.start()
    c.wait_holders({GROUP: "weasel"})
    pids = {n: supervisor_pid(c, n) for n in c.names}
    t0 = time.time()

    # --- good: new keys and new timers on both nodes --------------------------
    watch = {n: c[n].log_watcher() for n in c.names}
    for name in c.names:
        (c[name].config_dir / "authkeys").write_text(NEW_KEYS)
        (c[name].config_dir / "ha.cf").write_text(hacf(keepalive="1", deadtime="6"))
    for name in c.names:
        kill(c, name, "HUP")
    for name in c.names:
        watch[name].wait(r"info: Rereading authentication file\.", timeout=10)
        watch[name].wait(r"info: deadtime now 6000 ms \(was 4000 ms\)\.", timeout=5)
        watch[name].wait(r"info: New configuration in effect: authkeys, keepalive, deadtime",
                         timeout=5)
        assert parameter(c, name, "deadtime") == "6"
        assert parameter(c, name, "keepalive") == "1"
    # Both on the new key: frames flow and nothing is rejected any more (the
    # first frames let the link worker take its new keys in first).
    def received() -> int:  # forwarded frames and quiet keepalives (docs/processes.md)
        now = c["weasel"].counters()
        return now["rx_frames"] + now["rx_quiet"]

    first = received()
    wait_for(lambda: received() >= first + 3, 15,
             what="weasel to receive frames signed with the new key")
    base = c["weasel"].counters()
    handled = received()
    wait_for(lambda: received() >= handled + 6, 15,
             what="weasel to receive 6 more frames signed with the new key")
    assert c["weasel"].counters()["rx_rejected"] == base["rx_rejected"]
    assert c["weasel"].node_states() == {"otter": "active", "weasel": "active"}
    # A frame signed with the old key is rejected now.
    send_udp(c["otter"].node, lab["weasel"].ip, [old_key_frame()])
    wait_for(lambda: c["weasel"].counters()["rx_rejected"] == base["rx_rejected"] + 1, 10,
             what="weasel to reject the frame signed with the old key",
             describe=lambda: c["weasel"].counters())

    # --- bad: `hbeat check` refuses it; the running configuration stays -------
    (c["weasel"].config_dir / "ha.cf").write_text(
        hacf(keepalive="1", deadtime="6") + "bogus_directive on\n")
    kill(c, "weasel", "HUP")
    watch["weasel"].wait(r"ERROR: .*/ha\.cf:\d+: Illegal directive \[bogus_directive\]",
                         timeout=10)
    watch["weasel"].wait(r"ERROR: Configuration error \(1 error, see `hbeat check`\): new "
                         r"configuration refused, running configuration kept\.", timeout=5)
    assert parameter(c, "weasel", "deadtime") == "6"

    # --- a change that needs a restart: named, nothing applied ----------------
    (c["weasel"].config_dir / "ha.cf").write_text(
        hacf(keepalive="1", deadtime="8", initdead="10", udpport=695))
    kill(c, "weasel", "HUP")
    watch["weasel"].wait(r"WARN: udpport cannot change without a restart \(running "
                         r"configuration kept\)", timeout=10)
    watch["weasel"].wait(r"WARN: Not applied either: deadtime, initdead", timeout=5)
    assert parameter(c, "weasel", "deadtime") == "6"
    assert parameter(c, "weasel", "udpport") == "694"

    # --- nothing changed --------------------------------------------------------
    (c["weasel"].config_dir / "ha.cf").write_text(hacf(keepalive="1", deadtime="6"))
    kill(c, "weasel", "HUP")
    watch["weasel"].wait(r"info: Configuration unchanged\.", timeout=10)

    assert {n: supervisor_pid(c, n) for n in c.names} == pids
    assert c["weasel"].node_states() == {"otter": "active", "weasel": "active"}
    no_group_moves(c, t0)
    c.audit({GROUP: "weasel"})


@pytest.mark.slow
def test_debug_signals_and_stray_signals_to_workers(lab: Lab) -> None:
    c = FailoverCluster(lab, HARESOURCES, scripts=SCRIPTS)
    c.start()
    c.wait_holders({GROUP: "weasel"})
    t0 = time.time()
    # A new logfile applies live: what follows the reload goes there.
    old_log = c["weasel"].log_watcher()
    (c["weasel"].config_dir / "ha.cf").write_text(
        hacf().replace("logfile /var/log/ha-log\n", f"logfile {NEW_LOG}\n"))
    kill(c, "weasel", "HUP")
    old_log.wait(r"info: logfile changed: applied\.", timeout=10)
    watch = LogWatcher(c["weasel"].node.host_path(NEW_LOG), from_start=True)
    watch.wait(r"info: New configuration in effect: logfile\.", timeout=10)
    levels = []
    for sig in ("USR1", "USR1", "USR2", "USR2", "USR2"):
        kill(c, "weasel", sig)
        levels.append(int(watch.wait(r"info: debug now set to (\d+) \[pid \d+\]",
                                     timeout=10).group(1)))
    assert levels == [1, 2, 1, 0, 0]
    assert old_log.poll(r"debug now set to") is None
    assert parameter(c, "weasel", "debug") == "0"  # ha.cf's value, as heartbeat shows it

    workers = {w["name"]: w for w in c["weasel"].snapshot()["workers"]}
    assert set(workers) == {"bcast eth1", "executor"}, workers
    for worker in workers.values():
        for sig in ("HUP", "USR1", "USR2", "INT", "PIPE"):
            kill(c, "weasel", sig, pid=worker["pid"])
    kill(c, "weasel", "PIPE")
    time.sleep(1.0)  # a worker that died of one would be seen dead and restarted by now
    after = {w["name"]: w for w in c["weasel"].snapshot()["workers"]}
    assert {n: (w["pid"], w["state"], w["restarts"]) for n, w in after.items()} == {
        n: (w["pid"], "running", w["restarts"]) for n, w in workers.items()}
    no_group_moves(c, t0)

    # INT to the supervisor: the graceful stop (Ctrl-C of `hbeat run`).
    kill(c, "weasel", "INT")
    assert c["weasel"].wait_stopped(timeout=30) == 0
    c.wait_holders({GROUP: "otter"})
    stops = c.records.find(node="weasel", action="stop", result="ok", after=t0)
    assert [r.resource for r in stops] == ["apache", "drbddisk::r0"]
