"""Where the configuration lives and what this node is called.

The configuration directory is `--config-dir`, else `$HBEAT_CONFIG_DIR`,
else `/etc/ha.d` (several instances on one host, labs and tests use the
first two). The local node name is `--node-name`, else `$HBEAT_NODE_NAME`,
else `uname -n`; heartbeat lower-cases node names, so do we.
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
    return option or environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR


def resolve_node_name(option: str | None, environ: Mapping[str, str],
                      uname: str | None = None) -> str:
    name = option or environ.get(NODE_NAME_ENV) or uname or os.uname().nodename
    return name.lower()
