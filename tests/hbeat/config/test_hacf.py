"""ha.cf: every directive hbeat reads, heartbeat's defaults and reading rules."""

from __future__ import annotations

import pytest

from hbeat.config.hacf import parse_hacf
from hbeat.config.model import (
    AutoFailback,
    Bcast,
    HaCf,
    Level,
    Mcast,
    Problem,
    Serial,
    StonithDevice,
    Ucast,
)
from tests.hbeat.config.seed import render_hacf, seed_hacf_lines

P = "/etc/ha.d/ha.cf"


def parse(text: str) -> tuple[HaCf, list[Problem]]:
    hacf, problems = parse_hacf(text.encode(), P)
    assert hacf is not None
    return hacf, problems


def messages(problems: list[Problem], level: Level | None = None) -> list[str]:
    return [str(p) for p in problems if level is None or p.level is level]


def test_seed() -> None:
    hacf, problems = parse(render_hacf(seed_hacf_lines()))
    assert problems == []
    assert hacf.nodes == ("otter", "weasel")
    assert hacf.media == (Serial("/dev/ttyS0", 9600, 6), Bcast("eth1", 694, 8))
    t = hacf.timers
    assert (t.keepalive_ms, t.deadtime_ms, t.warntime_ms, t.initdead_ms, t.deadping_ms) == \
        (1000, 10000, 5000, 60000, 10000)
    assert t.defaulted == {"deadping"}
    assert hacf.auto_failback is AutoFailback.OFF
    assert hacf.baud == 9600 and hacf.udpport == 694
    # hbparameter: values as typed, derived ones with ms
    assert hacf.parameter("deadtime") == "10"
    assert hacf.parameter("deadping") == "10000ms"
    assert hacf.parameter("node") is None


def test_defaults_match_heartbeat_minus_D() -> None:
    hacf, _ = parse("node otter\nbcast eth0\n")
    t = hacf.timers
    assert (t.keepalive_ms, t.deadtime_ms, t.warntime_ms, t.initdead_ms, t.deadping_ms) == \
        (1000, 30000, 15000, 30000, 30000)
    assert hacf.auto_failback is AutoFailback.LEGACY
    expected = {"cluster": "linux-ha", "hopfudge": "1", "keepalive": "1000ms",
                "deadtime": "30000ms", "baud": "19200", "auto_failback": "legacy",
                "hbgenmethod": "file", "realtime": "true", "msgfmt": "classic",
                "conn_logd_time": "60", "log_badpack": "true", "syslogmsgfmt": "true",
                "coredumps": "true", "pacemaker": "false", "autojoin": "none",
                "uuidfrom": "file", "compression": "zlib", "compression_threshold": "2",
                "traditional_compression": "no", "max_rexmit_delay": "250",
                "memreserve": "6500", "warntime": "15000ms", "initdead": "30000ms",
                "udpport": "694", "use_logd": "yes", "debug": "0"}
    for name, value in expected.items():
        assert hacf.parameter(name) == value, name


@pytest.mark.parametrize(("deadtime", "initdead"), [
    ("10", 20000), ("6", 12000), ("5.999", 12000), ("2", 12000), ("10.001", 10001), ("60", 60000),
])
def test_initdead_default_rule(deadtime: str, initdead: int) -> None:
    hacf, _ = parse(f"node a\nbcast eth0\nkeepalive 100ms\ndeadtime {deadtime}\n")
    assert hacf.timers.initdead_ms == initdead
    assert hacf.parameter("initdead") == f"{initdead}ms"


def test_tokenisation_commas_tabs_comments() -> None:
    hacf, problems = parse("node\totter,weasel  # the two\nbcast eth0, eth1\n"
                           "  serial /dev/ttyS0 /dev/ttyS1#x\n")
    assert problems == []
    assert hacf.nodes == ("otter", "weasel")
    assert [m.name for m in hacf.media] == ["eth0", "eth1", "/dev/ttyS0", "/dev/ttyS1"]


def test_node_names_lower_cased_and_duplicates_warned() -> None:
    hacf, problems = parse("node Otter\nnode otter\nbcast eth0\n")
    assert hacf.nodes == ("otter",)
    assert messages(problems) == [f"{P}:2: node otter already declared at line 1; "
                                  "the repeat is ignored"]


