"""The executor process behind a stand-in supervisor, with real scripts in a temp tree."""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hbeat.schedslice import SLICE_NS
from tests.harness.requirements import require_commands, require_kernel_sched_slice
from tests.harness.waiting import wait_for
from tests.workers.executor.conftest import Tree, group_members, proc_state
from tests.workers.executor.standin import StandIn

Make = Callable[..., StandIn]

PROBE = """#!/bin/sh
# records every call like the lab's LabProbe: <epoch.ns> <name> <action> <result>
name=$1; action=$2
state={root}/probe.$name.running
record() {{ echo "$(date +%s.%N) $name $action $1" >> {root}/events.log; }}
case "$action" in
start) touch "$state"; record ok; echo "probe $name started"; exit 0;;
stop) rm -f "$state"; record ok; exit 0;;
status)
    if [ -f "$state" ]; then record running; echo "probe $name is running"; exit 0; fi
    record stopped; echo "probe $name is stopped"; exit 3;;
esac
echo "usage: $0 <name> {{start|stop|status}}" >&2; exit 2
"""


def probe(tree: Tree) -> dict[str, object]:
    tree.script("drbddisk", PROBE.format(root=tree.root))
    return {"script": "drbddisk", "args": ["r0"]}


def test_start_status_stop_in_heartbeat_order(tree: Tree, standin: Make) -> None:
    res = probe(tree)
    ex = standin()
    assert ex.ready["limits"]["max_lines"] == 200
    first = ex.call("status", resource=res)
    assert first["status"] == "stopped" and first["rc"] == 3
    assert first["heartbeat_status"] == "stopped"
    start = ex.call("start", resource=res)
    path = str(tree.resource_dir / "drbddisk")
    assert start.started is not None and start.started["argv"] == [path, "r0", "start"]
    assert start.started["command"] == f"{path} r0 start"
    assert start["status"] == "ok" and start["rc"] == 0 and start["error"] is None
    assert start.lines == [("stdout", "probe r0 started")]
    running = ex.call("status", resource=res)
    assert running["status"] == "running" and running["heartbeat_status"] == "running"
    assert ex.call("stop", resource=res)["status"] == "ok"
    assert ex.call("status", resource=res)["status"] == "stopped"
    events = tree.events_lines()
    assert [e[2:] for e in events] == [["status", "stopped"], ["start", "ok"],
                                       ["status", "running"], ["stop", "ok"],
                                       ["status", "stopped"]]
    stamps = [float(e[0]) for e in events]
    assert stamps == sorted(stamps)


def test_each_result_carries_the_calls_spawn_and_exit_on_the_wall_clock(
        tree: Tree, standin: Make) -> None:
    """The stamps the takeover's breakdown is made of (docs/journal.md): the
    call's exec, and its reaping after the script's last action."""
    res = probe(tree)
    ex = standin()
    before = time.time_ns()
    status = ex.call("status", resource=res)
    start = ex.call("start", resource=res)
    after = time.time_ns()
    stamps = [int(e[0].replace(".", "")) for e in tree.events_lines()]  # s.ns -> ns
    # spawn_ns is taken once the child has exec'd (its shell may already run)
    assert before <= status["spawn_ns"] <= status["exit_ns"] <= start["spawn_ns"]
    assert start["spawn_ns"] <= start["exit_ns"] <= after
    assert before <= stamps[0] <= status["exit_ns"] <= stamps[1] <= start["exit_ns"]
    unmade = ex.call("status", resource={"script": "nonesuch", "args": []})
    assert unmade["error"] and unmade["spawn_ns"] is None and unmade["exit_ns"] is None


def test_environment_of_a_call(tree: Tree, standin: Make) -> None:
    tree.script("envdump", "#!/bin/sh\nenv\n")
    ex = standin(env={"HA_foo": "bar"}, logging={"logfile": str(tree.root / "ha-log"),
                                                 "debug": 0})
    out = ex.call("start", resource={"script": "envdump", "args": []})
    env = dict(line.split("=", 1) for s, line in out.lines if "=" in line)
    assert env["HA_DIR"] == str(tree.root) and env["HA_CURHOST"] == "otter"
    assert env["HA_LOGFILE"] == str(tree.root / "ha-log") and env["HA_foo"] == "bar"
    assert env["OCF_ROOT"] == "/usr/lib/ocf" and env["HA_FUNCS"] == "/etc/ha.d/shellfuncs"
    assert "HBEAT_CONFIG_DIR" not in env and "PYTEST_CURRENT_TEST" not in env


