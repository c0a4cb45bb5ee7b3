"""The status feed over TCP with CURVE (ha.cf `status_tcp`), and its checks.

Lab test: otter and weasel run with `status_tcp 127.0.0.1:9713 curve
server.key_secret clients/`; three `hbeat watch --connect` clients run in
otter's namespace: one whose public key is in clients/ (it receives the
snapshot and the link-dead event when weasel's ethernet is cut), one with
a key the node does not know, and one without CURVE (both receive nothing).
The `hbeat check` cases cover every form of the directive and the key files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import zmq.auth

from hbeat.cli import main
from tests.cluster.clusters import TIMINGS
from tests.cluster.hbeatnode import HbeatConfig
from tests.config.seed import SEED_AUTHKEYS, write_seed
from tests.failover.cluster import DEADTIME_S, FailoverCluster
from tests.harness import Lab, ha_cf, wait_for

PORT = 9713
BASE = {"serial": "/dev/null", "interfaces": ("lo",)}
LOG = "logfile /var/log/ha-log"


def make_keys(root: Path) -> dict[str, Path]:
    """server, good and bad certificates; clients/ holds good's public key only."""
    root.mkdir(parents=True, exist_ok=True)
    clients = root / "clients"
    clients.mkdir()
    for name in ("server", "good", "bad"):
        zmq.auth.create_certificates(str(root), name)
    shutil.copy(root / "good.key", clients / "good.key")
    for secret in root.glob("*.key_secret"):
        secret.chmod(0o600)
    return {"dir": root, "clients": clients, "server": root / "server.key",
            "server_secret": root / "server.key_secret",
            "good": root / "good.key_secret", "bad": root / "bad.key_secret"}


class TcpFeedCluster(FailoverCluster):
    status_tcp = ""

    def _config(self, name: str, auto_failback: str) -> HbeatConfig:
        hacf = ha_cf(list(self.names), **TIMINGS, media=["bcast eth1"],
                     auto_failback=auto_failback, extra=[self.status_tcp])
        return HbeatConfig(hacf, SEED_AUTHKEYS, self.haresources, env=self.env)


def feed_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_curve_client_gets_the_feed_and_strangers_get_nothing(lab: Lab) -> None:
    keys = make_keys(lab.dir / "curve")
    TcpFeedCluster.status_tcp = (f"status_tcp 127.0.0.1:{PORT} curve {keys['server_secret']} "
                                 f"{keys['clients']}")
    c = TcpFeedCluster(lab, "")
    c.start()
    assert "status feed also on tcp://127.0.0.1:9713 (CURVE)" in c["otter"].log()
    watch = [sys.executable, "-m", "hbeat", "watch", "--json", "--timeout", "60",
             "--connect", f"tcp://127.0.0.1:{PORT}"]
    good = lab["otter"].spawn([*watch, "--curve-server-key", str(keys["server"]),
                               "--curve-key", str(keys["good"])], name="watch-good")
    bad = lab["otter"].spawn([*watch, "--curve-server-key", str(keys["server"]),
                              "--curve-key", str(keys["bad"])], name="watch-bad")
    plain = lab["otter"].spawn(watch, name="watch-plain")

    # the periodic snapshot (every 10 s) reaches the client with the right key
    try:
        wait_for(lambda: any(m["topic"] == "snapshot" for m in feed_lines(good.output())),
                 timeout=25, what="a snapshot on the CURVE client")
    except Exception:
        print("GOOD:", good.output(), "BAD:", bad.output(), "LOG:", c["otter"].log()[-3000:])
        raise
    snap = next(m for m in feed_lines(good.output()) if m["topic"] == "snapshot")
    assert isinstance(snap["body"], dict) and snap["body"]["local"] == "otter"

    # and so do events
    lab.cut("weasel")
    wait_for(lambda: any(m["topic"] == "link.weasel.eth1" for m in feed_lines(good.output())),
             timeout=DEADTIME_S + 10, what="the link-dead event on the CURVE client")
    for stranger in (bad, plain):
        assert stranger.alive()
        assert feed_lines(stranger.output()) == [], stranger.output()
    for proc in (good, bad, plain):
        proc.stop()


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
