"""`hbeat watch --connect`: the client side's usage errors, before any network
(the feed itself over TCP and CURVE: tests/lab/daemon/test_feed_tcp.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.cli import main
from tests.hbeat.config.curvekeys import make_keys


@pytest.mark.parametrize(("extra", "error"), [
    (["--connect", "ipc:///run/hbeat/status"], "--connect ipc:///run/hbeat/status: expected "
                                                "tcp://HOST:PORT"),
    (["--connect", "tcp://127.0.0.1:9", "--curve-key", "{good}"],
     "--curve-server-key and --curve-key go together"),
    (["--connect", "tcp://127.0.0.1:9", "--curve-server-key", "{server}", "--curve-key",
      "{dir}/good.key"], "--curve-key {dir}/good.key holds no secret key (give the "
                         ".key_secret file)"),
    (["--connect", "tcp://127.0.0.1:9", "--curve-server-key", "{dir}/missing.key",
      "--curve-key", "{good}"], "cannot read a CURVE key"),
    (["--curve-key", "{good}"], "--curve-key and --curve-server-key need --connect"),
])
def test_watch_connect_usage(extra: list[str], error: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    keys = {k: str(v) for k, v in make_keys(tmp_path / "keys").items()}
    argv = ["watch", "--runtime-dir", str(tmp_path / "run"), "--timeout", "1",
            *(a.format(**keys) for a in extra)]
    assert main(argv) == 2
    assert error.format(**keys) in capsys.readouterr().err
