"""A real executor process and its liveness lease (hbeat/ipc/leasefile.py):
renewed before `ready`, from the turns of the loop that reads its bus, and
while idle; a setup without a usable lease file is refused by name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from hbeat.ipc.executor import EXECUTOR_LEASE_NS, EXECUTOR_RENEW_S
from tests.harness.waiting import wait_for
from tests.workers.executor.conftest import Tree
from tests.workers.executor.standin import StandIn, StandInError

Make = Callable[..., StandIn]


def test_a_ready_executor_holds_a_lease_of_15_s(standin: Make) -> None:
    before = time.monotonic_ns()
    ex = standin()  # returns once `ready` has arrived
    after = time.monotonic_ns()
    until = ex.lease.until_ns()
    assert before + EXECUTOR_LEASE_NS <= until <= after + EXECUTOR_LEASE_NS


def test_a_turn_for_a_message_renews_the_lease(tree: Tree, standin: Make) -> None:
    """Renewed by the loop that reads the bus (once EXECUTOR_RENEW_S / 16 has
    passed since the last renewal), not only when the idle wait runs out."""
    tree.script("Quick", "#!/bin/sh\nexit 0\n")
    ex = standin()
    first = ex.lease.until_ns()
    time.sleep(EXECUTOR_RENEW_S / 16 + 0.1)
    sent = time.monotonic_ns()
    assert ex.call("start", resource={"script": "Quick", "args": []})["rc"] == 0
    assert ex.lease.until_ns() >= sent + EXECUTOR_LEASE_NS > first


def test_an_idle_executor_renews_its_lease(standin: Make) -> None:
    """Nothing is sent to it: its loop still turns, within EXECUTOR_RENEW_S."""
    ex = standin()
    first = ex.lease.until_ns()
    wait_for(lambda: ex.lease.until_ns() > first, EXECUTOR_RENEW_S + 10,
             what="the idle executor to renew its lease")
    assert ex.inbox == [] and ex.proc.poll() is None


def test_a_setup_without_a_lease_is_refused(standin: Make) -> None:
    with pytest.raises(StandInError, match=r"fatal.*setup: 'lease' must be the path of the "
                                           r"executor's lease file, not None"):
        standin(lease=None)


def test_a_lease_that_is_not_one_is_refused(tree: Tree, standin: Make) -> None:
    wrong = tree.root / "wrong.lease"
    wrong.write_bytes(b"HBSEQBD4" + bytes(8))
    where = re.escape(str(wrong))
    with pytest.raises(StandInError,
                       match=rf"fatal.*setup: 'lease': lease file {where} starts with b'HBSEQBD4'"):
        standin(lease=str(wrong))
    missing = tree.root / "missing.lease"
    with pytest.raises(StandInError,
                       match=rf"fatal.*cannot open lease file {re.escape(str(missing))}"):
        standin(lease=str(missing))
