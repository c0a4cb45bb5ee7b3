"""One resource-script call, built and judged as heartbeat's ResourceManager would.

This module owns the rules, not the processes (workers/executor.py runs them):

* **Lookup** (docs/heartbeat-protocol.md §6): `<resource_dir>/<script>` (default
  `<config_dir>/resource.d`), then hbeat's packaged wrappers
  `<lib_resource_dir>/<script>` (default `/usr/lib/hbeat/resource.d`), then
  `<init_dir>/<script>` (default `/etc/init.d`); the first regular
  executable file wins. A resource whose `path` the config loader already
  resolved is used as it is, after the same check. A bare IP
  (`10.0.0.1/24/eth0`) is `IPaddr::10.0.0.1/24/eth0`.
* **argv**: `<path> [args...] <action>`: arguments first, action last, each
  argument one word. `OCF::agent::instance` runs the `OCF` wrapper with
  `agent instance <action>`.
* **OCF status** (deliberately better than 3.0.6): the installed wrapper
  hands `status` to the agent, which today's resource-agents (Dummy,
  apache, ...) answer with "unimplemented" (exit 3), so heartbeat would
  call every such resource stopped. For `status` of `OCF::agent::instance`
  we run the agent's `monitor` with exactly the environment the wrapper
  gives it (the instance file `<config_dir>/conf/OCF/<agent>/<instance>`
  sourced with every assignment exported, `OCF_RES_NAME=<instance>`), and
  judge its OCF exit code. start/stop go through the wrapper unchanged.
* **Environment** (what heartbeat 3.0.6 exports to its children, found in
  the binary and by running the installed scripts): a clean environment
  with a sane `PATH`, `TZ` if set, the ha.cf `env` directives (`HA_<name>`),
  then `HA_DIR=<config_dir>`, `HA_FUNCS` (the shellfuncs file),
  `HA_RESOURCEDIR`, `HA_CURHOST=<node>`, `HA_DATEFMT` (heartbeat's
  `%Y/%m/%d_%T<TAB>`), `HA_LOGFILE` / `HA_DEBUGLOG` / `HA_LOGFACILITY` /
  `HA_debug` from ha.cf, `HA_LOGD=no` (hbeat has no logd, so scripts must
  not wait on `ha_logger`), `OCF_ROOT`, and `OCF_AGENTS=<ocf_root>/resource.d`
  (the OCF wrapper looks for agents in `$OCF_AGENTS/*/<agent>`, but the
  installed shellfuncs defaults it to the `heartbeat` provider directory
  itself, where that glob finds nothing: without this variable every
  `OCF::` resource fails with the wrapper's usage text).
* **Judging**: `hbeat.ipc.executor.judge`, told the kind of each call
  (`Call.kind`: a haresources script, or an OCF agent's monitor, whose
  output is not held to heartbeat's text convention).

Pure apart from the `ScriptProbe` it is handed for file checks.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hbeat.config.model import Resource
from hbeat.config.paths import DEFAULT_LIB_RESOURCE_DIR, describe_candidates, script_candidates
from hbeat.ipc.executor import (
    Action,
    CallError,
    CallKind,
    NotConfigured,
    NotInstalled,
    check_action,
    optional_str,
)

SANE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HA_DATEFMT = "%Y/%m/%d_%T\t"
DEFAULT_INIT_DIR = "/etc/init.d"
DEFAULT_OCF_ROOT = "/usr/lib/ocf"
DEFAULT_FUNCS = "/etc/ha.d/shellfuncs"
INHERITED = ("TZ",)
"""Variables taken over from the executor's own environment, when set."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Sources the OCF instance file with every assignment exported, as the OCF
# wrapper's ocf_setvars does, then asks the agent for `monitor` (an instance
# file that cannot be read is OCF_ERR_CONFIGURED, as the wrapper says it).
_OCF_MONITOR = ('[ -f "$1" ] && [ -r "$1" ] || { echo "OCF instance file $1 is missing or '
                'unreadable" >&2; exit 6; }; set -a; . "$1" || exit 6; set +a; '
                'exec "$2" monitor')


