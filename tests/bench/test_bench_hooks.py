"""The daemon hooks the cluster benchmarks rely on, on a live `hbeat run`:
`realtime on` puts the link worker in SCHED_FIFO with its memory locked on fault,
`realtime off` leaves it SCHED_OTHER with a 100 us slice and 1 ns timer slack (the
supervisor has the slice too, and a 5 us timer slack), and
the `debug-stall` control command blocks the supervisor's loop only when the
daemon runs with HBEAT_DEBUG=1 (refused with a clear error otherwise)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hbeat.control import ControlClient, ControlErrno, ControlError
from supervisor.daemon import TIMER_SLACK_NS
from tests.harness import Lab, authkeys_text, ha_cf, wait_for
from tests.harness.hbeatnode import HbeatConfig, HbeatNode
from tests.harness.requirements import require_kernel_sched_slice

pytestmark = pytest.mark.root


def start_otter(lab_factory: Callable[..., Lab], extra: list[str],
                env: dict[str, str]) -> HbeatNode:
    lab = lab_factory(2)
    hacf = ha_cf(["otter", "weasel"], keepalive="1", deadtime="10", warntime="5",
                 initdead="20", media=["bcast eth1"], extra=extra)
    node = HbeatNode(lab["otter"], HbeatConfig(hacf, authkeys_text("sha1", "secret"), env=env))
    return node.start()


def link_worker(node: HbeatNode) -> int:
    def find() -> int | None:
        for pid in node.pids():
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"hbeat: bcast eth1"):
                return pid
        return None

    return wait_for(find, 15, what="the bcast eth1 worker", describe=node.node.describe_processes)


def locked_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmLck in /proc/{pid}/status")


def ticker_thread(pid: int) -> int:
    """The link worker's keepalive thread (linklayer.ticker: named hb-ticker)."""
    def find() -> int | None:
        for task in Path(f"/proc/{pid}/task").iterdir():
            if (task / "comm").read_text().strip() == "hb-ticker":
                return int(task.name)
        return None

    return wait_for(find, 15, what=f"the keepalive thread of {pid}")


def sched_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/sched").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return int(value.split(".")[0])
    raise AssertionError(f"no {name} in /proc/{pid}/sched")


def test_realtime_off_and_debug_stall_refused_without_hbeat_debug(
        lab_factory: Callable[..., Lab]) -> None:
    node = start_otter(lab_factory, ["realtime off"], {"HBEAT_DEBUG": "0"})
    worker = link_worker(node)
    client = ControlClient(node.runtime_dir, timeout_ms=5000)
    wait_for(lambda: any(w["state"] == "running" for w in node.snapshot()["workers"]), 15,
             what="worker running")
    assert os.sched_getscheduler(worker) == os.SCHED_OTHER
    assert locked_kb(worker) == 0
    # `realtime off`: no priority, but a short fair-scheduler slice and 1 ns timer slack
    assert int(Path(f"/proc/{worker}/timerslack_ns").read_text()) == 1
    assert node.proc is not None  # the supervisor sleeps to a peer's deadline precisely
    assert int(Path(f"/proc/{node.proc.pid}/timerslack_ns").read_text()) == TIMER_SLACK_NS
    assert "sched_setattr" not in node.log()
    with pytest.raises(ControlError) as err:
        client.call("debug-stall", ms=100, every_s=1)
    assert err.value.errno == ControlErrno.REFUSED
    assert "HBEAT_DEBUG=1" in err.value.message
    require_kernel_sched_slice()  # the slice last: kernels before 6.12 cannot show it
    assert sched_field(worker, "se.slice") == 100_000
    assert node.proc is not None
    # The supervisor asks for the same slice (its deadlines: a peer's death),
    # not inherited by what it starts (hbeat/schedslice.py).
    assert sched_field(node.proc.pid, "se.slice") == 100_000


def test_realtime_on_and_debug_stall_blocks_the_supervisor(
        lab_factory: Callable[..., Lab]) -> None:
    node = start_otter(lab_factory, ["realtime on", "rtprio 3"], {"HBEAT_DEBUG": "1"})
    worker = link_worker(node)

    ticker = ticker_thread(worker)

    def fifo() -> bool:
        return os.sched_getscheduler(ticker) == os.SCHED_FIFO

    wait_for(fifo, 15, what="the keepalive thread to switch to SCHED_FIFO")
    assert os.sched_getparam(ticker).sched_priority == 3
    assert os.sched_getscheduler(worker) == os.SCHED_OTHER  # its Python thread: not realtime
    wait_for(lambda: locked_kb(worker) > 1000, 15, what="the tick path to be locked")
    # Only the tick path is locked (linklayer.ticker, `lock_memory`): the sequence
    # board, libcrypto's code; not the interpreter's heap.
    smaps = Path(f"/proc/{worker}/smaps").read_text().split("\n")
    flags: dict[str, list[str]] = {}
    name = ""
    for line in smaps:
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            name = head[5] if len(head) > 5 else ""
        elif line.startswith("VmFlags:"):
            flags.setdefault(name, []).append(line)
    assert any(" lo" in f for f in flags[next(n for n in flags if n.endswith("seqboard"))])
    assert any(" lo" in f for f in flags[next(n for n in flags if "libcrypto" in n)])
    assert not any(" lo" in f for f in flags["[heap]"])
    supervisor = node.proc.pid if node.proc else 0
    # Only link workers go realtime; the supervisor's short slice is set with
    # reset-on-fork, which sched_getscheduler reports as a flag.
    assert os.sched_getscheduler(supervisor) == os.SCHED_OTHER | os.SCHED_RESET_ON_FORK

    client = ControlClient(node.runtime_dir, timeout_ms=5000)
    with pytest.raises(ControlError, match="'ms' must be a whole number") as err:
        client.call("debug-stall", ms=-1)
    assert err.value.errno == ControlErrno.BAD_ARGUMENT
    with pytest.raises(ControlError, match="'every_s' must be a number of seconds longer"):
        client.call("debug-stall", ms=1500, every_s=1)
    assert client.call("debug-stall", ms=600, every_s=1) == {"ms": 600, "every_s": 1.0}
    assert "debug-stall" in client.call("help")

    # Calls made over 2.5 s: some land in a 600 ms stall and wait for it.
    latencies = []
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        t = time.monotonic()
        client.call("snapshot")
        latencies.append(time.monotonic() - t)
    assert max(latencies) > 0.2, latencies
    assert client.call("debug-stall", ms=0) == {"ms": 0, "every_s": 1.0}
    node.log_watcher(from_start=True).wait(r"WARN: debug-stall: the supervisor will block "
                                           r"600 ms every 1 s", timeout=5)