def test_failed_start_reports_code_and_stderr(tree: Tree, standin: Make) -> None:
    tree.script("Failer", "#!/bin/sh\necho 'cannot start x' >&2\nexit 1\n")
    out = standin().call("start", resource={"script": "Failer", "args": ["x"]})
    assert out["status"] == "failed" and out["rc"] == 1 and out["error"] is None
    assert out.lines == [("stderr", "cannot start x")]


def test_status_combines_exit_code_and_heartbeat_text(tree: Tree, standin: Make) -> None:
    tree.script("Old", '#!/bin/sh\n[ -n "$2" ] && echo "$2"\nexit "$1"\n')
    ex = standin()

    def status(rc: str, text: str) -> tuple[str, str]:
        out = ex.call("status", resource={"script": "Old", "args": [rc, text]})
        return out["status"], out["heartbeat_status"]

    assert status("0", "Old x is not running") == ("stopped", "stopped")
    assert status("0", "Old x is running") == ("running", "running")
    assert status("0", "all fine") == ("running", "stopped")  # heartbeat would disagree
    assert status("3", "x is running") == ("stopped", "running")
    assert status("1", "x is running") == ("failed", "running")


def test_timeout_kills_the_whole_process_group(tree: Tree, standin: Make) -> None:
    # ignores SIGTERM, so only the SIGKILL after kill_grace_s ends it; its
    # background grandchild sleeps in the same process group
    tree.script("Hang", f"""#!/bin/sh
trap '' TERM
sleep 1000 &
echo $! > {tree.root}/grandchild.pid
echo waiting
while :; do sleep 1; done
""")
    ex = standin(kill_grace_s=1)
    began = time.monotonic()
    out = ex.call("start", resource={"script": "Hang", "args": []}, timeout_s=1)
    took = time.monotonic() - began
    assert out["timed_out"] is True and out["rc"] is None and out["status"] == "failed"
    assert "timed out after 1 s" in out["error"]
    assert ("stdout", "waiting") in out.lines
    assert 1.9 <= took < 10, took
    assert out.started is not None
    pgid = out.started["pid"]
    grandchild = int((tree.root / "grandchild.pid").read_text())
    # the executor is the subreaper: nothing is left, not even a zombie
    wait_for(lambda: proc_state(pgid) is None and proc_state(grandchild) is None, 10,
             what="script and grandchild gone from /proc",
             describe=lambda: (proc_state(pgid), proc_state(grandchild)))
    assert group_members(pgid) == []


def test_output_is_bounded(tree: Tree, standin: Make) -> None:
    tree.script("Chatty", """#!/bin/sh
head -c 10000 /dev/zero | tr '\\0' x; echo
i=0; while [ $i -lt 1000 ]; do echo "line $i"; i=$((i+1)); done
echo "last words" >&2
""")
    ex = standin(limits={"max_lines": 50, "max_line_bytes": 4096})
    out = ex.call("start", resource={"script": "Chatty", "args": []})
    assert out["status"] == "ok" and out["truncated"] is True
    stdout = [line for s, line in out.lines if s == "stdout"]
    notices = [line for s, line in out.lines if s == "executor"]
    assert len(stdout) == 50 and len(notices) == 1 and "output truncated" in notices[0]
    assert stdout[:3] == ["x" * 4096, "x" * 4096, "x" * 1808]
    assert stdout[3] == "line 0"
    assert out["output_lines"] == 3 + 1000 + 1
    assert out["output_bytes"] == 10001 + sum(len(f"line {i}\n") for i in range(1000)) + 11


def test_missing_not_executable_and_unexecutable(tree: Tree, standin: Make) -> None:
    tree.script("Plain", "#!/bin/sh\nexit 0\n", mode=0o644)
    tree.script("NoShebang", "echo hi\n")
    ex = standin()
    missing = ex.call("start", resource={"script": "Nope", "args": []})
    assert missing["status"] == "failed" and missing["rc"] is None
    assert missing["error"].startswith("Cannot locate resource script Nope")
    plain = ex.call("start", resource={"script": "Plain", "args": []})
    assert f"{tree.resource_dir / 'Plain'} is not executable" in plain["error"]
    noexec = ex.call("start", resource={"script": "NoShebang", "args": []})
    assert "Exec format error" in noexec["error"] and noexec["rc"] is None
    # a status of a resource whose script is missing or not executable: the
    # resource is not installed here (not "possibly running"), as an agent's exit 5
    status = ex.call("status", resource={"script": "Nope", "args": []})
    assert status["status"] == "not-installed" and status["heartbeat_status"] is None
    assert status["rc"] is None and status["error"].startswith("Cannot locate resource script")
    plain_status = ex.call("status", resource={"script": "Plain", "args": []})
    assert plain_status["status"] == "not-installed"
    for out in (missing, plain, noexec, status, plain_status):
        assert out.started is None


