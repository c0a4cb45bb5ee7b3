"""Ping nodes in cl_status, against real heartbeat 3.0.6 on the same ha.cf.

Two labs side by side, each with otter, weasel and the `client` namespace
(.250), run the same ha.cf: a `ping` node that answers (the client), one
that never does (.249, nobody there) and a `ping_group` of both (up while
any answers). One lab runs real heartbeat, the other hbeat; once settled,
every cl_status call about the ping nodes must print the same bytes and
exit with the same code on both.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.harness import Lab, authkeys_text, require_commands, wait_for
from tests.lab.cluster.clusters import (
    diff_report,
    fast_hacf,
    normalise,
    start_hbeat,
    start_heartbeat,
)

pytestmark = [pytest.mark.slow, pytest.mark.root]

NODES = ("otter", "weasel")
GROUP = "uplinks"


def ping_lines(lab: Lab) -> tuple[str, str, list[str]]:
    assert lab.client is not None
    up = lab.client.ip
    down = up.rsplit(".", 1)[0] + ".249"
    return up, down, [f"ping {up}", f"ping {down}", f"ping_group {GROUP} {down} {up}"]


def calls(up: str, down: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [
        ("listnodes",), ("listnodes", "-v"), ("listnodes", "-n"), ("listnodes", "-p"),
    ]
    for n in (up, down, GROUP):
        out += [("nodestatus", n), ("nodestatus", "-m", n), ("nodetype", n),
                ("nodetype", "-m", n), ("listhblinks", n), ("hblinkstatus", n, n)]
    return out


def test_ping_nodes_in_cl_status_match_real_heartbeat(
        lab_factory: Callable[..., Lab]) -> None:
    require_commands("heartbeat", "cl_status")
    keys = authkeys_text("sha1", "ping-secret")
    real_lab = lab_factory(2, client=True)
    our_lab = lab_factory(2, client=True)
    up, down, lines = ping_lines(real_lab)
    assert ping_lines(our_lab)[:2] == (up, down)
    hacf = fast_hacf(NODES, ["bcast eth1"], extra=[*lines, "deadping 2"])
    real = start_heartbeat(real_lab, hacf, keys)
    ours = start_hbeat(our_lab, hacf, keys)

    def settled(node: object) -> bool:
        st = {n: node.cl_status("nodestatus", n).stdout.strip()  # type: ignore[attr-defined]
              for n in (up, down, GROUP)}
        return st == {up: "ping", down: "dead", GROUP: "ping"}

    for n in NODES:
        ours[n].wait_active(NODES, timeout=20)
        wait_for(lambda n=n: settled(ours[n]), 20, interval=0.25,  # type: ignore[misc]
                 what=f"hbeat on {n}: ping nodes settled",
                 describe=lambda n=n: ours[n].cl_status("listnodes", "-v").stdout)
    our_answers = {n: {" ".join(c): normalise(ours[n].cl_status(*c)) for c in calls(up, down)}
                   for n in NODES}
    for n in NODES:
        real[n].wait_active(NODES, timeout=30)
        wait_for(lambda n=n: settled(real[n]), 30, interval=0.25,  # type: ignore[misc]
                 what=f"heartbeat on {n}: ping nodes settled",
                 describe=lambda n=n: real[n].cl_status("listnodes", "-v").stdout)
    problems = []
    for n in NODES:
        theirs = {" ".join(c): normalise(real[n].cl_status(*c)) for c in calls(up, down)}
        report = diff_report(our_answers[n], theirs)
        if report:
            problems.append(f"--- on {n} ---\n{report}")
    assert not problems, "cl_status differs from heartbeat 3.0.6:\n" + "\n".join(problems)
