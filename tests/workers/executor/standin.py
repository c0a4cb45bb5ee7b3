"""A stand-in for the supervisor's side of the executor bus (a test double).

`StandIn` binds a real ZeroMQ ROUTER, starts `python -m workers.executor`
as a real child process, answers its hello with a setup and then sends
requests and collects what comes back, waiting on messages with deadlines.
Like the supervisor, it creates the executor's lease file (`lease`) and
names it in the setup, unless the setup names one (`"lease": None`: none).

Run as a program it is the parent the executor watches: it starts the
executor, asks it to run the given script, prints one JSON line with the
pids once the script runs, then waits to be killed (the parent-death test).

    python tests/workers/executor/standin.py RUNTIME_DIR SCRIPT_DIR SCRIPT
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zmq

from hbeat.ipc.bus import pack, unpack_json
from hbeat.ipc.leasefile import LeaseFile

REPO = Path(__file__).resolve().parents[3]


class StandInError(AssertionError):
    pass


class StandIn:
    """The supervisor end of the bus, with one executor process behind it."""

    def __init__(self, setup: dict[str, Any], *, prefix: Sequence[str] = (),
                 log_dir: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hbx-", dir="/tmp"))
        self.endpoint = f"ipc://{self.dir}/bus"
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.endpoint)
        self.lease = LeaseFile.create(self.dir / "executor.lease")
        setup = {"lease": str(self.lease.path), **setup}
        if setup["lease"] is None:
            del setup["lease"]
        self.inbox: list[tuple[str, dict[str, Any]]] = []
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.ids = itertools.count(1)
        self.stderr_path = (log_dir or self.dir) / "executor.stderr"
        self._stderr = self.stderr_path.open("wb")
        argv = [*prefix, sys.executable, "-m", "workers.executor", "--bus", self.endpoint,
                "--name", "executor"]
        self.proc = subprocess.Popen(argv, stdout=self._stderr, stderr=self._stderr,
                                     cwd=str(REPO))
        hello = self.expect("hello", timeout=20)
        assert hello["name"] == "executor", hello
        self.pid = int(hello["pid"])
        self.send("setup", setup)
        verb, body = self.next_message(timeout=20)
        if verb != "ready":
            error = StandInError(f"executor answered setup with {verb} {body}; "
                                 f"stderr: {self.stderr()}")
            self.close()
            raise error
        self.ready = body

    # --- plumbing ---------------------------------------------------------

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def send(self, verb: str, body: dict[str, Any]) -> None:
        self.sock.send_multipart([b"executor", *pack(verb.encode(), body)])

    def _receive(self, timeout: float) -> bool:
        if not self.sock.poll(max(0, int(timeout * 1000))):
            return False
        ident, verb, raw = self.sock.recv_multipart()
        assert ident == b"executor", ident
        message = (verb.decode(), unpack_json(raw, verb.decode()))
        self.inbox.append(message)
        self.seen.append(message)
        return True

    def next_message(self, timeout: float) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            if not self._receive(deadline - time.monotonic()):
                raise StandInError(f"no message from the executor within {timeout:g} s; "
                                   f"stderr: {self.stderr()}")
        return self.inbox.pop(0)

    def expect(self, verb: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        """Wait for the first message `verb` whose body has the `match` items."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (v, body) in enumerate(self.inbox):
                if v == verb and all(body.get(k) == val for k, val in match.items()):
                    del self.inbox[i]
                    return body
            left = deadline - time.monotonic()
            if left <= 0 or not self._receive(left):
                if time.monotonic() < deadline:
                    continue
                raise StandInError(
                    f"no {verb} {match} within {timeout:g} s; seen: {self.seen[-20:]}; "
                    f"stderr: {self.stderr()}")

    # --- requests ---------------------------------------------------------

    def run(self, action: str, *, group: str = "g", index: int = 0, timeout_s: float = 20,
            resource: dict[str, Any] | None = None, argv: list[str] | None = None,
            rid: str | None = None) -> str:
        rid = rid or f"c{next(self.ids)}"
        body: dict[str, Any] = {"id": rid, "group": group, "index": index, "action": action,
                                "timeout_s": timeout_s}
        if resource is not None:
            body["resource"] = resource
        if argv is not None:
            body["argv"] = argv
        self.send("run", body)
        return rid

    def call(self, action: str, timeout: float = 30, **kwargs: Any) -> Outcome:
        rid = self.run(action, **kwargs)
        return self.outcome(rid, timeout)

    def outcome(self, rid: str, timeout: float = 30) -> Outcome:
        result = self.expect("result", timeout, id=rid)
        lines = []
        # everything the executor sent before the result has been received by now
        for verb, body in list(self.inbox):
            if verb == "output" and body["id"] == rid:
                lines.append((body["stream"], body["line"]))
                self.inbox.remove((verb, body))
        started = [b for v, b in self.seen if v == "started" and b["id"] == rid]
        self.inbox = [(v, b) for v, b in self.inbox if not (v == "started" and b["id"] == rid)]
        return Outcome(result, lines, started[0] if started else None)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("stop", {"kill": True})
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self.sock.close()
            self.ctx.term()
            self._stderr.close()
            self.lease.close()
            shutil.rmtree(self.dir, ignore_errors=True)


class Outcome:
    """A call's result, its output lines (stream, line) and its `started` message."""

    def __init__(self, result: dict[str, Any], lines: list[tuple[str, str]],
                 started: dict[str, Any] | None) -> None:
        self.result = result
        self.lines = lines
        self.started = started

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def text(self, stream: str = "stdout") -> str:
        return "\n".join(line for s, line in self.lines if s == stream)

    def __repr__(self) -> str:
        return f"Outcome({self.result!r}, lines={self.lines[:20]!r})"


def main(argv: list[str]) -> int:
    runtime_dir, script_dir, script = argv
    standin = StandIn({"config_dir": runtime_dir, "node": "otter",
                       "resource_dir": script_dir, "kill_grace_s": 1})
    standin.run("start", resource={"script": script, "args": []}, timeout_s=600, rid="hang")
    started = standin.expect("started", id="hang")
    print(json.dumps({"executor": standin.pid, "script": started["pid"],
                      "dir": str(standin.dir)}), flush=True)
    while True:  # be the live parent until the test kills us
        standin.sock.poll(1000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
