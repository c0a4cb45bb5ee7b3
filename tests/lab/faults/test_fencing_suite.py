"""The fencing fault suite: every path on which a live peer is wrongly declared dead,
with a real cluster-glue STONITH device, audited after each step.

The paths (tests/lab/faults/fencing_paths.py: a stalled supervisor, an
asymmetric partition, a partition, a boot with the links down, hb_takeover
during a partition) run once each in an order drawn from the seed
($HBEAT_FAULT_SEED, `CI_SEED` in CI) on a two-node cluster with the lab
power switch (tests/lab/fencing/lab.py). After each path the cluster must
settle and pass the fault suite's audits (tests/lab/faults/auditor.py); with
fencing no overlap of two holders is allowed at all. The run ends with one
summary line:

    fencing fault suite: seed S, fencing on, P paths injected, A audits run,
    M moments with a group on two nodes (T s), V violations found

`run_fencing_suite(..., fencing=False)` runs the same paths without a
STONITH device (heartbeat's unfenced takeover) and returns each path's
double-run window: bench/fencing_windows.py reports those (bench/README.md).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from tests.harness import Lab, WaitTimeout
from tests.lab.fencing.lab import FencedCluster

from .auditor import Auditor, Violation
from .fencing_paths import ALLOW, PATHS
from .injector import Ctx
from .test_fault_suite import _seed

SETTLE_S = 45.0


def run_fencing_suite(lab_factory: Callable[..., Lab], seed: int, *, fencing: bool,
                      only: list[str] | None = None, boot_takeover: str = "fenced",
                      rounds: int = 1) -> dict[str, list[float]]:
    """Run the paths (each `rounds` times); returns {path: [double-run seconds per run]}.
    With fencing, fails on any violation (an overlap included)."""
    rng = random.Random(seed)
    names = list(only or PATHS)
    sequence = [n for _ in range(rounds) for n in rng.sample(names, len(names))]
    mode = "on" if fencing else "off"
    print(f"\nfencing fault suite: seed {seed} (set HBEAT_FAULT_SEED to replay), fencing {mode}, "
          f"boot_takeover {boot_takeover}, plan {sequence}")
    lab = lab_factory(2)
    extra = [] if boot_takeover == "fenced" else [f"boot_takeover {boot_takeover}"]
    c = FencedCluster(lab, fencing=fencing, serial=False, extra=extra)
    auditor = Auditor(c)  # type: ignore[arg-type]
    t_start = time.monotonic()

    def note(text: str) -> None:
        print(f"  [{time.monotonic() - t_start:6.1f}s] {text}")

    c.start()
    auditor.settle(SETTLE_S)
    violations: list[Violation] = auditor.audit("start-up", allow=())
    windows: dict[str, list[float]] = {}
    moments = 0
    injected = 0
    for i, name in enumerate(sequence, 1):
        step = f"step {i}/{len(sequence)} {name}"
        note(step)
        t0 = time.time()
        before = len(c.records.overlaps())
        try:
            injected += 1
            outcome = PATHS[name](c, rng, Ctx(settle=auditor.settle, note=note))
            if not fencing:
                auditor.split_windows.append((t0, time.time()))
            auditor.settle(SETTLE_S)
        except WaitTimeout as exc:
            violations.append(Violation(step, "settle", str(exc)))
            break
        moments += len(c.records.overlaps()) - before
        windows.setdefault(name, []).append(outcome.window)
        note(f"{name}: fenced {outcome.fenced or 'nobody'}, double run {outcome.window:.3f} s")
        violations += [Violation(step, "path", text) for text in outcome.checks]
        violations += auditor.audit(step, allow=ALLOW)
        if violations:
            break
    total = sum(sum(w) for w in windows.values())
    summary = (f"fencing fault suite: seed {seed}, fencing {mode}, {injected} paths injected, "
               f"{auditor.audits_run} audits run, {moments} moments with a group on two nodes "
               f"({total:.3f} s), {len(violations)} violations found")
    print(summary)
    if violations:
        for v in violations:
            print(f"VIOLATION {v}")
        for name in c.names:
            print(f"--- {name} log tail ---\n{c.log_tail(name, 60)}")
    assert not violations, summary + "\n" + "\n".join(map(str, violations))
    if fencing:
        assert moments == 0 and total == 0.0, summary
    return windows


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fencing_fault_suite(lab_factory: Callable[..., Lab]) -> None:
    only = [n.strip() for n in os.environ.get("HBEAT_FAULT_ONLY", "").split(",")
            if n.strip() in PATHS] or None
    run_fencing_suite(lab_factory, _seed(), fencing=True, only=only)
