"""`metrics` and `metrics_textfile` in ha.cf, through `hbeat check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.cli import main
from hbeat.config import SystemProbe, load_config
from tests.hbeat.config.seed import write_seed

BASE = {"serial": "/dev/null", "interfaces": ("lo",)}
LOG = "logfile /var/log/ha-log"


@pytest.mark.parametrize(("lines", "expected", "status"), [
    (["metrics 127.0.0.1:9712", "metrics_textfile /var/lib/hbeat/hbeat.prom"], [], 0),
    (["metrics [::1]:9712"], [], 0),
    (["metrics off"], [], 0),
    (["metrics 9712"], ["ERROR: {d}/ha.cf:13: metrics [9712] must be ADDRESS:PORT (e.g. "
                        "127.0.0.1:9712) or off"], 1),
    (["metrics localhost:9712"], ["ERROR: {d}/ha.cf:13: metrics [localhost:9712]: "
                                  "[localhost] is not an IP address"], 1),
    (["metrics 127.0.0.1:70000"], ["ERROR: {d}/ha.cf:13: metrics [127.0.0.1:70000] must be "
                                   "ADDRESS:PORT (e.g. 127.0.0.1:9712) or off"], 1),
    (["metrics 0.0.0.0:9712"], ["WARN: {d}/ha.cf:13: metrics 0.0.0.0:9712: served without "
                                "authentication to anyone who can reach 0.0.0.0; bind "
                                "127.0.0.1 and let a local Prometheus agent or a proxy "
                                "expose it"], 0),
    (["metrics_textfile hbeat.prom"], ["ERROR: {d}/ha.cf:13: metrics_textfile [hbeat.prom] "
                                       "must be an absolute path ending in .prom "
                                       "(node_exporter's textfile collector reads only "
                                       "those)"], 1),
])
def test_check_reads_the_metrics_directives(lines: list[str], expected: list[str],
                                            status: int, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", extra=[LOG, *lines], **BASE)
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == (
        status)
    out = capsys.readouterr().out
    found = [line for line in out.splitlines() if line.startswith(("ERROR:", "WARN:"))]
    assert found == [e.format(d=seed.config_dir) for e in expected]


def test_directives_reach_the_configuration(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    seed = write_seed(tmp_path / "ha.d", extra=[LOG, "metrics 127.0.0.1:9712",
                                                "metrics_textfile /run/x.prom"], **BASE)
    config = load_config(seed.config_dir, "otter", system=SystemProbe())
    assert config.hacf.metrics_listen == ("127.0.0.1", 9712)
    assert config.hacf.metrics_textfile == "/run/x.prom"
    assert config.parameter("metrics") is None  # not a heartbeat parameter
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == 0
    assert ("metrics:        http://127.0.0.1:9712/metrics, textfile /run/x.prom"
            in capsys.readouterr().out.splitlines())
