"""`fencegate.FenceGate` on its own, over a real `fencing.Fencing` machine."""

from __future__ import annotations

from hbeat.config.model import StonithDevice
from hbeat.logfmt import Level
from supervisor import fencing as fc
from supervisor import rscmessages as rm
from supervisor.fencegate import FenceGate
from supervisor.rscactions import Log, SendMessage

DEV = StonithDevice("stonith_host", "*", "external/hbeatlab", ("otter weasel", "/x"), None, 7)


def gate(*, device: bool = True, boot_takeover: str = "fenced") -> FenceGate:
    devices = (DEV,) if device else ()
    return FenceGate(fc.Fencing(fc.FencingConfig(devices, "/usr/sbin/stonith", 30.0, 1000, 4000)),
                     boot_takeover)


def test_boot_alone_without_a_device_takes_nothing() -> None:
    g = gate(device=False)
    out = g.refuse_boot("otter", needed=True)
    assert g.boot_wait and len(out) == 1
    assert isinstance(out[0], Log) and out[0].level is Level.CRIT
    assert "run hb_takeover here" in out[0].text
    # The administrator's hb_takeover ends the wait (not while the peer is heard).
    assert g.takeover_unfenced("otter", alive=True) == [] and g.boot_wait
    said = g.takeover_unfenced("otter", alive=False)
    assert not g.boot_wait and isinstance(said[0], Log)
    assert "taking over without fencing otter" in said[0].text
    assert g.takeover_unfenced("otter", alive=False) == []


def test_boot_alone_goes_ahead_when_safe() -> None:
    assert gate().refuse_boot("otter", needed=True) == []  # a device fences first
    assert gate(device=False).refuse_boot("otter", needed=False) == []  # it holds nothing
    g = gate(device=False, boot_takeover="unfenced")
    assert g.refuse_boot("otter", needed=True) == [] and not g.boot_wait


def test_death_without_a_fence() -> None:
    g = gate(device=False)
    assert not g.gated(needed=True)
    g.boot = True
    assert g.unfenced("otter", needed=False) == [
        Log(Level.INFO, "Dead node otter gave up resources."),
        SendMessage(rm.stonith_fields("otter", "unneeded")),
    ]
    assert not g.boot
    said = g.unfenced("otter", needed=True)
    assert said[0] == SendMessage(rm.stonith_fields("otter", "n_stnth"))
    assert Log(Level.WARN, "No STONITH device configured.") in said


def test_the_gate_opens_when_the_peer_is_reset() -> None:
    g = gate()
    assert g.gated(needed=True) and not g.gated(needed=False)
    run = next(a for a in g.begin("otter", 0) if isinstance(a, fc.RunFence))
    assert g.waiting_for == "otter"
    held = g.takeover_held("otter")[0]
    assert isinstance(held, Log) and held.text.startswith("hb_takeover: otter is being fenced")
    fenced = next(a for a in g.fencing.done(run.op_id, 0, 10) if isinstance(a, fc.Fenced))
    assert g.opened(fc.Fenced("weasel"), "otter", may_take=True) == []  # not the one awaited
    assert g.opened(fenced, "otter", may_take=True) == [
        Log(Level.INFO, "Resources being acquired from otter.")
    ]
    assert g.waiting_for is None
    assert g.opened(fenced, "otter", may_take=True) == []  # only once
    assert g.takeover_held("otter") == []


def test_a_fence_ended_too_late_takes_nothing() -> None:
    g = gate()
    g.begin("otter", 0)
    assert g.opened(fc.Fenced("otter"), "otter", may_take=False) == []
    assert g.waiting_for is None


def test_the_peer_heard_calls_the_fence_off() -> None:
    g = gate()
    g.boot = True
    g.begin("otter", 0)
    actions, took_nothing = g.heard("otter", "it is alive again")
    assert actions and g.waiting_for is None
    assert not g.fencing.pending("otter")
    assert took_nothing and not g.boot  # the start-up alone negotiates again
    assert g.heard("otter", "again") == ([], False)
