"""hbeat's configuration: ha.cf, haresources and authkeys read as heartbeat reads them.

`load_config(config_dir, node_name)` returns the immutable `ClusterConfig`
or raises `ConfigError` listing every problem as `file:line: message`.
"""

from hbeat.config.load import inspect_config, load_config
from hbeat.config.model import AutoFailback, ClusterConfig, ConfigError, Level, Problem
from hbeat.config.probe import SystemProbe

__all__ = [
    "AutoFailback",
    "ClusterConfig",
    "ConfigError",
    "Level",
    "Problem",
    "SystemProbe",
    "inspect_config",
    "load_config",
]
