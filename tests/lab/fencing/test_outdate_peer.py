"""`hbeat outdate-peer`, DRBD's fence-peer handler, on two real nodes joined by
bcast eth1 and a serial cable (tests/lab/daemon/cluster.py), with a stand-in
`drbdadm` on each node ($HBEAT_DRBDADM) that records its calls and answers
`outdate` from a per-node state file as DRBD 8 does: Secondary -> 0 (now
Outdated), Primary -> 17 (refused), Inconsistent -> 5.

The handler runs as DRBD would start it (env DRBD_RESOURCE, DRBD_PEER) and
its exit status is checked: 4 outdated, 6 peer primary, 3 peer inconsistent,
4 again with eth1 down (the request and answer cross the serial cable), 5
when weasel is unreachable on every link (no answer in time, then dead).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.harness import Lab
from tests.lab.daemon.cluster import HBEAT, Cluster

DRBDADM = """#!/bin/sh
# stand-in drbdadm (tests/lab/fencing/test_outdate_peer.py)
node=$(uname -n)
echo "$node $*" >> {calls}
state=$(cat {states}/$node 2>/dev/null || echo Secondary)
case "$1" in
outdate)
    case "$state" in
    Primary) echo "State change failed: Refusing to be Outdated while Primary" >&2; exit 17;;
    Inconsistent) exit 5;;
    *) echo Outdated > {states}/$node; exit 0;;
    esac;;
esac
exit 20
"""


def outdate(c: Cluster, timeout: str = "5") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRBD_RESOURCE": "r0", "DRBD_PEER": "weasel"}
    return subprocess.run([HBEAT, "outdate-peer", "-t", timeout, "--runtime-dir",
                           str(c["otter"].runtime_dir)], env=env, capture_output=True,
                          text=True, timeout=30)


def test_outdate_peer_answers_with_drbd_codes(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(2)
    calls, states = lab.dir / "drbdadm.calls", lab.dir / "drbd-states"
    states.mkdir()
    calls.touch()
    script = lab.dir / "drbdadm"
    script.write_text(DRBDADM.format(calls=calls, states=states))
    script.chmod(0o755)
    c = Cluster(lab)
    c.start(env={n: {"HBEAT_DRBDADM": str(script)} for n in ("otter", "weasel")})
    c.wait_all_active()

    def weasel_state(text: str) -> None:
        (states / "weasel").write_text(text + "\n")

    weasel_state("Secondary")
    res = outdate(c)
    assert res.returncode == 4, res
    assert calls.read_text().splitlines() == ["weasel outdate r0"]
    assert (states / "weasel").read_text().strip() == "Outdated"

    weasel_state("Primary")
    res = outdate(c)
    assert res.returncode == 6, res
    assert "Primary" in res.stdout

    weasel_state("Inconsistent")
    assert outdate(c).returncode == 3

    # Only the serial cable left: weasel's eth1 down.
    lab.cut("weasel")
    weasel_state("Secondary")
    res = outdate(c)
    assert res.returncode == 4, res
    assert calls.read_text().splitlines()[-1] == "weasel outdate r0"
    assert len(calls.read_text().splitlines()) == 4  # one drbdadm run per request

    # weasel unreachable on every link: no answer in time, then dead.
    c.cable.close()
    res = outdate(c, timeout="1")
    assert res.returncode == 5, res
    assert "no answer from weasel" in res.stdout
    feed = c.feeds["otter"]
    feed.wait_event("node", "weasel", "dead", timeout=15)
    res = outdate(c)
    assert res.returncode == 5 and "weasel is dead" in res.stdout, res
    assert len(calls.read_text().splitlines()) == 4


def test_handler_without_a_running_hbeat_exits_1(tmp_path: Path) -> None:
    env = {**os.environ, "DRBD_RESOURCE": "r0"}
    res = subprocess.run([HBEAT, "outdate-peer", "--runtime-dir", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "hbeat is not running here" in res.stderr
    res = subprocess.run([HBEAT, "outdate-peer"], env={**os.environ, "DRBD_RESOURCE": ""},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "no resource" in res.stderr
