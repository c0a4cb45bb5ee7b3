"""supervisor.logsink: heartbeat-style lines, written off the decision loop
through a bounded queue that never blocks the caller and counts what it drops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hbeat.config.model import Logging
from hbeat.logfmt import Level
from supervisor.logsink import LogSink


class StuckStream:
    """A stderr whose writes block until released (a full pipe, a hung journald)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.release.wait()
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_lines_reach_the_logfile_in_order(tmp_path: Path) -> None:
    logfile = tmp_path / "ha-log"
    sink = LogSink("otter", Logging(logfile=str(logfile)), stderr=None)
    for i in range(50):
        sink.log(Level.INFO, f"line {i}")
    sink.close()
    lines = logfile.read_text().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(i) for i in range(50)]
    assert all(": info: line " in line for line in lines)


def test_a_stuck_writer_never_blocks_the_caller_and_drops_are_counted(tmp_path: Path) -> None:
    stream = StuckStream()
    sink = LogSink("otter", None, stderr=stream, queue_lines=100)  # type: ignore[arg-type]
    started = time.monotonic()
    for i in range(5000):
        sink.log(Level.WARN, f"flood {i}")
    assert time.monotonic() - started < 2.0, "log() waited for the writer"
    assert 4800 <= sink.dropped <= 4900
    stream.release.set()
    sink.close()
    assert len(stream.lines) == 5000 - sink.dropped + 1
    assert any(f"{sink.dropped} log lines were dropped" in line for line in stream.lines)


def test_flush_waits_until_the_queue_is_written(tmp_path: Path) -> None:
    stream = StuckStream()
    sink = LogSink("otter", None, stderr=stream)  # type: ignore[arg-type]
    sink.log(Level.INFO, "before readiness")
    assert not sink.flush(0.05)  # the writer is stuck: flush gives up in time
    stream.release.set()
    assert sink.flush(5.0)
    assert len(stream.lines) == 1 and "before readiness" in stream.lines[0]
    sink.close()


def test_reconfigure_switches_files_in_queue_order(tmp_path: Path) -> None:
    stream = StuckStream()
    old, new = tmp_path / "ha-log", tmp_path / "ha-log.new"
    sink = LogSink("otter", Logging(logfile=str(old)), stderr=stream)  # type: ignore[arg-type]
    sink.log(Level.INFO, "before")  # still queued (the writer is stuck) ...
    sink.reconfigure(Logging(logfile=str(new), debug=1))
    sink.log(Level.INFO, "after")
    sink.log(Level.DEBUG, "debug line")  # the new debug level counts at once
    stream.release.set()
    sink.close()
    assert [line.rsplit(": ", 1)[1] for line in old.read_text().splitlines()] == ["before"]
    assert [line.rsplit(": ", 1)[1] for line in new.read_text().splitlines()] == ["after"]
    assert any("debug line" in line for line in stream.lines)


def test_held_lines_wait_for_release_in_order_with_their_own_time(tmp_path: Path) -> None:
    logfile = tmp_path / "ha-log"
    sink = LogSink("otter", Logging(logfile=str(logfile)), stderr=None)
    sink.log(Level.INFO, "before the hold")
    assert sink.flush()
    sink.holdback.hold()
    sink.log(Level.WARN, "node weasel: is dead")
    sink.log(Level.INFO, "Resources being acquired from weasel.")
    time.sleep(0.05)
    assert sink.flush()  # nothing queued: the writer was not woken
    assert logfile.read_text().count("\n") == 1
    sink.holdback.release()
    sink.log(Level.INFO, "after the release")
    sink.close()
    lines = logfile.read_text().splitlines()
    assert [line.split("]: ", 1)[1] for line in lines] == [
        "info: before the hold", "WARN: node weasel: is dead",
        "info: Resources being acquired from weasel.", "info: after the release"]
    sink.holdback.release()  # a second release is harmless


def test_a_hold_keeps_at_most_a_queue_of_lines_and_drops_nothing(tmp_path: Path) -> None:
    stream = StuckStream()
    stream.release.set()
    sink = LogSink("otter", None, stderr=stream, queue_lines=10)  # type: ignore[arg-type]
    sink.holdback.hold()
    for i in range(15):  # 10 held, the 5 beyond go to the queue as they come
        sink.log(Level.INFO, f"line {i}")
    assert sink.flush()
    assert [line.rsplit(" ", 1)[1].strip() for line in stream.lines] == [
        str(i) for i in range(10, 15)]
    sink.holdback.release()
    sink.close()
    assert len(stream.lines) == 15 and sink.dropped == 0
