"""`hbeat run` loads none of the other subcommands' modules (`cli.py`), nor
`hashlib` or `decimal`:
every page the daemon imports is shared with, or copied into, each worker it
forks (docs/processes.md, "Memory"). Checked in a fresh interpreter that
goes the daemon's way (the `hbeat` parser for `run`, the supervisor and
every worker module it imports before forking); and the other subcommands,
whose modules are now imported on demand, still parse their own options as
real commands."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.harness.hbeatnode import HBEAT

# Modules only a command-line user needs (status views, export, journal
# viewers, the feed client): none has a place in the daemon.
CLI_ONLY = (
    "hbeat.statuscmd", "hbeat.statusview", "hbeat.whycmd", "hbeat.journalview",
    "hbeat.outdatecmd", "hbeat.rscvalidate", "hbeat.feedclient", "hbeat.export",
    "hbeat.export.command", "hbeat.export.cib", "hbeat.export.crmsh", "hbeat.export.pcs",
    "hbeat.export.corosync", "xml.etree.ElementTree", "pyexpat",
)
# Standard modules the daemon has no steady use for, each a cost to every
# process of a node (docs/processes.md, "Memory"): `hashlib` sets OpenSSL up.
HEAVY_UNUSED = ("hashlib", "_hashlib", "decimal", "_decimal")

DAEMON_WAY = r"""
import json, sys
from hbeat import cli
args = cli.build_parser(cli.requested_command(["run"])).parse_args(["run"])
assert args.run.__name__ == "_run_run", args.run
import supervisor.daemon  # what _run_run imports
from supervisor.forkstart import prewarm
for module in ("workers.link", "workers.executor", "workers.ping"):  # supervisor/daemon.py
    prewarm(module)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_daemon_imports_no_cli_only_module() -> None:
    out = subprocess.run([sys.executable, "-c", DAEMON_WAY], capture_output=True, text=True,
                         timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    assert "supervisor.daemon" in loaded and "workers.link" in loaded
    assert sorted(loaded.intersection(CLI_ONLY)) == []
    assert sorted(loaded.intersection(HEAVY_UNUSED)) == []


def test_the_other_subcommands_still_parse_their_options() -> None:
    for argv, option in ((["status", "--help"], "--json"), (["watch", "--help"], "--json"),
                         (["export", "--help"], "--to"), (["why", "--help"], "--since"),
                         (["history", "--help"], "--since"),
                         (["outdate-peer", "--help"], "--resource")):
        out = subprocess.run([HBEAT, *argv], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (argv, out.stderr)
        assert option in out.stdout, (argv, out.stdout)
    out = subprocess.run([HBEAT, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "outdate-peer" in out.stdout and "export" in out.stdout
    out = subprocess.run([HBEAT, "status", "--no-such-option"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "--no-such-option" in out.stderr
