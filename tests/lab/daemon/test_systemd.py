"""systemd integration: sd_notify datagrams on a real NOTIFY_SOCKET the test
owns, and `systemd-analyze verify` on the unit file of the repo.

The notify socket is an AF_UNIX SOCK_DGRAM socket bound by the test, as a
path and as an abstract name (`@name`). Abstract names belong to a network
namespace, so the abstract socket is created inside otter's namespace
(setns on a thread of the test process, then back).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_commands
from tests.harness import Lab, WaitTimeout, wait_for
from tests.lab.daemon.cluster import HBEAT, Cluster

REPO = Path(__file__).resolve().parents[3]
UNIT = REPO / "systemd" / "hbeat.service"
CLONE_NEWNET = 0x40000000
WATCHDOG_USEC = 2_000_000


@dataclass(frozen=True)
class Notice:
    at: float  # time.monotonic() when received
    fields: dict[str, str]


class NotifyListener:
    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address  # what goes into NOTIFY_SOCKET
        self.notices: list[Notice] = []
        self._cursor = 0

    def wait(self, key: str, timeout: float, value: str | None = None) -> Notice:
        """The next datagram (from the cursor on) carrying `key` (= `value`)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.notices):
                n = self.notices[self._cursor]
                self._cursor += 1
                if key in n.fields and (value is None or n.fields[key] == value):
                    return n
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"no {key}{'=' + value if value else ''} within {timeout:g} s;"
                                  f" received: {[n.fields for n in self.notices]}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode().split("\n")
            fields = dict(line.split("=", 1) for line in lines if "=" in line)
            self.notices.append(Notice(time.monotonic(), fields))

    def close(self) -> None:
        self.sock.close()


@contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run the body with this thread in the network namespace at `path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the test's namespace")
    finally:
        os.close(home)
        os.close(target)


def path_listener(directory: Path) -> NotifyListener:
    path = directory / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    return NotifyListener(sock, str(path))


def abstract_listener(netns: str) -> NotifyListener:
    name = f"hbeat-test-{secrets.token_hex(4)}"
    with in_netns(f"/run/netns/{netns}"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    return NotifyListener(sock, "@" + name)


@pytest.mark.parametrize("form", ["path", "abstract"])
def test_sd_notify(lab_factory: Callable[..., Lab], form: str) -> None:
    lab = lab_factory(2)
    cluster = Cluster(lab)
    otter = cluster["otter"]
    listener = (path_listener(otter.node.dir) if form == "path"
                else abstract_listener(otter.node.netns))
    lab.add_closeable(listener)
    cluster.start(env={"otter": {"NOTIFY_SOCKET": listener.address,
                                 "WATCHDOG_USEC": str(WATCHDOG_USEC)}})

    ready = listener.wait("READY", timeout=15, value="1")
    # READY=1 only once every link worker reported its medium open: the
    # supervisor logs each before it notifies (the lines reach the file a
    # moment later: a writer thread does the I/O).
    wait_for(lambda: all(f"{link}: link open" in otter.logfile.read_text()
                         for link in ("bcast eth1", "serial /run/ttyS0")),
             5, what="both 'link open' lines in otter's log",
             describe=lambda: otter.logfile.read_text()[-2000:])
    assert ready.fields.get("STATUS", "").startswith("otter: all 2 links open"), ready.fields

    # STATUS= lines follow membership: otter and weasel active. (Membership may
    # reach it before READY: one link worker can bring the peer in while the
    # other is still starting; READY waits for every link.)
    both = "otter active; otter: active, weasel: active"
    if not any(n.fields.get("STATUS") == both for n in listener.notices):
        listener.wait("STATUS", timeout=15, value=both)

    # SIGHUP (the unit's ExecReload): RELOADING=1, then READY=1 once reread.
    assert otter.proc is not None
    otter.proc.send_signal(signal.SIGHUP)
    reloading = listener.wait("RELOADING", timeout=10, value="1")
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0, reloading.fields
    listener.wait("READY", timeout=10, value="1")
    wait_for(lambda: "Configuration unchanged." in otter.logfile.read_text(), 5,
             what="'Configuration unchanged.' in otter's log")

    # WATCHDOG=1 at about half of WATCHDOG_USEC.
    pings = [listener.wait("WATCHDOG", timeout=3, value="1").at for _ in range(4)]
    intervals = [b - a for a, b in itertools.pairwise(pings)]
    half = WATCHDOG_USEC / 2e6
    assert all(0.8 * half <= i <= 1.3 * half for i in intervals), intervals

    # SIGTERM: STOPPING=1, then a clean exit 0.
    assert otter.proc is not None
    otter.proc.send_signal(signal.SIGTERM)
    stopping = listener.wait("STOPPING", timeout=10, value="1")
    assert "shutdown" in stopping.fields.get("STATUS", ""), stopping.fields
    assert otter.proc.popen.wait(timeout=15) == 0, otter.proc.output()[-2000:]
    assert "Heartbeat shutdown complete." in otter.logfile.read_text()


def _verify(unit_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit_dir / "hbeat.service")],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )


def test_a_stuck_shutdown_is_never_killed_by_systemd() -> None:
    """A graceful stop stuck on a group that would not stop keeps it claimed
    (tests/lab/fencing/test_stuck_shutdown.py); systemd must not end it with SIGKILL,
    after which the peer would start the group on top of ours."""
    text = UNIT.read_text()
    assert re.findall(r"^TimeoutStopSec=(.*)$", text, re.M) == ["infinity"], text
    assert not re.search(r"^(TimeoutSec|FinalKillSignal)=", text, re.M), text
    assert re.findall(r"^Restart=(.*)$", text, re.M) == ["on-failure"]  # self-fenced: exit 1


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    require_commands("systemd-analyze")
    text = UNIT.read_text()
    assert re.search(r"^ExecStartPre=/usr/bin/hbeat check --quiet$", text, re.M), text
    assert re.search(r"^Type=notify$", text, re.M) and re.search(r"^WatchdogSec=", text, re.M)
    real = shutil.which("hbeat", path=str(Path(HBEAT).parent)) or HBEAT
    good = tmp_path / "good"
    good.mkdir()
    (good / "hbeat.service").write_text(text.replace("/usr/bin/hbeat", real))
    res = _verify(good)
    assert res.returncode == 0, res
    assert "hbeat.service" not in res.stdout + res.stderr, res

    # The same check rejects what systemd would ignore or refuse, so the
    # assertions above can fail: an unknown key and a missing binary.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hbeat.service").write_text(
        text.replace("/usr/bin/hbeat", real).replace("Type=notify", "Type=notify\nBogus=1"))
    res = _verify(bad)
    assert "Unknown key 'Bogus'" in res.stderr, res
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "hbeat.service").write_text(text.replace("/usr/bin/hbeat", "/nonexistent/hbeat"))
    assert _verify(missing).returncode != 0
