"""`monitor` in ha.cf (hbeat's resource monitoring), through the parser and `hbeat check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.cli import main
from hbeat.config import SystemProbe, load_config
from hbeat.config.hacf import parse_hacf
from hbeat.config.model import MonitorSpec
from tests.hbeat.config.seed import write_seed

BASE = {"serial": "/dev/null", "interfaces": ("lo",)}
LOG = "logfile /var/log/ha-log"
HEAD = b"node otter weasel\nbcast lo\n"


def parse(line: str) -> tuple[MonitorSpec | None, list[str]]:
    hacf, problems = parse_hacf(HEAD + line.encode() + b"\n", "ha.cf")
    assert hacf is not None
    return hacf.monitor, [f"{p.level.value}: {p.line}: {p.message}" for p in problems]


@pytest.mark.parametrize(("line", "spec"), [
    ("monitor 10", MonitorSpec(10_000, 3, 600_000, 3)),
    ("monitor 1 restarts 2 window 30", MonitorSpec(1000, 2, 30_000, 3)),
    ("monitor 500ms window 5 restarts 0", MonitorSpec(500, 0, 5000, 3)),
    ("monitor\t2  restarts 1", MonitorSpec(2000, 1, 600_000, 3)),
    ("monitor off", None),
])
def test_monitor_lines_are_read(line: str, spec: MonitorSpec | None) -> None:
    assert parse(line) == (spec, [])


@pytest.mark.parametrize(("line", "error"), [
    ("monitor", "monitor takes an interval, then optionally `restarts N` and `window TIME` "
                "(e.g. monitor 10 restarts 3 window 600), or off"),
    ("monitor 10s", "monitor interval: [10s] is not a time: unit [s] is not understood; "
                    "heartbeat takes plain seconds (2, 1.5), ms or us -- not s, sec or m"),
    ("monitor 50ms", "monitor interval [50ms] must be at least 100 ms"),
    ("monitor 10 restarts", "monitor: [restarts] not understood; monitor takes an interval, "
                            "then optionally `restarts N` and `window TIME` (e.g. monitor 10 "
                            "restarts 3 window 600), or off"),
    ("monitor 10 restarts -1", "monitor restarts [-1] must be a whole number from 0 to 1000"),
    ("monitor 10 retries 3", "monitor: [retries 3] not understood; monitor takes an interval, "
                             "then optionally `restarts N` and `window TIME` (e.g. monitor 10 "
                             "restarts 3 window 600), or off"),
    ("monitor 10 window 5", "monitor window [5000ms] is shorter than the interval [10000ms]: "
                            "no two failures could ever count together"),
])
def test_bad_monitor_lines_are_errors(line: str, error: str) -> None:
    spec, problems = parse(line)
    assert spec is None
    assert problems == [f"ERROR: 3: {error}"]


def test_a_second_monitor_line_is_an_error() -> None:
    hacf, problems = parse_hacf(HEAD + b"monitor 5\nmonitor 10\n", "ha.cf")
    assert hacf is not None and hacf.monitor == MonitorSpec(5000, 3, 600_000, 3)
    assert [p.message for p in problems] == ["monitor given twice (first at line 3)"]


def test_check_shows_the_monitor_and_it_is_no_heartbeat_parameter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", extra=[LOG, "monitor 5 restarts 2 window 60"], **BASE)
    config = load_config(seed.config_dir, "otter", system=SystemProbe())
    assert config.hacf.monitor == MonitorSpec(5000, 2, 60_000, 13)
    assert config.parameter("monitor") is None  # `cl_status hbparameter -p monitor` fails
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == 0
    assert ("monitor:        every 5000 ms, 2 restart(s) within 60000 ms, then to the peer"
            "  (line 13)" in capsys.readouterr().out.splitlines())
