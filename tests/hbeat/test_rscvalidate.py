"""`hbeat check --validate` (src/hbeat/rscvalidate.py) as a real command: real
wrapper scripts over hbeat's `hbeat-ocf.sh` and a real (small) OCF agent
whose validate-all exits 5 when a binary it needs is missing and 6 on a bad
parameter, as resource-agents' agents do."""

from __future__ import annotations

from pathlib import Path

from tests.hbeat.config.seed import write_seed
from tests.hbeat.test_cli_check import run

REPO = Path(__file__).resolve().parents[2]
AGENT = """#!/bin/sh
echo "$1" >> {calls}
case $1 in
validate-all)
    if ! command -v "$OCF_RESKEY_need" >/dev/null 2>&1; then
        echo "ocf-exit-reason:Setup problem: couldn't find command: $OCF_RESKEY_need" >&2
        exit 5
    fi
    if [ "$OCF_RESKEY_mode" != good ]; then
        echo "ocf-exit-reason:mode [$OCF_RESKEY_mode] is not good" >&2
        exit 6
    fi
    exit 0;;
monitor) exit 7;;
*) exit 3;;
esac
"""
WRAPPER = """#!/bin/sh
# test wrapper in the style of hbeat's packaged resource.d scripts
OCF_ROOT={root}
OCF_RESKEY_need=$1 OCF_RESKEY_mode=$2
export OCF_RESKEY_need OCF_RESKEY_mode
. "${{0%/*}}/hbeat-ocf.sh"
hbeat_ocf_run LabAgent "$3" lab
"""
HARESOURCES = ("otter LabAgent::sh::good LabAgent::no-such-tool-hbeat::good "
               "LabAgent::sh::bad apache\n")


def setup(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    root = tmp_path / "ocf"
    agent = root / "resource.d" / "lab" / "LabAgent"
    agent.parent.mkdir(parents=True)
    agent.write_text(AGENT.format(calls=calls))
    agent.chmod(0o755)
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",),
                      haresources=HARESOURCES, overrides={"logfile": str(tmp_path / "ha-log")})
    rd = seed.config_dir / "resource.d"
    (rd / "hbeat-ocf.sh").write_text((REPO / "scripts/resource.d/hbeat-ocf.sh").read_text())
    wrapper = rd / "LabAgent"
    wrapper.write_text(WRAPPER.format(root=root))
    wrapper.chmod(0o755)
    return seed.config_dir, calls


def test_validate_reports_what_is_missing_or_wrong(tmp_path: Path) -> None:
    config_dir, calls = setup(tmp_path)
    result = run("check", "--validate", "--config-dir", str(config_dir), "--node-name", "otter")
    assert result.returncode == 1, result.stdout + result.stderr
    hr = config_dir / "haresources"
    assert (f"ERROR: {hr}:1: resource [LabAgent::no-such-tool-hbeat::good] cannot run on "
            "this node: not installed (exit 5, OCF_ERR_INSTALLED): Setup problem: couldn't "
            "find command: no-such-tool-hbeat") in result.stdout
    assert (f"ERROR: {hr}:1: resource [LabAgent::sh::bad] cannot run on this node: not "
            "configured (exit 6, OCF_ERR_CONFIGURED): mode [bad] is not good") in result.stdout
    assert "LabAgent::sh::good]" not in result.stdout  # validated fine: no problem line
    problems = [ln for ln in result.stdout.splitlines() if ln.startswith(("ERROR", "WARN"))]
    assert len(problems) == 2 and not any("apache" in ln for ln in problems)
    assert "Configuration has 2 errors and 0 warnings." in result.stdout
    assert calls.read_text().split() == ["validate-all"] * 3


def test_validate_summary_when_all_is_well(tmp_path: Path) -> None:
    config_dir, _calls = setup(tmp_path)
    (config_dir / "haresources").write_text("otter LabAgent::sh::good apache\n")
    result = run("check", "--validate", "--config-dir", str(config_dir), "--node-name", "otter")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("resources (validate-all on this node):\n"
            "  LabAgent::sh::good: OK\n"
            "  apache: not validated (not an OCF agent: no validate-all)\n") in result.stdout


def test_without_the_flag_no_agent_is_run(tmp_path: Path) -> None:
    config_dir, calls = setup(tmp_path)
    result = run("check", "--config-dir", str(config_dir), "--node-name", "otter")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not calls.exists()
