"""The installed heartbeat resource.d scripts and resource-agents, run by the executor.

IPaddr2 and IPaddr run for real inside a network namespace made for the
test (the executor itself runs there under `ip netns exec`). The kernel of
the development machine has no `dummy` link type, so the interface is one
end of a veth pair whose other end sits in a second "client" namespace,
which also lets the test ping the address it manages.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require_commands, require_root
from tests.workers.executor.conftest import Tree
from tests.workers.executor.standin import StandIn

Make = Callable[..., StandIn]
RESOURCE_D = "/etc/ha.d/resource.d"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """(node namespace with interface d0, client namespace with c0 = 10.213.7.1/24)."""
    require_root("network namespaces")
    require_commands("ip", "ping")
    for path in ("/etc/ha.d/resource.d/IPaddr2", "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} missing: apt-get install heartbeat resource-agents")
    node, client = f"hbx-{os.getpid()}", f"hbx-{os.getpid()}-c"
    try:
        sh("ip", "netns", "add", node)
        sh("ip", "netns", "add", client)
        sh("ip", "-n", node, "link", "set", "lo", "up")
        sh("ip", "-n", node, "link", "add", "d0", "type", "veth", "peer", "name", "c0",
           "netns", client)
        sh("ip", "-n", node, "link", "set", "d0", "up")
        sh("ip", "-n", client, "link", "set", "c0", "up")
        sh("ip", "-n", client, "addr", "add", "10.213.7.1/24", "dev", "c0")
        yield node, client
    finally:
        sh("ip", "netns", "del", node, check=False)
        sh("ip", "netns", "del", client, check=False)


def addresses(ns: str) -> str:
    return sh("ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "d0").stdout


def pings(client: str, address: str) -> bool:
    return sh("ip", "netns", "exec", client, "ping", "-c", "1", "-W", "1", address,
              check=False).returncode == 0


def test_ipaddr2_in_a_namespace(tree: Tree, standin: Make, netns: tuple[str, str]) -> None:
    node, client = netns
    ex = standin(prefix=("ip", "netns", "exec", node), resource_dir=RESOURCE_D)
    res = {"script": "IPaddr2", "args": ["10.213.7.9/24/d0"]}
    before = ex.call("status", resource=res)
    assert before["status"] == "stopped" and before["rc"] == 7, before
    start = ex.call("start", resource=res)
    assert start["status"] == "ok", start
    assert start["argv"] == [f"{RESOURCE_D}/IPaddr2", "10.213.7.9/24/d0", "start"]
    assert "10.213.7.9/24" in addresses(node)
    assert pings(client, "10.213.7.9")
    running = ex.call("status", resource=res)
    assert running["status"] == "running" and running["heartbeat_status"] == "running"
    assert ex.call("stop", resource=res)["status"] == "ok"
    assert "10.213.7.9" not in addresses(node)
    assert not pings(client, "10.213.7.9")
    assert ex.call("status", resource=res)["status"] == "stopped"


def test_bare_ip_goes_through_ipaddr(tree: Tree, standin: Make, netns: tuple[str, str],
                                     request: pytest.FixtureRequest) -> None:
    node, client = netns
    marker = Path("/run/resource-agents/IPaddr-d0")  # the IPaddr agent leaves it behind
    if not marker.exists():
        request.addfinalizer(lambda: marker.unlink(missing_ok=True))
    ex = standin(prefix=("ip", "netns", "exec", node), resource_dir=RESOURCE_D)
    res = {"text": "10.213.7.10/24/d0"}
    start = ex.call("start", resource=res)
    assert start["status"] == "ok", start
    assert start["argv"] == [f"{RESOURCE_D}/IPaddr", "10.213.7.10/24/d0", "start"]
    assert "10.213.7.10/24" in addresses(node) and pings(client, "10.213.7.10")
    assert ex.call("status", resource=res)["status"] == "running"
    assert ex.call("stop", resource=res)["status"] == "ok"
    assert "10.213.7.10" not in addresses(node)
    assert ex.call("status", resource=res)["status"] == "stopped"


def test_ocf_dummy_through_the_wrapper(tree: Tree, standin: Make) -> None:
    for path in (f"{RESOURCE_D}/OCF", "/usr/lib/ocf/resource.d/heartbeat/Dummy"):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} missing: apt-get install heartbeat resource-agents")
    state = tree.root / "dummy-x.state"
    conf = tree.root / "conf" / "OCF" / "Dummy" / "x"
    conf.parent.mkdir(parents=True)
    # the wrapper exports every assignment of this file; agents read OCF_RESKEY_*
    conf.write_text(f"# instance x of Dummy\nOCF_RESKEY_state={state}\n")
    ex = standin(resource_dir=RESOURCE_D)
    res = {"text": "OCF::Dummy::x"}
    before = ex.call("status", resource=res)
    assert before["status"] == "stopped" and before["rc"] == 7, before
    start = ex.call("start", resource=res)
    assert start["status"] == "ok", start
    assert start["argv"] == [f"{RESOURCE_D}/OCF", "Dummy", "x", "start"]
    assert state.exists()
    running = ex.call("status", resource=res)
    assert running["status"] == "running", running
    assert "Dummy monitor (OCF::Dummy::x status" in running["command"]
    assert ex.call("stop", resource=res)["status"] == "ok"
    assert not state.exists()
    assert ex.call("status", resource=res)["status"] == "stopped"


def test_ocf_without_instance_file(tree: Tree, standin: Make) -> None:
    out = standin(resource_dir=RESOURCE_D).call("start", resource={"text": "OCF::Dummy::y"})
    assert out["status"] == "failed"
    assert f"OCF instance file {Path(tree.root) / 'conf/OCF/Dummy/y'} is missing" in (
        out["error"])
