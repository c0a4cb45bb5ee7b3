"""The fencing machine alone (src/supervisor/fencing.py, docs/fencing.md)."""

from __future__ import annotations

from hbeat.config.model import StonithDevice
from hbeat.logfmt import Level
from supervisor import fencing as fc

DEV = StonithDevice("stonith_host", "*", "external/hbeatlab", ("otter weasel", "/x"), None, 7)


def machine(*devices: StonithDevice) -> fc.Fencing:
    return fc.Fencing(fc.FencingConfig(devices or (DEV,), "/usr/sbin/stonith", 30.0, 1000, 4000))


def test_fence_command_and_heartbeat_lines() -> None:
    f = machine()
    out = f.begin("weasel", 0)
    run = next(a for a in out if isinstance(a, fc.RunFence))
    assert run.argv == ("/usr/sbin/stonith", "-t", "external/hbeatlab", "-p", "otter weasel /x",
                        "-T", "reset", "weasel")
    assert fc.Log(Level.INFO, "Resetting node weasel with [external/hbeatlab]") in out
    assert f.state("weasel") is fc.FenceState.ATTEMPTING
    done = f.done(run.op_id, 0, 500)
    assert fc.StonithReport("weasel", "OK") in done
    assert fc.Log(Level.INFO, "node weasel now reset.") in done
    assert fc.Fenced("weasel") in done
    assert f.state("weasel") is fc.FenceState.FENCED


def test_failure_is_retried_with_backoff_and_never_reported_fenced() -> None:
    f = machine()
    run = next(a for a in f.begin("weasel", 0) if isinstance(a, fc.RunFence))
    now, delays = 0, []
    for _ in range(5):
        out = f.done(run.op_id, 5, now)
        assert fc.StonithReport("weasel", "bad") in out
        assert not any(isinstance(a, fc.Fenced) for a in out)
        assert f.state("weasel") is fc.FenceState.FAILED
        due = f.next_deadline()
        assert due is not None
        delays.append(due - now)
        assert f.tick(due - 1) == []
        now = due
        run = next(a for a in f.tick(now) if isinstance(a, fc.RunFence))
    assert delays == [1000, 2000, 4000, 4000, 4000]
    assert f.snapshot()["peers"] == {"weasel": {  # type: ignore[comparison-overlap]
        "state": "attempting", "attempts": 6, "last_result": "bad", "last_rc": 5,
        "last_device": "external/hbeatlab", "cancelled": False}}


def test_badhost_then_the_next_device() -> None:
    other = StonithDevice("stonith", "*", "null", (), "/etc/ha.d/null.cfg", 9)
    f = machine(DEV, other)
    run = next(a for a in f.begin("weasel", 0) if isinstance(a, fc.RunFence))
    out = f.done(run.op_id, fc.S_BADHOST, 10)
    assert fc.Log(Level.ERROR, "Device external/hbeatlab cannot reset host weasel.") in out
    assert fc.StonithReport("weasel", "badhost") in out
    run2 = next(a for a in out if isinstance(a, fc.RunFence))
    assert run2.argv[1:5] == ("-t", "null", "-F", "/etc/ha.d/null.cfg")
    assert fc.Fenced("weasel") in f.done(run2.op_id, 0, 20)


def test_cancel_drops_the_retry_and_a_late_success_is_marked() -> None:
    f = machine()
    run = next(a for a in f.begin("weasel", 0) if isinstance(a, fc.RunFence))
    f.done(run.op_id, 1, 10)
    assert f.cancel("weasel", "it is alive again")
    assert f.next_deadline() is None and not f.pending("weasel")
    run = next(a for a in f.begin("weasel", 100) if isinstance(a, fc.RunFence))
    f.cancel("weasel", "it is alive again")
    assert fc.Fenced("weasel", cancelled=True) in f.done(run.op_id, 0, 200)


