"""supervisor/reload.py: what a reread configuration changes, and whether it
can be applied live (real configuration files read by the real loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hbeat.config.load import load_config
from hbeat.config.model import ClusterConfig
from hbeat.config.probe import SystemProbe
from hbeat.logfmt import Level
from supervisor.reload import KEYS_REREAD, NOT_LIVE, UNCHANGED, debug_level, plan_reload
from tests.hbeat.config.seed import SEED_HARESOURCES, write_seed


def load(tmp_path: Path, name: str, **seed: Any) -> ClusterConfig:
    """The seed (changed by `seed`) written into tmp_path/cfg and read back: one
    directory, as a reload rereads the files where they are (`name` documents
    which reading this is)."""
    s = write_seed(tmp_path / "cfg", **{"serial": "/dev/null", "interfaces": ("lo",), **seed})
    return load_config(s.config_dir, s.node_name, system=SystemProbe(init_dir=s.init_dir))


def texts(lines: tuple[tuple[Level, str], ...]) -> list[str]:
    return [f"{level.value}: {text}" for level, text in lines]


def test_same_files_are_unchanged(tmp_path: Path) -> None:
    plan = plan_reload(load(tmp_path, "a"), load(tmp_path, "b"))
    assert not plan.apply and not plan.live and not plan.fixed
    assert texts(plan.lines) == [f"info: {UNCHANGED}"]


def test_comments_and_moved_lines_are_unchanged(tmp_path: Path) -> None:
    old = load(tmp_path, "a")
    new = load(tmp_path, "b", extra=["# a comment at the end"],
               haresources="# the group\n\n" + SEED_HARESOURCES)
    assert texts(plan_reload(old, new).lines) == [f"info: {UNCHANGED}"]


def test_new_authkeys_are_live(tmp_path: Path) -> None:
    plan = plan_reload(load(tmp_path, "a"),
                       load(tmp_path, "b", authkeys="auth 2\n2 sha1 a-new-secret\n"))
    assert plan.apply and plan.keys and plan.live == ("authkeys",)
    assert f"info: {KEYS_REREAD}" in texts(plan.lines)


def test_timers_and_logging_are_live(tmp_path: Path) -> None:
    old = load(tmp_path, "a")
    new = load(tmp_path, "b", overrides={"deadtime": "12", "keepalive": "2"},
               extra=["logfile /tmp/other-log", "debug 2"])
    plan = plan_reload(old, new)
    assert plan.apply and not plan.fixed
    assert plan.timers == ("keepalive", "deadtime")
    assert set(plan.logging) >= {"logfile", "debug"}
    assert "info: deadtime now 12000 ms (was 10000 ms)." in texts(plan.lines)


@pytest.mark.parametrize(("seed", "directives"), [
    ({"nodes": ("otter", "weasel", "stoat"), "haresources": ""}, ["node", "haresources"]),
    ({"serial": None, "extra": ["ucast lo 127.0.0.2"]}, ["serial", "ucast"]),
    ({"overrides": {"udpport": "695"}}, ["udpport"]),
    ({"overrides": {"auto_failback": "on"}}, ["auto_failback"]),
    ({"haresources": "otter 10.0.0.9\n"}, ["haresources"]),
    ({"overrides": {"udpport": "695", "auto_failback": "on"}}, ["udpport", "auto_failback"]),
    ({"extra": ["monitor 5 restarts 2"]}, ["monitor"]),  # resource monitoring (hbeat's own)
])
def test_restart_only_changes_apply_nothing(tmp_path: Path, seed: dict[str, object],
                                            directives: list[str]) -> None:
    plan = plan_reload(load(tmp_path, "a"), load(tmp_path, "b", **seed))
    assert not plan.apply
    assert sorted(plan.fixed) == sorted(directives)
    lines = texts(plan.lines)
    for name in directives:
        assert f"WARN: {name} {NOT_LIVE}" in lines


def test_restart_only_change_holds_back_the_live_ones_too(tmp_path: Path) -> None:
    old = load(tmp_path, "a")
    new = load(tmp_path, "b", overrides={"udpport": "695", "deadtime": "12"},
               authkeys="auth 2\n2 sha1 a-new-secret\n")
    plan = plan_reload(old, new)
    assert not plan.apply and plan.fixed == ("udpport",)
    assert texts(plan.lines) == [
        f"WARN: udpport {NOT_LIVE}",
        "WARN: Not applied either: authkeys, deadtime (restart hbeat to apply the new "
        "configuration)",
    ]


def test_debug_level_steps() -> None:
    assert debug_level(0, True) == 1
    assert debug_level(1, False) == 0
    assert debug_level(0, False) == 0  # heartbeat: never below 0
    assert debug_level(255, True) == 255
