"""Where the configuration lives and what this node is called.

The configuration directory is `--config-dir`, else `$HBEAT_CONFIG_DIR`,
else `/etc/ha.d` (several instances on one host, labs and tests use the
first two). Every directory is made absolute where it is resolved. The
local node name is `--node-name`, else `$HBEAT_NODE_NAME`, else
`uname -n`; heartbeat lower-cases node names, so do we.

Resource scripts named in haresources are looked for in the admin's
`<config_dir>/resource.d` first, then in hbeat's own `/usr/lib/hbeat/resource.d`
(the packaged wrappers over the OCF agents: IPaddr, IPaddr2, Filesystem,
LVM, ...), then in the init directory (`/etc/init.d`). An admin's script
of the same name wins over the packaged one, as a file in /etc should.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_CONFIG_DIR = "/etc/ha.d"
CONFIG_DIR_ENV = "HBEAT_CONFIG_DIR"
NODE_NAME_ENV = "HBEAT_NODE_NAME"
HACF = "ha.cf"
HARESOURCES = "haresources"
AUTHKEYS = "authkeys"


def resolve_config_dir(option: str | None, environ: Mapping[str, str]) -> str:
    """Made absolute here: the executor runs scripts from `/`, so a relative
    directory would pass `hbeat check` and then fail every resource."""
    return os.path.abspath(option or environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR)


def resolve_node_name(option: str | None, environ: Mapping[str, str],
                      uname: str | None = None) -> str:
    name = option or environ.get(NODE_NAME_ENV) or uname or os.uname().nodename
    return name.lower()


RUNTIME_DIR_ENV = "HBEAT_RUNTIME_DIR"
DEFAULT_RUNTIME_DIR = "/run/hbeat"
STATE_DIR_ENV = "HBEAT_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/hbeat"


def resolve_runtime_dir(option: str | None, environ: Mapping[str, str]) -> str:
    """Sockets and the sequence board: `--runtime-dir`, `$HBEAT_RUNTIME_DIR`, `/run/hbeat`."""
    return os.path.abspath(option or environ.get(RUNTIME_DIR_ENV) or DEFAULT_RUNTIME_DIR)


def resolve_state_dir(option: str | None, environ: Mapping[str, str]) -> str:
    """Generation and UUID: `--state-dir`, `$HBEAT_STATE_DIR`, `/var/lib/hbeat`."""
    return os.path.abspath(option or environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


DEFAULT_LIB_RESOURCE_DIR = "/usr/lib/hbeat/resource.d"


def script_candidates(script: str, resource_dir: str, lib_resource_dir: str | None,
                      init_dir: str) -> tuple[str, ...]:
    """Where `script` is looked for, in order (see the module docstring)."""
    dirs = [resource_dir, *([lib_resource_dir] if lib_resource_dir else []), init_dir]
    return tuple(os.path.join(d, script) for d in dirs)


def describe_candidates(candidates: tuple[str, ...]) -> str:
    """`a and b`, `a, b and c`: for "looked for ..." messages."""
    if len(candidates) <= 1:
        return "".join(candidates)
    return ", ".join(candidates[:-1]) + " and " + candidates[-1]