def test_last_value_wins_with_warning() -> None:
    hacf, problems = parse("node a\nbcast eth0\nkeepalive 2\nkeepalive 500ms\n")
    assert hacf.timers.keepalive_ms == 500
    assert hacf.parameter("keepalive") == "500ms"
    assert messages(problems) == [f"{P}:4: keepalive given again (first at line 3); "
                                  "the last value wins, as in heartbeat"]


def test_several_values_on_single_valued_directive() -> None:
    hacf, problems = parse("node a\nbcast eth0\ndeadtime 10 20\n")
    assert hacf.timers.deadtime_ms == 20000
    assert messages(problems) == [f"{P}:3: deadtime takes one value; heartbeat applies each "
                                  "in turn, so the last one [20] wins"]


def test_value_missing_is_warned() -> None:
    _, problems = parse("node a\nbcast eth0\nkeepalive\n")
    assert messages(problems) == [f"{P}:3: keepalive has no value; line ignored, "
                                  "as in heartbeat"]


def test_udp_alias() -> None:
    hacf, problems = parse("node a\nudp eth0\n")
    assert hacf.media == (Bcast("eth0", 694, 2),)
    assert messages(problems, Level.WARN) == [f"{P}:2: directive 'udp' replaced by 'bcast'"]


def test_udpport_applies_per_plugin_at_first_line() -> None:
    hacf, problems = parse("node a\nudpport 700\nbcast eth0\nudpport 701\n"
                           "ucast eth0 10.0.0.2\nbcast eth1\n")
    assert hacf.media == (Bcast("eth0", 700, 3), Ucast("eth0", "10.0.0.2", 701, 5),
                          Bcast("eth1", 700, 6))
    assert hacf.parameter("udpport") == "701"
    assert f"{P}:4: udpport setting must precede media statements: the bcast links (first " \
           "at line 3) were set up with port 700, as in heartbeat; move udpport above them" \
        in messages(problems)


def test_baud_after_serial_does_not_apply() -> None:
    hacf, _ = parse("node a\nserial /dev/ttyS0\nbaud 9600\n")
    assert hacf.media == (Serial("/dev/ttyS0", 19200, 2),)
    assert hacf.baud == 19200
    assert hacf.parameter("baud") == "9600"


def test_mcast_and_ucast() -> None:
    hacf, problems = parse("node a\nmcast eth0 239.0.0.1 694 1 0\n"
                           "ucast eth1 10.0.0.2 10.0.0.3\n")
    assert hacf.media == (Mcast("eth0", "239.0.0.1", 694, 1, 0, 2),
                          Ucast("eth1", "10.0.0.2", 694, 3))
    assert messages(problems) == [f"{P}:3: ucast takes one peer address per line; "
                                  "[10.0.0.3] is ignored, as in heartbeat; write one ucast "
                                  "line per peer"]


@pytest.mark.parametrize("word", ["true", "On", "YES", "y", "1"])
def test_auto_failback_boolean_words_on(word: str) -> None:
    hacf, _ = parse(f"node a\nbcast eth0\nauto_failback {word}\n")
    assert hacf.auto_failback is AutoFailback.ON


@pytest.mark.parametrize("word", ["false", "Off", "NO", "n", "0"])
def test_auto_failback_boolean_words_off(word: str) -> None:
    hacf, _ = parse(f"node a\nbcast eth0\nauto_failback {word}\n")
    assert hacf.auto_failback is AutoFailback.OFF


def test_auto_failback_legacy_case_insensitive() -> None:
    hacf, _ = parse("node a\nbcast eth0\nauto_failback LEGACY\n")
    assert hacf.auto_failback is AutoFailback.LEGACY


def test_nice_failback_as_heartbeat_3_0_6_reads_it() -> None:
    hacf, problems = parse("node a\nbcast eth0\nnice_failback on\n")
    assert hacf.auto_failback is AutoFailback.LEGACY
    assert messages(problems) == [
        f"{P}:3: nice_failback flag is obsolete. Use auto_failback {{on, off, legacy}} "
        "instead: nice_failback on has been strictly interpreted as 'auto_failback legacy' "
        "(as heartbeat 3.0.6 does)"]
    hacf, problems = parse("node a\nbcast eth0\nauto_failback on\nnice_failback off\n")
    assert hacf.auto_failback is AutoFailback.OFF
    assert hacf.parameter("auto_failback") == "off"


