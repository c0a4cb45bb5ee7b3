"""bench/run_all.py and bench/cluster/report.py: each phase keeps the
durations it was measured with, so a `--merge` run of other phases does not
relabel it (the README once said "attack 20 s per step" of a 60 s run)."""

from __future__ import annotations

import argparse

from bench.cluster import report
from bench.run_all import merge_base, phase_durations


def test_each_phase_keeps_its_own_durations_through_a_merge() -> None:
    args = argparse.Namespace(duration=120.0, cost_duration=60.0, false_death_duration=600.0,
                              reps=20, attack_window=60.0, ops_reps=5)
    old = {"meta": {"date": "d0", "command": "c0", "machine": "m", "load": {}, "tstamp": "t",
                    "phases": {"attack": {"date": "d0", "command": "c0",
                                          "durations": phase_durations("attack", args)}}},
           "jitter": {}, "false_deaths": {}, "failover": {}, "cost": {}}
    merged = merge_base(old, {"date": "d1", "command": "c1", "machine": "m", "load": {},
                              "tstamp": "t"})
    merged["meta"]["phases"]["idle"] = {
        "date": "d1", "command": "c1",
        "durations": phase_durations("idle", argparse.Namespace(**{**vars(args),
                                                                   "attack_window": 20.0}))}
    text = report.render(merged)
    assert ("- Durations used: attack: 60 s per step; idle: jitter 120 s per condition, "
            "cost 60 s\n") in text
