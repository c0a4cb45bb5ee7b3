"""The supervisor's side of the executor's liveness check (supervisor/executorlink.py):
the executor renews a lease file, any turn of the supervisor's loop reads it
(`tick`), the loop wakes for it alone only at the lease's end
(`next_deadline`), and an executor whose lease has run out is killed; a new
executor is never judged by what its predecessor left in the file.

The lease file is real (hbeat/ipc/leasefile.py); the executor's renewals are
written through a second mapping of it, as the executor's process does."""

from __future__ import annotations

from pathlib import Path

from hbeat.config import SystemProbe, load_config
from hbeat.ipc.bus import Hello, unpack_json
from hbeat.ipc.executor import (
    EXECUTOR_LEASE_NS,
    EXECUTOR_LEASE_S,
    EXECUTOR_RENEW_S,
    ExecutorReady,
    OutputLimits,
)
from hbeat.ipc.leasefile import LeaseFile
from hbeat.logfmt import Level
from supervisor.executorlink import LEASE_FILE, ExecutorLink
from tests.hbeat.config.seed import write_seed

S = 1_000_000_000


def make_link(tmp_path: Path) -> tuple[ExecutorLink, list[list[bytes]], list[tuple[Level, str]]]:
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="")
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    sent: list[list[bytes]] = []
    logs: list[tuple[Level, str]] = []
    link = ExecutorLink(config, sent.append, lambda lv, t: logs.append((lv, t)),
                        lambda op, rc, verdict: None,
                        lease=LeaseFile.create(tmp_path / LEASE_FILE))
    return link, sent, logs


def hello(link: ExecutorLink, sent: list[list[bytes]], pid: int) -> LeaseFile:
    """A new executor `pid` says hello; it joins the lease file its setup names."""
    link.on_message(b"hello", Hello(pid, "executor").encode())
    ident, verb, body = sent[-1]
    assert (ident, verb) == (b"executor", b"setup")
    return LeaseFile.open(Path(unpack_json(body, "setup")["lease"]))


def ready(link: ExecutorLink, pid: int) -> None:
    link.on_message(b"ready", ExecutorReady(
        pid, OutputLimits(max_lines=10, max_bytes=1000, max_line_bytes=100), 1.0,
        10.0).encode())


def start(link: ExecutorLink, sent: list[list[bytes]], pid: int, now_s: float) -> LeaseFile:
    """An executor started at `now_s`: hello, setup, its first renewal, ready."""
    own = hello(link, sent, pid)
    own.renew(round(now_s * S) + EXECUTOR_LEASE_NS)
    ready(link, pid)
    return own


def test_the_setup_names_the_lease_file(tmp_path: Path) -> None:
    link, sent, _ = make_link(tmp_path)
    link.on_message(b"hello", Hello(4242, "executor").encode())
    [[ident, verb, body]] = sent
    assert (ident, verb) == (b"executor", b"setup")
    assert unpack_json(body, "setup")["lease"] == str(tmp_path / LEASE_FILE)


def test_nothing_is_watched_before_the_executor_is_ready(tmp_path: Path) -> None:
    link, sent, _ = make_link(tmp_path)
    assert link.next_deadline() is None
    assert link.tick(100.0) is None
    own = hello(link, sent, 4242)
    assert own.until_ns() == 0  # not renewed yet: not judged either
    assert link.next_deadline() is None and link.tick(1e6) is None
    assert [m[1] for m in sent] == [b"setup"]  # nothing else went to the executor


def test_a_renewing_executor_is_never_killed_and_the_loop_wakes_only_at_the_lease_end(
        tmp_path: Path) -> None:
    link, sent, logs = make_link(tmp_path)
    own = start(link, sent, 4242, 50.0)
    assert link.next_deadline() == 50.0 + EXECUTOR_LEASE_S
    for turn in range(1, 40):  # the supervisor turns every 10 s; the executor renews every 5
        now = 50.0 + 5 * turn
        own.renew(round(now * S) + EXECUTOR_LEASE_NS)
        if turn % 2 == 0:
            assert link.tick(now + 0.5) is None
            assert link.next_deadline() == now + EXECUTOR_LEASE_S  # moved by the turn
    assert logs == []
    assert [m[1] for m in sent] == [b"setup"]  # no message: the executor was never asked


