"""`make demo` runs end to end: the cluster comes up, weasel is killed,
otter takes over, and nothing is left behind."""

from __future__ import annotations

import glob
import re
import subprocess
import sys

import pytest

from tests.harness.requirements import require_commands, require_root


@pytest.mark.slow
def test_demo_shows_a_failover_and_cleans_up() -> None:
    require_root()
    require_commands("socat", "unshare", "nsenter", "ip")
    before = set(glob.glob("/tmp/hbeat-demo-*"))
    proc = subprocess.run(
        [sys.executable, "-m", "hbeat.demo"], capture_output=True, text=True, timeout=180,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "socat pty pair (null-modem cable)" in out
    assert re.search(r"weasel\s+active\s+holds local\s+DemoService::web=running", out), out
    dead = re.search(r"otter declared weasel dead ([0-9.]+) s after the kill", out)
    running = re.search(r"otter had the group running ([0-9.]+) s after the kill", out)
    assert dead and running, out
    # deadtime 3 s counts from weasel's last keepalive (at most 0.5 s before the kill)
    assert 2.4 <= float(dead.group(1)) <= float(running.group(1))
    assert re.search(r"otter\s+active\s+holds all\s+DemoService::web=running", out), out
    assert "cleaned up" in out
    assert set(glob.glob("/tmp/hbeat-demo-*")) == before
