"""`hbeat check --validate`: ask each OCF-backed resource whether it can run on this node.

Without the flag `hbeat check` only looks at files (a resource script that
is missing or not executable, an OCF agent not installed). With it, every
resource backed by an OCF agent (hbeat's packaged wrappers, which source
`hbeat-ocf.sh`, and `OCF::agent::instance`) is run once with the action
`validate-all`, which OCF agents implement without touching the system:
it checks the agent's required binaries (resource-agents' `check_binary`:
the Filesystem agent exits 5 without `modprobe`), parameters and files.
The call is made as the executor makes it (workers/scriptrun.py: lookup,
argv, environment; no HA_LOGFILE, so nothing is written to the cluster's
log), one at a time, each with `timeout_s`. Other resources (LSB init
scripts, heartbeat-style resource.d scripts) have no side-effect-free
action and are left out, said once each.

The exit code is read as docs/resources.md ("Exit codes") says the daemon
reads a status: 5 (OCF_ERR_INSTALLED) and 6 (OCF_ERR_CONFIGURED) are an
ERROR (the group cannot run on this node), with the agent's own reason
(its last line of output, e.g. `Setup problem: couldn't find command:
modprobe`); any other failure a WARN.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hbeat.config.model import ClusterConfig, Level, Problem, Resource
from hbeat.ipc.executor import OcfCode, rc_name
from workers.scriptrun import Settings, build_env

VALIDATE = "validate-all"
MARKER = b"hbeat-ocf.sh"
"""hbeat's packaged wrappers source this file: they pass validate-all to their agent."""
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Validation:
    resource: Resource
    argv: tuple[str, ...] | None  # None: not validated (see `skipped`)
    rc: int | None = None
    output: str = ""
    skipped: str | None = None


def ocf_backed(resource: Resource) -> bool:
    """Whether `resource` runs an OCF agent that understands validate-all."""
    if resource.script == "OCF":
        return True
    if not resource.path:
        return False
    try:
        with open(resource.path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return MARKER in head


def plan(config: ClusterConfig) -> list[Validation]:
    """What would be run, resource by resource (haresources order)."""
    out: list[Validation] = []
    for group in config.groups:
        for rsc in group.resources:
            if not rsc.path:
                out.append(Validation(rsc, None, skipped="its script was not found"))
            elif not ocf_backed(rsc):
                out.append(Validation(rsc, None, skipped="not an OCF agent: no validate-all"))
            elif rsc.script == "OCF" and len(rsc.args) == 2 and not (
                    Path(config.config_dir) / "conf" / "OCF" / rsc.args[0] / rsc.args[1]
            ).is_file():
                conf = Path(config.config_dir) / "conf" / "OCF" / rsc.args[0] / rsc.args[1]
                out.append(Validation(rsc, None, rc=int(OcfCode.OCF_ERR_CONFIGURED),
                                      output=f"instance file {conf} does not exist"))
            else:
                out.append(Validation(rsc, (rsc.path, *rsc.args, VALIDATE)))
    return out


def environment(config: ClusterConfig, inherited: Mapping[str, str]) -> dict[str, str]:
    """The executor's environment for this node, without the log files."""
    settings = Settings(config_dir=config.config_dir, node=config.node_name,
                        resource_dir=os.path.join(config.config_dir, "resource.d"),
                        env=tuple(config.hacf.env))
    return build_env(settings, inherited)


def run(config: ClusterConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Validation]:
    env = environment(config, os.environ)
    out: list[Validation] = []
    for v in plan(config):
        if v.argv is None:
            out.append(v)
            continue
        try:
            done = subprocess.run(list(v.argv), stdin=subprocess.DEVNULL, capture_output=True,
                                  env=env, cwd="/", timeout=timeout_s, start_new_session=True,
                                  check=False)
        except subprocess.TimeoutExpired:
            out.append(Validation(v.resource, v.argv, None, f"timed out after {timeout_s:g} s"))
            continue
        except OSError as exc:
            out.append(Validation(v.resource, v.argv, None, f"cannot execute: {exc.strerror}"))
            continue
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        rc = done.returncode if done.returncode >= 0 else None
        out.append(Validation(v.resource, v.argv, rc, text))
    return out


def _reason(output: str) -> str:
    """The agent's last meaningful line (its exit reason), or ''."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "ocf-exit-reason:" in line:
            return line.split("ocf-exit-reason:", 1)[1].strip()
    return lines[-1][:300] if lines else ""


def problems(results: list[Validation], haresources: str) -> tuple[list[Problem], list[str]]:
    """The problems to print (`file:line: ...`) and one summary line per resource."""
    found: list[Problem] = []
    summary: list[str] = []
    for v in results:
        rsc = v.resource
        if v.skipped is not None:
            summary.append(f"  {rsc.text}: not validated ({v.skipped})")
            continue
        if v.rc == 0:
            summary.append(f"  {rsc.text}: OK")
            continue
        why = _reason(v.output)
        detail = f": {why}" if why else ""
        if v.rc in (OcfCode.OCF_ERR_INSTALLED, OcfCode.OCF_ERR_CONFIGURED):
            what = "not installed" if v.rc == OcfCode.OCF_ERR_INSTALLED else "not configured"
            found.append(Problem(haresources, rsc.line, Level.ERROR,
                                 f"resource [{rsc.text}] cannot run on this node: {what} "
                                 f"({rc_name(v.rc)}){detail}"))
            summary.append(f"  {rsc.text}: CANNOT RUN HERE ({what})")
        else:
            how = rc_name(v.rc) if v.rc is not None else why or "no exit code"
            found.append(Problem(haresources, rsc.line, Level.WARN,
                                 f"resource [{rsc.text}]: {VALIDATE} failed ({how}){detail}"))
            summary.append(f"  {rsc.text}: {VALIDATE} failed ({how})")
    return found, summary


__all__ = ["VALIDATE", "Validation", "environment", "ocf_backed", "plan", "problems", "run"]
