"""An idle node's supervisor sleeps: its lease is kept renewed from inside its wait
(docs/processes.md, "The lease kept while waiting"), so its loop turns only for what is
due (the status snapshot, the peers' deadlines), not once a renewal, and its keepalives
never stop.

Two nodes of the seed configuration's timers (keepalive 1 s, deadtime 10 s: a lease of
2 s renewed every second); the lease is read off the node's own sequence board, as its
link workers read it, every 50 ms over 20 s."""

from __future__ import annotations

import time
from collections.abc import Callable

from hbeat.ipc.seqboard import SeqBoard
from supervisor.rundir import PRIVATE
from tests.harness import Lab
from tests.lab.daemon.cluster import Cluster

SEED_TIMERS = {"keepalive": "1", "deadtime": "10", "warntime": "5", "initdead": "20"}
WINDOW_S = 20.0


def test_an_idle_supervisor_keeps_its_lease_without_turning_for_it(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    cluster = Cluster(lab, SEED_TIMERS).start()
    cluster.wait_all_active()
    otter, weasel = cluster["otter"], cluster["weasel"]
    for node in (otter, weasel):  # past start-up's own turns
        node.log_watcher(from_start=True).wait(r"info: Initial resource acquisition complete",
                                               timeout=30)
    board = SeqBoard.attach(otter.runtime_dir / PRIVATE / "seqboard")
    try:
        time.sleep(1.0)
        turns0 = otter.counters()["loop_turns"]
        heard0 = weasel.counters()
        renewals = set()
        lapsed = []
        end = time.monotonic() + WINDOW_S
        while time.monotonic() < end:
            lease = board.read().lease_ns
            now = time.monotonic_ns()
            if lease <= now:
                lapsed.append((now - lease) / 1e6)
            renewals.add(lease)
            time.sleep(0.05)
        turns = otter.counters()["loop_turns"] - turns0
        print(f"otter's loop: {turns} turns in {WINDOW_S} s")
        heard1 = weasel.counters()
    finally:
        board.close()
    assert lapsed == [], f"otter's lease lapsed (ms past it): {lapsed}"
    # Renewed about once a second: a loop that turned for each renewal would have
    # turned at least once a second, plus for everything below. What turns it: the
    # snapshot (every 8-10 s), the peer's acks every 10 keepalives (one per medium,
    # so about 4 in 20 s), this test's own two queries (up to two turns each): about
    # 8-11 in all. The bound sits between the two.
    assert len(renewals) >= WINDOW_S - 2, sorted(renewals)
    assert turns <= 0.75 * WINDOW_S, f"otter's loop turned {turns} times in {WINDOW_S} s"
    received = (heard1["rx_frames"] + heard1["rx_quiet"]
                - heard0["rx_frames"] - heard0["rx_quiet"])
    # Two media, a keepalive a second on each (weasel's own bcast echoes too).
    assert received >= 2 * (WINDOW_S - 2), (heard0, heard1)
    assert {n["name"]: n["status"] for n in weasel.snapshot()["nodes"]} == {
        "otter": "active", "weasel": "active"}
