"""workers.scriptrun: argv and environment of one call (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.config.model import Resource
from hbeat.config.probe import SystemProbe
from hbeat.ipc import executor as ipc
from hbeat.ipc.executor import CallError, CallKind
from workers import scriptrun
from workers.scriptrun import Settings


def settings(root: Path, **kw: object) -> Settings:
    base: dict[str, object] = {"config_dir": str(root), "node": "otter",
                               "resource_dir": str(root / "resource.d"),
                               "init_dir": str(root / "init.d")}
    base.update(kw)
    return scriptrun.settings_from_setup(base)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for d in ("resource.d", "init.d", "ocf/resource.d/zprov", "ocf/resource.d/aprov"):
        (tmp_path / d).mkdir(parents=True)
    return tmp_path


def exe(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def probe(root: Path) -> SystemProbe:
    return SystemProbe(init_dir=str(root / "init.d"), ocf_dir=str(root / "ocf/resource.d"))


def test_argv_args_first_action_last_and_lookup_order(root: Path) -> None:
    s = settings(root)
    both = exe(root / "resource.d" / "drbddisk")
    exe(root / "init.d" / "drbddisk")
    call = scriptrun.build_call(Resource("drbddisk::r0", "drbddisk", ("r0",), 3), "start", s,
                                probe(root))
    assert call.argv == (str(both), "r0", "start")
    init_only = exe(root / "init.d" / "apache2")
    call = scriptrun.build_call(Resource("apache2", "apache2", (), 3), "status", s, probe(root))
    assert call.argv == (str(init_only), "status") and call.kind is CallKind.SCRIPT


def test_bare_ip_is_ipaddr_with_the_address(root: Path) -> None:
    ipaddr = exe(root / "resource.d" / "IPaddr")
    resource = ipc.resource_from_json({"text": "10.0.0.1/24/eth0"})
    call = scriptrun.build_call(resource, "stop", settings(root), probe(root))
    assert call.argv == (str(ipaddr), "10.0.0.1/24/eth0", "stop")


def test_lookup_errors_name_both_places(root: Path) -> None:
    exe(root / "init.d" / "svc", 0o644)
    with pytest.raises(CallError) as err:
        scriptrun.build_call(Resource("svc", "svc", (), 1), "start", settings(root),
                             probe(root))
    message = str(err.value)
    assert "Cannot locate resource script svc" in message
    assert str(root / "resource.d" / "svc") in message
    assert f"{root / 'init.d' / 'svc'} is not executable" in message


def test_resolved_path_is_checked(root: Path) -> None:
    res = Resource("x", "x", (), 1, str(root / "gone"))
    with pytest.raises(CallError, match="does not exist"):
        scriptrun.build_call(res, "start", settings(root), probe(root))


def test_ocf_wrapper_and_monitor_for_status(root: Path) -> None:
    wrapper = exe(root / "resource.d" / "OCF")
    exe(root / "ocf/resource.d/zprov/Dummy")
    agent = exe(root / "ocf/resource.d/aprov/Dummy")
    s = settings(root, ocf_root=str(root / "ocf"))
    res = ipc.resource_from_json({"text": "OCF::Dummy::x"})
    with pytest.raises(CallError, match=r"instance file .*conf/OCF/Dummy/x is missing"):
        scriptrun.build_call(res, "start", s, probe(root))
    conf = root / "conf/OCF/Dummy/x"
    conf.parent.mkdir(parents=True)
    conf.write_text("OCF_RESKEY_state=/tmp/x\n")
    start = scriptrun.build_call(res, "start", s, probe(root))
    assert start.argv == (str(wrapper), "Dummy", "x", "start")
    status = scriptrun.build_call(res, "status", s, probe(root))
    assert status.argv[0] == "/bin/sh" and status.argv[-2:] == (str(conf), str(agent))
    assert status.kind is CallKind.OCF_MONITOR
    assert dict(status.extra_env)["OCF_RES_NAME"] == "x"
    missing = ipc.resource_from_json({"text": "OCF::Nope::x"})
    with pytest.raises(CallError, match="OCF agent Nope not found"):
        scriptrun.build_call(missing, "start", s, probe(root))


def test_environment(root: Path) -> None:
    s = settings(root, env={"HA_foo": "bar", "PATH": "/opt/bin"},
                 logging={"logfile": "/var/log/ha-log", "debugfile": "/var/log/ha-debug",
                          "logfacility": "none", "debug": 1})
    env = scriptrun.build_env(s, {"TZ": "UTC", "HOME": "/root", "HBEAT_X": "1"})
    assert env["HA_DIR"] == str(root) and env["HA_CURHOST"] == "otter"
    assert env["HA_FUNCS"] == "/etc/ha.d/shellfuncs"
    assert env["OCF_ROOT"] == "/usr/lib/ocf" and env["OCF_AGENTS"] == "/usr/lib/ocf/resource.d"
    assert env["HA_LOGFILE"] == "/var/log/ha-log" and env["HA_DEBUGLOG"] == "/var/log/ha-debug"
    assert "HA_LOGFACILITY" not in env  # "none" means no syslog
    assert env["HA_debug"] == "1" and env["HA_LOGD"] == "no"
    assert env["HA_DATEFMT"] == "%Y/%m/%d_%T\t"
    assert env["HA_foo"] == "bar" and env["PATH"] == "/opt/bin" and env["TZ"] == "UTC"
    assert "HOME" not in env and "HBEAT_X" not in env


@pytest.mark.parametrize(("body", "message"), [
    ({"node": "otter"}, "'config_dir' and 'node' are required"),
    ({"config_dir": "/x", "node": "otter", "env": {"1x": "y"}}, "not a valid variable name"),
    ({"config_dir": "/x", "node": "otter", "logging": {"debug": -1}}, "logging.debug"),
    ({"config_dir": "/x", "node": "otter", "init_dir": 3}, "'init_dir' must be a string"),
])
def test_bad_setup(body: dict[str, object], message: str) -> None:
    with pytest.raises(CallError, match=message):
        scriptrun.settings_from_setup(body)


def test_logging_message_changes_the_scripts_environment(root: Path) -> None:
    s = settings(root, logging={"logfile": "/var/log/ha-log", "debug": 0})
    s2 = scriptrun.with_logging(s, {"logfile": "/var/log/other", "debug": 2,
                                    "logfacility": "none"})
    env = scriptrun.build_env(s2, {})
    assert env["HA_LOGFILE"] == "/var/log/other" and env["HA_debug"] == "2"
    assert "HA_LOGFACILITY" not in env
    assert s2.resource_dir == s.resource_dir
    with pytest.raises(CallError, match="'debug' must be a non-negative integer"):
        scriptrun.with_logging(s, {"debug": -1})
    with pytest.raises(CallError, match="logging: must be an object"):
        scriptrun.with_logging(s, [])
