"""The executor's verdict on OCF exit codes (docs/resources.md, "Exit codes"),
with a real executor process, real scripts and a real OCF agent: 5 and 6 from
a status say "not running here and cannot run here"; a status of a resource
whose script, agent or instance file is missing says the same."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.workers.executor.conftest import Tree
from tests.workers.executor.standin import StandIn

AGENT = '#!/bin/sh\ncase "$1" in monitor) exit "$OCF_RESKEY_rc";; esac\nexit 3\n'


def ocf_tree(tree: Tree, rc: int) -> str:
    ocf_root = tree.root / "ocf"
    agent = ocf_root / "resource.d" / "lab" / "Coded"
    agent.parent.mkdir(parents=True, exist_ok=True)
    agent.write_text(AGENT)
    agent.chmod(0o755)
    tree.script("OCF", "#!/bin/sh\nexit 1\n")  # the wrapper: start/stop only
    conf = tree.root / "conf" / "OCF" / "Coded" / "x"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"OCF_RESKEY_rc={rc}\n")
    return str(ocf_root)


@pytest.mark.parametrize(("rc", "verdict"), [
    (0, "running"), (7, "stopped"), (5, "not-installed"), (6, "not-configured"),
    (1, "failed"), (3, "failed"), (8, "running"),
])
def test_ocf_monitor_codes(tree: Tree, standin: Callable[..., StandIn], rc: int,
                           verdict: str) -> None:
    ex = standin(ocf_root=ocf_tree(tree, rc))
    out = ex.call("status", resource={"script": "OCF", "args": ["Coded", "x"]})
    assert (out["rc"], out["status"]) == (rc, verdict), out


def test_missing_instance_file_is_not_configured(tree: Tree,
                                                 standin: Callable[..., StandIn]) -> None:
    ex = standin(ocf_root=ocf_tree(tree, 0))
    out = ex.call("status", resource={"script": "OCF", "args": ["Coded", "absent"]})
    assert out["status"] == "not-configured" and out["rc"] is None
    assert "OCF instance file" in out["error"]
    # a start of it is a failure, not a verdict about the node
    assert ex.call("start", resource={"script": "OCF",
                                      "args": ["Coded", "absent"]})["status"] == "failed"


def test_missing_agent_is_not_installed(tree: Tree, standin: Callable[..., StandIn]) -> None:
    ex = standin(ocf_root=ocf_tree(tree, 0))
    out = ex.call("status", resource={"script": "OCF", "args": ["Absent", "x"]})
    assert out["status"] == "not-installed" and "OCF agent Absent" in out["error"]


@pytest.mark.parametrize(("rc", "verdict"), [(5, "not-installed"), (6, "not-configured")])
def test_haresources_script_codes(tree: Tree, standin: Callable[..., StandIn], rc: int,
                                  verdict: str) -> None:
    tree.script("Coded", f'#!/bin/sh\necho "Coded is running"\nexit {rc}\n')
    out = standin().call("status", resource={"script": "Coded", "args": []})
    assert (out["rc"], out["status"]) == (rc, verdict), out
