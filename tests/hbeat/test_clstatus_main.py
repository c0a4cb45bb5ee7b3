"""The cl_status command as a real process, against a stand-in daemon.

The daemon is replaced by a small ZeroMQ ROUTER on `<tmp>/control` that
answers `snapshot` with a recorded scenario's snapshot, using the real control
envelope helpers; the thing under test is the cl_status process (argument
handling, runtime directory lookup, control client, output bytes, exit code).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from hbeat.control import (
    QUERY,
    ControlErrno,
    control_endpoint,
    make_error,
    make_reply,
    parse_request,
)
from tests.hbeat.test_clstatus import RECORDS, SCENARIOS, build_snapshot, normalise


class FakeDaemon:
    """Answers control requests on ipc://<dir>/query (cl_status's read-only
    socket) until stopped."""

    def __init__(self, tmp_path: Path, snapshot: dict[str, Any] | None, *, mute: bool = False):
        self.snapshot = snapshot
        self.mute = mute
        self.requests: list[str] = []
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(control_endpoint(tmp_path, QUERY))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeDaemon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        self._ctx.term()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(50):
                continue
            ident, *_, raw = self._sock.recv_multipart()
            rid, command, _args = parse_request(raw)
            self.requests.append(command)
            if self.mute:
                continue
            if command == "snapshot" and self.snapshot is not None:
                reply = make_reply(rid, self.snapshot)
            else:
                reply = make_error(rid, ControlErrno.REFUSED, "not now")
            self._sock.send_multipart([ident, b"", reply])


def cl_status(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, HBEAT_RUNTIME_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "hbeat.clstatus_main", *args],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )


def record(scenario: str, node: str, argv: list[str]) -> dict[str, Any]:
    return next(
        r for r in RECORDS if r["scenario"] == scenario and r["node"] == node and r["argv"] == argv
    )


def test_against_a_running_daemon(tmp_path: Path) -> None:
    scenario = "peer-dead(otter crashed, seen from weasel)"
    snap = build_snapshot("weasel", SCENARIOS[scenario])
    with FakeDaemon(tmp_path, snap) as daemon:
        for argv in (
            ["cl_status", "hbstatus", "-v"],
            ["cl_status", "nodestatus", "otter"],
            ["cl_status", "rscstatus"],
        ):
            want = record(scenario, "weasel", argv)
            got = cl_status(tmp_path, *argv[1:])
            assert (got.stdout.decode(), got.stderr.decode(), got.returncode) == (
                want["stdout"],
                want["stderr"],
                want["rc"],
            )
        assert daemon.requests == ["snapshot"] * 3
        # an error line is a log line naming this host
        got = cl_status(tmp_path, "hblinkstatus", "otter", "eth9")
        assert got.returncode == 13
        assert normalise(got.stderr.decode()) == (
            f"<time> {os.uname().nodename} cl_status: [<pid>]: ERROR: Cannot get heartbeat link"
            f" status\n<time> {os.uname().nodename} cl_status: [<pid>]: ERROR: REASON: \n"
        )
        # usage and bad sub-commands never reach the daemon
        assert cl_status(tmp_path).stdout.startswith(b"Usage: cl_status <sub-command>")
        assert cl_status(tmp_path, "parameter", "-p", "x").returncode == 11
        assert daemon.requests == ["snapshot"] * 4


def test_no_daemon_is_heartbeat_stopped(tmp_path: Path) -> None:
    scenario = "local-stopped(heartbeat not running)"
    for argv in (
        ["cl_status", "hbstatus"],
        ["cl_status", "hbstatus", "-v"],
        ["cl_status", "listnodes"],
    ):
        want = record(scenario, "otter", argv)
        got = cl_status(tmp_path, *argv[1:])
        assert got.stdout.decode() == want["stdout"]
        assert normalise(got.stderr.decode()) == normalise(want["stderr"]).replace(
            " otter cl_status", f" {os.uname().nodename} cl_status"
        )
        assert got.returncode == want["rc"]


def test_stale_socket_of_a_killed_daemon_is_stopped_at_once(tmp_path: Path) -> None:
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(tmp_path / "query"))
    left.close()  # the file stays, nobody listens: what kill -9 leaves behind
    started = time.monotonic()
    got = cl_status(tmp_path, "hbstatus")
    assert (got.stdout, got.returncode) == (b"Heartbeat is stopped on this machine.\n", 1)
    assert time.monotonic() - started < 4, "must not wait for the 5 s alarm"


def test_refusing_daemon(tmp_path: Path) -> None:
    with FakeDaemon(tmp_path, None):
        got = cl_status(tmp_path, "hbstatus", "-v")
    assert got.stdout == (
        b"Heartbeat is apparently running on this machine, but refuses my connection\n(not now)\n"
    )
    assert got.returncode == 0


def test_silent_daemon_times_out_with_12(tmp_path: Path) -> None:
    with FakeDaemon(tmp_path, None, mute=True) as daemon:
        started = time.monotonic()
        got = cl_status(tmp_path, "nodestatus", "otter")
        elapsed = time.monotonic() - started
    assert daemon.requests == ["snapshot"]
    assert (got.stdout, got.stderr, got.returncode) == (b"", b"", 12)
    assert 4.5 < elapsed < 15
