"""supervisor.rundir: the daemon's directories and the single-instance lock,
with real files, real links and a real second process holding the lock; and
`hbeat run` itself refusing to start beside a running instance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervisor.rundir import AlreadyRunning, DirectoryError, InstanceLock, prepare_dir
from tests.hbeat.config.seed import write_seed

HBEAT = str(Path(sys.executable).with_name("hbeat"))


def test_prepare_dir_creates_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "run"
    prepare_dir(target, 0o750)
    assert target.is_dir() and (target.stat().st_mode & 0o777) == 0o750
    target.chmod(0o777)
    prepare_dir(target, 0o750)  # an existing directory of ours is tightened
    assert (target.stat().st_mode & 0o777) == 0o750


def test_prepare_dir_refuses_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "run"
    link.symlink_to(elsewhere)
    with pytest.raises(DirectoryError, match=r"is a symbolic link: refusing to use it"):
        prepare_dir(link, 0o750)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nothing")
    with pytest.raises(DirectoryError, match=r"is a symbolic link"):
        prepare_dir(dangling, 0o750)
    assert not (tmp_path / "nothing").exists()


def test_prepare_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("")
    with pytest.raises(DirectoryError, match=r"exists and is not a directory"):
        prepare_dir(tmp_path / "run", 0o750)


def test_prepare_dir_refuses_another_owner(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    other = os.geteuid() + 1
    with pytest.raises(DirectoryError) as info:
        prepare_dir(target, 0o750, euid=other)
    assert str(info.value) == (
        f"{target} belongs to uid {os.geteuid()}, not to uid {other} that runs hbeat:"
        f" refusing to use it (remove it, or chown it to uid {other})"
    )


def _holder(runtime: Path) -> subprocess.Popen[str]:
    """A real process that takes the lock and keeps it until killed."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from supervisor.rundir import InstanceLock\n"
        "InstanceLock(Path(sys.argv[1])).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(runtime)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(AlreadyRunning) as info:
            InstanceLock(tmp_path).acquire()
        assert info.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    lock = InstanceLock(tmp_path)  # a killed holder leaves the file, not the lock
    lock.acquire()
    assert (tmp_path / "hbeat.pid").read_text() == f"{os.getpid()}\n"
    lock.release()


def test_lock_file_may_not_be_a_link(tmp_path: Path) -> None:
    (tmp_path / "hbeat.pid").symlink_to(tmp_path / "victim")
    with pytest.raises(DirectoryError, match="cannot open"):
        InstanceLock(tmp_path).acquire()
    assert not (tmp_path / "victim").exists()


def test_second_hbeat_run_refuses_and_leaves_the_first_alone(tmp_path: Path) -> None:
    """`hbeat run` beside a running instance: heartbeat's "already running"
    line, exit 1, and the first instance's sockets untouched."""
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o750)
    (runtime / "control").write_text("first instance's socket")
    holder = _holder(runtime)
    try:
        started = time.monotonic()
        res = subprocess.run(
            [HBEAT, "run", "--config-dir", str(seed.config_dir), "--node-name", "otter",
             "--runtime-dir", str(runtime), "--state-dir", str(tmp_path / "state")],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 1, res
    assert f"ERROR: hbeat already running [pid {holder.pid}]." in res.stderr, res.stderr
    assert (runtime / "control").read_text() == "first instance's socket"
    assert time.monotonic() - started < 30