def test_logging_directives() -> None:
    hacf, problems = parse("node a\nbcast eth0\nlogfile /var/log/ha-log\n"
                           "debugfile /var/log/ha-debug\nlogfacility local0\n"
                           "syslogmsgfmt false\ndebug 3\nuse_logd no\n")
    assert problems == []
    log = hacf.logging
    assert (log.logfile, log.debugfile, log.logfacility, log.syslog_facility) == \
        ("/var/log/ha-log", "/var/log/ha-debug", "local0", "local0")
    assert (log.syslogmsgfmt, log.debug, log.use_logd) == (False, 3, False)


def test_misc_directives() -> None:
    hacf, problems = parse("node a\nbcast eth0\nrealtime off\nrtprio 5\nhopfudge 2\n"
                           "cluster lab\nmsgfmt netstring\nhbgenmethod time\n"
                           "max_rexmit_delay 100\nenv FOO=bar,BAZ=\nlog_badpack no\n"
                           "uuidfrom nodename\ncrm off\n")
    assert problems == []
    assert (hacf.realtime, hacf.rtprio, hacf.hopfudge, hacf.cluster, hacf.msgfmt,
            hacf.hbgenmethod, hacf.max_rexmit_delay_ms, hacf.log_badpack, hacf.uuidfrom) == \
        (False, 5, 2, "lab", "netstring", "time", 100, False, "nodename")
    assert hacf.env == (("HA_FOO", "bar"), ("HA_BAZ", ""))
    assert hacf.parameter("crm") == "off"  # recorded under the name used, as 3.0.6 does


@pytest.mark.parametrize(("line", "message"), [
    ("ping6 fe80::1", "ping6 node [fe80::1]: ignored: hbeat pings IPv4 hosts only (`ping` "
                      "and `ping_group` lines); it is not a member"),
    ("apiauth ipfail uid=hacluster", "apiauth: ignored: hbeat has no heartbeat API clients "
                                     "to authorise"),
    ("compression bz2", "compression: ignored: hbeat never compresses messages"),
    ("conn_logd_time 30", "conn_logd_time: ignored: hbeat has no ha_logd client"),
    ("quorum_server q1", "quorum_server: ignored: quorumd is only used with a CRM; hbeat "
                         "runs haresources mode only"),
])
def test_parsed_but_not_acted_on(line: str, message: str) -> None:
    _, problems = parse(f"node a\nbcast eth0\n{line}\n")
    assert messages(problems) == [f"{P}:3: {message}"]


def test_a_ping_node_name_given_twice_is_an_error() -> None:
    _, problems = parse("node a\nbcast eth0\nping_group g 10.0.0.1\nping g\n")
    assert messages(problems) == [f"{P}:4: ping g: a ping node of that name is already "
                                  "given at line 3"]


def test_ping_nodes_and_ipfail_are_acted_on_without_a_warning() -> None:
    hacf, problems = parse("node a b\nbcast eth0\nauto_failback off\nping 10.0.0.254\n"
                           "ping_group g 10.0.0.1 10.0.0.2\n"
                           "respawn hacluster /usr/lib/heartbeat/ipfail\n")
    assert problems == []
    assert [(p.kind, p.name, p.addresses) for p in hacf.ping_nodes] == [
        ("ping", "10.0.0.254", ("10.0.0.254",)),
        ("ping_group", "g", ("10.0.0.1", "10.0.0.2"))]
    assert hacf.ipfail is None and hacf.ipfail_client is not None and hacf.ipfail_enabled
    off, problems = parse("node a b\nbcast eth0\nauto_failback off\nping 10.0.0.254\n"
                          "ipfail off\nrespawn hacluster /usr/lib/heartbeat/ipfail\n")
    assert problems == [] and off.ipfail is False and not off.ipfail_enabled
    assert off.parameter("ipfail") is None  # hbeat's own: not a heartbeat parameter
    on, _ = parse("node a b\nbcast eth0\nauto_failback on\nping 10.0.0.254\nipfail yes\n")
    assert on.ipfail_enabled and on.ipfail_client is None
    legacy, _ = parse("node a b\nbcast eth0\nping 10.0.0.254\nipfail on\n")
    assert not legacy.ipfail_enabled  # auto_failback legacy: ipfail refuses it too
    none, _ = parse("node a b\nbcast eth0\nauto_failback off\nping 10.0.0.254\n")
    assert not none.ipfail_enabled


