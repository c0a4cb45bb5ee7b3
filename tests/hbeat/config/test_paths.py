"""hbeat.config.paths: where the configuration, runtime and state live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hbeat.config.load import load_config
from hbeat.config.paths import (
    DEFAULT_CONFIG_DIR,
    resolve_config_dir,
    resolve_node_name,
    resolve_runtime_dir,
    resolve_state_dir,
)
from hbeat.config.probe import SystemProbe
from tests.hbeat.config.seed import write_seed


def test_option_then_environment_then_default() -> None:
    env = {"HBEAT_CONFIG_DIR": "/e/ha.d", "HBEAT_RUNTIME_DIR": "/e/run",
           "HBEAT_STATE_DIR": "/e/state"}
    assert resolve_config_dir("/o/ha.d", env) == "/o/ha.d"
    assert resolve_config_dir(None, env) == "/e/ha.d"
    assert resolve_config_dir(None, {}) == DEFAULT_CONFIG_DIR
    assert resolve_runtime_dir(None, env) == "/e/run"
    assert resolve_state_dir(None, env) == "/e/state"
    assert resolve_node_name("Otter", {}) == "otter"
    assert resolve_node_name(None, {"HBEAT_NODE_NAME": "Weasel"}) == "weasel"


def test_relative_directories_become_absolute(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor runs scripts from `/`: a relative configuration directory
    used to pass `hbeat check` and then make every resource script fail."""
    monkeypatch.chdir(tmp_path)
    write_seed(tmp_path / "etc", serial="/dev/null", interfaces=("lo",))
    config_dir = resolve_config_dir("etc", {})
    assert config_dir == str(tmp_path / "etc")
    assert resolve_runtime_dir(None, {"HBEAT_RUNTIME_DIR": "run"}) == str(tmp_path / "run")
    assert resolve_state_dir("state", {}) == str(tmp_path / "state")
    config = load_config(config_dir, "otter", system=SystemProbe(init_dir=tmp_path / "etc"))
    paths = [r.path for g in config.groups for r in g.resources]
    assert paths and all(p is not None and os.path.isabs(p) for p in paths), paths
