"""cl_status rendering: every recorded heartbeat 3.0.6 call replayed, plus the unrecorded forms.

The replay builds, per scenario, the snapshot an hbeat daemon would publish
for the cluster state of that recording: nodes, media and parameters come from
the interop ha.cf (with heartbeat's derived defaults), the state from a small
hand-written table of facts (who is dead, who holds what). Only the
`rscstatus` answer of each node is taken as a fact per scenario, since it
depends on resource history the table cannot derive.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hbeat.clstatus import USAGE, SnapshotError, getopt, needs_daemon, render
from hbeat.config.timeparse import parse_msec
from tests.interop_vectors import INTEROP

HBVERSION = "3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169)"
RECORDS_PATH = INTEROP / "cl_status.json"
HACF_PATH = INTEROP / "config" / "ha.cf"


# --- the cluster described by the interop ha.cf --------------------------------------------

MEDIA = ("serial", "bcast", "ucast", "mcast")
NOT_PARAMETERS = {"node", *MEDIA, "crm"}  # answered by the API as fail, or not a parameter


@dataclass(frozen=True)
class HaCf:
    nodes: tuple[str, ...]
    media: tuple[tuple[str, str], ...]  # (kind, link name) in file order
    parameters: dict[str, str]


def read_hacf() -> HaCf:
    nodes: list[str] = []
    media: list[tuple[str, str]] = []
    params: dict[str, str] = {}
    for number, raw in enumerate(HACF_PATH.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        assert value, f"{HACF_PATH}:{number}: directive {key!r} has no value"
        if key == "node":
            nodes.extend(value.split())
        elif key in ("serial", "bcast"):
            media.extend((key, name) for name in value.split())
        elif key in ("ucast", "mcast"):
            media.append((key, value.split()[0]))
        elif key not in NOT_PARAMETERS:
            params[key] = value
    # heartbeat's derived values (docs/heartbeat-protocol.md §4.3, §7), as `hbparameter` prints them
    params.setdefault("deadping", f"{parse_msec(params['deadtime'])}ms")
    params.setdefault("hopfudge", "1")
    params.setdefault("msgfmt", "classic")
    params.setdefault("debug", "0")
    return HaCf(tuple(nodes), tuple(media), params)


HACF = read_hacf()


# --- the scenarios, by hand -----------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    running: bool  # False: no daemon answers (stopped, or not yet listening)
    dead: frozenset[str] = frozenset()
    held: dict[str, str] = field(default_factory=dict)  # rscstatus answer per viewing node


SCENARIOS: dict[str, Facts] = {
    "full-steady": Facts(True, held={"otter": "local", "weasel": "local"}),
    "peer-dead(otter crashed, seen from weasel)": Facts(
        True, dead=frozenset({"otter"}), held={"weasel": "all"}
    ),
    "local-stopped(heartbeat not running)": Facts(False),
    # heartbeat's API socket was not accepting yet; hbeat's control socket
    # does not exist until the supervisor binds it, which renders the same.
    "just-started(<1s after init script returned)": Facts(False),
    "steady(after rejoin; resource stayed on survivor)": Facts(
        True, held={"otter": "none", "weasel": "all"}
    ),
}


def link_status(viewer: str, node: str, kind: str, facts: Facts) -> str:
    """What `viewer` knows of `node`'s link: a dead node has dead links; a node
    hears its own broadcast/multicast (loopback) but never its own serial port."""
    if node in facts.dead:
        return "dead"
    if node == viewer and kind == "serial":
        return "dead"
    return "up"


def build_snapshot(viewer: str, facts: Facts) -> dict[str, Any]:
    nodes = [
        {
            "name": name,
            "status": "dead" if name in facts.dead else "active",
            "type": "normal",
            "weight": 100,
            "site": "",
            "links": [
                {"name": link, "status": link_status(viewer, name, kind, facts)}
                for kind, link in HACF.media
            ],
        }
        for name in HACF.nodes
    ]
    return {
        "schema": "hbeat.status/1",
        "at": 1795582874.0,
        "local": viewer,
        "version": "0.1.0",
        "hbversion": HBVERSION,
        "managed_by": "haresources",
        "local_status": "active",
        "generation": 1,
        "pid": 100,
        "nodes": nodes,
        "parameters": dict(HACF.parameters),
        "resources": {"held": facts.held[viewer]},
        "workers": [],
        "counters": {},
    }


def load_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(RECORDS_PATH.read_text())
    return records


RECORDS = load_records()


# log-line prefix: the time and pid vary per call; the host and the text must not
_LOG_PREFIX = re.compile(
    r"^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} (\S+) cl_status: \[\d+\]: ", re.MULTILINE
)


def normalise(stderr: str) -> str:
    return _LOG_PREFIX.sub(r"<time> \1 cl_status: [<pid>]: ", stderr)


def snapshot_for(record: dict[str, Any]) -> dict[str, Any] | None:
    facts = SCENARIOS[record["scenario"]]
    return build_snapshot(record["node"], facts) if facts.running else None


def test_the_recording_is_complete() -> None:
    assert len(RECORDS) == 188
    assert {r["scenario"] for r in RECORDS} == set(SCENARIOS)
    assert HACF.nodes == ("otter", "weasel")
    assert HACF.media == (("serial", "/run/ttyS0"), ("bcast", "eth1"))


def _ids() -> Iterator[str]:
    for i, r in enumerate(RECORDS):
        yield f"{i:03d}-{r['scenario'].split('(')[0]}-{r['node']}-{'_'.join(r['argv'][1:])}"


@pytest.mark.parametrize("record", RECORDS, ids=list(_ids()))
def test_replay_matches_heartbeat(record: dict[str, Any]) -> None:
    out, err, rc = render(
        record["argv"],
        snapshot_for(record),
        now=record["t"],
        pid=4242,
        hostname=record["node"],
    )
    assert out == record["stdout"]
    assert normalise(err) == normalise(record["stderr"])
    assert rc == record["rc"]


# --- forms the recording does not show (docs/heartbeat-protocol.md §8) ---------------------


def steady(viewer: str = "otter") -> dict[str, Any]:
    return build_snapshot(viewer, SCENARIOS["full-steady"])


def run(*args: str, snapshot: dict[str, Any] | None = None, **kw: Any) -> tuple[str, str, int]:
    return render(["cl_status", *args], snapshot, now=0.0, pid=7, hostname="otter", **kw)


def plain_err(err: str) -> str:
    return _LOG_PREFIX.sub("", err)


def test_log_line_prefix_is_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        # 2026-11-05 04:36:51 UTC: day zero-padded, English month
        _out, err, rc = render(
            ["cl_status", "bogus"], None, now=1793853411.9, pid=241, hostname="otter"
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert err == "Nov 05 04:36:51 otter cl_status: [241]: ERROR: bogus: invalid sub-command.\n"
    assert rc == 11


def test_usage_with_h_and_without_daemon() -> None:
    assert run("-h") == (USAGE, "", 0)
    assert render(["cl_status"], None, now=0, pid=1, hostname="h") == (USAGE, "", 0)
    out, err, rc = run("-h", "extra")
    assert (out, plain_err(err), rc) == ("", "ERROR: -h: invalid sub-command.\n", 11)


def test_invalid_sub_command_needs_no_daemon() -> None:
    assert not needs_daemon(["cl_status", "parameter", "-p", "x"])
    assert needs_daemon(["cl_status", "test"])
    out, err, rc = run("-m")
    assert (out, plain_err(err), rc) == ("", "ERROR: -m: invalid sub-command.\n", 11)


def test_signon_failure_comes_before_option_and_parameter_checks() -> None:
    for args in (("nodestatus",), ("nodestatus", "-x"), ("hbparameter",), ("test",)):
        out, err, rc = run(*args)
        assert out == "" and rc == 1
        assert plain_err(err) == (
            "ERROR: Cannot signon with heartbeat\n"
            "ERROR: REASON: hb_api_signon: Can't initiate connection to heartbeat\n"
        )


def test_hbstatus_complains_about_bad_options_and_carries_on() -> None:
    assert run("hbstatus", "-x") == (
        "Heartbeat is stopped on this machine.\n",
        "hbstatus: invalid option -- 'x'\n",
        1,
    )
    out, _err, rc = run("hbstatus", "-x", "-v", snapshot=steady())
    assert out.startswith("version:\t") and rc == 0
    assert run("hbstatus", "--", "-v") == ("Heartbeat is stopped on this machine.\n", "", 1)


def test_hbstatus_refused_connection() -> None:
    assert run("hbstatus", "-v", refusal="permission denied") == (
        "Heartbeat is apparently running on this machine, but refuses my connection\n"
        "(permission denied)\n",
        "",
        0,
    )
    _out, err, rc = run("nodestatus", "otter", refusal="permission denied")
    assert rc == 1 and plain_err(err).endswith("ERROR: REASON: permission denied\n")


def test_hbstatus_verbose_human() -> None:
    out, err, rc = run("hbstatus", "-v", "-m", snapshot=steady())
    assert (err, rc) == ("", 0)
    assert out == (
        f"Heartbeat version {HBVERSION}\n"
        'Resources controlled by "haresources"\n'
        "The nodes are as follow:\n"
        "\nweasel\tactive\t(nodetype: normal)\n"
        "\tthis node has the following heartbeat links:\n"
        "\teth1\tup\n\t/run/ttyS0\tup\n"
        "\notter\tactive\t(nodetype: normal)\n"
        "\tthis node has the following heartbeat links:\n"
        "\teth1\tup\n\t/run/ttyS0\tdead\n"
    )


def test_human_forms_of_the_node_queries() -> None:
    snap = steady()
    assert run("nodetype", "-m", "weasel", snapshot=snap) == (
        "The node weasel's type: normal\n",
        "",
        0,
    )
    assert run("nodeweight", "weasel", "-m", snapshot=snap) == (
        "The weight of the cluster node weasel is 100\n",
        "",
        0,
    )
    assert run("nodesite", "-m", "weasel", snapshot=snap) == (
        "The site of the cluster node weasel is \n",
        "",
        0,
    )
    assert run("hbparameter", "-m", "-p", "keepalive", snapshot=snap) == (
        "Heartbeat parameter keepalive's value: 1\n",
        "",
        0,
    )
    assert run("hbparameter", "-mpdeadtime", snapshot=snap) == (
        "Heartbeat parameter deadtime's value: 10\n",
        "",
        0,
    )


def test_unknown_nodes_use_each_sub_commands_own_words() -> None:
    snap = steady()
    assert run("nodeweight", "nosuch", snapshot=snap) == (
        "",
        "Error. Maybe due to incorrect node name.\n",
        11,
    )
    assert run("nodesite", "nosuch", snapshot=snap) == (
        "",
        "Error. May be due to incorrect node name\n",
        11,
    )
    out, err, rc = run("hblinkstatus", "nosuch", "eth1", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "ERROR: Cannot get heartbeat link status\nERROR: REASON: \n",
        13,
    )


def test_missing_parameters() -> None:
    snap = steady()
    assert run("nodeweight", snapshot=snap) == ("", "Not enough parameters.\n", 11)
    assert run("nodesite", "-m", snapshot=snap) == ("", "Not enough parameters.\n", 11)
    for args in (
        ("nodetype",),
        ("listhblinks", "-v"),
        ("hblinkstatus", "otter"),
        ("clientstatus", "otter"),
    ):
        assert run(*args, snapshot=snap) == ("", "No enough parameter.\n", 11)
    out, err, rc = run("hbparameter", "-m", snapshot=snap)
    assert (out, plain_err(err), rc) == ("", "ERROR: parameter name required\n", 11)


def test_bad_options_per_sub_command() -> None:
    snap = steady()
    out, err, rc = run("nodestatus", "-v", "otter", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "nodestatus: invalid option -- 'v'\nERROR: Error: getopt returnedcharacter ?.\n",
        11,
    )
    out, err, rc = run("listnodes", "-x", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "listnodes: invalid option -- 'x'\nERROR: Error: getopt returnedcharacter code ?.\n",
        11,
    )
    out, err, rc = run("hbparameter", "-p", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "hbparameter: option requires an argument -- 'p'\n"
        "ERROR: Error: getopt returnedcharacter code ?.\n",
        11,
    )


def test_listnodes_filters_and_verbose_links() -> None:
    snap = steady()
    snap["nodes"].append({"name": "gw", "status": "ping", "type": "ping", "links": []})
    assert run("listnodes", "-p", snapshot=snap) == ("gw\n", "", 0)
    assert run("listnodes", "-n", snapshot=snap) == ("weasel\notter\n", "", 0)
    assert run("listnodes", "-pn", snapshot=snap) == ("gw\nweasel\notter\n", "", 0)
    assert run("nodestatus", "gw", snapshot=snap) == ("ping\n", "", 0)
    assert run("nodetype", "gw", snapshot=snap) == ("ping\n", "", 0)
    assert run("listhblinks", "-v", "-m", "weasel", snapshot=snap) == (
        "\tthis node has the following heartbeat links:\n\teth1\tup\n\t/run/ttyS0\tup\n",
        "",
        0,
    )


def test_node_states_and_exit_codes() -> None:
    snap = steady()
    snap["nodes"][1]["status"] = "up"
    assert run("nodestatus", "weasel", snapshot=snap) == ("up\n", "", 0)
    snap["nodes"][1]["status"] = "init"
    assert run("nodestatus", "-m", "weasel", snapshot=snap) == (
        "The cluster node weasel is init\n",
        "",
        1,
    )


def test_clientstatus() -> None:
    snap = steady()
    assert run("clientstatus", "otter", "ipfail", "2000", snapshot=snap) == ("offline\n", "", 1)
    out, err, rc = run("clientstatus", "weasel", "cl_status", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "ERROR: Cannot get heartbeat client cl_status's status\n"
        "ERROR: REASON: No timely response.\n",
        13,
    )


def test_rscstatus_transition_and_unknown() -> None:
    snap = steady()
    snap["resources"] = {"held": "transition"}
    assert run("rscstatus", snapshot=snap) == ("transition\n", "", 0)
    del snap["resources"]
    out, err, rc = run("rscstatus", snapshot=snap)
    assert (out, plain_err(err), rc) == (
        "",
        "ERROR: Cannot get cluster resource status\nERROR: REASON: \n",
        13,
    )


def test_undocumented_test_sub_command() -> None:
    assert run("test", "-x", snapshot=steady("weasel")) == (
        "Dead time: 10000\n keeplive time: 1000\n mynodeid: weasel\n rsc: local\n",
        "",
        0,
    )


def test_bad_snapshot_is_named() -> None:
    snap = steady()
    del snap["nodes"][1]["links"][0]["status"]
    with pytest.raises(SnapshotError, match=r"nodes\[1\]\.links\[0\] has no 'status'"):
        run("listnodes", snapshot=snap)
    snap = steady()
    snap["parameters"]["keepalive"] = 1
    with pytest.raises(SnapshotError, match=r"parameters\.keepalive is int"):
        run("hbparameter", "-p", "keepalive", snapshot=snap)


def test_getopt_permutes_like_glibc() -> None:
    opts, params = getopt("x", ["a", "-mv", "b", "-pfoo", "-p", "-m", "--", "-v"], "mvp:")
    assert [(o.char, o.arg) for o in opts] == [("m", None), ("v", None), ("p", "foo"), ("p", "-m")]
    assert params == ["a", "b", "-v"]
    opts, params = getopt("x", ["-", "-:"], "m")
    assert params == ["-"]
    assert [o.complaint for o in opts] == ["x: invalid option -- ':'\n"]
