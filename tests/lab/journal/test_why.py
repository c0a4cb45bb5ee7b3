"""`hbeat why` on a real two-node cluster: a standby, a failover after kill -9,
a failed start, the journal across a daemon restart, a takeover
(docs/journal.md).

weasel's group is `drbddisk::r0 LVM::vg0 apache` (recording stand-ins,
tests/lab/failover/standins.py). One cluster runs the whole story, and after
each step `hbeat why --json` (and the text form) on the nodes must tell it:
the cause first, then the scripts in the order they ran, then the group.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Lab, wait_for
from tests.lab.failover.cluster import HB_STANDBY, HB_TAKEOVER, FailoverCluster
from tests.lab.failover.standins import steer, unsteer

from .why import why as why_on
from .why import why_decisions

HARESOURCES = "weasel drbddisk::r0 LVM::vg0 apache\n"
SCRIPTS = ("drbddisk", "LVM", "apache")
GROUP = "drbddisk::r0"
ORDER = ["drbddisk::r0", "LVM::vg0", "apache"]


def why(c: FailoverCluster, name: str, *args: str) -> str:
    return why_on(c[name], *args)


def decisions(c: FailoverCluster, name: str) -> list[dict[str, Any]]:
    return why_decisions(c[name])


def chain(decision: dict[str, Any]) -> list[tuple[str, ...]]:
    """The decision's steps as tuples: scripts (resource, action, verdict, rc),
    groups (group, new, why), fences (node, rc)."""
    out: list[tuple[str, ...]] = []
    for step in decision["steps"]:
        d = step["detail"]
        if step["kind"] == "script":
            out.append(("script", d["resource"], d["action"], d["verdict"], str(d["rc"])))
        elif step["kind"] == "group":
            out.append(("group", step["group"], d["new"], d["why"]))
        else:
            out.append((step["kind"],))
    return out


def last_of(found: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matching = [d for d in found if d["kind"] == kind]
    assert matching, f"no {kind} decision in {[d['headline'] for d in found]}"
    return matching[-1]


def starts(why_word: str) -> list[tuple[str, ...]]:
    return [*(("script", r, "start", "ok", "0") for r in ORDER),
            ("group", GROUP, "running", why_word)]


@pytest.mark.slow
def test_why_tells_standby_failover_failed_start_and_survives_a_restart(lab: Lab) -> None:
    c = FailoverCluster(lab, HARESOURCES, scripts=SCRIPTS)
    c.start()
    c.wait_holders({GROUP: "weasel"})
    startup = last_of(decisions(c, "weasel"), "startup")
    assert chain(startup)[-1] == ("group", GROUP, "running", "startup")

    # --- standby: hb_standby on weasel, otter takes the group
    res = c.run_on("weasel", [HB_STANDBY, "all"])
    assert res.returncode == 0, res
    c.wait_holders({GROUP: "otter"})
    asked = last_of(decisions(c, "weasel"), "request")
    cause = asked["cause"]
    assert cause["detail"]["what"] == "standby" and cause["detail"]["by"] == "local"
    assert cause["detail"]["uid"] == 0 and isinstance(cause["detail"]["pid"], int)
    assert "hb_standby on weasel (uid 0" in asked["headline"]
    assert chain(asked) == [*(("script", r, "stop", "ok", "0") for r in reversed(ORDER)),
                            ("group", GROUP, "stopped", "standby")]
    given = last_of(decisions(c, "otter"), "request")
    assert given["cause"]["detail"]["by"] == "peer" and given["cause"]["node"] == "weasel"
    assert chain(given) == starts("standby")

    # --- failover: otter crashes, weasel declares it dead and takes the group
    c.wait_past_startup_window("otter")
    c.crash("otter")
    c.wait_holders({GROUP: "weasel"}, timeout=30)
    death = last_of(decisions(c, "weasel"), "node-dead")
    assert death["why"] == "failover" and death["cause"]["node"] == "otter"
    assert "deadtime" in death["cause"]["cause"]
    links = death["cause"]["detail"]["links"]
    assert list(links) == ["eth1"]
    # Declared dead deadtime (4 s) after the last keepalive heard on eth1.
    assert 3500 <= links["eth1"]["ago_ms"] < 10_000, links
    assert chain(death) == starts("failover")
    assert all(isinstance(s["detail"]["duration_ms"], int)
               for s in death["steps"] if s["kind"] == "script")
    # The executor's stamps of each call; a start carries those of the status
    # call before it (left out of the journal: it found the resource stopped).
    assert isinstance(death["cause"]["detail"]["decided_ns"], int)
    for s in (s for s in death["steps"] if s["kind"] == "script"):
        d = s["detail"]
        assert (death["cause"]["detail"]["decided_ns"] <= d["status_spawn_ns"]
                <= d["status_exit_ns"] <= d["spawn_ns"] <= d["exit_ns"]), d
    text = why(c, "weasel", "--last", "1")
    lines = text.splitlines()
    assert "otter declared dead: no keepalive" in lines[0], text
    assert lines[1].strip().startswith("last keepalive: eth1 "), text
    assert "drbddisk::r0 start: ok (exit 0," in text and "running here (failover)" in text
    assert text.index("apache start") < text.index("running here (failover)")

    # --- failed start: otter back, its LVM start fails when weasel goes standby
    c["otter"].start()
    c["otter"].wait_active(["weasel"], timeout=30)
    c.wait_holders({GROUP: "weasel"})
    back = last_of(decisions(c, "weasel"), "peer-restarted")
    assert back["cause"]["node"] == "otter" and back["why"] == "failback"
    assert decisions(c, "weasel")[-1]["seq"] == back["seq"]  # told once, not twice
    steer(c.control, "otter", "LVM::vg0", "start", "fail")
    res = c.run_on("weasel", [HB_STANDBY, "all"])
    assert res.returncode == 0, res
    wait_for(lambda: c.groups("otter")[GROUP] == "failed", 30,
             what="otter's start of the group to fail")
    failed = last_of(decisions(c, "otter"), "request")
    assert chain(failed)[:3] == [
        ("script", "drbddisk::r0", "start", "ok", "0"),
        ("script", "LVM::vg0", "start", "failed", "1"),
        ("script", "LVM::vg0", "stop", "ok", "0"),
    ], chain(failed)
    assert ("group", GROUP, "failed", "standby") in chain(failed)
    assert "LVM::vg0 start: failed (exit 1," in why(c, "otter", "--last", "1")
    before = decisions(c, "otter")

    # --- restart: the history is read from the file when the daemon is down,
    # and is still there after it starts again
    c["otter"].stop()
    offline = decisions(c, "otter")
    assert [d["seq"] for d in offline[:len(before)]] == [d["seq"] for d in before]
    assert offline[-1]["kind"] == "shutdown"
    assert "hbeat is not answering" in why(c, "otter")
    c["otter"].start()
    c["otter"].wait_active(["weasel"], timeout=30)
    after = decisions(c, "otter")
    assert [d["seq"] for d in after[:len(offline)]] == [d["seq"] for d in offline]
    assert after[-1]["kind"] == "startup" and after[-1]["seq"] > offline[-1]["seq"]
    assert chain(after[len(before) - 1]) == chain(failed)
    # --- takeover: hb_takeover on otter; weasel's standby is its answer, not a new cause
    unsteer(c.control, "otter", "LVM::vg0", "start")
    res = c.run_on("otter", [HB_TAKEOVER, "all"])
    assert res.returncode == 0, res
    c.wait_holders({GROUP: "otter"})
    took = decisions(c, "otter")[-1]
    assert took["kind"] == "request" and took["why"] == "takeover", took["headline"]
    assert took["cause"]["detail"]["by"] == "local"
    assert chain(took) == starts("takeover")
    gave = last_of(decisions(c, "weasel"), "request")
    assert gave["cause"]["detail"]["by"] == "peer-takeover" and gave["why"] == "standby"
    assert chain(gave) == [*(("script", r, "stop", "ok", "0") for r in reversed(ORDER)),
                           ("group", GROUP, "stopped", "standby")]
    # --since and --last select decisions
    assert len(json.loads(why(c, "otter", "--json", "--last", "2"))["decisions"]) == 2
    since = json.loads(why(c, "otter", "--json", "--since", "1d"))["decisions"]
    assert [d["seq"] for d in since] == [d["seq"] for d in decisions(c, "otter")]
