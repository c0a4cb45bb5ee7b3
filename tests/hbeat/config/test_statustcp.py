"""`status_tcp` in ha.cf through `hbeat check`: the directive's forms (hacf.py)
and the CURVE key files (statustcp.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.cli import main
from tests.hbeat.config.curvekeys import make_keys
from tests.hbeat.config.seed import write_seed

PORT = 9713
BASE = {"serial": "/dev/null", "interfaces": ("lo",)}
LOG = "logfile /var/log/ha-log"


@pytest.mark.parametrize(("form", "expected", "status"), [
    ("curve {server_secret} {clients}", [], 0),
    ("insecure", ["WARN: {d}/ha.cf:13: status_tcp 127.0.0.1:9713 insecure: any local user "
                  "can read the status feed (the ipc socket is for root and haclient only); "
                  "prefer curve"], 0),
    ("", ["ERROR: {d}/ha.cf:13: status_tcp 127.0.0.1:9713 without authentication: add "
          "`curve SERVER-SECRET-FILE CLIENT-KEYS-DIR`, or write `insecure` to serve the "
          "feed to anyone who can connect"], 1),
    ("curve {server} {clients}", ["ERROR: {d}/ha.cf:13: status_tcp: {server} holds no "
                                  "secret key (give the `.key_secret` file, not the public "
                                  "`.key`)"], 1),
    ("curve {server_secret} {dir}/nowhere", ["ERROR: {d}/ha.cf:13: status_tcp: the client "
                                             "keys directory {dir}/nowhere does not "
                                             "exist"], 1),
    ("curve {server_secret} {dir}/empty", ["WARN: {d}/ha.cf:13: status_tcp: no client key "
                                           "(*.key) in {dir}/empty: no tool can subscribe "
                                           "until one is added (and hbeat restarted)"], 0),
    ("curve {server_secret}", ["ERROR: {d}/ha.cf:13: status_tcp: [curve {server_secret}] "
                               "not understood; status_tcp takes ADDRESS:PORT then `curve "
                               "SERVER-SECRET-FILE CLIENT-KEYS-DIR` (or, knowingly, "
                               "`insecure`)"], 1),
])
def test_check_reads_status_tcp(form: str, expected: list[str], status: int,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = make_keys(tmp_path / "keys")
    (keys["dir"] / "empty").mkdir()
    names = {k: str(v) for k, v in keys.items()}
    line = f"status_tcp 127.0.0.1:{PORT} {form.format(**names)}".rstrip()
    seed = write_seed(tmp_path / "ha.d", extra=[LOG, line], **BASE)
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == (
        status)
    out = capsys.readouterr().out.splitlines()
    found = [x for x in out if x.startswith(("ERROR:", "WARN:"))]
    assert found == [e.format(d=seed.config_dir, **names) for e in expected]
    if status == 0:
        how = "CURVE" if form.startswith("curve") else "INSECURE: no authentication"
        assert f"status feed:    also on tcp://127.0.0.1:9713 ({how})" in out


def test_check_refuses_a_readable_server_key_and_warns_off_loopback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = make_keys(tmp_path / "keys")
    keys["server_secret"].chmod(0o644)
    seed = write_seed(tmp_path / "ha.d", extra=[
        LOG, f"status_tcp 10.0.0.1:{PORT} curve {keys['server_secret']} {keys['clients']}"],
        **BASE)
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == 1
    out = capsys.readouterr().out
    assert (f"ERROR: {seed.config_dir}/ha.cf:13: status_tcp: the server key "
            f"{keys['server_secret']} is readable by others (mode 0644)") in out

    seed = write_seed(tmp_path / "ha2.d", extra=[LOG, f"status_tcp 10.0.0.1:{PORT} insecure"],
                      **BASE)
    assert main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"]) == 0
    assert ("status_tcp 10.0.0.1:9713 insecure: the status feed goes out unauthenticated "
            "and unencrypted to anyone who can reach 10.0.0.1; use curve"
            ) in capsys.readouterr().out
