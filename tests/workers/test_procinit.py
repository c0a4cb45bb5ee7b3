"""workers.procinit in real child processes: title, parent-death signal,
the signals left to the supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import os, signal, sys, time
from workers.procinit import become_worker
ok = become_worker("procinit-test")
print(ok, flush=True)
for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
    assert signal.getsignal(sig) is signal.SIG_IGN, sig
    os.kill(os.getpid(), sig)
print("survived", flush=True)
time.sleep(60)
"""


def test_become_worker_ignores_the_supervisors_signals_and_ends_on_term() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "True\n"
        assert proc.stdout.readline() == "survived\n"
        title = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert title.startswith(b"hbeat: procinit-test"), title
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # os._exit(0): nothing to flush
    finally:
        proc.kill()


ORPHAN = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import os, sys, time
from workers.procinit import die_with_parent
assert die_with_parent()
print(os.getpid(), flush=True)
time.sleep(60)
'''], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
os._exit(0)
"""


def test_die_with_parent_ends_the_worker_when_its_parent_dies() -> None:
    out = subprocess.run([sys.executable, "-c", ORPHAN], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    pid = int(out.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"worker {pid} outlived its parent")


def test_greet_supervisor_says_hello_and_returns_the_setup(tmp_path: Path) -> None:
    import threading

    import zmq

    from hbeat.ipc.bus import Hello
    from workers.procinit import greet_supervisor

    endpoint = f"ipc://{tmp_path}/bus"
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(greet_supervisor(endpoint, "bcast eth1")))
    thread.start()
    try:
        assert router.poll(10_000)
        identity, *hello = router.recv_multipart()
        assert identity == b"bcast eth1"
        assert hello == Hello(os.getpid(), "bcast eth1").encode()
        router.send_multipart([identity, b"setup", b"{}"])
        thread.join(10)
        greeted = got[0]
        assert isinstance(greeted, tuple)
        worker_ctx, bus, parts = greeted
        assert parts == [b"setup", b"{}"]
        bus.close(linger=0)
        worker_ctx.term()
    finally:
        thread.join(10)
        router.close(linger=0)
        ctx.term()