class ScriptProbe(Protocol):
    """File checks (hbeat.config.probe.SystemProbe is the real one)."""

    def script_state(self, path: str) -> str:
        """'ok' (executable regular file), 'missing', 'not-file' or 'not-executable'."""
        ...

    def ocf_agents(self, agent: str) -> list[str]:
        """Every `<ocf_root>/resource.d/<provider>/<agent>` that is executable, sorted."""
        ...


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything about this node a call depends on (the executor's `setup`)."""

    config_dir: str
    node: str
    resource_dir: str
    init_dir: str = DEFAULT_INIT_DIR
    lib_resource_dir: str | None = DEFAULT_LIB_RESOURCE_DIR
    funcs: str = DEFAULT_FUNCS
    ocf_root: str = DEFAULT_OCF_ROOT
    logfile: str | None = None
    debugfile: str | None = None
    logfacility: str | None = None
    debug: int = 0
    env: tuple[tuple[str, str], ...] = ()
    """ha.cf `env` directives, names already `HA_`-prefixed."""

    @property
    def ocf_agents_dir(self) -> str:
        return os.path.join(self.ocf_root, "resource.d")


def settings_from_setup(body: Mapping[str, Any], default_funcs: str | None = None) -> Settings:
    """Validate the `setup` body (its fields: docs/processes.md, "The executor")."""
    where = "setup"
    config_dir = optional_str(body, "config_dir", where)
    node = optional_str(body, "node", where)
    if not config_dir or not node:
        raise CallError("setup: 'config_dir' and 'node' are required non-empty strings")
    logging = _logging_fields(body.get("logging") or {}, "setup", "logging")
    raw_env = body.get("env") or {}
    if not isinstance(raw_env, Mapping):
        raise CallError("setup: 'env' must be an object of NAME: value strings")
    env: list[tuple[str, str]] = []
    for name, value in raw_env.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise CallError(f"setup: env name {name!r} is not a valid variable name")
        if not isinstance(value, str) or "\0" in value:
            raise CallError(f"setup: env {name}: value must be a string without NUL bytes")
        env.append((name, value))
    return Settings(
        config_dir=config_dir,
        node=node,
        resource_dir=(optional_str(body, "resource_dir", where)
                      or os.path.join(config_dir, "resource.d")),
        init_dir=optional_str(body, "init_dir", where) or DEFAULT_INIT_DIR,
        lib_resource_dir=(optional_str(body, "lib_resource_dir", where)
                          or DEFAULT_LIB_RESOURCE_DIR),
        funcs=optional_str(body, "funcs", where) or default_funcs or DEFAULT_FUNCS,
        ocf_root=optional_str(body, "ocf_root", where) or DEFAULT_OCF_ROOT,
        env=tuple(env),
        **logging,
    )


def _logging_fields(logging: Any, where: str, name: str | None) -> dict[str, Any]:
    """The Settings fields of a `logging` object: setup's field `name`, or the
    body of the `logging` verb (`name` None)."""
    if not isinstance(logging, Mapping):
        raise CallError(f"{where}: '{name}' must be an object" if name
                        else f"{where}: must be an object")
    prefix = f"{name}." if name else ""
    debug = logging.get("debug", 0)
    if not isinstance(debug, int) or isinstance(debug, bool) or debug < 0:
        raise CallError(f"{where}: '{prefix}debug' must be a non-negative integer, "
                        f"not {debug!r}")
    inner = f"{where}.{name}" if name else where
    facility = optional_str(logging, "logfacility", inner)
    return {"logfile": optional_str(logging, "logfile", inner),
            "debugfile": optional_str(logging, "debugfile", inner),
            "logfacility": None if facility == "none" else facility,
            "debug": debug}


def with_logging(settings: Settings, logging: Any) -> Settings:
    """`settings` with the logging of a `logging` message (the supervisor
    reread its configuration, or changed the debug level); raises CallError."""
    return dataclasses.replace(settings, **_logging_fields(logging, "logging", None))


def build_env(settings: Settings, inherited: Mapping[str, str]) -> dict[str, str]:
    """The environment of every call: see the module docstring for the order."""
    env = {"PATH": SANE_PATH}
    for name in INHERITED:
        if name in inherited:
            env[name] = inherited[name]
    env.update(settings.env)
    env.update({
        "HA_DIR": settings.config_dir,
        "HA_FUNCS": settings.funcs,
        "HA_RESOURCEDIR": settings.resource_dir,
        "HA_CURHOST": settings.node,
        "HA_DATEFMT": HA_DATEFMT,
        "HA_LOGD": "no",
        "HA_debug": str(settings.debug),
        "OCF_ROOT": settings.ocf_root,
        "OCF_AGENTS": settings.ocf_agents_dir,
    })
    for name, value in (("HA_LOGFILE", settings.logfile), ("HA_DEBUGLOG", settings.debugfile),
                        ("HA_LOGFACILITY", settings.logfacility)):
        if value:
            env[name] = value
    return env


@dataclass(frozen=True, slots=True)
class Call:
    """What to execute for one resource action."""

    action: Action
    argv: tuple[str, ...]
    path: str
    """The resource script (or the OCF agent, for an OCF monitor)."""
    kind: CallKind
    """How its answer is judged (heartbeat's text convention or OCF exit codes)."""
    extra_env: tuple[tuple[str, str], ...] = ()
    """Set on top of the common environment (what the OCF wrapper would export)."""
    display: str = ""
    """How to name the call in a log line, when not simply its argv."""

    def describe(self) -> str:
        """`<path> <args> <action>`, as heartbeat logs `info: Running ...`."""
        return self.display or " ".join(self.argv)


def _check_executable(path: str, probe: ScriptProbe, what: str) -> None:
    state = probe.script_state(path)
    if state == "missing":
        raise NotInstalled(f"{what} {path} does not exist")
    if state == "not-file":
        raise NotInstalled(f"{what} {path} is not a regular file")
    if state == "not-executable":
        raise NotInstalled(f"{what} {path} is not executable")


def locate_script(script: str, settings: Settings, probe: ScriptProbe) -> str:
    """ResourceManager's scriptpath(): resource.d, hbeat's own wrappers, the init directory."""
    candidates = script_candidates(script, settings.resource_dir, settings.lib_resource_dir,
                                   settings.init_dir)
    reasons = []
    for candidate in candidates:
        state = probe.script_state(candidate)
        if state == "ok":
            return candidate
        if state != "missing":
            reasons.append(f"{candidate} is {state.replace('-', ' ')}")
    detail = "; ".join(reasons) or "no such file"
    raise NotInstalled(f"Cannot locate resource script {script} (looked for "
                    f"{describe_candidates(candidates)}: {detail})")


def build_call(resource: Resource, action: str, settings: Settings,
               probe: ScriptProbe) -> Call:
    """The argv for `action` on `resource`; CallError if it cannot be run."""
    act = check_action(action)
    if resource.path:
        path = resource.path
        _check_executable(path, probe, f"resource script for {resource.text}:")
    else:
        path = locate_script(resource.script, settings, probe)
    if resource.script == "OCF":
        if len(resource.args) != 2:
            raise CallError(f"resource {resource.text}: OCF resources are written "
                            "OCF::agent::instance")
        agent, instance = resource.args
        agents = probe.ocf_agents(agent)
        if not agents:
            raise NotInstalled(f"resource {resource.text}: OCF agent {agent} not found as an "
                            f"executable {settings.ocf_agents_dir}/*/{agent}")
        conf = os.path.join(settings.config_dir, "conf", "OCF", agent, instance)
        if probe.script_state(conf) not in ("ok", "not-executable"):
            raise NotConfigured(f"resource {resource.text}: OCF instance file {conf} is missing "
                            "or not a regular file")
        if act == "status":
            return Call(act, ("/bin/sh", "-c", _OCF_MONITOR, f"OCF::{agent}::{instance}",
                              conf, agents[0]), agents[0], CallKind.OCF_MONITOR,
                        (("OCF_RES_NAME", instance), ("OCF_RES_VERSION_MAJOR", "0")),
                        f"{agents[0]} monitor (OCF::{agent}::{instance} status, "
                        f"parameters from {conf})")
    return Call(act, (path, *resource.args, act), path, CallKind.SCRIPT)
