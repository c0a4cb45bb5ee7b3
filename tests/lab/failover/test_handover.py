"""Graceful stop (SIGTERM to the holder's supervisor) hands the group over with
no moment at which two nodes hold it, checked from the scripts' timestamps
over HANDOVERS handovers back and forth (`auto_failback off`, so a restarted
node leaves the group where it is until its own holder is stopped)."""

from __future__ import annotations

import time

import pytest

from tests.harness import Lab
from tests.hbeat.config.seed import SEED_HARESOURCES, SEED_SCRIPTS

from .cluster import FailoverCluster

GROUP = "drbddisk::r0"
HANDOVERS = 10


@pytest.mark.slow
def test_graceful_stop_hands_over_without_overlap(lab: Lab) -> None:
    c = FailoverCluster(lab, SEED_HARESOURCES, scripts=SEED_SCRIPTS)
    c.start()
    c.wait_holders({GROUP: "weasel"})
    holder, other = "weasel", "otter"
    times = []
    for n in range(HANDOVERS):
        mark = len(c[holder].log())
        t_term = time.time()
        c[holder].terminate()
        # It exits once the peer confirmed the takeover (or after shutdown_wait_ms,
        # which the log check below rules out); until then its control socket may
        # already be closed, so the snapshots are read once it is gone.
        assert c[holder].wait_stopped(30) == 0, c.log_tail(holder)
        c.wait_holders({GROUP: other}, timeout=30)
        stops = c.records.find(node=holder, action="stop", result="ok", after=t_term)
        starts = c.records.find(node=other, action="start", result="ok", after=t_term)
        assert len(stops) == 5 and len(starts) == 5, (n, stops, starts)
        assert stops[-1].t < starts[0].t, f"handover {n}: {other} started before {holder} " \
                                          f"had stopped: {stops} {starts}"
        times.append((starts[-1].t - t_term, starts[0].t - stops[-1].t))
        log = c[holder].log()[mark:]
        assert "Waiting to allow resource takeover to complete" in log
        assert "No takeover confirmation" not in log
        c.start([holder])
        c.wait_holders({GROUP: other}, timeout=30)
        holder, other = other, holder
    assert not c.records.overlaps(), c.records.overlaps()
    worst = max(t for t, _ in times)
    gaps = [g for _, g in times]
    print(f"\n{HANDOVERS} handovers: SIGTERM -> last start on the peer at most {worst:.2f} s; "
          f"down time between last stop and first start {min(gaps):.3f}-{max(gaps):.3f} s")
