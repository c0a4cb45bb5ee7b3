"""supervisor/clients.py: heartbeat's respawn rules (pure), and real client
processes started, restarted, given up on and stopped."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

from hbeat.config.model import Client
from hbeat.logfmt import Level
from supervisor.clients import Clients, RespawnPolicy
from tests.conftest import require_root
from tests.harness import wait_for


def policy(kind: str = "respawn") -> RespawnPolicy:
    return RespawnPolicy(Client(kind, "hacluster", "/usr/sbin/x -f", 3))


def test_exit_status_100_is_not_respawned() -> None:
    p = policy()
    assert p.exited(100, None, 7, 60_000, False) == (
        None, False, [(Level.ERROR, "Client /usr/sbin/x -f exited with return code 100.")])


def test_quick_exits_wait_a_second_and_more_than_ten_give_up() -> None:
    p = policy()
    now = 0
    for _ in range(10):
        p.started_ms = now
        start_at, fatal, logs = p.exited(1, None, 7, now + 10, False)
        assert start_at == now + 10 + 1000 and not fatal
        assert logs[-1] == (Level.ERROR, 'Respawning client "/usr/sbin/x -f":')
        now += 2000
    p.started_ms = now
    start_at, _, logs = p.exited(None, 9, 7, now + 10, False)
    assert start_at is None
    assert logs == [(Level.ERROR, "Client /usr/sbin/x -f (pid=7) killed by signal 9."),
                    (Level.ERROR, 'Client /usr/sbin/x -f "respawning too fast"')]


def test_a_long_run_resets_the_quick_count_and_restarts_at_once() -> None:
    p = policy()
    p.quick_exits = 10
    start_at, _, _ = p.exited(0, None, 7, 40_000, False)
    assert start_at == 40_000 and p.quick_exits == 0


def test_failfast_death_is_fatal_but_not_at_shutdown() -> None:
    assert policy("failfast").exited(None, 9, 7, 60_000, False)[1] is True
    assert policy("failfast").exited(1, None, 7, 60_000, False)[1] is True
    assert policy("failfast").exited(0, None, 7, 60_000, False)[1] is False
    assert policy("failfast").exited(None, 15, 7, 60_000, True) == (None, False, [])


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def test_real_client_runs_as_its_user_is_respawned_and_stopped() -> None:
    require_root("dropping a client's privileges to another user")
    # Not under pytest's tmp_path: nobody must reach the script (/tmp/pytest-of-root is 0700).
    tmp_path = Path(tempfile.mkdtemp(prefix="hbeat-clients-"))
    try:
        run_client(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def run_client(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    script = tmp_path / "client.sh"
    script.write_text(f"#!/bin/sh\necho \"$(id -u) $$\" >> {out}\nexec sleep 600\n")
    script.chmod(0o755)
    tmp_path.chmod(0o755)
    out.touch()
    out.chmod(0o666)
    logs: list[tuple[Level, str]] = []
    fatal: list[str] = []
    clients = Clients((Client("respawn", "nobody", f"{script} --flag", 1),),
                      lambda lv, t: logs.append((lv, t)), fatal.append)
    own = Path("/proc/self/oom_score_adj")
    saved = own.read_text()
    try:  # as the daemon runs (-1000 in the unit); needs CAP_SYS_RESOURCE
        own.write_text("-900")
        lowered = True
    except PermissionError:
        lowered = False
    try:
        clients.poll(now_ms())
    finally:
        if lowered:
            own.write_text(saved)
    wait_for(lambda: out.read_text().strip(), 5, what="the client's first run")
    uid, pid = map(int, out.read_text().split())
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "0"
    assert uid == pwd.getpwnam("nobody").pw_uid
    assert clients.pids() == [pid]  # exec'd: the client itself, not a shell
    assert os.getpgid(pid) == pid  # a process group of its own
    os.kill(pid, 9)

    def restarted() -> bool:
        clients.poll(now_ms())
        return len(out.read_text().splitlines()) == 2

    wait_for(restarted, 5, what="the respawned client")
    assert (Level.ERROR, f"Client {script} --flag (pid={pid}) killed by signal 9.") in logs
    assert (Level.ERROR, f'Respawning client "{script} --flag":') in logs
    second = int(out.read_text().splitlines()[1].split()[1])
    clients.stop_all()
    assert clients.pids() == [] and fatal == []
    wait_for(lambda: not Path(f"/proc/{second}").exists(), 5, what="the client stopped")
    assert any(t.startswith(f"killing {script} --flag process group {second} with signal 15")
               for _, t in logs)
