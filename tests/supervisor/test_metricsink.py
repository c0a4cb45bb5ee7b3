"""`supervisor/metricsink.py` and the supervisor's optional modules: a
supervisor whose ha.cf asks for no metrics and no TCP feed never imports
prometheus_client, `supervisor.metrics`, `supervisor.feedtcp` or ZeroMQ's
authenticator (each a few MiB in a process that runs for months); one that
asks for a metrics textfile gets the prometheus registry and writes it.
A real Supervisor, set up as `hbeat run` sets it up (directories, sockets,
membership), in a fresh interpreter so the test's own imports do not count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.hbeat.config.seed import write_seed

OPTIONAL = ("prometheus_client", "supervisor.metrics", "supervisor.feedtcp", "zmq.auth")

PROBE = r"""
import json, sys
from pathlib import Path
from hbeat.config import SystemProbe, load_config
from supervisor.daemon import Options, Supervisor
seed, run = Path(sys.argv[1]), Path(sys.argv[2])
config = load_config(seed, "otter", system=SystemProbe(init_dir=sys.argv[3]))
sup = Supervisor(config, Options(runtime_dir=run / "run", state_dir=run / "state"))
sup._prepare_dirs()
sup._bind()
sup._start_membership()
sup._write_metrics()
names = sys.argv[4].split(",")
loaded = sorted(m for m in sys.modules if m in names or m.startswith(tuple(n + "." for n in names)))
for sock in (sup.bus, sup.control, sup.query, sup.feed.socket):
    sock.close(linger=0)
sup.ctx.term()
sup.board.close()
sup.instance_lock.release()
print(json.dumps({"loaded": loaded, "metrics": type(sup.metrics).__name__}))
"""


def run_supervisor(tmp_path: Path, extra: list[str]) -> dict[str, object]:
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="",
                      extra=extra)
    out = subprocess.run([sys.executable, "-c", PROBE, str(seed.config_dir), str(tmp_path),
                          str(seed.init_dir), ",".join(OPTIONAL)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_nothing_optional_is_imported_when_not_configured(tmp_path: Path) -> None:
    seen = run_supervisor(tmp_path, [])
    assert seen == {"loaded": [], "metrics": "NoMetrics"}


def test_a_metrics_textfile_brings_the_registry(tmp_path: Path) -> None:
    textfile = tmp_path / "hbeat.prom"
    seen = run_supervisor(tmp_path, [f"metrics_textfile {textfile}"])
    assert seen["metrics"] == "Metrics"
    assert "prometheus_client" in seen["loaded"]  # type: ignore[operator]
    assert "supervisor.feedtcp" not in seen["loaded"]  # type: ignore[operator]
    assert "hbeat_node_state" in textfile.read_text()