def test_bad_requests_get_clear_errors(tree: Tree, standin: Make) -> None:
    ex = standin()
    ex.send("run", {"id": "b1", "action": "start", "resource": {"script": "x"}})
    assert "'group' must be a non-empty string" in ex.expect("result", id="b1")["error"]
    ex.send("run", {"id": "b2", "group": "g", "action": "restart", "argv": ["/bin/true"]})
    assert "unknown action 'restart'" in ex.expect("result", id="b2")["error"]
    ex.send("run", {"id": "b3", "group": "g", "action": "start", "argv": ["true"]})
    assert "must be an absolute path" in ex.expect("result", id="b3")["error"]
    ex.send("run", {"id": "b4", "group": "g", "action": "start", "timeout_s": 0,
                    "argv": ["/bin/true"]})
    assert "timeout_s must be a positive number" in ex.expect("result", id="b4")["error"]
    ex.send("frobnicate", {})
    assert "unknown verb" in ex.expect("error")["error"]
    ok = ex.call("start", argv=["/bin/sh", "-c", "echo via argv", "start"])
    assert ok["status"] == "ok" and ok.lines == [("stdout", "via argv")]


GATED = """#!/bin/sh
echo "$(date +%s.%N) $1 $2 begin" >> {root}/events.log
while [ ! -e {root}/release.$1 ]; do sleep 0.01; done
echo "$(date +%s.%N) $1 $2 end" >> {root}/events.log
"""


def test_groups_run_in_parallel_and_one_group_in_order(tree: Tree, standin: Make) -> None:
    tree.script("Gated", GATED.format(root=tree.root))
    ex = standin()

    def gated(name: str) -> dict[str, object]:
        return {"script": "Gated", "args": [name]}

    a1 = ex.run("start", group="A", index=0, resource=gated("a1"))
    a2 = ex.run("start", group="A", index=1, resource=gated("a2"))
    b1 = ex.run("start", group="B", index=0, resource=gated("b1"))
    ex.expect("started", id=a1)
    ex.expect("started", id=b1)  # B runs while A's first call is still blocked
    wait_for(lambda: len(tree.events_lines()) == 2, 10, what="a1 and b1 began",
             describe=tree.events_lines)
    assert not [b for v, b in ex.seen if v == "started" and b["id"] == a2]
    (tree.root / "release.b1").touch()
    assert ex.outcome(b1)["status"] == "ok"
    assert not [b for v, b in ex.seen if v == "started" and b["id"] == a2]
    (tree.root / "release.a2").touch()  # a2 may not start until a1 is done anyway
    (tree.root / "release.a1").touch()
    assert ex.outcome(a1)["status"] == "ok"
    assert ex.outcome(a2)["status"] == "ok"
    order = [(v, b["id"]) for v, b in ex.seen if v in ("started", "result")]
    assert order.index(("started", a2)) > order.index(("result", a1))
    events = [(e[1], e[3]) for e in tree.events_lines()]
    assert events.index(("a2", "begin")) > events.index(("a1", "end"))


def test_stop_cancels_queued_and_kills_running(tree: Tree, standin: Make) -> None:
    tree.script("Gated", GATED.format(root=tree.root))
    ex = standin()
    running = ex.run("start", group="A", resource={"script": "Gated", "args": ["x"]})
    queued = ex.run("start", group="A", resource={"script": "Gated", "args": ["y"]})
    pgid = ex.expect("started", id=running)["pid"]
    ex.send("stop", {"kill": True})
    assert "cancelled" in ex.expect("result", id=queued)["error"]
    killed = ex.expect("result", id=running)
    assert killed["rc"] is None and "told to stop" in killed["error"]
    bye = ex.expect("bye")
    assert bye == {"cancelled": [queued], "killed": [running]}
    assert ex.proc.wait(timeout=10) == 0
    assert group_members(pgid) == []


