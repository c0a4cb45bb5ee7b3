"""supervisor/journal.py: the bounded, crash-safe decision journal on a real
directory, with its real writer thread."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hbeat.ipc.journal import Kind, parse_journal
from hbeat.logfmt import Level
from supervisor.journal import JOURNAL_FILE, Journal

Logged = list[tuple[Level, str]]


def journal(tmp_path: Path, logged: Logged, **kw: int) -> Journal:
    j = Journal(tmp_path, lambda level, text: logged.append((level, text)), **kw)
    j.load()
    j.start()
    return j


def on_disk(tmp_path: Path) -> list[int]:
    return [e.seq for e in parse_journal((tmp_path / JOURNAL_FILE).read_bytes()).entries]


def test_entries_reach_the_file_and_come_back_after_a_restart(tmp_path: Path) -> None:
    logged: Logged = []
    j = journal(tmp_path, logged)
    j.record(Kind.STARTUP, "generation 4")
    j.record(Kind.GROUP, group="g", new="running", why="startup")
    j.close()
    path = tmp_path / JOURNAL_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = journal(tmp_path, logged)
    assert [(e.seq, e.kind, e.decision) for e in again.entries()] == [
        (1, Kind.STARTUP, 1), (2, Kind.GROUP, 1)]
    assert again.record(Kind.SHUTDOWN).seq == 3  # numbering goes on
    again.close()
    assert on_disk(tmp_path) == [1, 2, 3] and logged == []


def test_the_ring_and_the_file_stay_bounded(tmp_path: Path) -> None:
    logged: Logged = []
    j = journal(tmp_path, logged, capacity=10)
    for i in range(95):
        j.record(Kind.STARTUP if i % 10 == 0 else Kind.SCRIPT, str(i))
    j.close()
    assert [e.seq for e in j.entries()] == list(range(86, 96))
    seqs = on_disk(tmp_path)
    assert len(seqs) <= 20 and seqs[-10:] == list(range(86, 96))
    assert not [p for p in tmp_path.iterdir() if p.name != JOURNAL_FILE]  # no temp left


def test_the_byte_bound_compacts_too(tmp_path: Path) -> None:
    logged: Logged = []
    j = journal(tmp_path, logged, capacity=1000, max_bytes=4000)
    for i in range(200):
        j.record(Kind.REQUEST, "x" * 100, n=i)
    j.close()
    assert (tmp_path / JOURNAL_FILE).stat().st_size <= 4000
    assert on_disk(tmp_path)[-1] == 200


def test_a_torn_last_line_is_skipped_with_a_warning_and_repaired(tmp_path: Path) -> None:
    logged: Logged = []
    j = journal(tmp_path, logged)
    for i in range(3):
        j.record(Kind.STARTUP, str(i))
    j.close()
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(path.read_bytes()[:-7])  # a crash in the middle of the last write
    again = journal(tmp_path, logged)
    assert [e.seq for e in again.entries()] == [1, 2]
    assert [level for level, _ in logged] == [Level.WARN]
    assert "incomplete last line" in logged[0][1] and str(path) in logged[0][1]
    again.record(Kind.SHUTDOWN)
    again.close()
    assert on_disk(tmp_path) == [1, 2, 3]  # the next line is not glued to the torn one


def test_an_unwritable_journal_is_one_error_and_never_a_crash(tmp_path: Path) -> None:
    logged: Logged = []
    (tmp_path / JOURNAL_FILE).mkdir()  # cannot be opened as a file
    j = journal(tmp_path, logged)
    j.record(Kind.STARTUP)
    j.record(Kind.SHUTDOWN)
    j.close()
    assert [e.seq for e in j.entries()] == [1, 2]  # still served from memory
    errors = [t for level, t in logged if level is Level.ERROR]
    assert len(errors) <= 2 and all("decision journal" in t for t in errors)


def test_steps_join_the_decision_that_started_their_operation(tmp_path: Path) -> None:
    logged: Logged = []
    clock = iter(float(t) for t in range(100, 200))
    j = Journal(tmp_path, lambda *_: None, clock=lambda: next(clock))
    j.load()
    dead = j.record(Kind.NODE_DEAD, "deadtime", node="weasel")
    j.op_started("script", 4, 1000, resource="LVM::vg0", action="start")
    asked = j.record(Kind.REQUEST, "hb_standby", what="standby")
    assert j.current_why == "standby"
    decision, took, info = j.op_finished("script", 4, 1250)
    assert (decision, took, info) == (dead.seq, 250, {"resource": "LVM::vg0",
                                                      "action": "start"})
    with j.within(decision):
        assert j.current_why == "failover"
        step = j.record(Kind.GROUP, group="g", new="running", why=j.current_why)
    assert step.decision == dead.seq
    assert j.current == asked.seq and j.current_why == "standby"
    assert j.op_finished("script", 99, 0) == (asked.seq, None, {})
    assert logged == []
    assert os.listdir(tmp_path) == []  # nothing written without the writer


def test_held_entries_are_in_the_ring_at_once_and_on_disk_after_release(
        tmp_path: Path) -> None:
    logged: Logged = []
    j = journal(tmp_path, logged)
    j.record(Kind.STARTUP, "generation 4")
    assert j.flush()
    j.holdback.hold()
    dead = j.record(Kind.NODE_DEAD, "no keepalive for 10000 ms", node="weasel")
    step = j.record(Kind.GROUP, group="g", new="starting", why=j.current_why)
    assert j.current == dead.seq and step.decision == dead.seq  # cited at once
    assert [e.seq for e in j.entries()] == [1, 2, 3]
    assert j.flush() and on_disk(tmp_path) == [1]
    j.holdback.release()
    j.record(Kind.SHUTDOWN)
    j.close()
    assert on_disk(tmp_path) == [1, 2, 3, 4] and logged == []