def test_an_executor_whose_lease_ran_out_is_killed_once(tmp_path: Path) -> None:
    link, sent, logs = make_link(tmp_path)
    start(link, sent, 4242, 0.0)
    assert link.tick(EXECUTOR_LEASE_S - 0.001) is None
    assert link.tick(EXECUTOR_LEASE_S) == 4242
    assert logs == [(Level.ERROR, f"executor (pid 4242) has not renewed its lease for "
                                  f"{EXECUTOR_LEASE_S:g} s (hung): killing it")]
    # Killed: not judged again while the pool reaps it, nothing is sent to it.
    assert link.tick(EXECUTOR_LEASE_S + 10) is None and link.next_deadline() is None
    assert len(logs) == 1


def test_a_late_turn_finds_the_hung_executor_at_the_lease_end(tmp_path: Path) -> None:
    """The loop is woken at the lease's end when no other turn came first."""
    link, sent, _ = make_link(tmp_path)
    own = start(link, sent, 4242, 0.0)
    own.renew(3 * S + EXECUTOR_LEASE_NS)  # its last renewal, at 3 s
    assert link.tick(9.0) is None  # a turn reads it: the deadline follows
    deadline = link.next_deadline()
    assert deadline == 3.0 + EXECUTOR_LEASE_S
    assert link.tick(deadline) == 4242


def test_a_new_executor_is_not_judged_by_its_predecessors_lease(tmp_path: Path) -> None:
    link, sent, logs = make_link(tmp_path)
    start(link, sent, 4242, 0.0)
    assert link.tick(100.0) == 4242  # hung: killed; its lease stays run out in the file
    link.lost()
    own = hello(link, sent, 4343)  # the pool's new executor
    assert own.until_ns() == 0  # the stale lease is gone before the new one may renew
    assert link.tick(200.0) is None  # not ready yet: not judged
    own.renew(round(200.5 * S) + EXECUTOR_LEASE_NS)  # its first renewal precedes `ready`
    ready(link, 4343)
    assert link.tick(201.0) is None
    assert link.next_deadline() == 200.5 + EXECUTOR_LEASE_S
    assert link.tick(200.5 + EXECUTOR_LEASE_S) == 4343
    assert [t.split(" (hung)")[0] for _, t in logs] == [
        "executor (pid 4242) has not renewed its lease for 15 s",
        "executor (pid 4343) has not renewed its lease for 15 s"]


def test_a_hello_without_a_death_seen_first_resets_the_lease_too(tmp_path: Path) -> None:
    """Even if a new executor's hello came before the pool reported the old one
    dead, the old lease (run out) cannot get the new executor killed."""
    link, sent, logs = make_link(tmp_path)
    start(link, sent, 4242, 0.0)
    own = hello(link, sent, 4343)  # no lost() before it
    assert link.tick(100.0) is None and link.next_deadline() is None
    own.renew(round(100.0 * S) + EXECUTOR_LEASE_NS)
    ready(link, 4343)
    assert link.tick(100.1) is None and logs == []


def test_after_a_stall_of_the_supervisor_the_executor_gets_a_renewal_interval(
        tmp_path: Path) -> None:
    # A frozen VM: the executor froze with the supervisor and its lease ran
    # out meanwhile; it is judged only once it could have renewed.
    link, sent, logs = make_link(tmp_path)
    own = start(link, sent, 4242, 0.0)
    link.after_stall(40.0)
    assert link.tick(40.0) is None and link.tick(40.0 + EXECUTOR_RENEW_S - 0.001) is None
    assert link.next_deadline() == 40.0 + EXECUTOR_RENEW_S
    own.renew(44 * S + EXECUTOR_LEASE_NS)  # it thawed and renewed
    assert link.tick(50.0) is None and logs == []
    assert link.next_deadline() == 44.0 + EXECUTOR_LEASE_S
    # One that stays silent is killed when the grace ends.
    link.after_stall(70.0)
    assert link.tick(70.0) is None
    assert link.tick(70.0 + EXECUTOR_RENEW_S) == 4242
