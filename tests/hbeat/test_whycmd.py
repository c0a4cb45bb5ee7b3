"""`hbeat why` (whycmd.py) as a real command when no daemon runs: it reads the
journal file the supervisor's Journal wrote. (With a daemon: tests/lab/journal/.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hbeat.ipc.journal import Kind
from supervisor.journal import JOURNAL_FILE, Journal

HBEAT = str(Path(sys.executable).parent / "hbeat")


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HBEAT_RUNTIME_DIR": str(tmp_path / "run"),
           "HBEAT_STATE_DIR": str(tmp_path / "state"), "HBEAT_NODE_NAME": "otter"}
    return subprocess.run([HBEAT, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def write_journal(state: Path) -> None:
    state.mkdir(exist_ok=True)
    j = Journal(state, lambda *_: None)
    j.load()
    j.start()
    j.record(Kind.STARTUP, "generation 3")
    j.record(Kind.NODE_DEAD, "no keepalive on any link for 4000 ms (deadtime)", node="weasel",
             links={"eth1": {"ago_ms": 4002}})
    j.record(Kind.SCRIPT, resource="LVM::vg0", action="start", rc=1, verdict="failed",
             duration_ms=40)
    j.record(Kind.GROUP, group="g", old="starting", new="failed", why="failover")
    j.close()


def test_why_reads_the_file_when_no_daemon_runs(tmp_path: Path) -> None:
    write_journal(tmp_path / "state")
    res = run(tmp_path, "why")
    assert res.returncode == 0, res
    assert res.stdout.startswith("(hbeat is not answering: no control socket at ")
    assert "weasel declared dead: no keepalive on any link for 4000 ms" in res.stdout
    assert "last keepalive: eth1 4.0 s before" in res.stdout
    assert "LVM::vg0 start: failed (exit 1, 0.0 s)" in res.stdout
    assert "group g: START FAILED (failover)" in res.stdout
    doc = json.loads(run(tmp_path, "history", "--json", "--last", "1").stdout)
    assert doc["source"] == str(tmp_path / "state" / JOURNAL_FILE)
    assert [d["kind"] for d in doc["decisions"]] == ["node-dead"]


def test_a_torn_line_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    write_journal(tmp_path / "state")
    path = tmp_path / "state" / JOURNAL_FILE
    path.write_bytes(path.read_bytes() + b'{"v":1,"seq":9,"ti')
    res = run(tmp_path, "why", "--json")
    assert res.returncode == 0, res
    assert "WARN:" in res.stderr and "incomplete last line" in res.stderr
    assert len(json.loads(res.stdout)["decisions"]) == 2


def test_no_journal_and_bad_options(tmp_path: Path) -> None:
    res = run(tmp_path, "why")
    assert res.returncode == 0 and "No decisions in the journal of otter." in res.stdout
    res = run(tmp_path, "why", "--since", "soon")
    assert res.returncode == 2 and "--since 'soon': expected" in res.stderr
    assert run(tmp_path, "why", "--last", "-1").returncode == 2
