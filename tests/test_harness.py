"""The cluster test harness itself: namespaced nodes, links, cables, captures,
cleanup, and the waiting helpers every cluster test relies on."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import (
    HarnessError,
    Lab,
    LogWatcher,
    WaitTimeout,
    require_commands,
    require_root,
    udp_datagrams,
    wait_for,
)
from tests.harness.netns import NETNS_DIR, list_netns, sweep_stale_labs

REPO = Path(__file__).resolve().parents[1]


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _read_until(fd: int, expected: bytes, timeout: float = 5.0) -> bytes:
    got = bytearray()

    def complete() -> bool:
        with contextlib.suppress(BlockingIOError):
            got.extend(os.read(fd, 4096))
        return len(got) >= len(expected)

    wait_for(complete, timeout, what=f"{expected!r} on fd {fd}", describe=lambda: bytes(got))
    return bytes(got)


# --- waiting helpers (no root needed) ---------------------------------------


def test_wait_for_returns_the_value_and_reports_the_last_state_on_timeout() -> None:
    calls = iter(range(100))
    assert wait_for(lambda: next(calls) >= 3 and "done", 5, interval=0.001) == "done"

    states = {"otter": "up"}
    with pytest.raises(WaitTimeout) as err:
        wait_for(
            lambda: states["otter"] == "active",
            0.05,
            interval=0.01,
            what="otter active",
            describe=lambda: states,
        )
    assert "waiting for otter active" in str(err.value)
    assert "last observed: {'otter': 'up'}" in str(err.value)
    with pytest.raises(WaitTimeout, match=r"last observed: \[\]"):
        wait_for(list, 0.05, interval=0.01)


def test_wait_for_records_ignored_exceptions_as_the_last_state() -> None:
    def probe() -> bool:
        raise ConnectionRefusedError("no daemon yet")

    with pytest.raises(WaitTimeout, match="no daemon yet"):
        wait_for(probe, 0.05, interval=0.01, ignore=(ConnectionRefusedError,))
    with pytest.raises(ConnectionRefusedError):
        wait_for(probe, 0.05, interval=0.01)


def test_log_watcher_waits_for_lines_in_order_and_names_the_file(tmp_path: Path) -> None:
    log = tmp_path / "ha-log"
    watcher = LogWatcher(log)  # the file does not exist yet
    writer = threading.Thread(
        target=lambda: log.write_text("info: Link weasel:eth1 up.\nWARN: node weasel: is dead\n")
    )
    writer.start()
    assert watcher.wait(r"Link (\w+):eth1 up", 5).group(1) == "weasel"
    assert watcher.wait(r"node (\w+): is dead", 5).group(1) == "weasel"
    writer.join()
    with pytest.raises(WaitTimeout) as err:
        watcher.wait(r"is dead", 0.05)  # consumed already
    assert str(log) in str(err.value)
    with log.open("a") as fh:  # a partial line is not matched until it ends
        fh.write("info: Status update for node otter: status act")
    assert watcher.poll("status active") is None
    with log.open("a") as fh:
        fh.write("ive\n")
    assert watcher.poll("status active")


def test_log_watcher_starts_at_the_end_unless_asked(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("old line\n")
    assert LogWatcher(log).poll("old") is None
    assert LogWatcher(log, from_start=True).poll("old")


def test_skip_becomes_failure_in_ci() -> None:
    code = (
        "import pytest\n"
        "from tests.harness.requirements import require_commands\n"
        "def test_x():\n"
        "    require_commands('no-such-command-hbeat')\n"
    )
    env_ci = {**os.environ, "CI": "true", "PYTHONPATH": str(REPO)}
    env_dev = {**os.environ, "CI": "", "PYTHONPATH": str(REPO)}
    results = {}
    with tempfile.TemporaryDirectory() as d:
        test = Path(d) / "test_probe.py"
        test.write_text(code)
        for label, env in (("ci", env_ci), ("dev", env_dev)):
            results[label] = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
                capture_output=True,
                text=True,
                env=env,
                cwd=d,
                timeout=60,
            )
    assert results["dev"].returncode == 0, results["dev"].stdout
    assert "needs command(s) no-such-command-hbeat" in results["dev"].stdout
    assert "1 skipped" in results["dev"].stdout
    assert results["ci"].returncode == 1, results["ci"].stdout
    assert "CI=true" in results["ci"].stdout


# --- namespaces ---------------------------------------------------------------


def test_two_nodes_ping_each_other_and_are_named(lab: Lab) -> None:
    otter, weasel = lab["otter"], lab["weasel"]
    assert (otter.ip, weasel.ip) == ("10.99.0.1", "10.99.0.2")
    assert otter.ping(weasel.ip) and weasel.ping(otter.ip)
    assert otter.run(["uname", "-n"]).stdout.strip() == "otter"
    assert weasel.run(["hostname"]).stdout.strip() == "weasel"
    assert os.uname().nodename not in ("otter", "weasel")
    addr = otter.run(["ip", "-o", "-4", "addr", "show", "eth1"]).stdout
    assert "10.99.0.1/24 brd 10.99.0.255" in addr  # bcast media need the broadcast address


def test_three_nodes_and_a_client_all_reach_each_other(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(3, client=True)
    assert list(lab.nodes) == ["otter", "weasel", "ferret"]
    assert lab.client is not None and lab.client.ip == "10.99.0.250"
    hosts = lab.all_nodes()
    for a in hosts:
        for b in hosts:
            if a is not b:
                assert a.ping(b.ip), f"{a.name} cannot ping {b.name}"


def test_cutting_a_link_stops_pings_and_restoring_brings_them_back(lab: Lab) -> None:
    otter, weasel = lab["otter"], lab["weasel"]
    assert otter.ping(weasel.ip)
    for at in ("node", "switch"):
        lab.cut("weasel", at=at)
        assert not otter.ping(weasel.ip, timeout=0.5)
        assert not weasel.ping(otter.ip, timeout=0.5)
        assert weasel.link_up() == (at == "switch")
        lab.restore("weasel", at=at)
        wait_for(lambda: otter.ping(weasel.ip), 10, what=f"ping after restore at {at}")
        assert weasel.link_up()


def test_impairment_drops_and_duplicates_packets(lab: Lab) -> None:
    require_commands("tc", "nft")
    otter, weasel = lab["otter"], lab["weasel"]
    lab.impair("otter", loss=100)
    assert not otter.ping(weasel.ip, timeout=0.5)
    lab.clear_impairment("otter")
    assert otter.ping(weasel.ip)
    lab.impair("otter", duplicate=100)
    out = otter.run(["ping", "-n", "-c", "3", "-i", "0.05", "-W", "1", weasel.ip]).stdout
    dups = re.search(r"\+(\d+) duplicates", out)
    assert dups and int(dups.group(1)) >= 2, out  # the last reply's twin may come after exit
    lab.clear_impairment("otter")
    out = otter.run(["ping", "-n", "-c", "3", "-i", "0.05", "-W", "1", weasel.ip]).stdout
    assert "duplicates" not in out
    with pytest.raises(HarnessError, match="percentage"):
        lab.impair("otter", loss=150)


def test_private_mounts_are_seen_by_the_node_only(lab: Lab) -> None:
    otter, weasel = lab["otter"], lab["weasel"]
    host_dir = otter.private("/var/log")
    otter.run(["sh", "-c", "echo from-otter > /var/log/hbeat-harness-probe"])
    assert (host_dir / "hbeat-harness-probe").read_text() == "from-otter\n"
    assert otter.host_path("/var/log/hbeat-harness-probe") == host_dir / "hbeat-harness-probe"
    assert not Path("/var/log/hbeat-harness-probe").exists()
    seen = weasel.run(["cat", "/var/log/hbeat-harness-probe"], check=False)
    assert seen.returncode != 0
    spawned = otter.spawn(["sh", "-c", "cat /var/log/hbeat-harness-probe; uname -n"], name="probe")
    assert spawned.popen.wait(10) == 0
    assert spawned.output() == "from-otter\notter\n"


def test_capture_returns_the_udp_datagrams_sent(lab: Lab) -> None:
    require_commands("tcpdump", "socat")
    otter = lab["otter"]
    cap = lab.capture("weasel", bpf="udp port 694")
    for word in ("one", "two"):
        otter.run(
            ["sh", "-c", f"printf {word} | socat -u - UDP-DATAGRAM:10.99.0.255:694,broadcast"]
        )
    pcap = cap.stop()
    got = udp_datagrams(pcap, port=694)
    assert [(d.src, d.dst, d.dport, d.payload) for d in got] == [
        ("10.99.0.1", "10.99.0.255", 694, b"one"),
        ("10.99.0.1", "10.99.0.255", 694, b"two"),
    ]


# --- serial cable -------------------------------------------------------------


def test_serial_cable_carries_bytes_both_ways_and_records_them(lab: Lab) -> None:
    require_commands("socat")
    cable = lab.serial_cable("otter", "weasel")
    flags = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK
    a = os.open(cable.path("otter"), flags)
    b = os.open(cable.path("weasel"), flags)
    try:
        os.write(a, b">>>\nt=status\n<<<\n")
        assert _read_until(b, b">>>\nt=status\n<<<\n") == b">>>\nt=status\n<<<\n"
        os.write(b, bytes(range(256)))  # raw: no echo, no newline or 8-bit mangling
        assert _read_until(a, bytes(range(256))) == bytes(range(256))
        cable.inject(b"\x00garbage\xff", to="weasel")
        assert _read_until(b, b"\x00garbage\xff") == b"\x00garbage\xff"
    finally:
        os.close(a)
        os.close(b)
    wait_for(lambda: cable.sent("otter").endswith(b"\x00garbage\xff"), 5, what="socat -r dump")
    assert cable.sent("otter") == b">>>\nt=status\n<<<\n\x00garbage\xff"
    assert cable.sent("weasel") == bytes(range(256))

    old = cable.path("otter").resolve()
    cable.close()
    assert not cable.path("otter").exists() and not cable.is_open
    with pytest.raises(HarnessError, match="not open"):
        cable.inject(b"x", to="otter")
    cable.open()
    a = os.open(cable.path("otter"), flags)
    b = os.open(cable.path("weasel"), flags)
    try:
        os.write(b, b"after reopen")
        assert _read_until(a, b"after reopen") == b"after reopen"
    finally:
        os.close(a)
        os.close(b)
    assert cable.path("otter").resolve().is_char_device()
    assert cable.sent("weasel") == bytes(range(256)) + b"after reopen"
    assert old.name.isdigit()


# --- cleanup ------------------------------------------------------------------


def test_cleanup_leaves_no_namespace_process_or_directory() -> None:
    require_root("network namespaces")
    require_commands("socat", "tcpdump")
    lab = Lab(2).start()
    pidfile = lab.dir / "escaped.pid"
    try:
        namespaces = lab.namespaces()
        assert sorted(namespaces) == sorted(f"{lab.prefix}{n}" for n in ("otter", "weasel", "sw"))
        sleeper = lab["otter"].spawn(["sleep", "1000"])
        # a daemon that escapes our process tree and session
        lab["weasel"].run(
            ["setsid", "-f", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 1000 >/dev/null 2>&1"]
        )
        escaped = int(
            wait_for(lambda: (pidfile.exists() and pidfile.read_text().strip()) or None, 5)
        )
        cable = lab.serial_cable("otter", "weasel")
        socat_pid = cable.pid
        assert socat_pid is not None
        lab.capture("otter")
        holders = [n.holder_pid for n in lab.all_nodes()]
    finally:
        lab.close()
    assert not [n for n in list_netns() if n.startswith(lab.prefix)]
    pids = [sleeper.pid, escaped, socat_pid, *holders]
    wait_for(lambda: all(_dead(p) for p in pids), 5, what=f"pids {pids} gone")
    assert not lab.dir.exists()
    lab.close()  # closing twice is harmless


def test_sweep_removes_labs_of_killed_runs(tmp_path: Path) -> None:
    require_root("network namespaces")
    require_commands("socat")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from tests.harness.netns import Lab\n"
            "lab = Lab(2).start()\n"
            "lab.serial_cable('otter', 'weasel')\n"
            "lab['otter'].spawn(['sleep', '1000'])\n"
            "print(lab.id, flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lab_id = child.stdout.readline().strip()
    assert re.fullmatch(r"[0-9a-f]{6}", lab_id), lab_id
    prefix = f"hbl{lab_id}-"
    assert [n for n in list_netns() if n.startswith(prefix)]
    assert lab_id not in sweep_stale_labs()  # owner alive: left alone
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert lab_id in sweep_stale_labs()
    assert not [n for n in list_netns() if n.startswith(prefix)]
    assert not (NETNS_DIR / f"{prefix}otter").exists()
