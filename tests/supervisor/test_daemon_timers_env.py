"""$HBEAT_RESOURCE_TIMERS, the supervisor's hook the failover tests use to shorten
resource timers (src/supervisor/daemon.py `resource_timers`)."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor.daemon import resource_timers
from supervisor.resources import ResourcesConfig
from tests.lab.failover.cluster import timers_env


def test_parses_every_timer_into_resources_config() -> None:
    timers = resource_timers(" start_timeout_s=2.5, stop_retry_max=0,rqstdelay_ms=2000,")
    assert timers == {"start_timeout_s": 2.5, "stop_retry_max": 0, "rqstdelay_ms": 2000}
    assert resource_timers("") == {}
    every = resource_timers(timers_env())
    config = ResourcesConfig(local="otter", nodes=("otter",), groups=(),
                             auto_failback=AutoFailback.OFF, **every)  # type: ignore[arg-type]
    assert config.start_timeout_s == 10 and config.rqstdelay_ms == 2000


@pytest.mark.parametrize(("text", "error"), [
    ("x=1", "'x=1' is not name=value with a name among rqstdelay_ms"),
    ("start_timeout_s", "'start_timeout_s' is not name=value"),
    ("rqstdelay_ms=1.5", "rqstdelay_ms='1.5' is not a whole number"),
    ("start_timeout_s=soon", "start_timeout_s='soon' is not a number"),
    ("start_timeout_s=0", "start_timeout_s must be positive, not 0"),
    ("stop_retry_max=-1", "stop_retry_max must be 0 or more, not -1"),
])
def test_rejects_bad_settings_naming_the_variable(text: str, error: str) -> None:
    with pytest.raises(ValueError, match="HBEAT_RESOURCE_TIMERS: " + error.replace(".", r"\.")):
        resource_timers(text)
