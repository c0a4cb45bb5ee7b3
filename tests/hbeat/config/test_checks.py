"""Cross checks on the seed with a fixed interface set and a private init.d."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.config import AutoFailback, ConfigError, SystemProbe, load_config
from hbeat.config.checks import check_hacf
from hbeat.config.hacf import parse_hacf
from tests.hbeat.config.seed import write_seed


def probe(seed_init: Path) -> SystemProbe:
    return SystemProbe(interfaces=frozenset({"eth1"}), init_dir=str(seed_init))


def test_seed_loads(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", overrides={"logfile": "/tmp/ha-log"})
    config = load_config(seed.config_dir, "otter", system=probe(seed.init_dir))
    assert config.node_name == "otter" and config.peers == ("weasel",)
    assert config.auto_failback is AutoFailback.OFF
    assert config.keyring.signing_index == 1
    assert config.warnings == ()
    (group,) = config.groups_of("weasel")
    assert [r.path for r in group.resources] == [
        str(seed.config_dir / "resource.d" / n)
        for n in ("drbddisk", "LVM", "Filesystem", "IPaddr", "apache")]


def test_init_d_fallback_and_node_name_case(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", scripts=("drbddisk", "LVM", "Filesystem",
                                                               "IPaddr"))
    script = seed.init_dir / "apache"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    config = load_config(seed.config_dir, "OTTER", system=probe(seed.init_dir))
    assert config.node_name == "otter"
    assert config.groups[0].resources[-1].path == str(script)


def test_errors_collected_in_config_error(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", overrides={"deadtime": "2"},
                      haresources="ferret apache\n")
    with pytest.raises(ConfigError) as info:
        load_config(seed.config_dir, "otter", system=probe(seed.init_dir))
    d = seed.config_dir
    assert [str(p) for p in info.value.errors] == [
        f"{d}/ha.cf:2: Dead time [2000] is too small compared to keeplive [1000]: deadtime "
        "must be more than 2 x keepalive",
        f"{d}/haresources:1: Bad nodename in haresources [ferret]: it is not declared with a "
        f"node directive in {d}/ha.cf"]


def _check(text: str, node: str = "a") -> list[str]:
    hacf, _ = parse_hacf(text.encode(), "ha.cf")
    assert hacf is not None
    return [p.render() for p in check_hacf(hacf, node)]


def test_one_node_cluster_is_allowed_with_a_warning() -> None:
    assert _check("node a\nbcast eth0\nlogfile /x\nauto_failback on\n") == [
        "WARN: ha.cf:1: only one node (a) is declared: there is nobody to fail over to"]


def test_warntime_range_and_initdead_small() -> None:
    assert _check("node a b\nbcast eth0\nlogfile /x\nauto_failback on\nkeepalive 2\n"
                  "deadtime 5\nwarntime 1\ninitdead 6\n") == [
        "WARN: ha.cf:8: Initial dead time [6000 ms] may be too small! It should be >= "
        "deadtime and >= 10 seconds",
        "WARN: ha.cf:7: warntime [1000 ms] is not more than keepalive [2000 ms]: every "
        "heartbeat will be reported late"]


def test_deadping_and_logd_off() -> None:
    assert _check("node a b\nbcast eth0\nauto_failback on\ndeadping 2\nuse_logd off\n") == [
        "ERROR: ha.cf:4: Ping dead time [2000] is too small compared to keeplive [1000]",
        "ERROR: ha.cf:5: No log entry found in ha.cf and use_logd is set to off"]


def test_legacy_default_warns() -> None:
    assert _check("node a b\nbcast eth0\nlogfile /x\n") == [
        "WARN: ha.cf: Deprecated 'legacy' auto_failback option selected. Please convert to "
        "'auto_failback on'."]


THREE = ("otter", "weasel", "ferret")


def test_three_nodes_with_a_resource_pair_load_and_the_third_is_a_member_only(
        tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", nodes=THREE,
                      overrides={"logfile": "/tmp/ha-log"},
                      haresources="weasel IPaddr::10.0.0.100\notter apache\n")
    for node in THREE:
        config = load_config(seed.config_dir, node, system=probe(seed.init_dir))
        assert config.resource_nodes == ("otter", "weasel")  # ha.cf order
        assert config.warnings == ()


def test_three_nodes_with_groups_on_one_node_is_an_error(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", nodes=THREE,
                      haresources="# one node\nweasel IPaddr::10.0.0.100\nweasel apache\n")
    with pytest.raises(ConfigError) as info:
        load_config(seed.config_dir, "otter", system=probe(seed.init_dir))
    d = seed.config_dir
    assert [str(p) for p in info.value.errors] == [
        f"{d}/haresources:2: every group is homed on weasel: with 3 nodes in {d}/ha.cf groups "
        "fail over within one pair of nodes, so haresources must name two nodes (which of "
        "otter, ferret would take weasel's groups over?); give one group to the other node "
        "of the pair"]


def test_three_nodes_with_groups_on_three_nodes_is_an_error_at_the_third(
        tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null", nodes=THREE,
                      haresources="weasel IPaddr::10.0.0.100\notter apache\n"
                                  "weasel drbddisk::r0\nferret LVM::vg0\n")
    with pytest.raises(ConfigError) as info:
        load_config(seed.config_dir, "ferret", system=probe(seed.init_dir))
    assert [str(p) for p in info.value.errors] == [
        f"{seed.config_dir}/haresources:4: group homed on a third node [ferret] (after "
        "weasel and otter): groups fail over within one pair of nodes, so with more than two "
        "nodes haresources may name only two of them; the other nodes are members that run "
        "no resources"]


def test_two_nodes_may_home_every_group_on_one_node(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, serial="/dev/null")  # the seed: weasel holds the one group
    config = load_config(seed.config_dir, "otter", system=probe(seed.init_dir))
    assert config.resource_nodes == ("otter", "weasel")


def test_node_names_the_wire_cannot_carry_are_errors() -> None:
    long = "n" * 100
    assert _check(f"node a b\nnode stöat {long}\nbcast eth0\nlogfile /x\nauto_failback on\n"
                  "deadtime 10\n") == [
        "ERROR: ha.cf:2: node name [stöat] has U+00F6: node names travel on the wire "
        "as printable ASCII (letters, digits, '-', '.'); use the node's ASCII host name "
        "(uname -n)",
        f"ERROR: ha.cf:2: node name [{long[:20]}...] is 100 characters: heartbeat keeps at "
        "most 99; use a shorter host name"]
    assert _check(f"node a {long[:99]}\nbcast eth0\nlogfile /x\nauto_failback on\n"
                  "deadtime 10\n") == []


def test_timers_the_lease_cannot_honour_are_errors() -> None:
    assert _check("node a b\nbcast eth0\nlogfile /x\nauto_failback on\nkeepalive 100ms\n"
                  "deadtime 300ms\ninitdead 10\n") == [
        "ERROR: ha.cf:6: deadtime [300 ms] with keepalive [100 ms] leaves the supervisor a "
        "lease of 150 ms, less than the 200 ms a pause of the supervisor can take: "
        "keepalives would stop and the peers would take the groups over; set deadtime to at "
        "least 400 ms"]
    # The bench's fast profile (keepalive 100ms, deadtime 500ms) is honoured.
    assert _check("node a b\nbcast eth0\nlogfile /x\nauto_failback on\nkeepalive 100ms\n"
                  "deadtime 500ms\ninitdead 10\n") == []


def test_a_control_character_in_a_node_name_is_shown_escaped() -> None:
    (problem,) = _check("node a b\nnode c\x7fd\nbcast eth0\nlogfile /x\nauto_failback on\n"
                        "deadtime 10\n")
    assert problem.startswith("ERROR: ha.cf:2: node name [c\\x7fd] has U+007F: ")
