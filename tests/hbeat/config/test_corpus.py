"""A corpus of broken configurations run through `hbeat check`.

Each case starts from the seed (interfaces `lo`, serial `/dev/null`, a
logfile, so the seed itself is clean on this machine), changes one thing,
runs the real command line with the real system probe, and asserts the
exact ERROR/WARN lines and the exit status.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hbeat.cli import main
from tests.hbeat.config.seed import SEED_HARESOURCES, write_seed

BASE: dict[str, Any] = {"serial": "/dev/null", "interfaces": ("lo",),
                        "overrides": {"logfile": "/var/log/ha-log"}}


@dataclass
class Case:
    name: str
    expected: list[str]
    status: int
    seed: dict[str, Any] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    overrides: dict[str, str | None] = field(default_factory=dict)
    tweak: Callable[[Path], None] | None = None


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def tweak(d: Path) -> None:
        (d / name).write_bytes(data)
    return tweak


def _remove(name: str) -> Callable[[Path], None]:
    def tweak(d: Path) -> None:
        (d / name).unlink()
    return tweak


def _chmod(name: str, mode: int) -> Callable[[Path], None]:
    def tweak(d: Path) -> None:
        (d / name).chmod(mode)
    return tweak


SEED_HACF = (b"keepalive 1\ndeadtime 10\nwarntime 5\ninitdead 60\nbaud 9600\n"
             b"serial /dev/null\nudpport 694\nbcast lo\nauto_failback off\n"
             b"node otter\nnode weasel\nlogfile /var/log/ha-log\n")

CASES = [
    Case("unit-s", ["ERROR: {d}/ha.cf:2: deadtime: [2s] is not a time: unit [s] is not "
                    "understood; heartbeat takes plain seconds (2, 1.5), ms or us -- not s, "
                    "sec or m"], 1, overrides={"deadtime": "2s"}),
    Case("unit-sec", ["ERROR: {d}/ha.cf:1: keepalive: [1sec] is not a time: unit [sec] is "
                      "not understood; heartbeat takes plain seconds (2, 1.5), ms or us -- "
                      "not s, sec or m"], 1, overrides={"keepalive": "1sec"}),
    Case("unit-m", ["ERROR: {d}/ha.cf:4: initdead: [1m] is not a time: unit [m] is not "
                    "understood; heartbeat takes plain seconds (2, 1.5), ms or us -- not s, "
                    "sec or m"], 1, overrides={"initdead": "1m"}),
    Case("not-a-number", ["ERROR: {d}/ha.cf:3: warntime: [1.2.3] is not a time: [1.2.3] "
                          "is not a number"], 1, overrides={"warntime": "1.2.3"}),
    Case("keepalive-zero", ["ERROR: {d}/ha.cf:1: keepalive [400us] must be more than 0 ms"],
         1, overrides={"keepalive": "400us"}),
    Case("deadtime-too-small", ["ERROR: {d}/ha.cf:2: Dead time [2000] is too small compared "
                                "to keeplive [1000]: deadtime must be more than 2 x "
                                "keepalive",
                                "WARN: {d}/ha.cf:3: warntime [5000 ms] is not less than "
                                "deadtime [2000 ms]: no late-heartbeat warning can come "
                                "before the node is declared dead"],
         1, overrides={"deadtime": "2"}),
    Case("lease-too-short", ["ERROR: {d}/ha.cf:2: deadtime [300 ms] with keepalive [100 ms] "
                             "leaves the supervisor a lease of 150 ms, less than the 200 ms a "
                             "pause of the supervisor can take: keepalives would stop and the "
                             "peers would take the groups over; set deadtime to at least "
                             "400 ms",
                             "WARN: {d}/ha.cf:3: warntime [5000 ms] is not less than deadtime "
                             "[300 ms]: no late-heartbeat warning can come before the node is "
                             "declared dead"],
         1, overrides={"keepalive": "100ms", "deadtime": "300ms"}),
    Case("node-name-not-ascii", ["ERROR: {d}/ha.cf:13: node name [hérisson] has U+00E9: "
                                 "node names travel on the wire as printable ASCII (letters, "
                                 "digits, '-', '.'); use the node's ASCII host name (uname -n)",
                                 "ERROR: {d}/haresources:1: every group is homed on weasel: "
                                 "with 3 nodes in {d}/ha.cf groups fail over within one pair "
                                 "of nodes, so haresources must name two nodes (which of "
                                 "otter, hérisson would take weasel's groups over?); give one "
                                 "group to the other node of the pair"],
         1, extra=["node hérisson"]),
    Case("max-clock-skew-too-small", ["ERROR: {d}/ha.cf:13: max_clock_skew [1] must be at "
                                      "least 2 seconds: ts has one-second resolution and "
                                      "keepalives take time to arrive"],
         1, extra=["max_clock_skew 1"]),
    Case("initdead-smaller", ["ERROR: {d}/ha.cf:4: Initial dead time [5000] is smaller than "
                              "deadtime [10000]"], 1, overrides={"initdead": "5"}),
    Case("unknown-directive", ["ERROR: {d}/ha.cf:13: Illegal directive [keepalived]"], 1,
         extra=["keepalived 2"]),
    Case("directive-with-comma", ["ERROR: {d}/ha.cf:13: Illegal directive [node,otter]"], 1,
         extra=["node,otter"]),
    Case("node-missing", ["ERROR: {d}/ha.cf: Current node [otter] not in configuration! "
                          "Cluster nodes are named by `uname -n` and must be declared with "
                          "a node directive (or pass --node-name)"], 1,
         seed={"nodes": ("weasel", "stoat")}),
    Case("no-nodes", ["ERROR: {d}/ha.cf: no nodes defined (add a node line for each "
                      "cluster member)"],
         1, seed={"nodes": ()}),
    Case("no-media", ["ERROR: {d}/ha.cf: No heartbeat media defined (add a bcast, ucast, "
                      "mcast or serial line)"], 1,
         seed={"serial": None, "interfaces": ()}),
    Case("haresources-bad-node", ["ERROR: {d}/haresources:1: Bad nodename in haresources "
                                  "[ferret]: it is not declared with a node directive in "
                                  "{d}/ha.cf"], 1,
         seed={"haresources": "ferret apache\n"}),
    Case("script-missing", ["ERROR: {d}/haresources:1: resource [hbeat-no-such-script::x]: "
                            "Cannot locate resource script hbeat-no-such-script (looked for "
                            "{d}/resource.d/hbeat-no-such-script, "
                            "/usr/lib/hbeat/resource.d/hbeat-no-such-script and "
                            "/etc/init.d/hbeat-no-such-script: no such file)"], 1,
         seed={"haresources": "weasel hbeat-no-such-script::x\n"}),
    Case("script-not-executable", ["ERROR: {d}/haresources:2: resource [apache]: Cannot "
                                   "locate resource script apache (looked for "
                                   "{d}/resource.d/apache, /usr/lib/hbeat/resource.d/apache and "
                                   "/etc/init.d/apache: "
                                   "{d}/resource.d/apache is not executable)"], 1,
         tweak=_chmod("resource.d/apache", 0o644)),
    Case("continuation-at-eof", ["ERROR: {d}/haresources:1: backslash continuation at the "
                                 "end of the file: there is no next line to join"], 1,
         seed={"haresources": "weasel drbddisk::r0 \\\n"}),
    Case("backslash-then-blanks", ["ERROR: {d}/haresources:1: backslash followed by blanks "
                                   "at the end of the line: ResourceManager does not join "
                                   "the next line; remove the blanks after the backslash"],
         1, seed={"haresources": SEED_HARESOURCES.replace("\\\n", "\\  \n")}),
    Case("duplicate-key", ["ERROR: {d}/haresources:2: resource group key [apache] is already "
                           "the key of the group at line 1: ResourceManager names groups by "
                           "their first resource, so it must be unique"], 1,
         seed={"haresources": "weasel apache\notter apache LVM::vg1\n"}),
    Case("resource-in-two-groups", ["ERROR: {d}/haresources:2: resource [IPaddr::10.0.0.100] "
                                    "is already in the group at line 1: a resource may "
                                    "belong to one group, once"], 1,
         seed={"haresources": "weasel 10.0.0.100 apache\notter LVM::vg1 "
                              "IPaddr::10.0.0.100\n"}),
    Case("bad-ip-shorthand", ["ERROR: {d}/haresources:1: resource [10.0.0.300/24] is spelled "
                              "like an IP address, so it means IPaddr::10.0.0.300/24, but "
                              "[10.0.0.300] is not a valid IPv4 address"], 1,
         seed={"haresources": "weasel 10.0.0.300/24\n"}),
    Case("missing-authkeys", ["ERROR: {d}/authkeys: Cannot open keyfile: No such file or "
                              "directory"], 1, seed={"authkeys": None}),
    Case("missing-hacf", ["ERROR: {d}/ha.cf: Cannot open config file: No such file or "
                          "directory"], 1, tweak=_remove("ha.cf")),
    Case("missing-haresources", ["ERROR: {d}/haresources: Cannot open resources file: No "
                                 "such file or directory"], 1, seed={"haresources": None}),
    Case("authkeys-bad-permissions", ["ERROR: {d}/authkeys: Bad permissions on keyfile "
                                      "[{d}/authkeys], 600 recommended. (mode is 0644: "
                                      "readable by group and others)"], 1,
         seed={"authkeys_mode": 0o644}),
    Case("empty-hacf", ["ERROR: {d}/ha.cf: no directives: the file is empty (or only "
                        "comments)"], 1, tweak=_write("ha.cf", b"# nothing here\n\n")),
    Case("empty-authkeys", ["ERROR: {d}/authkeys: Missing auth directive in keyfile "
                            "[{d}/authkeys]"], 1, seed={"authkeys": ""}),
    Case("empty-haresources-is-fine", [], 0, seed={"haresources": ""}),
    Case("hacf-group-writable", ["WARN: {d}/ha.cf: file {d}/ha.cf can be changed by group {g}, "
                                 "who could then run commands as root through the cluster "
                                 "(chown root and chmod go-w {d}/ha.cf)"], 0,
         tweak=_chmod("ha.cf", 0o664)),
    Case("script-writable-by-others", ["WARN: {d}/resource.d/apache: file "
                                       "{d}/resource.d/apache can be changed by others, who "
                                       "could then run commands as root through the cluster "
                                       "(chown root and chmod go-w {d}/resource.d/apache)"], 0,
         tweak=_chmod("resource.d/apache", 0o757)),
    Case("resource-d-writable-by-others", ["WARN: {d}/resource.d/drbddisk: directory "
                                           "{d}/resource.d can be changed by group {g} and others, "
                                           "who could "
                                           "then run commands as root through the cluster "
                                           "(chown root and chmod go-w {d}/resource.d)"], 0,
         tweak=_chmod("resource.d", 0o777)),
    Case("crc-key-needs-opt-in", ["ERROR: {d}/authkeys:3: key 2 uses crc, which anyone on the "
                                  "link can forge (crc is a checksum, not authentication): use "
                                  "sha1, or add 'allow_crc on' to {d}/ha.cf to accept it "
                                  "knowingly"], 1,
         seed={"authkeys": "auth 1\n1 sha1 k\n2 crc\n"}),
    Case("crc-key-with-opt-in-warns", ["WARN: {d}/authkeys:3: key 2 uses crc, which is a "
                                       "checksum and provides no authentication: anyone on the "
                                       "link can forge messages (use sha1)"], 0,
         seed={"authkeys": "auth 1\n1 sha1 k\n2 crc\n"}, extra=["allow_crc on"]),
    Case("crlf-hacf", ["WARN: {d}/ha.cf:1: file has CRLF (DOS) line endings; the carriage "
                       "returns are ignored"], 0,
         tweak=_write("ha.cf", SEED_HACF.replace(b"\n", b"\r\n"))),
    Case("crlf-haresources", ["WARN: {d}/haresources:1: file has CRLF (DOS) line endings; "
                              "the carriage returns are ignored"], 0,
         tweak=_write("haresources", SEED_HARESOURCES.replace("\n", "\r\n").encode())),
    Case("tabs-everywhere", [], 0,
         tweak=_write("ha.cf", SEED_HACF.replace(b" ", b"\t\t"))),
    Case("cr-mid-line", ["ERROR: {d}/ha.cf:13: carriage return (\\r) in the middle of the "
                         "line (column 8)"], 1,
         tweak=_write("ha.cf", SEED_HACF + b"debug 0\rx\n")),
    Case("latin1-outside-comment", ["ERROR: {d}/ha.cf:13: byte 0xE9 at column 12 is not valid "
                                    "UTF-8 (only comments may hold other encodings)"], 1,
         tweak=_write("ha.cf", SEED_HACF + b"cluster caf\xe9\n")),
    Case("latin1-in-comment-is-fine", [], 0,
         tweak=_write("ha.cf", SEED_HACF + b"# r\xe9sum\xe9 of the cluster\n")),
    Case("baud-invalid", ["ERROR: {d}/ha.cf:5: invalid baudrate [9601] specified: heartbeat "
                          "accepts 9600, 19200, 38400, 57600, 115200, 230400, 460800"], 1,
         overrides={"baud": "9601"}),
    Case("baud-twice", ["ERROR: {d}/ha.cf:13: Baudrate multiply specified (first at line 5)"],
         1, extra=["baud 19200"]),
    Case("baud-after-serial", ["WARN: {d}/ha.cf:6: baudrate setting must precede media "
                               "statements: the serial links (first at line 5) keep 19200 "
                               "baud, as in heartbeat; move baud above them"], 0,
         tweak=_write("ha.cf", SEED_HACF.replace(b"baud 9600\nserial /dev/null\n",
                                                 b"serial /dev/null\nbaud 9600\n"))),
    Case("udpport-after-bcast", ["WARN: {d}/ha.cf:13: udpport given again (first at line 7); "
                                 "the last value wins, as in heartbeat",
                                 "WARN: {d}/ha.cf:13: udpport setting must precede media "
                                 "statements: the bcast links (first at line 8) were set up "
                                 "with port 694, as in heartbeat; move udpport above them"], 0,
         extra=["udpport 695"]),
    Case("udpport-zero", ["ERROR: {d}/ha.cf:7: invalid port [0] specified: a UDP port is "
                          "1..65535"], 1, overrides={"udpport": "0"}),
    Case("mcast-missing-loop", ["ERROR: {d}/ha.cf:13: mcast [lo] missing loop (mcast takes: "
                                "interface group port ttl loop)"], 1,
         extra=["mcast lo 239.0.0.1 694 1"]),
    Case("mcast-bad-ttl", ["ERROR: {d}/ha.cf:13: mcast [lo] bad ttl [5]: ttl must be 0..4"],
         1, extra=["mcast lo 239.0.0.1 694 5 0"]),
    Case("mcast-not-multicast", ["ERROR: {d}/ha.cf:13: mcast [lo] bad addr [10.0.0.1]: not an "
                                 "IPv4 multicast address (224.0.0.0 to 239.255.255.255)"], 1,
         extra=["mcast lo 10.0.0.1 694 1 0"]),
    Case("ucast-hostname", ["ERROR: {d}/ha.cf:13: ucast [lo]: [weasel] is not an IPv4 "
                            "address (hbeat does not look host names up; write the address)"],
         1, extra=["ucast lo weasel"]),
    Case("ucast-missing-peer", ["ERROR: {d}/ha.cf:13: ucast: [lo] missing target IP "
                                "address/hostname"], 1, extra=["ucast lo"]),
    Case("serial-relative", ["ERROR: {d}/ha.cf:6: Serial port not full pathname [ttyS0]"], 1,
         overrides={"serial": "ttyS0"}),
    Case("serial-missing", ["ERROR: {d}/ha.cf:6: Nonexistent serial port "
                            "[/dev/hbeat-no-such-tty]"], 1,
         overrides={"serial": "/dev/hbeat-no-such-tty"}),
    Case("serial-not-char", ["ERROR: {d}/ha.cf:6: Serial port [/etc/hostname] not a char "
                             "device"], 1, overrides={"serial": "/etc/hostname"}),
    Case("interface-missing", ["ERROR: {d}/ha.cf:8: bcast: IP interface [hbeat-no-if0] does "
                               "not exist (known: {ifaces})"], 1,
         seed={"interfaces": ("hbeat-no-if0",)}),
    Case("crm-on", ["ERROR: {d}/ha.cf:13: crm [respawn]: hbeat runs haresources mode only and "
                    "cannot hand resources to Pacemaker/CRM; remove the line or set it to "
                    "'crm off'"], 1, extra=["crm respawn"]),
    Case("crm-twice", ["ERROR: {d}/ha.cf:14: pacemaker/crm directive used multiple times! "
                       "(first at line 13)"], 1, extra=["crm off", "pacemaker off"]),
    Case("respawn-ipfail", ["WARN: {d}/ha.cf:13: respawn hacluster /usr/lib/heartbeat/ipfail: "
                            "ipfail counts ping nodes, and ha.cf has no `ping` or `ping_group` "
                            "line: it has nothing to do (hbeat does not run the ipfail "
                            "binary)"], 0,
         extra=["respawn hacluster /usr/lib/heartbeat/ipfail"]),
    Case("ipfail-legacy", ["WARN: {d}/ha.cf:9: Deprecated 'legacy' auto_failback option "
                           "selected. Please convert to 'auto_failback on'.",
                           "WARN: {d}/ha.cf:14: ipfail does not work with auto_failback "
                           "legacy (ipfail itself refuses it: \"auto_failback set to "
                           "incompatible legacy option.\"): ipfail's decision stays off; set "
                           "auto_failback on or off"], 0,
         extra=["ping 10.0.0.254", "respawn hacluster /usr/lib/heartbeat/ipfail"],
         overrides={"auto_failback": "legacy"}),
    Case("ipfail-on-no-ping", ["WARN: {d}/ha.cf:13: ipfail on: ha.cf has no `ping` or "
                               "`ping_group` line, so there is nothing to count: ipfail's "
                               "decision stays off"], 0, extra=["ipfail on"]),
    Case("respawn-dopd", ["ERROR: {d}/ha.cf:13: respawn hacluster /usr/lib/heartbeat/dopd: "
                          "dopd talks heartbeat's client API, which hbeat does not have, so "
                          "hbeat does not run it: DRBD peer outdating is built into hbeat "
                          "instead. Remove this line and set drbd.conf's fence-peer handler "
                          "to \"/usr/bin/hbeat outdate-peer\" (README, \"DRBD\"); until then "
                          "DRBD may promote a stale disk"], 1,
         extra=["respawn hacluster /usr/lib/heartbeat/dopd"]),
    Case("respawn-no-user", ["ERROR: {d}/ha.cf:13: respawn hbeat-no-such-user /bin/true: no "
                             "such user [hbeat-no-such-user]"], 1,
         extra=["respawn hbeat-no-such-user /bin/true"]),
    Case("respawn-not-executable", ["ERROR: {d}/ha.cf:13: respawn root /etc/passwd -x: "
                                    "Cannot exec /etc/passwd: not executable"], 1,
         extra=["respawn root /etc/passwd -x"]),
    Case("respawn-relative", ["ERROR: {d}/ha.cf:13: respawn: program [true] is not a full "
                              "path name"], 1, extra=["respawn root true"]),
    Case("failfast-without-watchdog", ["ERROR: {d}/ha.cf:13: failfast root /bin/true: "
                                       "heartbeat reboots this node when a failfast client "
                                       "dies; hbeat resets it through the watchdog, and ha.cf "
                                       "has no watchdog line: add one (README, \"Watchdog\") "
                                       "or make this a respawn line"], 1,
         extra=["failfast root /bin/true"]),
    Case("watchdog-missing", ["ERROR: {d}/ha.cf:13: watchdog device [/dev/hbeat-no-watchdog] "
                              "does not exist: load a watchdog driver (`modprobe softdog`, or "
                              "your board's driver) or remove the line; without it this node "
                              "cannot reset itself when hung"], 1,
         extra=["watchdog /dev/hbeat-no-watchdog"]),
    Case("auto-failback-bad", ["ERROR: {d}/ha.cf:9: auto_failback [maybe] is not on, off or "
                               "legacy",
                               "WARN: {d}/ha.cf: Deprecated 'legacy' auto_failback option "
                               "selected. Please convert to 'auto_failback on'."], 1,
         overrides={"auto_failback": "maybe"}),
    Case("boolean-bad", ["ERROR: {d}/ha.cf:13: realtime [enabled] is not a boolean "
                         "(true/on/yes/y/1 or false/off/no/n/0)"], 1,
         extra=["realtime enabled"]),
    Case("autojoin-any", ["ERROR: {d}/ha.cf:13: R1 style resource management conflicts with "
                          "autojoin set: haresources mode needs 'autojoin none'"], 1,
         extra=["autojoin any"]),
    Case("ucast6-unsupported", ["ERROR: {d}/ha.cf:13: ucast6: hbeat has no IPv6 media yet; "
                                "use ucast, mcast or bcast over IPv4"], 1,
         extra=["ucast6 lo fe80::1"]),
    Case("ocf-agent-missing", ["ERROR: {d}/haresources:1: resource [OCF::HbeatNoSuchAgent::x]: "
                               "OCF agent [HbeatNoSuchAgent] not found as an executable "
                               "/usr/lib/ocf/resource.d/*/HbeatNoSuchAgent"], 1,
         seed={"haresources": "weasel OCF::HbeatNoSuchAgent::x\n",
               "scripts": ("OCF",)}),
    Case("empty-resource-arg", ["ERROR: {d}/haresources:1: resource [Filesystem::/dev/sda1::] "
                                "has an empty argument (two '::' in a row, or '::' at the "
                                "end)"], 1,
         seed={"haresources": "weasel Filesystem::/dev/sda1::\n"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = {**BASE, **case.seed}
    overrides = {**BASE["overrides"], **case.overrides}
    options["overrides"] = overrides
    seed = write_seed(tmp_path / "ha.d", extra=case.extra, **options)
    if case.tweak is not None:
        case.tweak(seed.config_dir)
    status = main(["check", "--config-dir", str(seed.config_dir), "--node-name", "otter"])
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith(("ERROR:", "WARN:"))]
    ifaces = ", ".join(sorted(p.name for p in Path("/sys/class/net").iterdir()))
    group = grp.getgrgid(os.getegid()).gr_name  # the group owning files we create
    expected = [e.format(d=seed.config_dir, ifaces=ifaces, g=group) for e in case.expected]
    assert problems == expected
    assert status == case.status
    errors = sum(1 for e in expected if e.startswith("ERROR:"))
    warnings = len(expected) - errors
    plural = {1: ""}
    if status == 0:
        verdict = f"Configuration OK ({warnings} warning{plural.get(warnings, 's')})."
    else:
        verdict = (f"Configuration has {errors} error{plural.get(errors, 's')} and "
                   f"{warnings} warning{plural.get(warnings, 's')}.")
    assert out.rstrip().splitlines()[-1] == verdict


def test_corpus_size() -> None:
    assert len([c for c in CASES if c.status == 1]) >= 30