def test_lsb_init_script_from_the_init_dir(tree: Tree, standin: Make) -> None:
    # a daemon started in the background keeps the output pipes open: the
    # start call must still end when the script exits, and the daemon live on
    tree.script("exampled", f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          exampled
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: example daemon for the executor tests
### END INIT INFO
PIDFILE={tree.root}/exampled.pid
running() {{ [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; }}
case "$1" in
start)
    running && exit 0
    sleep 1000 &
    echo $! > $PIDFILE
    echo "Starting exampled: exampled."
    ;;
stop)
    running && kill "$(cat $PIDFILE)"
    rm -f $PIDFILE
    echo "Stopping exampled: exampled."
    ;;
status)
    if running; then echo "exampled is running."; exit 0; fi
    echo "exampled is not running."; exit 3
    ;;
*) echo "Usage: $0 {{start|stop|status}}" >&2; exit 2;;
esac
exit 0
""", where="init.d")
    ex = standin()
    res = {"script": "exampled", "args": []}
    assert ex.call("status", resource=res)["status"] == "stopped"
    start = ex.call("start", resource=res, timeout_s=10)
    assert start["status"] == "ok" and start["argv"] == [str(tree.init_dir / "exampled"),
                                                         "start"]
    daemon = int((tree.root / "exampled.pid").read_text())
    assert proc_state(daemon) not in (None, "Z")  # not killed with the call
    assert ex.call("status", resource=res)["status"] == "running"
    assert ex.call("stop", resource=res)["status"] == "ok"
    wait_for(lambda: proc_state(daemon) is None, 10, what="daemon reaped after stop")
    status = ex.call("status", resource=res)
    assert status["status"] == "stopped" and status["heartbeat_status"] == "stopped"


def test_executor_dies_with_its_supervisor_and_takes_scripts_along(tree: Tree) -> None:
    tree.script("Hang", "#!/bin/sh\nsleep 1000 &\nwait\n")
    helper = Path(__file__).with_name("standin.py")
    parent = subprocess.Popen(
        [sys.executable, str(helper), str(tree.root), str(tree.resource_dir), "Hang"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids: dict[str, Any] = {}
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 30)
        assert ready, "stand-in supervisor did not report the running script"
        pids = json.loads(parent.stdout.readline())
        executor, pgid = int(pids["executor"]), int(pids["script"])
        assert Path(f"/proc/{executor}/cmdline").read_bytes().startswith(b"hbeat: executor")
        wait_for(lambda: len(group_members(pgid)) == 2, 10, what="the script and its sleep",
                 describe=lambda: group_members(pgid))
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # with no reaper above them, the dead may linger as zombies: count the living
        wait_for(lambda: proc_state(executor) in (None, "Z"), 15,
                 what="executor exits after its parent died",
                 describe=lambda: proc_state(executor))
        wait_for(lambda: group_members(pgid) == [], 15, what="script's process group gone",
                 describe=lambda: group_members(pgid))
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for stream in (parent.stdout, parent.stderr):
            if stream:
                stream.close()
        if pids.get("dir"):
            shutil.rmtree(str(pids["dir"]), ignore_errors=True)


def test_process_title(tree: Tree, standin: Make) -> None:
    ex = standin()
    title = Path(f"/proc/{ex.pid}/cmdline").read_bytes().split(b"\0")[0]
    assert title == b"hbeat: executor"
    assert os.getpid() != ex.pid


def test_scripts_get_oom_score_adj_0_and_the_executors_limits(tree: Tree, standin: Make) -> None:
    """The daemon runs with oom_score_adj -1000 (the unit's OOMScoreAdjust) and
    a link worker raises its own memlock limit; a resource script and the
    services it starts are ordinary processes: oom_score_adj 0, limits as the
    system gave the daemon (the unit sets no Limit*=). Lowering the value
    needs CAP_SYS_RESOURCE, which this test may not have, so the executor
    runs at +500 instead: a script that inherited it would show 500."""
    require_commands("choom")
    tree.script("Limits", "#!/bin/sh\necho oom=$(cat /proc/self/oom_score_adj)\n"
                          "echo core=$(ulimit -c) memlock=$(ulimit -l)\n")
    ex = standin(prefix=("choom", "-n", "500", "--"))
    assert Path(f"/proc/{ex.proc.pid}/oom_score_adj").read_text().strip() == "500"
    out = ex.call("start", resource={"script": "Limits", "args": []})
    seen = dict(item.split("=") for _, line in out.lines for item in line.split())

    def shell_limit(which: int) -> str:
        soft = resource.getrlimit(which)[0]
        return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)

    def shell_kib(which: int) -> str:
        soft = resource.getrlimit(which)[0]
        return "unlimited" if soft == resource.RLIM_INFINITY else str(soft // 1024)

    core = shell_limit(resource.RLIMIT_CORE)
    core = core if core == "unlimited" else str(int(core) // 512)  # sh counts 512-byte blocks
    assert seen == {"oom": "0", "core": core,
                    "memlock": shell_kib(resource.RLIMIT_MEMLOCK)}, out.lines


def test_scripts_get_oom_score_adj_0_and_the_executor_keeps_its_own(
        tree: Tree, standin: Make) -> None:
    """The executor starts scripts without a preexec_fn (vfork): it sets its own
    value to 0 around each spawn and back, so every script shows 0 and the
    executor is back at its own value after every call (+500 here: the
    daemon's -1000 needs CAP_SYS_RESOURCE to set, which a test may lack)."""
    require_commands("choom")
    tree.script("Oom", "#!/bin/sh\necho oom=$(cat /proc/self/oom_score_adj)\n")
    ex = standin(prefix=("choom", "-n", "500", "--"))
    own = Path(f"/proc/{ex.proc.pid}/oom_score_adj")
    assert own.read_text().strip() == "500"
    for _ in range(3):
        out = ex.call("start", resource={"script": "Oom", "args": []})
        assert [line for _, line in out.lines] == ["oom=0"], out.lines
        assert own.read_text().strip() == "500"


def test_the_executor_has_a_short_slice_and_its_scripts_do_not(
        tree: Tree, standin: Make) -> None:
    """It wakes for a takeover's requests with hbeat/schedslice.py's short
    slice; a resource script (and the services it starts) gets the default."""
    require_kernel_sched_slice()
    tree.script("Slice", "#!/bin/sh\ngrep '^se.slice' /proc/self/sched\n")
    ex = standin()

    def slice_of(text: str) -> int:
        return int(text.split(":")[1].split(".")[0])

    own = next(line for line in Path(f"/proc/{ex.pid}/sched").read_text().splitlines()
               if line.startswith("se.slice"))
    assert slice_of(own) == SLICE_NS
    out = ex.call("start", resource={"script": "Slice", "args": []})
    (_, line), = out.lines
    assert slice_of(line) != SLICE_NS, out.lines


def test_unit_raises_no_limits_for_scripts() -> None:
    unit = (Path(__file__).resolve().parents[3] / "systemd" / "hbeat.service").read_text()
    settings = [line.split("=", 1)[0] for line in unit.splitlines()
                if line and not line.startswith("#") and "=" in line]
    assert "OOMScoreAdjust" in settings
    assert [s for s in settings if s.startswith("Limit")] == []


def test_supervisor_signals_leave_the_executor_and_scripts_get_default_dispositions(
        tree: Tree, standin: Make) -> None:
    """INT, HUP, USR1 and USR2 are the supervisor's (a terminal's Ctrl-C reaches
    the whole process group): the executor goes on, and the scripts it starts
    do not inherit them ignored (a daemon started with HUP ignored could not be
    reloaded)."""
    tree.script("sigs", "#!/bin/sh\ngrep -E '^Sig(Ign|Cgt):' /proc/self/status\n")
    ex = standin()
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        os.kill(ex.pid, sig)
    out = ex.call("start", resource={"script": "sigs", "args": []})
    assert out["status"] == "ok" and proc_state(ex.pid) not in (None, "Z")
    masks = dict(line.split(":\t") for s, line in out.lines if s == "stdout")
    ignored = int(masks["SigIgn"], 16)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
        assert not ignored & (1 << (sig - 1)), f"{sig.name} ignored in a script: {masks}"


def test_logging_message_reaches_later_calls(tree: Tree, standin: Make) -> None:
    tree.script("envdump", "#!/bin/sh\nenv\n")
    ex = standin(logging={"logfile": str(tree.root / "ha-log"), "debug": 0})
    res = {"script": "envdump", "args": []}

    def env() -> dict[str, str]:
        out = ex.call("start", resource=res)
        return dict(line.split("=", 1) for s, line in out.lines if "=" in line)

    assert env()["HA_debug"] == "0"
    ex.send("logging", {"logfile": str(tree.root / "ha-log.new"), "debug": 3})
    after = env()
    assert after["HA_debug"] == "3" and after["HA_LOGFILE"] == str(tree.root / "ha-log.new")
    ex.send("logging", {"debug": -1})
    assert "'debug' must be a non-negative integer" in ex.expect("error")["error"]
    assert env()["HA_debug"] == "3"
