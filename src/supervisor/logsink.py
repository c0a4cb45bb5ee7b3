"""Where the supervisor's log lines go: logfile, debugfile, syslog, stderr.

Lines look like heartbeat's (docs/heartbeat-protocol.md §4.9) so `grep "is dead"
/var/log/ha-log` keeps working. Each line is appended with the file opened
and closed around it, so logrotate needs no signal and no line is written
to a rotated-away inode (heartbeat kept the file open; docs/heartbeat-protocol.md §10 item 14).
Log lines are rare (state changes), so the cost does not matter.
"""

from __future__ import annotations

import os
import sys
import syslog
import time
from typing import TextIO

from hbeat.config.model import Logging
from hbeat.logfmt import Level, format_line, format_line_plain, format_syslog_message

_FACILITIES = {
    name: getattr(syslog, f"LOG_{name.upper()}")
    for name in (
        "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
        "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    )
    if hasattr(syslog, f"LOG_{name.upper()}")
}


class LogSink:
    def __init__(
        self,
        node: str,
        logging: Logging | None,
        *,
        stderr: TextIO | None = sys.stderr,
        entity: str = "hbeat",
    ) -> None:
        self.node = node
        self.entity = entity
        self.pid = os.getpid()
        self.logfile = logging.logfile if logging else None
        self.debugfile = logging.debugfile if logging else None
        self.plain = not logging.syslogmsgfmt if logging else False
        self.debug = logging.debug if logging else 0
        self.stderr = stderr
        facility = logging.syslog_facility if logging else None
        self.syslog = facility is not None and facility in _FACILITIES
        if self.syslog and facility is not None:
            syslog.openlog(self.entity, syslog.LOG_PID, _FACILITIES[facility])

    def _line(self, level: Level, text: str) -> str:
        now = time.localtime()
        if self.plain:
            return format_line_plain(now, self.pid, level, text, entity=self.entity)
        return format_line(now, self.node, self.pid, level, text, entity=self.entity)

    def log(self, level: Level, text: str) -> None:
        if level is Level.DEBUG and self.debug <= 0:
            return
        line = self._line(level, text) + "\n"
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
