"""Where the supervisor's log lines go: logfile, debugfile, syslog, stderr.

Lines look like heartbeat's (docs/heartbeat-protocol.md §4.9) so `grep "is dead"
/var/log/ha-log` keeps working. Each line is appended with the file opened
and closed around it, so logrotate needs no signal and no line is written
to a rotated-away inode (heartbeat kept the file open; docs/heartbeat-protocol.md §10 item 14).

The decision loop never waits for a disk, syslog or a full stderr pipe:
`log()` formats the line (with the time it happened) and puts it on a
bounded queue; a writer thread does the I/O. When the queue is full the
line is dropped and counted, and the writer says how many it lost once it
catches up. `close()` (at shutdown) writes what is queued, within a bound.
`reconfigure()` (a reread ha.cf) changes the targets in queue order: lines
logged before it go where they were going, lines logged after to the new
ones.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import syslog
import threading
import time
from typing import TextIO

from hbeat.config.model import Logging
from hbeat.logfmt import Level, format_line, format_line_plain, format_syslog_message
from supervisor.holdback import Holdback

_FACILITIES = {
    name: getattr(syslog, f"LOG_{name.upper()}")
    for name in (
        "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
        "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    )
    if hasattr(syslog, f"LOG_{name.upper()}")
}


QUEUE_LINES = 2000
CLOSE_WAIT_S = 5.0

_Item = tuple[Level, str, str]  # level, text (for syslog), formatted line


class LogSink:
    def __init__(
        self,
        node: str,
        logging: Logging | None,
        *,
        stderr: TextIO | None = sys.stderr,
        entity: str = "hbeat",
        queue_lines: int = QUEUE_LINES,
    ) -> None:
        self.node = node
        self.entity = entity
        self.pid = os.getpid()
        self.logfile = logging.logfile if logging else None
        self.debugfile = logging.debugfile if logging else None
        self.plain = not logging.syslogmsgfmt if logging else False
        self.debug = logging.debug if logging else 0
        self.stderr = stderr
        self.syslog = False
        self._targets(logging)
        self.dropped = 0
        """Lines lost because the queue was full (the writer could not keep up)."""
        self._reported_drops = 0
        self._queue: queue.Queue[_Item | Logging | None] = queue.Queue(maxsize=queue_lines)
        self.holdback: Holdback[_Item] = Holdback(self._put, queue_lines)
        """Lines kept from the writer for a moment (formatted and stamped when
        logged): while a death's takeover orders go out, the writer thread
        must not compete with them for the interpreter."""
        self._writer = threading.Thread(target=self._write_loop, name="log writer", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def _targets(self, logging: Logging | None) -> None:
        self.logfile = logging.logfile if logging else None
        self.debugfile = logging.debugfile if logging else None
        facility = logging.syslog_facility if logging else None
        self.syslog = facility is not None and facility in _FACILITIES
        if self.syslog and facility is not None:
            syslog.openlog(self.entity, syslog.LOG_PID, _FACILITIES[facility])

    def reconfigure(self, logging: Logging) -> None:
        """New logging settings: the line format and the debug level at once,
        the files and syslog when the writer reaches this point of the queue
        (at once when the queue is full: the writer is behind, lines are
        being dropped anyway)."""
        self.plain = not logging.syslogmsgfmt
        self.debug = logging.debug
        try:
            self._queue.put_nowait(logging)
        except queue.Full:
            self._targets(logging)

    def _line(self, level: Level, text: str) -> str:
        now = time.localtime()
        if self.plain:
            return format_line_plain(now, self.pid, level, text, entity=self.entity)
        return format_line(now, self.node, self.pid, level, text, entity=self.entity)

    def log(self, level: Level, text: str) -> None:
        """Queue the line; never blocks (a full queue drops and counts it)."""
        if level is Level.DEBUG and self.debug <= 0:
            return
        item = (level, text, self._line(level, text) + "\n")
        if not self.holdback.keep(item):
            self._put(item)

    def _put(self, item: _Item) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout_s: float = 1.0) -> bool:
        """Wait (at most `timeout_s`) until every queued line is written: for the
        rare moments whose log must be complete before others act (readiness).
        True when it is."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        """Write what is queued (for at most CLOSE_WAIT_S) and stop the writer."""
        if not self._writer.is_alive():
            return
        try:
            self._queue.put(None, timeout=CLOSE_WAIT_S)
        except queue.Full:
            return
        self._writer.join(CLOSE_WAIT_S)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            if isinstance(item, Logging):
                self._targets(item)
                continue
            if self.dropped != self._reported_drops and self._queue.empty():
                lost = self.dropped - self._reported_drops
                self._reported_drops = self.dropped
                text = f"{lost} log lines were dropped: the log could not keep up"
                self._write(Level.WARN, text, self._line(Level.WARN, text) + "\n")
            try:
                self._write(*item)
            finally:
                self._queue.task_done()

    def _write(self, level: Level, text: str, line: str) -> None:
        if level is not Level.DEBUG and self.logfile:
            self._append(self.logfile, line)
        if self.debugfile:
            self._append(self.debugfile, line)
        if self.syslog:
            syslog.syslog(level.syslog_priority, format_syslog_message(level, text))
        if self.stderr is not None:
            self.stderr.write(line)
            self.stderr.flush()

    def _append(self, path: str, line: str) -> None:
        try:
            with open(path, "a", encoding="utf-8", errors="backslashreplace") as f:
                f.write(line)
        except OSError as exc:
            if self.stderr is not None:
                self.stderr.write(f"hbeat: cannot write log file {path}: {exc.strerror}\n")