def test_ping_nodes_and_stonith_recorded() -> None:
    hacf, _ = parse("node a\nbcast eth0\nping 10.0.0.254 10.0.0.253\n"
                    "stonith_host * null weasel\nwatchdog /dev/watchdog\n")
    assert [p.name for p in hacf.ping_nodes] == ["10.0.0.254", "10.0.0.253"]
    assert hacf.stonith == (StonithDevice("stonith_host", "*", "null", ("weasel",), None, 4),)
    assert hacf.watchdog == "/dev/watchdog"


@pytest.mark.parametrize(("line", "message"), [
    ("rtprio 0", "Illegal realtime priority [0]: must be 1..99"),
    ("debug 256", "debug level [256] must be 0..255"),
    ("hopfudge x", "hopfudge [x] must be 0..255"),
    ("msgfmt xml", "msgfmt [xml] must be classic or netstring"),
    ("hbgenmethod random", "Illegal hb generation method [random]: must be file or time"),
    ("logfacility local9", "Log facility(local9) not valid: use none, daemon, "
                           "local0..local7, user, ..."),
    ("env =x", "env [=x] is not NAME=value"),
    ("warntime 0", "Warn time [0] is invalid: it must be more than 0 ms"),
    ("uuidfrom disk", "Invalid uuidfrom directive [disk]: must be file or nodename"),
    ("watchdog /dev/a\nwatchdog /dev/b", None),
    ("watchdog watchdog", "watchdog device [watchdog] is not a full path name"),
])
def test_value_errors(line: str, message: str | None) -> None:
    _, problems = parse(f"node a\nbcast eth0\n{line}\n")
    errors = messages(problems, Level.ERROR)
    if message is None:
        assert errors == [f"{P}:4: Watchdog device multiply specified (first at line 3)"]
    else:
        assert errors == [f"{P}:3: {message}"]


def test_max_clock_skew() -> None:
    hacf, problems = parse(render_hacf(seed_hacf_lines()))
    assert hacf.max_clock_skew_ms == 60_000
    hacf, problems = parse(render_hacf(seed_hacf_lines(), extra=["max_clock_skew 90"]))
    assert problems == [] and hacf.max_clock_skew_ms == 90_000
    assert hacf.parameter("max_clock_skew") == "90"
    line = len(render_hacf(seed_hacf_lines()).splitlines()) + 1
    _, problems = parse(render_hacf(seed_hacf_lines(), extra=["max_clock_skew 1500ms"]))
    assert messages(problems) == [
        f"{P}:{line}: max_clock_skew [1500ms] must be at least 2 seconds: ts has one-second "
        "resolution and keepalives take time to arrive"]
    _, problems = parse(render_hacf(seed_hacf_lines(), extra=["max_clock_skew soon"]))
    assert [p.level for p in problems] == [Level.ERROR]
    assert messages(problems)[0].startswith(f"{P}:{line}: max_clock_skew: ")


@pytest.mark.parametrize(("line", "message"), [
    ("stonith null", "stonith takes a type and a configuration file (stonith <type> <file>), "
                     "got 1 word(s)"),
    ("stonith_host", "No Stonith hostname argument given"),
    ("stonith_host *", "No Stonith type given"),
    ("boot_takeover always", "boot_takeover [always] must be one of fenced, initdead "
                             "(docs/fencing.md)"),
])
def test_stonith_syntax_errors(line: str, message: str) -> None:
    _, problems = parse(f"node a\nbcast eth0\n{line}\n")
    assert messages(problems) == [f"{P}:3: {message}"]


def test_stonith_lines_and_boot_takeover() -> None:
    hacf, problems = parse("node a b\nbcast eth0\nstonith external/ssh /etc/ha.d/st.cfg\n"
                           "stonith_host B external/ipmi b 10.0.0.9 admin pw lan\n"
                           "boot_takeover initdead\n")
    assert problems == []
    assert hacf is not None
    first, second = hacf.stonith
    assert first.config_argv() == ("-F", "/etc/ha.d/st.cfg") and first.usable_on("a")
    assert second.source == "b" and not second.usable_on("a") and second.usable_on("B")
    assert second.config_argv() == ("-p", "b 10.0.0.9 admin pw lan")
    assert hacf.boot_takeover == "initdead"
    assert hacf.parameter("boot_takeover") is None  # not a heartbeat parameter
