"""Double-run windows of the wrongly-declared-dead paths, with and without STONITH.

    .venv/bin/python bench/fencing_windows.py [--rounds N] [--seed S]

Runs the fencing fault suite's paths (tests/lab/faults/fencing_paths.py: a
stalled supervisor, an asymmetric partition, a partition, a boot with the
links down, hb_takeover during a partition) on a two-node hbeat lab
cluster, `--rounds` times each, in three settings: no STONITH device with
hbeat's default `boot_takeover fenced`, no STONITH device with `boot_takeover
initdead` (heartbeat's start-up), and the lab power switch (tests/lab/fencing/
lab.py), then on real heartbeat 3.0.6 without STONITH in the same lab
(bench/cluster/hb_fencing.py; `--no-heartbeat` skips it). For each path it
prints the double-run window (the time the stand-ins' records show the
group running on both nodes) as a markdown
table for bench/README.md, and writes bench/cluster/results/fencing.json.
Needs root (network namespaces) and cluster-glue.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cluster.hb_fencing import run_heartbeat_paths  # noqa: E402
from tests.harness import Lab  # noqa: E402
from tests.lab.faults.fencing_paths import PATHS  # noqa: E402
from tests.lab.faults.test_fencing_suite import run_fencing_suite  # noqa: E402

RESULTS = ROOT / "bench" / "cluster" / "results" / "fencing.json"
SETTINGS = (
    ("hbeat, no STONITH (boot_takeover fenced)", False, "fenced"),
    ("hbeat, no STONITH (boot_takeover initdead)", False, "initdead"),
    ("hbeat, lab STONITH", True, "fenced"),
)


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {sum(values) / len(values):.2f} / {max(values):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--no-heartbeat", action="store_true", help="skip heartbeat 3.0.6")
    ap.add_argument("--heartbeat-only", action="store_true", help="only heartbeat 3.0.6")
    args = ap.parse_args()
    labs: list[Lab] = []

    def factory(*a: Any, **kw: Any) -> Lab:
        lab = Lab(*a, **kw)
        labs.append(lab)
        return lab.start()

    results: dict[str, dict[str, list[float]]] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for label, fencing, boot in [] if args.heartbeat_only else SETTINGS:
        try:
            results[label] = run_fencing_suite(factory, args.seed, fencing=fencing,
                                               boot_takeover=boot, rounds=args.rounds)
        finally:
            while labs:
                labs.pop().close()
    hb_label = "heartbeat 3.0.6, no STONITH"
    if not args.no_heartbeat:
        lab = factory(2)
        try:
            hb = run_heartbeat_paths(lab, args.seed, args.rounds)
        finally:
            while labs:
                labs.pop().close()
        results[hb_label] = {k: [o.window for o in v] for k, v in hb.items()}
        results[hb_label + ", not converged (1) or converged (0)"] = {
            k: [float(not o.converged) for o in v] for k, v in hb.items()}
        unconverged = [k for k, v in hb.items() if not all(o.converged for o in v)]
        if unconverged:
            print(f"heartbeat did not converge after: {unconverged}")
    if args.heartbeat_only and RESULTS.exists():
        earlier = json.loads(RESULTS.read_text())["windows"]
        results = {**{k: v for k, v in earlier.items() if not k.startswith("heartbeat")},
                   **results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": started, "rounds": args.rounds, "seed": args.seed,
                                   "windows": results}, indent=1) + "\n")
    print(f"\nDouble-run window per path, seconds (min / mean / max of {args.rounds} runs), "
          f"{started}:\n")
    labels = list(results)
    print("| path | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for path in PATHS:
        cells = [_stats(results[label].get(path, [])) for label in labels]
        print(f"| {path} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
