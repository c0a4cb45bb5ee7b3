"""A graceful stop stuck on a failed stop, without a watchdog (the unit's
TimeoutStopSec=infinity, tests/lab/daemon/test_systemd.py): hbeat keeps running
and keeps the group claimed, so otter never starts it, however long the wait;
a later SIGTERM (after the administrator fixed the service) retries the stop
and the shutdown completes with otter taking the group over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.harness import Lab, wait_for
from tests.lab.failover.cluster import DEADTIME_S, FailoverCluster
from tests.lab.failover.standins import steer, unsteer

from .test_watchdog import GROUP, HARESOURCES


def test_stuck_shutdown_keeps_the_group_until_the_stop_succeeds(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    c = FailoverCluster(lab, HARESOURCES, scripts=["Svc"], timers={"stop_retry_max": 0})
    c.start()
    c.wait_holders({GROUP: "weasel"})
    weasel = c["weasel"]
    steer(c.control, "weasel", GROUP, "stop", "fail")
    weasel.terminate()
    wait_for(lambda: "Shutdown cannot complete" in weasel.log(), 15,
             what="weasel's stuck shutdown")
    time.sleep(DEADTIME_S + 2)
    assert weasel.proc is not None and weasel.proc.alive()
    assert c.groups("otter")[GROUP] == "stopped"
    assert not c.records.find(node="otter", resource=GROUP, action="start")
    unsteer(c.control, "weasel", GROUP, "stop")
    weasel.terminate()
    assert weasel.wait_stopped() == 0
    c.wait_holders({GROUP: "otter"}, timeout=20)
