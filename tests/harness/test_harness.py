"""The cluster test harness itself: namespaced nodes, links, cables, captures,
cleanup, and the waiting helpers every cluster test relies on."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import (
    HarnessError,
    Lab,
    LogWatcher,
    Node,
    WaitTimeout,
    require_commands,
    require_root,
    udp_datagrams,
    wait_for,
)
from tests.harness.impair import SwitchPort, impair, netem_supported
from tests.harness.netns import NETNS_DIR, list_netns, netns_ident, sweep_stale_labs
from tests.harness.procs import cmdline, pids_in_ns, run

REPO = Path(__file__).resolve().parents[2]


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


# A UDP receiver and a sender of numbered datagrams, run on lab nodes: each
# datagram carries its number and its send time (CLOCK_MONOTONIC is shared by
# every namespace), the receiver logs "got <n> sent <t> at <t> from <ip>".
_UDP_RECEIVER = """
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("", int(sys.argv[1])))
print("listening", flush=True)
while True:
    data, (src, _) = sock.recvfrom(2048)
    print(f"got {data.decode()} at {time.monotonic():.6f} from {src}", flush=True)
"""
_UDP_SENDER = """
import socket, sys, time
dst, (port, first, count), gap = sys.argv[1], map(int, sys.argv[2:5]), float(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for n in range(first, first + count):
    sock.sendto(f"{n} sent {time.monotonic():.6f}".encode(), (dst, port))
    time.sleep(gap)  # pacing, like keepalives
"""
_GOT = re.compile(r"^got (\d+) sent ([\d.]+) at ([\d.]+) from ([\d.]+)$", re.M)
_PORT = 694


@dataclass(frozen=True)
class _Arrival:
    n: int
    sent: float
    at: float
    src: str


def _udp_receiver(node: Node, port: int = _PORT) -> Callable[[], list[_Arrival]]:
    """Start a UDP receiver on `node`; returns a function listing its arrivals."""
    proc = node.spawn([sys.executable, "-c", _UDP_RECEIVER, str(port)], name=f"udp{port}")
    LogWatcher(proc.log_path, from_start=True).wait("^listening$", 10)

    def arrivals() -> list[_Arrival]:
        proc.check_alive("receiving UDP")
        return [
            _Arrival(int(n), float(sent), float(at), src)
            for n, sent, at, src in _GOT.findall(proc.output())
        ]

    return arrivals


def _send_udp(node: Node, dst: str, first: int, count: int = 1, gap: float = 0.0) -> None:
    args = [dst, str(_PORT), str(first), str(count), str(gap)]
    node.run([sys.executable, "-c", _UDP_SENDER, *args])


def _wait_numbers(
    arrivals: Callable[[], list[_Arrival]], numbers: range, timeout: float = 10
) -> list[_Arrival]:
    """Wait until every number of `numbers` arrived; return all arrivals so far."""
    wait_for(
        lambda: set(numbers) <= {a.n for a in arrivals()},
        timeout,
        what=f"datagrams {numbers}",
        describe=lambda: [a.n for a in arrivals()],
    )
    return arrivals()


def _relay_pids(lab: Lab) -> list[int]:
    ident = netns_ident(lab.switch)
    return [p for p in pids_in_ns("net", ident) if "relay.py" in cmdline(p)]


def _relay_leftovers(lab: Lab) -> list[str]:
    """Relay processes, tables and veths in the switch namespace."""
    links = run(["ip", "-n", lab.switch, "-o", "link", "show"]).stdout
    tables = run(["ip", "netns", "exec", lab.switch, "nft", "list", "tables"]).stdout
    return [
        *(f"pid {p}" for p in _relay_pids(lab)),
        *re.findall(r"\b(r[ib]-\w+)@", links),
        *re.findall(r"hbeat_relay_\w+", tables),
    ]


def _inversions(numbers: list[int]) -> int:
    return sum(1 for i, a in enumerate(numbers) for b in numbers[i + 1 :] if a > b)


def test_relay_reorders_broadcasts_and_delivers_each_once(lab: Lab) -> None:
    require_commands("nft")
    otter, weasel = lab["otter"], lab["weasel"]
    arrivals = _udp_receiver(weasel)
    echoes = lab.capture("otter", bpf=f"inbound and udp port {_PORT}")
    assert lab.impair("otter", reorder=100, delay_ms=20, force_relay=True) == "relay"
    _send_udp(otter, "10.99.0.255", 0, count=30, gap=0.005)
    _wait_numbers(arrivals, range(30))
    _send_udp(otter, "10.99.0.255", 30)  # captured after all of 0..29 were delivered
    got = _wait_numbers(arrivals, range(31))
    order = [a.n for a in got]
    assert sorted(order) == list(range(31)), order  # each exactly once
    assert _inversions(order) >= 1, order
    assert {a.src for a in got} == {otter.ip}
    assert all(a.at - a.sent >= 0.019 for a in got), got
    assert udp_datagrams(echoes.stop(), port=_PORT) == []  # none sent back to otter


def test_delay_holds_every_datagram_in_order(lab: Lab) -> None:
    require_commands("nft")
    otter, weasel = lab["otter"], lab["weasel"]
    arrivals = _udp_receiver(weasel)
    how = lab.impair("otter", delay_ms=200)
    assert how == ("netem" if netem_supported(otter.netns) else "relay")
    _send_udp(otter, "10.99.0.255", 0, count=10, gap=0.02)
    _send_udp(otter, "10.99.0.255", 10)
    got = _wait_numbers(arrivals, range(11))
    assert [a.n for a in got] == list(range(11))
    late = [a for a in got if a.at - a.sent < 0.2 - 1e-5]  # printed to the microsecond
    assert not late, late


def test_clearing_the_relay_restores_direct_delivery(lab: Lab) -> None:
    require_commands("nft")
    otter, weasel = lab["otter"], lab["weasel"]
    arrivals = _udp_receiver(weasel)
    assert lab.impair("otter", delay_ms=50, force_relay=True) == "relay"
    pids = _relay_pids(lab)
    assert len(pids) == 1
    assert sorted(_relay_leftovers(lab)) == sorted(
        [f"pid {pids[0]}", "hbeat_relay_otter", "rb-otter", "ri-otter"]
    )
    _send_udp(otter, "10.99.0.255", 0)
    _wait_numbers(arrivals, range(1))
    lab.clear_impairment("otter")
    assert _relay_leftovers(lab) == []
    lab.clear_impairment("otter")  # idempotent
    _send_udp(otter, "10.99.0.255", 1)  # the drop rule is gone with the relay
    assert _wait_numbers(arrivals, range(2))[-1].n == 1
    assert otter.ping(weasel.ip)


def test_relay_keeps_unicast_arp_and_learning_working(lab: Lab) -> None:
    require_commands("nft", "bridge")
    otter, weasel = lab["otter"], lab["weasel"]
    at_weasel, at_otter = _udp_receiver(weasel), _udp_receiver(otter)
    assert lab.impair("otter", reorder=50, delay_ms=30, force_relay=True) == "relay"
    otter.run(["ip", "neigh", "flush", "dev", "eth1"])
    weasel.run(["ip", "neigh", "flush", "dev", "eth1"])
    _send_udp(otter, weasel.ip, 0, count=5)  # needs ARP first, which passes directly
    _send_udp(otter, weasel.ip, 5)
    got = _wait_numbers(at_weasel, range(6))
    assert sorted(a.n for a in got) == list(range(6))
    assert {a.src for a in got} == {otter.ip}
    weasel_mac = weasel.run(["cat", "/sys/class/net/eth1/address"]).stdout.strip()
    assert weasel_mac in otter.run(["ip", "neigh", "show", weasel.ip]).stdout
    # the bridge still finds otter on its own port, not on the injection port
    otter_mac = otter.run(["cat", "/sys/class/net/eth1/address"]).stdout.strip()
    fdb = run(["bridge", "-n", lab.switch, "fdb", "show", "br", "br0"]).stdout
    assert re.search(rf"^{otter_mac} dev otter ", fdb, re.M), fdb
    assert not re.search(rf"^{otter_mac} dev rb-otter", fdb, re.M), fdb
    _send_udp(weasel, otter.ip, 100)  # unicast to otter, not impaired
    assert _wait_numbers(at_otter, range(100, 101))[0].src == weasel.ip
    assert otter.ping(weasel.ip)  # ICMP is not relayed


def test_relay_errors_and_lab_close_stop_the_relay(lab_factory: Callable[..., Lab]) -> None:
    require_commands("nft")
    lab = lab_factory(2)
    with pytest.raises(HarnessError, match="reorder must be a percentage"):
        lab.impair("otter", reorder=101)
    with pytest.raises(HarnessError, match="delay_ms must be"):
        lab.impair("otter", delay_ms=-5)
    missing = SwitchPort(netns=lab.switch, port="nosuch", log=lab.dir / "relay-nosuch.log")
    with pytest.raises(HarnessError, match="no bridge port 'nosuch'"):
        impair(lab["otter"].netns, "eth1", delay_ms=10, switch=missing, force_relay=True)
    with pytest.raises(HarnessError, match="needs the node's bridge port"):
        impair(lab["otter"].netns, "eth1", delay_ms=10, force_relay=True)
    bad = subprocess.run(
        [sys.executable, str(REPO / "tests/harness/relay.py"), "--capture", "x", "--inject", "y",
         "--loss", "150"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and "loss must be a percentage in 0..100" in bad.stderr
    assert _relay_leftovers(lab) == []
    lab.impair("otter", loss=10, delay_ms=10, force_relay=True)
    lab.impair("weasel", duplicate=10, delay_ms=10, force_relay=True)
    pids = _relay_pids(lab)
    assert len(pids) == 2
    lab.close()
    wait_for(lambda: all(_dead(p) for p in pids), 5, what=f"relay pids {pids} gone")


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


def test_traversable_adds_only_the_search_bit_and_restores(tmp_path: Path) -> None:
    from tests.harness.otherusers import traversable

    private = tmp_path / "private"
    inner = private / "inner"
    inner.mkdir(parents=True)
    private.chmod(0o700)
    inner.chmod(0o750)
    with traversable(inner):
        assert stat.S_IMODE(private.stat().st_mode) == 0o701
        assert stat.S_IMODE(inner.stat().st_mode) == 0o751
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE(inner.stat().st_mode) == 0o750


def test_sweep_leaves_a_lab_directory_being_created(tmp_path: Path) -> None:
    """Another run (an xdist worker) has made the directory and not yet
    written its owner file: left alone while young, removed once old."""
    young = tmp_path / "a1b2c3"
    young.mkdir()
    assert sweep_stale_labs(tmp_path) == []
    assert young.exists()
    old = time.time() - 120
    os.utime(young, (old, old))
    assert sweep_stale_labs(tmp_path, grace=60) == ["a1b2c3"]
    assert not young.exists()
