"""`hbeat_logname`: hbeat logs under heartbeat's program name when asked, for
log monitors that match `heartbeat:`; the default stays `hbeat`."""

from __future__ import annotations

import re
from pathlib import Path

from hbeat.config.hacf import parse_hacf
from hbeat.config.model import Level
from hbeat.logfmt import Level as LogLevel
from supervisor.logsink import LogSink

BASE = b"node otter weasel\nbcast eth1\n"


def test_default_is_hbeat() -> None:
    hacf, problems = parse_hacf(BASE, "ha.cf")
    assert hacf is not None and hacf.logging.program == "hbeat"
    assert problems == []


def test_heartbeat_name_reaches_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "ha-log"
    hacf, problems = parse_hacf(BASE + f"logfile {log}\nhbeat_logname heartbeat\n".encode(),
                                "ha.cf")
    assert hacf is not None and problems == []
    assert hacf.logging.program == "heartbeat"
    sink = LogSink("otter", hacf.logging, stderr=None, entity=hacf.logging.program)
    sink.log(LogLevel.INFO, "Link weasel:eth1 up.")
    sink.close()  # the writer thread has written what was queued
    line = log.read_text()
    assert re.fullmatch(r"\w{3} \d\d \d\d:\d\d:\d\d otter heartbeat: \[\d+\]: info: "
                        r"Link weasel:eth1 up\.\n", line), line


def test_other_names_are_refused() -> None:
    _hacf, problems = parse_hacf(BASE + b"hbeat_logname pacemaker\n", "ha.cf")
    assert [(p.line, p.level, p.message) for p in problems] == [
        (3, Level.ERROR, "hbeat_logname [pacemaker] must be hbeat or heartbeat "
                         "(the program name log lines carry)")]
