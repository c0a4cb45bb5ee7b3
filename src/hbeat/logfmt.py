"""Heartbeat-style log line formatting (docs/heartbeat-protocol.md §4.9), as pure functions.

Owns the log levels and their names as heartbeat prints them, and the two
line layouts of a log file: the default syslog-like one

    Nov 05 04:36:51 nodea hbeat: [1234]: WARN: node nodeb: is dead

(day zero-padded, English month names whatever the locale) and the
`syslogmsgfmt false` one (`hbeat[1234]: 2026/11/05_04:36:51 WARN: ...`).
The caller passes the time; nothing here reads a clock.
"""

from __future__ import annotations

import enum
import time
from datetime import datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Level(enum.Enum):
    """A log level. The value is the word heartbeat prints for it."""

    EMERG = "EMERG"
    ALERT = "ALERT"
    CRIT = "CRIT"
    ERROR = "ERROR"
    WARN = "WARN"
    NOTICE = "notice"
    INFO = "info"
    DEBUG = "debug"

    @property
    def syslog_priority(self) -> int:
        """The syslog priority number (LOG_EMERG = 0 ... LOG_DEBUG = 7)."""
        return _PRIORITY[self]


_PRIORITY = {
    Level.EMERG: 0,
    Level.ALERT: 1,
    Level.CRIT: 2,
    Level.ERROR: 3,
    Level.WARN: 4,
    Level.NOTICE: 5,
    Level.INFO: 6,
    Level.DEBUG: 7,
}


def _parts(when: datetime | time.struct_time) -> tuple[int, int, int, int, int, int]:
    if isinstance(when, datetime):
        return (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return (when.tm_year, when.tm_mon, when.tm_mday, when.tm_hour, when.tm_min, when.tm_sec)


def format_line(
    when: datetime | time.struct_time,
    node: str,
    pid: int,
    level: Level,
    text: str,
    *,
    entity: str = "hbeat",
) -> str:
    """`Mon DD HH:MM:SS <node> <entity>: [<pid>]: <LEVEL>: <text>` (no newline)."""
    _y, mon, day, hh, mm, ss = _parts(when)
    return (
        f"{_MONTHS[mon - 1]} {day:02d} {hh:02d}:{mm:02d}:{ss:02d} {node} "
        f"{entity}: [{pid}]: {level.value}: {text}"
    )


def format_line_plain(
    when: datetime | time.struct_time,
    pid: int,
    level: Level,
    text: str,
    *,
    entity: str = "hbeat",
) -> str:
    """The `syslogmsgfmt false` layout: `<entity>[<pid>]: YYYY/MM/DD_HH:MM:SS <LEVEL>: <text>`."""
    y, mon, day, hh, mm, ss = _parts(when)
    return (
        f"{entity}[{pid}]: {y:04d}/{mon:02d}/{day:02d}_{hh:02d}:{mm:02d}:{ss:02d} "
        f"{level.value}: {text}"
    )


def format_syslog_message(level: Level, text: str) -> str:
    """The message part handed to syslog (the tag `hbeat[pid]` is syslog's)."""
    return f"{level.value}: {text}"
