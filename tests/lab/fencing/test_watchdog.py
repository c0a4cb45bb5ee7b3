"""The `watchdog` directive on real nodes, with the harness' stand-in device.

weasel runs the group `Svc::w` (a recording stand-in) and has `watchdog
<lab>/weasel.watchdog`, a FIFO read by tests/harness/watchdog.py, which
"powers weasel off" (kill -9 of everything on the node, /run emptied, a
crash record) when no byte came for the timeout hbeat derives from deadtime
(deadtime 4 s - keepalive 0.5 s -> 3 s).

* A supervisor stopped (SIGSTOP) past the watchdog timeout gets its node
  reset, and otter starts the group only after that reset.
* A clean stop writes the magic close character: the stand-in is disarmed
  and never resets the node.
* A stop that fails for good during a graceful shutdown, with a watchdog:
  the node stops feeding it and is reset (heartbeat reboots); otter then
  takes the group over, never while weasel may still run it.
* A `failfast` client that dies: weasel releases its group and is reset.
* (The clean-stop test also has a `respawn` client: started with the
  daemon, stopped with it.)
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from tests.harness import Lab, wait_for
from tests.harness.watchdog import WatchdogStandin
from tests.lab.failover.cluster import FailoverCluster
from tests.lab.failover.standins import steer

HARESOURCES = "weasel Svc::w\n"
GROUP = "Svc::w"
TIMEOUT_S = 3  # hbeat.config.fencing.watchdog_timeout_s for deadtime 4 s, keepalive 500 ms


def cluster_with_watchdog(lab: Lab, extra: tuple[str, ...] = (),
                          **timers: float) -> tuple[FailoverCluster, WatchdogStandin]:
    c = FailoverCluster(lab, HARESOURCES, scripts=["Svc"], timers=timers or None)
    weasel = c["weasel"]
    dog = WatchdogStandin(lab["weasel"], lab.dir / "weasel.watchdog", TIMEOUT_S,
                          wipe=weasel.node.host_path("/run"),
                          keep=[p.rsplit("/", 1)[-1] for p in weasel.ttys],
                          events=c.records.path)
    hacf = weasel.config_dir / "ha.cf"
    hacf.write_text(hacf.read_text() + "".join(f"{line}\n" for line in
                                               (f"watchdog {dog.path}", *extra)))
    c.start()
    c.wait_holders({GROUP: "weasel"})
    log = weasel.log()
    assert f"Using watchdog device: {dog.path}" in log
    assert f"WDIOC_SETTIMEOUT: Failed to set watchdog timer to {TIMEOUT_S} seconds" in log
    assert dog.first("armed") is not None
    return c, dog


def otter_started_group(c: FailoverCluster) -> float:
    starts = c.records.find(node="otter", resource=GROUP, action="start", result="ok")
    assert starts, "otter never started the group"
    return starts[0].t


def test_hung_supervisor_is_reset_before_the_peer_takes_over(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c, dog = cluster_with_watchdog(lab)
    weasel = c["weasel"]
    stopped_at = time.time()
    assert weasel.proc is not None
    os.kill(weasel.proc.pid, signal.SIGSTOP)
    reset_at = wait_for(lambda: dog.first("reset"), 15, what="the watchdog reset of weasel")
    assert reset_at - stopped_at >= TIMEOUT_S - 0.5  # it was fed until the SIGSTOP
    assert weasel.proc is not None
    weasel.proc.popen.wait(10)  # killed by the reset
    c.wait_holders({GROUP: "otter"}, timeout=20)  # audit: never on both nodes
    assert otter_started_group(c) > reset_at
    assert "Watchdog" not in c["otter"].log()  # otter has no watchdog line


def test_clean_stop_writes_the_magic_character(lab_factory: Callable[..., Lab]) -> None:
    """(weasel also has a `respawn` client: started with the daemon, stopped with it.)"""
    lab = lab_factory(2)
    client = lab.dir / "client.sh"
    pids = lab.dir / "client.pids"
    client.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 600\n")
    client.chmod(0o755)
    c, dog = cluster_with_watchdog(lab, extra=(f"respawn root {client} -x",))
    weasel = c["weasel"]
    wait_for(lambda: pids.exists() and pids.read_text().strip(), 10, what="the respawn client")
    pid = int(pids.read_text().split()[0])
    assert f'Starting child client "{client} -x" (0,0)' in weasel.log()
    weasel.terminate()
    assert weasel.wait_stopped() == 0
    assert dog.first("magic-close") is not None
    assert "magic close" in weasel.log()
    assert f"killing {client} -x process group {pid} with signal 15" in weasel.log()
    assert not os.path.exists(f"/proc/{pid}")
    c.wait_holders({GROUP: "otter"}, timeout=20)
    time.sleep(TIMEOUT_S + 1)  # past the timeout: a disarmed watchdog stays quiet
    assert dog.first("reset") is None and dog.first("closed-without-V") is None


def test_failed_stop_at_shutdown_resets_through_the_watchdog(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c, dog = cluster_with_watchdog(lab, stop_retry_max=0)
    weasel = c["weasel"]
    steer(c.control, "weasel", GROUP, "stop", "fail")
    weasel.terminate()
    reset_at = wait_for(lambda: dog.first("reset"), 20, what="the watchdog reset of weasel")
    assert "Svc::w: stop failed: no longer feeding watchdog" in weasel.log()
    c.wait_holders({GROUP: "otter"}, timeout=20)
    assert otter_started_group(c) > reset_at


def test_failfast_client_death_resets_through_the_watchdog(
        lab_factory: Callable[..., Lab]) -> None:
    """A `failfast` client that dies: heartbeat reboots; hbeat releases its groups
    and resets through the watchdog."""
    lab = lab_factory(2)
    client = lab.dir / "failfast.sh"
    trigger = lab.dir / "die-now"
    client.write_text(f"#!/bin/sh\nwhile [ ! -e {trigger} ]; do sleep 0.2; done\nexit 3\n")
    client.chmod(0o755)
    c, dog = cluster_with_watchdog(lab, extra=(f"failfast root {client}",))
    weasel = c["weasel"]
    assert f'Starting child client "{client}" (0,0)' in weasel.log()
    trigger.touch()
    reset_at = wait_for(lambda: dog.first("reset"), 20, what="the watchdog reset of weasel")
    log = weasel.log()
    assert f"ERROR: Client {client} exited with return code 3." in log
    assert f"CRIT: Self-fencing: failfast client {client} died." in log
    # weasel released the group at once (stop, then shutdone: otter took it over
    # before the reset, never while weasel ran it: wait_holders audits that).
    c.wait_holders({GROUP: "otter"}, timeout=20)
    (stop,) = c.records.find(node="weasel", resource=GROUP, action="stop", result="ok")
    assert stop.t < otter_started_group(c) and stop.t < reset_at
