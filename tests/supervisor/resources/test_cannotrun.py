"""Groups that cannot run on a node (a status answering OCF exit 5 or 6), on the
simulated pair: `supervisor/cannotrun.py` through `resources.py`
(docs/resources.md, "Exit codes"). The seed group's home is weasel; its third
resource is the Filesystem that answers 5 when modprobe is missing."""

from __future__ import annotations

import pytest

from hbeat.config.model import AutoFailback
from supervisor import resources as rs

from .sim import Sim

KEY = "drbddisk::r0"
FS = 2  # Filesystem::/dev/vg0/data::/srv


def booted(mode: AutoFailback, **status: int) -> Sim:
    """A pair whose Filesystem status answers `status[node]` on the named nodes,
    probed at start-up (the behaviour is set before the probe)."""
    sim = Sim(mode=mode, boot=False)
    for name, rc in status.items():
        sim.nodes[name].behaviour[(KEY, FS, "status")] = rc
    for node in sim.nodes.values():
        sim.apply(node, node.res.start(sim.now))
    sim.comm_up()
    sim.settle()
    return sim


def starts_and_stops(sim: Sim, name: str) -> list[tuple[int, str]]:
    return [(i, a) for _t, _k, i, a in sim.nodes[name].calls if a != "status"]


@pytest.mark.parametrize("rc", [5, 6])
@pytest.mark.parametrize("mode", [AutoFailback.ON, AutoFailback.OFF, AutoFailback.LEGACY])
def test_home_node_unable_leaves_the_group_to_the_peer(rc: int, mode: AutoFailback) -> None:
    sim = booted(mode, weasel=rc)
    otter, weasel = sim.nodes["otter"], sim.nodes["weasel"]
    assert sim.holders(KEY) == ["otter"]
    assert weasel.states[KEY] == rs.FAILED
    # weasel never started, stopped or retried anything of it, and held nothing
    assert starts_and_stops(sim, "weasel") == []
    assert weasel.rscstatus == "none" and "partial" not in {
        new for _t, _o, n, _k, _old, new in sim.timeline if n == "weasel"}
    assert weasel.log_texts("CRIT") == []
    word = "not installed (exit 5" if rc == 5 else "not configured (exit 6"
    assert any(f"Resource group {KEY} cannot run on this node" in t and word in t
               for t in weasel.log_texts("ERROR"))
    assert f"t=ip-request-resp dest=otter ipaddr={KEY} weown=yes ok=OK" in weasel.sent_summary()
    view = weasel.res.snapshot()["groups"][KEY]
    assert view["state"] == "failed" and view["cannot_run"] is not None
    assert otter.res.snapshot()["groups"][KEY]["cannot_run"] is None
    sim.assert_never_run_twice()
    # auto_failback never brings it back to weasel
    sim.run_for(60_000)
    assert sim.holders(KEY) == ["otter"]


def test_other_node_unable_keeps_it_home_and_takes_nothing_when_home_dies() -> None:
    sim = booted(AutoFailback.OFF, otter=5)
    otter = sim.nodes["otter"]
    assert sim.holders(KEY) == ["weasel"]
    assert otter.states[KEY] == rs.FAILED
    sim.kill("weasel")
    sim.settle()
    assert sim.holders(KEY) == []
    # nothing of it is started, stopped or even asked: it cannot run here
    assert starts_and_stops(sim, "otter") == []
    assert otter.log_texts("CRIT") == []
    assert any(t.startswith(f"Not taking over resource group {KEY} from weasel: it cannot "
                            "run on this node") and "not running anywhere" in t
               for t in otter.log_texts("ERROR"))
    assert otter.states[KEY] == rs.FAILED
    sim.assert_never_run_twice()


@pytest.mark.parametrize("mode", [AutoFailback.ON, AutoFailback.OFF])
def test_unable_on_both_nodes_runs_nowhere_and_both_say_why(mode: AutoFailback) -> None:
    sim = booted(mode, otter=5, weasel=5)
    assert sim.holders(KEY) == []
    for node in sim.nodes.values():
        assert node.states[KEY] == rs.FAILED
        assert starts_and_stops(sim, node.name) == []
        assert node.log_texts("CRIT") == []
        assert any("cannot run it either: it is not running anywhere" in t
                   for t in node.log_texts("ERROR")), (node.name, node.log_texts())
        assert "stop-failed" not in {new for _t, _o, n, _k, _old, new in sim.timeline}
    sim.run_for(60_000)
    assert sim.holders(KEY) == []


def test_hb_takeover_asks_again_and_starts_once_fixed() -> None:
    sim = booted(AutoFailback.OFF, otter=5, weasel=5)
    weasel = sim.nodes["weasel"]
    del weasel.behaviour[(KEY, FS, "status")]  # modprobe installed again
    sim.apply(weasel, weasel.res.takeover("all", sim.now))
    sim.settle()
    assert sim.holders(KEY) == ["weasel"]
    assert weasel.res.snapshot()["groups"][KEY]["cannot_run"] is None
