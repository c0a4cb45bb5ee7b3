"""One verdict per status call, made by the executor, which knows the kind of
call, and acted on as it is by the supervisor's group operations.

An OCF agent's monitor that exits 0 while printing "not running" is RUNNING
(OCF goes by the exit code); a haresources script that exits 0 printing the
same words is STOPPED (heartbeat's text convention). Before, the supervisor
judged the output again with the haresources rule and called both stopped.

End to end: the supervisor's ExecutorLink encodes the run request, a real
executor runs real scripts, the result goes back through ExecutorLink to a
GroupOp starting the group."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hbeat.config import SystemProbe, load_config
from hbeat.config.model import ResourceGroup
from hbeat.ipc.bus import pack
from hbeat.ipc.executor import Outcome as Verdict
from hbeat.logfmt import Level
from supervisor import groupops as go
from supervisor.executorlink import ExecutorLink
from tests.hbeat.config.seed import write_seed
from tests.supervisor.resources.sim import group
from tests.workers.executor.conftest import Tree
from tests.workers.executor.standin import StandIn

NOT_RUNNING = "Chatty is not running (it is, it just says so)"


def start_group(ex: StandIn, grp: ResourceGroup, tmp: Path) -> tuple[Verdict, list[go.Step]]:
    """Start `grp` (one resource): its status call goes supervisor -> executor -> back."""
    seed = write_seed(tmp / "ha.d", serial=None, interfaces=("lo",), haresources="")
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    to_executor: list[list[bytes]] = []
    done: list[tuple[int, int | None, Verdict]] = []
    logs: list[tuple[Level, str]] = []
    link = ExecutorLink(config, to_executor.append, lambda lv, t: logs.append((lv, t)),
                        lambda op, rc, verdict: done.append((op, rc, verdict)))
    link.on_message(b"ready", pack(b"ready", ex.ready))
    op = go.GroupOp(grp, go.Kind.START)
    steps = op.begin(0)
    call = steps[-1]
    assert isinstance(call, go.Call) and call.action == "status"
    link.run(7, grp.key, call.index, call.action, 20, grp.resources[call.index])
    [request] = to_executor
    assert request[0] == b"executor"
    ex.sock.send_multipart(request)
    result = ex.expect("result", id=7)
    link.on_message(b"result", pack(b"result", result))
    [(op_id, rc, verdict)] = done
    assert (op_id, rc) == (7, 0), logs
    return verdict, op.result(rc, verdict, 10)


def test_ocf_monitor_exit_0_printing_not_running_is_running(
        tree: Tree, standin: Callable[..., StandIn], tmp_path: Path) -> None:
    ocf_root = tree.root / "ocf"
    agent = ocf_root / "resource.d" / "lab" / "Chatty"
    agent.parent.mkdir(parents=True)
    agent.write_text(f'#!/bin/sh\ncase "$1" in monitor) echo "{NOT_RUNNING}"; exit 0;; '
                     'esac\nexit 3\n')
    agent.chmod(0o755)
    tree.script("OCF", "#!/bin/sh\nexit 1\n")  # the wrapper: start/stop only
    conf = tree.root / "conf" / "OCF" / "Chatty" / "x"
    conf.parent.mkdir(parents=True)
    conf.write_text("OCF_RESKEY_x=1\n")
    verdict, steps = start_group(standin(ocf_root=str(ocf_root)),
                                 group(1, "otter", "OCF::Chatty::x"), tmp_path)
    assert verdict == "running"
    # found running: nothing to start, the group is up
    assert steps == [go.Finished(go.Outcome.STARTED)]


def test_haresources_script_exit_0_printing_not_running_is_stopped(
        tree: Tree, standin: Callable[..., StandIn], tmp_path: Path) -> None:
    tree.script("Chatty", f'#!/bin/sh\n[ "$1" = status ] && echo "{NOT_RUNNING}"\nexit 0\n')
    verdict, steps = start_group(standin(), group(1, "otter", "Chatty"), tmp_path)
    assert verdict == "stopped"
    assert steps == [go.Call(0, "start")]


def test_a_monitor_probe_is_logged_at_debug_level_only(
        tree: Tree, standin: Callable[..., StandIn], tmp_path: Path) -> None:
    """Resource monitoring's probes (`quiet`) every few seconds must not fill the
    log: their `Running` line and output go to the debug level; other calls not."""
    tree.script("Chatty", '#!/bin/sh\necho "Chatty is running"\nexit 0\n')
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="")
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    ex = standin()
    to_executor: list[list[bytes]] = []
    logs: list[tuple[Level, str]] = []
    link = ExecutorLink(config, to_executor.append, lambda lv, t: logs.append((lv, t)),
                        lambda op, rc, verdict: None)
    link.on_message(b"ready", pack(b"ready", ex.ready))
    grp = group(1, "otter", "Chatty")
    for op_id, quiet in ((1, True), (2, False)):
        link.run(op_id, grp.key, 0, "status", 20, grp.resources[0], quiet=quiet)
        ex.sock.send_multipart(to_executor.pop())
        for verb in ("started", "output", "result"):
            body = ex.expect(verb, id=op_id)
            link.on_message(verb.encode(), pack(verb.encode(), body))
    levels = [(lv, t.split(" ", 1)[0]) for lv, t in logs]
    assert levels == [(Level.DEBUG, "Running"), (Level.DEBUG, "Chatty:"),
                      (Level.INFO, "Running"), (Level.INFO, "Chatty:")], logs
