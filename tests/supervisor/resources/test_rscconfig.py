"""`rscconfig.ResourcesConfig`: what it refuses, and the timers it gives the job runner."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor.jobrunner import RunnerTimers
from supervisor.rscconfig import ResourcesConfig

from .sim import group

G = (group(1, "weasel", "drbddisk::r0"),)


def cfg(**kw: object) -> ResourcesConfig:
    args: dict[str, object] = {
        "local": "otter",
        "nodes": ("otter", "weasel"),
        "groups": G,
        "auto_failback": AutoFailback.ON,
    }
    return ResourcesConfig(**(args | kw))  # type: ignore[arg-type]


def test_runner_timers_come_from_the_config() -> None:
    c = cfg(
        start_timeout_s=5.0,
        stop_timeout_s=6.0,
        status_timeout_s=7.0,
        result_grace_ms=8,
        stop_retry_max=2,
        stop_retry_delay_ms=9,
    )
    assert c.runner_timers() == RunnerTimers(5.0, 6.0, 7.0, 8, 2, 9)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"local": "stoat"}, "local node 'stoat' is not among the nodes"),
        ({"nodes": ("otter", "weasel", "stoat")}, "supports one or two nodes, not 3"),
        ({"groups": (group(4, "stoat", "apache"),)}, "haresources line 4: node 'stoat'"),
        ({"groups": G + G}, "haresources line 1: duplicate group key 'drbddisk::r0'"),
        ({"standby_timeout_ms": 0}, "standby_timeout_ms must be positive"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cfg(**kw)
