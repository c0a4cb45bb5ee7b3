"""Heartbeat's log line layouts."""

from __future__ import annotations

import time
from datetime import datetime

from hbeat.logfmt import Level, format_line, format_line_plain, format_syslog_message


def test_file_line_is_heartbeats() -> None:
    when = datetime(2026, 11, 5, 4, 36, 51)
    assert (
        format_line(when, "nodea", 1, Level.WARN, "node nodeb: is dead")
        == "Nov 05 04:36:51 nodea hbeat: [1]: WARN: node nodeb: is dead"
    )
    st = time.struct_time((2026, 1, 9, 23, 5, 7, 0, 9, 0))
    assert format_line(st, "n", 7, Level.INFO, "x") == "Jan 09 23:05:07 n hbeat: [7]: info: x"


def test_plain_and_syslog_forms_and_levels() -> None:
    when = datetime(2026, 11, 5, 4, 36, 51)
    assert (
        format_line_plain(when, 12, Level.CRIT, "boom")
        == "hbeat[12]: 2026/11/05_04:36:51 CRIT: boom"
    )
    assert format_syslog_message(Level.ERROR, "e") == "ERROR: e"
    assert [lv.value for lv in Level] == [
        "EMERG",
        "ALERT",
        "CRIT",
        "ERROR",
        "WARN",
        "notice",
        "info",
        "debug",
    ]
    assert [lv.syslog_priority for lv in Level] == list(range(8))
