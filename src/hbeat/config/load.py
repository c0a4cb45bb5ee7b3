"""Reading the three files from a configuration directory into one ClusterConfig.

This is the module that does I/O: it reads ha.cf, haresources and authkeys,
runs the pure parsers and the checks, and either returns the immutable
`ClusterConfig` (warnings attached) or raises `ConfigError` with every
problem found, errors and warnings, in file and line order.

All three files are required. haresources is required because hbeat only
runs heartbeat's haresources mode, where heartbeat itself refuses to start
without it ("Cannot open resources file"); heartbeat skips it only when
resource management is off (`-M`, or a CRM), which hbeat does not offer. An
empty haresources (no groups) is valid: the node takes part in membership
and holds no resources.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hbeat.config.checks import check_groups, check_hacf, check_media_system, check_stonith
from hbeat.config.fencing import check_fencing
from hbeat.config.hacf import parse_hacf
from hbeat.config.haresources import parse_haresources
from hbeat.config.hooks import check_hooks
from hbeat.config.model import ClusterConfig, ConfigError, Level, Problem, ResourceGroup
from hbeat.config.paths import AUTHKEYS, HACF, HARESOURCES
from hbeat.config.pingcheck import check_ipfail
from hbeat.config.probe import SystemProbe
from hbeat.config.statustcp import check_status_tcp
from linklayer.authkeys import AuthkeysError, load_authkeys_result
from linklayer.message import Keyring

_CRC_WARNING = re.compile(r"key \d+ uses crc,")
_WHAT = {HACF: "config file", HARESOURCES: "resources file", AUTHKEYS: "keyfile"}


def load_config(config_dir: str | Path, node_name: str, *,
                system: SystemProbe | None = None) -> ClusterConfig:
    """The configuration in `config_dir` as seen by node `node_name`; raises ConfigError."""
    config, problems = inspect_config(config_dir, node_name, system=system)
    if config is None:
        raise ConfigError(tuple(problems))
    return config


def inspect_config(config_dir: str | Path, node_name: str, *,
                   system: SystemProbe | None = None
                   ) -> tuple[ClusterConfig | None, list[Problem]]:
    """Every problem found, and the ClusterConfig when there is no error."""
    probe = system if system is not None else SystemProbe()
    directory = Path(config_dir)
    node_name = node_name.lower()
    problems: list[Problem] = []

    hacf_path = str(directory / HACF)
    hacf = None
    data = _read(hacf_path, HACF, problems)
    if data is not None:
        hacf, found = parse_hacf(data, hacf_path)
        problems += found
        if hacf is not None:
            problems += check_hacf(hacf, node_name)
            problems += check_media_system(hacf, probe)
            problems += check_fencing(hacf, probe)
            problems += check_ipfail(hacf)
            problems += check_stonith(hacf, node_name, probe)
            problems += check_status_tcp(hacf)

    res_path = str(directory / HARESOURCES)
    groups: list[ResourceGroup] = []
    data = _read(res_path, HARESOURCES, problems)
    if data is not None:
        groups, found = parse_haresources(data, res_path)
        problems += found
        if hacf is not None:
            groups, found = check_groups(groups, hacf, res_path, str(directory), probe)
            problems += found

    problems += check_hooks(str(directory), probe)

    keys_path = str(directory / AUTHKEYS)
    keyring: Keyring | None = None
    if _exists(keys_path, AUTHKEYS, problems):
        try:
            result = load_authkeys_result(keys_path)
        except AuthkeysError as exc:
            problems.append(Problem(str(exc.path), exc.line or None, Level.ERROR, exc.message))
        except OSError as exc:
            problems.append(Problem(keys_path, None, Level.ERROR,
                                    f"Cannot open keyfile: {exc.strerror}"))
        else:
            keyring = result.keyring
            allow_crc = hacf is not None and hacf.allow_crc
            problems += [_authkeys_warning(text, keys_path, allow_crc, hacf_path)
                         for text in result.warnings]

    problems += _write_exposure([hacf_path, res_path], groups, probe)

    order = {hacf_path: 0, res_path: 1, keys_path: 2}  # then the hooks
    problems.sort(key=lambda p: (order.get(p.path, 3),
                                 p.line if p.line is not None else 1 << 30))
    if hacf is None or keyring is None or any(p.level is Level.ERROR for p in problems):
        return None, problems
    config = ClusterConfig(str(directory), node_name, hacf, tuple(groups), keyring,
                           tuple(problems))
    return config, problems


def _write_exposure(files: list[str], groups: list[ResourceGroup],
                    probe: SystemProbe) -> list[Problem]:
    """WARN for ha.cf, haresources and resource scripts (and the directories
    holding them) that someone other than root can change: such a person can
    make the cluster run code of theirs as root. (authkeys is stricter: an
    error, in linklayer.authkeys.)"""
    out: list[Problem] = []
    seen: set[str] = set()
    scripts = [r.path for g in groups for r in g.resources if r.path is not None]
    for path in [*files, *scripts]:
        for target in (path, os.path.dirname(path)):
            if target in seen:
                continue
            seen.add(target)
            who = probe.write_exposure(target)
            if who:
                kind = "directory" if target != path else "file"
                out.append(Problem(path, None, Level.WARN,
                                   f"{kind} {target} can be changed by {who}, who could then"
                                   f" run commands as root through the cluster"
                                   f" (chown root and chmod go-w {target})"))
    return out


def _exists(path: str, name: str, problems: list[Problem]) -> bool:
    if Path(path).is_file():
        return True
    reason = "is not a regular file" if Path(path).exists() else "No such file or directory"
    problems.append(Problem(path, None, Level.ERROR, f"Cannot open {_WHAT[name]}: {reason}"))
    return False


def _read(path: str, name: str, problems: list[Problem]) -> bytes | None:
    if not _exists(path, name, problems):
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        problems.append(Problem(path, None, Level.ERROR,
                                f"Cannot open {_WHAT[name]}: {exc.strerror}"))
        return None


def _authkeys_warning(text: str, path: str, allow_crc: bool, hacf_path: str) -> Problem:
    """linklayer.authkeys words its warnings `path:line: message`.

    A `crc` key lets anyone on a link forge frames that verify with it, and
    every configured index verifies, so one `crc` line makes a sha1 cluster
    forgeable too. heartbeat accepts it with no word; hbeat refuses it unless
    ha.cf says `allow_crc on` (then it stays a warning)."""
    line: int | None = None
    message = text
    if text.startswith(path + ":"):
        number, sep, rest = text[len(path) + 1:].partition(": ")
        if sep and number.isdigit():
            line, message = int(number) or None, rest
    if _CRC_WARNING.match(message) and not allow_crc:
        index = message.split()[1]
        return Problem(path, line, Level.ERROR,
                       f"key {index} uses crc, which anyone on the link can forge (crc is a"
                       f" checksum, not authentication): use sha1, or add 'allow_crc on' to"
                       f" {hacf_path} to accept it knowingly")
    return Problem(path, line, Level.WARN, message)
