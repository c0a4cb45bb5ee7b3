"""`hbeat status` and `hbeat watch` as real processes against a running cluster,
and against a runtime directory where no daemon runs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab, LogWatcher, wait_for
from tests.lab.daemon.cluster import DEADTIME_S, HBEAT, SERIAL, Cluster
from tests.lab.daemon.schema import check_event, check_snapshot

STAMP = r"\d\d:\d\d:\d\d\.\d\d\d"


def hbeat(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HBEAT, *args], capture_output=True, text=True, timeout=timeout)


def test_status_and_watch_not_running(tmp_path: Path) -> None:
    for argv in (["status"], ["watch", "--count", "1"]):
        res = hbeat(*argv, "--runtime-dir", str(tmp_path))
        assert res.returncode == 3, res
        assert "not running" in res.stderr and str(tmp_path) in res.stderr, res.stderr
        assert res.stdout == ""


def test_watch_rejects_bad_count(tmp_path: Path) -> None:
    res = hbeat("watch", "--count", "0", "--runtime-dir", str(tmp_path))
    assert res.returncode == 2 and "--count" in res.stderr


def default_sigint() -> None:
    """In a child before exec: SIGINT back to its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_status_and_watch_against_cluster(lab_factory: Callable[..., Lab]) -> None:
    cluster = Cluster(lab_factory(2)).start()
    cluster.wait_all_active()
    otter = cluster["otter"]
    rd = str(otter.runtime_dir)

    res = hbeat("status", "--runtime-dir", rd)
    assert res.returncode == 0, res
    out = res.stdout
    head = out.splitlines()[0]
    assert re.match(r"hbeat \S+ on otter: active   generation \d+   pid \d+   up \d+s$", head), out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert re.search(rf"active\s+normal\s+{SERIAL} up, eth1 up$", rows["weasel"]), out
    assert re.search(r"^bcast eth1\s+\d+\s+running\s+0$", out, re.M), out
    assert re.search(rf"^serial {SERIAL}\s+\d+\s+running\s+0$", out, re.M), out
    assert re.search(r"^counters: rx_frames \d+", out, re.M), out
    assert re.search(r"^resources held: (all|local|foreign|none|transition)$", out, re.M), out
    assert re.search(r"^resources phase: \S+", out, re.M), out

    res = hbeat("status", "--json", "--runtime-dir", rd)
    assert res.returncode == 0, res
    raw = json.loads(res.stdout)
    assert check_snapshot(raw, nodes=("otter", "weasel"), media=(SERIAL, "eth1")) == []
    assert raw["local"] == "otter" and raw["comm_up"] is True

    # Two watchers, human and JSON, both running while weasel's ethernet is cut.
    # Every snapshot published on request reaches every subscriber, so the
    # JSON watcher starts once the human one has its snapshot, and its count
    # leaves room for a periodic or repeated snapshot besides the events.
    jlog = otter.node.dir / "watch-json.out"
    hlog = otter.node.dir / "watch-human.out"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with hlog.open("w") as hf:
            # SIGINT at its default in the child, so that its Python turns it
            # into KeyboardInterrupt: a test runner's worker process may ignore
            # SIGINT, and an ignored signal stays ignored across exec.
            hproc = subprocess.Popen([HBEAT, "watch", "--runtime-dir", rd],
                                     stdout=hf, stderr=subprocess.STDOUT,
                                     preexec_fn=default_sigint)
        procs.append(hproc)
        human = LogWatcher(hlog, from_start=True)
        human.wait(r"^hbeat \S+ on otter: active", timeout=10)
        with jlog.open("w") as jf:
            jproc = subprocess.Popen([HBEAT, "watch", "--json", "--count", "4", "--timeout", "30",
                                      "--runtime-dir", rd], stdout=jf, stderr=subprocess.STDOUT)
        procs.append(jproc)
        LogWatcher(jlog, from_start=True).wait(r'"topic":"snapshot"', timeout=10)
        cluster.lab.cut("weasel")
        human.wait(rf"^{STAMP} Link weasel:eth1 dead\.$", timeout=DEADTIME_S + 5)
        cluster.lab.restore("weasel")
        human.wait(rf"^{STAMP} Link weasel:eth1 up\.$", timeout=10)
        assert jproc.wait(timeout=20) == 0, jlog.read_text()
        # Ctrl-C ends a watch quietly with 0.
        hproc.send_signal(signal.SIGINT)
        assert hproc.wait(timeout=10) == 0, hlog.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert "Traceback" not in hlog.read_text(), hlog.read_text()

    lines = jlog.read_text().splitlines()
    assert len(lines) == 4, lines
    messages = [json.loads(line) for line in lines]
    assert all(set(m) == {"topic", "body"} for m in messages), messages
    assert messages[0]["topic"] == "snapshot"
    assert check_snapshot(messages[0]["body"], nodes=("otter", "weasel"),
                          media=(SERIAL, "eth1")) == []
    events = [m for m in messages[1:] if m["topic"] != "snapshot"]
    assert any(m["topic"] == "link.weasel.eth1" and m["body"]["new"] == "dead"
               for m in events), messages
    for m in events:
        assert check_event(m["topic"], m["body"]) == [], m

    # A graceful stop after all that is prompt: every worker leaves on `stop`
    # or SIGTERM well before the supervisor's 5 s SIGKILL fallback.
    weasel = cluster["weasel"]
    assert weasel.proc is not None
    start = time.monotonic()
    assert weasel.proc.stop(signal.SIGTERM, timeout=15) == 0
    took = time.monotonic() - start
    output = weasel.proc.output()
    assert took < 3.0 and "Traceback" not in output, (took, output[-3000:])


def test_status_exit_3_after_daemon_stopped(lab_factory: Callable[..., Lab]) -> None:
    cluster = Cluster(lab_factory(2)).start()
    otter = cluster["otter"]
    otter.wait_answering()
    assert otter.proc is not None
    assert otter.proc.stop(signal.SIGTERM, timeout=15) == 0
    wait_for(lambda: not (otter.runtime_dir / "control").exists(), 5,
             what="control socket removed")
    res = hbeat("status", "--runtime-dir", str(otter.runtime_dir))
    assert res.returncode == 3 and str(otter.runtime_dir) in res.stderr, res
