"""A seeded random sequence of faults on a running hbeat cluster, audited after each step.

The seed is printed and can be set with $HBEAT_FAULT_SEED (CI uses
`CI_SEED`); $HBEAT_FAULT_STEPS sets the number of faults (default: every
fault but KNOWN_BUGS once, under three minutes) and $HBEAT_FAULT_ONLY (comma-separated
fault names) restricts the plan, for reproducing one fault. After every
step the cluster must settle (deadline-based) and pass every audit of
tests/lab/faults/auditor.py. The run ends with one summary line:

    fault suite: seed S, F faults injected, A audits run, V violations found

and fails when V > 0, printing each violation with its step and both nodes'
log tails.

A fault that finds a daemon bug not fixed yet goes in injector.KNOWN_BUGS:
out of the default plan, reproduced by its own strict-xfail test. (The one
found so far, a SIGSTOP longer than deadtime, is fixed; its reproducer is the
regular test at the end of this file.)

Runs on three nodes: otter and weasel, joined by eth1 and a serial cable,
each home to one group, and ferret on eth1, a member only (groups fail over
within the haresources pair: see tests/lab/faults/cluster.py); NODES is the one
place that sets the count.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from tests.harness import Lab, WaitTimeout

from .auditor import Auditor, Violation
from .cluster import FaultCluster, group_of
from .injector import FAULTS, Ctx, default_faults, plan

NODES = 3
CI_SEED = 20261125
SETTLE_S = 40.0


def _seed() -> int:
    text = os.environ.get("HBEAT_FAULT_SEED")
    if text is None or text == "":
        return CI_SEED if os.environ.get("CI") == "true" else random.SystemRandom().randrange(
            1, 2**31)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"$HBEAT_FAULT_SEED: expected an integer, got {text!r}") from None


def _steps() -> int:
    text = os.environ.get("HBEAT_FAULT_STEPS", "")
    if not text:
        return len(default_faults())
    try:
        steps = int(text)
    except ValueError:
        raise ValueError(f"$HBEAT_FAULT_STEPS: expected an integer, got {text!r}") from None
    if steps < 1:
        raise ValueError(f"$HBEAT_FAULT_STEPS: expected at least 1, got {steps}")
    return steps


def _only() -> list[str] | None:
    text = os.environ.get("HBEAT_FAULT_ONLY", "")
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(f"$HBEAT_FAULT_ONLY: unknown faults {unknown}; known: {sorted(FAULTS)}")
    return names


def run_suite(lab_factory: Callable[..., Lab], seed: int, steps: int,
              only: list[str] | None) -> None:
    """Inject the seeded plan, settle and audit after each step, print the
    summary line; fails on the first step with violations."""
    rng = random.Random(seed)
    sequence = plan(rng, steps, only)
    print(f"\nfault suite: seed {seed} (set HBEAT_FAULT_SEED to replay), plan {sequence}")
    lab = lab_factory(NODES)
    names = list(lab.nodes)
    cable = lab.serial_cable(names[0], names[1])
    c = FaultCluster(lab, names, cable)
    auditor = Auditor(c)
    violations: list[Violation] = []
    t_start = time.monotonic()

    def note(text: str) -> None:
        print(f"  [{time.monotonic() - t_start:6.1f}s] {text}")

    c.start()
    auditor.settle(SETTLE_S)
    violations += auditor.audit("start-up", allow=())
    homes = {group_of(n): n for n in c.pair}
    by_home = {g: c[homes[g]].group_states().get(g) for g in c.groups}
    if any(s != "running" for s in by_home.values()):
        violations.append(Violation("start-up", "holders", f"groups not on their homes: {by_home}"))

    injected = 0
    for i, fault_name in enumerate(sequence, 1):
        step = f"step {i}/{len(sequence)} {fault_name}"
        note(step)
        ctx = Ctx(settle=auditor.settle, note=note)
        try:
            injected += 1
            outcome = FAULTS[fault_name](c, rng, ctx)
            if outcome.split_window is not None:
                auditor.split_windows.append(outcome.split_window)
            auditor.settle(SETTLE_S)
        except WaitTimeout as exc:
            violations.append(Violation(step, "settle", str(exc)))
            break
        violations += [Violation(step, "fault", text) for text in outcome.checks]
        violations += auditor.audit(step, allow=outcome.allow)
        if violations:
            break

    summary = (f"fault suite: seed {seed}, {injected} faults injected, "
               f"{auditor.audits_run} audits run, {len(violations)} violations found")
    print(summary)
    if violations:
        for v in violations:
            print(f"VIOLATION {v}")
        for name in names:
            print(f"--- {name} log tail ---\n{c.log_tail(name, 60)}")
    assert not violations, summary + "\n" + "\n".join(map(str, violations))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fault_suite(lab_factory: Callable[..., Lab]) -> None:
    run_suite(lab_factory, _seed(), _steps(), _only())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigstop_longer_than_deadtime_converges(lab_factory: Callable[..., Lab]) -> None:
    """The known bug, reproduced on its own (strict: it fails the run once fixed,
    so the fault can go back into the default plan)."""
    run_suite(lab_factory, CI_SEED, 1, ["sigstop_long"])
