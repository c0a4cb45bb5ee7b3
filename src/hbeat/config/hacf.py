"""The ha.cf parser: heartbeat 3.0.6's reading rules, as a pure function.

`parse_hacf(data, path)` takes the file's bytes and returns the parsed
`HaCf` (defaults applied) and the problems found. It does no I/O: whether
interfaces, devices and scripts exist is checked in `checks`.

Reading rules (docs/heartbeat-protocol.md §7):

* `#` starts a comment anywhere; a directive name ends at a blank or tab;
  its values are separated by blanks, tabs or commas, and a value-list
  directive takes each value in turn (`node a b`, `bcast eth0,eth1`).
* Whole-line directives (`ucast`, `mcast`, `ping_group`, `stonith`,
  `stonith_host`, `apiauth`, `respawn`, `failfast`) get the rest of the
  line and split it on blanks only, as heartbeat's plugins do.
* Order matters where it matters in heartbeat: the bcast plugin reads
  `udpport` when the first `bcast` line is read, the ucast plugin when the
  first `ucast` line is, and the serial plugin reads `baud` at the first
  `serial` line. A later `udpport`/`baud` is still recorded (it is what
  `cl_status hbparameter` shows) but does not reach those links: we model
  exactly that and say so in a WARN.
* A single-valued directive given twice: the last value wins (heartbeat
  simply overwrites), with a WARN naming the first line. heartbeat refuses
  a second `baud` ("Baudrate multiply specified."), a second `watchdog`
  and a second `crm`/`pacemaker`; so do we.
* Directives that only matter to a CRM get an ERROR (`crm`/`pacemaker` on)
  or a WARN saying hbeat ignores them and why. Unknown names are errors:
  `Illegal directive [name]`.
* `stonith TYPE FILE` and `stonith_host FROM TYPE PARAMS...` are recorded
  as `StonithDevice`s (heartbeat's syntax; FROM is lower-cased as heartbeat
  does). Whether the type, the file and the `stonith` command exist is
  checked in `checks` (docs/fencing.md). `boot_takeover fenced|initdead` is
  hbeat's own (not a heartbeat directive, not a `cl_status` parameter).
* hbeat's own directives, unknown to heartbeat and not recorded as
  parameters: `metrics ADDRESS:PORT|off` and `metrics_textfile PATH`
  (docs/metrics.md), `status_tcp ADDRESS:PORT curve SECRET CLIENTS|insecure`
  (docs/status-feed.md), `monitor INTERVAL [restarts N] [window TIME]|off`
  (resource monitoring, docs/resources.md "Monitoring").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hbeat.config.model import (
    BOOT_TAKEOVER,
    AutoFailback,
    Bcast,
    Client,
    HaCf,
    Level,
    Logging,
    Mcast,
    Medium,
    MonitorSpec,
    PingNode,
    Problem,
    Serial,
    StatusTcp,
    StonithDevice,
    Timers,
    Ucast,
)
from hbeat.config.textlines import split_lines
from hbeat.config.timeparse import TimeSyntaxError, format_ms, parse_msec

DEFAULT_UDPPORT = 694
DEFAULT_BAUD = 19200
DEFAULT_MAX_CLOCK_SKEW_MS = 60_000
MIN_CLOCK_SKEW_MS = 2000
MIN_MONITOR_INTERVAL_MS = 100
MAX_MONITOR_RESTARTS = 1000
DEFAULT_MONITOR_RESTARTS = 3
DEFAULT_MONITOR_WINDOW_MS = 600_000
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800)
TRUE_WORDS = ("true", "on", "yes", "y", "1")
FALSE_WORDS = ("false", "off", "no", "n", "0")
FACILITIES = frozenset(
    ["auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
     "syslog", "user", "uucp", "none"] + [f"local{i}" for i in range(8)]
)
LOG_NAMES = ("hbeat", "heartbeat")
"""`hbeat_logname` (hbeat's own directive): the program name in log lines and
syslog tags. `heartbeat` suits log monitors that match `heartbeat:`; heartbeat
3.0.6 itself refuses the directive (Illegal directive)."""
CRM_MODES = ("respawn", "minimal", "manual", "ccm-only", "valgrind")

# `heartbeat -D`: values recorded when ha.cf does not set the directive.
FIXED_DEFAULTS = (
    ("cluster", "linux-ha"), ("hopfudge", "1"), ("keepalive", "1000ms"),
    ("deadtime", "30000ms"), ("baud", "19200"), ("auto_failback", "legacy"),
    ("hbgenmethod", "file"), ("realtime", "true"), ("msgfmt", "classic"),
    ("conn_logd_time", "60"), ("log_badpack", "true"), ("syslogmsgfmt", "true"),
    ("coredumps", "true"), ("pacemaker", "false"), ("autojoin", "none"),
    ("uuidfrom", "file"), ("compression", "zlib"), ("compression_threshold", "2"),
    ("traditional_compression", "no"), ("max_rexmit_delay", "250"),
    ("record_config_changes", "on"), ("record_pengine_inputs", "on"),
    ("enable_config_writes", "on"), ("memreserve", "6500"),
)

# Directives heartbeat accepts whose value hbeat does not use, and why.
IGNORED = {
    "conn_logd_time": "hbeat has no ha_logd client",
    "use_apphbd": "hbeat does not register with apphbd",
    "compression": "hbeat never compresses messages",
    "compression_threshold": "hbeat never compresses messages",
    "traditional_compression": "hbeat never compresses messages",
    "memreserve": "hbeat does not preallocate a heap",
    "coredumps": "core dumps are left to the system (ulimit, systemd)",
    "coreroot": "core dumps are left to the system (ulimit, systemd)",
    "quorum_server": "quorumd is only used with a CRM; hbeat runs haresources mode only",
    "crm_daemon_dir": "a Pacemaker-only directive; hbeat runs haresources mode only",
    "crmd_spawns_pengine": "a Pacemaker-only directive; hbeat runs haresources mode only",
    "record_config_changes": "a Pacemaker-only directive; hbeat runs haresources mode only",
    "record_pengine_inputs": "a Pacemaker-only directive; hbeat runs haresources mode only",
    "enable_config_writes": "a Pacemaker-only directive; hbeat runs haresources mode only",
    "apiauth": "hbeat has no heartbeat API clients to authorise",
}

# Value-list directives: several values on one line are several settings.
LIST_DIRECTIVES = frozenset(
    ["node", "bcast", "serial", "ping", "ping6", "hbaping", "env"]
)
# Whole-line directives: the rest of the line, split on blanks only.
WHOLE_LINE = frozenset(
    ["ucast", "ucast6", "mcast", "mcast6", "ping_group", "stonith", "stonith_host",
     "apiauth", "respawn", "failfast", "status_tcp", "monitor"]
)
# Directives whose value heartbeat does not record as a parameter.
# Not parameters in heartbeat either (`cl_status hbparameter -p bcast` fails on
# a real 3.0.6 node): node lists, media lines and a few handled elsewhere.
NOT_RECORDED = frozenset(["node", "nice_failback", "use_apphbd", "env", "boot_takeover",
                          "bcast", "ucast", "mcast", "serial", "udp",
                          "metrics", "metrics_textfile", "ipfail"])
# heartbeat has IPv6 media plugins; hbeat does not (yet) speak them.
UNSUPPORTED_MEDIA = ("ucast6", "mcast6")

_WS = re.compile(r"[ \t\f\v]+")
_DELIMS = re.compile(r"[ \t\f\v,]+")
_INT = re.compile(r"[0-9]+")


def parse_bool(text: str) -> bool | None:
    """heartbeat's boolean words, case-insensitive; None if `text` is not one."""
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_hacf(data: bytes, path: str) -> tuple[HaCf | None, list[Problem]]:
    """Parse ha.cf. Returns (None, problems) when the file holds no directive."""
    lines, problems = split_lines(data, path)
    parser = _Parser(path, problems)
    for line in lines:
        parser.feed(line.number, line.text)
    if not parser.any_directive:
        problems.append(Problem(path, None, Level.ERROR,
                                "no directives: the file is empty (or only comments)"))
        return None, problems
    return parser.finish(), problems


@dataclass
class _Parser:
    path: str
    problems: list[Problem]
    any_directive: bool = False
    params: dict[str, str] = field(default_factory=dict)
    first_line: dict[str, int] = field(default_factory=dict)
    nodes: list[tuple[str, int]] = field(default_factory=list)
    media: list[Medium] = field(default_factory=list)
    plugin_port: dict[str, tuple[int, int]] = field(default_factory=dict)
    serial_baud: tuple[int, int] | None = None
    timers: dict[str, tuple[int, int]] = field(default_factory=dict)
    auto_failback: AutoFailback = AutoFailback.LEGACY
    auto_failback_line: int | None = None
    auto_failback_set: bool = False
    pacemaker_line: int | None = None
    watchdog: tuple[str, int] | None = None
    metrics_listen: tuple[str, int] | None = None
    metrics_textfile: str | None = None
    status_tcp: StatusTcp | None = None
    monitor: MonitorSpec | None = None
    monitor_line: int | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    ping_nodes: list[PingNode] = field(default_factory=list)
    stonith: list[StonithDevice] = field(default_factory=list)
    boot_takeover: str = "fenced"
    clients: list[Client] = field(default_factory=list)
    ints: dict[str, int] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    directive: str = ""

    # ------------------------------------------------------------ reporting
    def error(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.path, line, Level.ERROR, message))

    def warn(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.path, line, Level.WARN, message))

    # ------------------------------------------------------------ lines
    def feed(self, number: int, text: str) -> None:
        text = text.lstrip(" \t\f\v")
        if not text.strip():
            return
        self.any_directive = True
        directive, rest = _split_directive(text)
        if directive == "udp":
            self.warn(number, "directive 'udp' replaced by 'bcast'")
            directive = "bcast"
        if directive not in _HANDLERS and directive not in WHOLE_LINE:
            self.error(number, f"Illegal directive [{directive}]")
            return
        if directive in WHOLE_LINE:
            self.whole_line(directive, _WS.split(rest.strip(" \t\f\v,")), number)
            return
        values = [v for v in _DELIMS.split(rest) if v]
        if not values:
            self.warn(number, f"{directive} has no value; line ignored, as in heartbeat")
            return
        if directive not in LIST_DIRECTIVES:
            if directive in self.first_line and directive not in ("baud", "watchdog",
                                                                  "crm", "pacemaker"):
                self.warn(number, f"{directive} given again (first at line "
                                  f"{self.first_line[directive]}); the last value wins, "
                                  "as in heartbeat")
            if len(values) > 1:
                self.warn(number, f"{directive} takes one value; heartbeat applies each "
                                  f"in turn, so the last one [{values[-1]}] wins")
        self.first_line.setdefault(directive, number)
        for value in values:
            if _HANDLERS[directive](self, value, number):
                self.lines[directive] = number
                if directive not in NOT_RECORDED:
                    self.params[directive] = value
        if directive in IGNORED:
            self.warn(number, f"{directive}: ignored: {IGNORED[directive]}")

    def whole_line(self, directive: str, words: list[str], number: int) -> None:
        words = [w for w in words if w]
        if directive in UNSUPPORTED_MEDIA:
            self.error(number, f"{directive}: hbeat has no IPv6 media yet; use ucast, "
                               "mcast or bcast over IPv4")
        elif directive == "ucast":
            self.ucast(words, number)
        elif directive == "mcast":
            self.mcast(words, number)
        elif directive == "status_tcp":
            self.status_tcp_(words, number)
        elif directive == "monitor":
            self.monitor_(words, number)
        elif directive == "ping_group":
            if len(words) < 2:
                self.error(number, "ping_group needs a group name and at least one address")
                return
            self.add_ping_node(PingNode("ping_group", words[0], tuple(words[1:]), number))
        elif directive == "stonith":
            if not words:
                self.error(number, "No Stonith type given")
                return
            if len(words) != 2:
                self.error(number, f"stonith takes a type and a configuration file "
                                   f"(stonith <type> <file>), got {len(words)} word(s)")
                return
            self.stonith.append(StonithDevice("stonith", "*", words[0], (), words[1], number))
        elif directive == "stonith_host":
            if not words:
                self.error(number, "No Stonith hostname argument given")
                return
            if len(words) < 2:
                self.error(number, "No Stonith type given")
                return
            self.stonith.append(StonithDevice("stonith_host", words[0].lower(), words[1],
                                              tuple(words[2:]), None, number))
        elif directive in ("respawn", "failfast"):
            if len(words) < 2:
                self.error(number, f"{directive} needs a user and a program: "
                                   f"{directive} <user> <program> [arguments]")
                return
            if not words[1].startswith("/"):
                self.error(number, f"{directive}: program [{words[1]}] is not a full path "
                                   "name")
                return
            self.clients.append(Client(directive, words[0], " ".join(words[1:]), number))
        else:
            self.warn(number, f"{directive}: ignored: {IGNORED[directive]}")

    def status_tcp_(self, words: list[str], number: int) -> None:
        """`status_tcp ADDR:PORT curve SECRET-FILE CLIENTS-DIR` or `... insecure`."""
        usage = ("status_tcp takes ADDRESS:PORT then `curve SERVER-SECRET-FILE "
                 "CLIENT-KEYS-DIR` (or, knowingly, `insecure`)")
        if self.status_tcp is not None:
            self.error(number, f"status_tcp given twice (first at line {self.status_tcp.line})")
            return
        if not words:
            self.error(number, usage)
            return
        host, colon, port_text = words[0].rpartition(":")
        host = host.strip("[]")
        port = _int(port_text)
        if not colon or port is None or not 1 <= port <= 65535:
            self.error(number, f"status_tcp [{words[0]}] is not ADDRESS:PORT; {usage}")
            return
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            self.error(number, f"status_tcp: [{host}] is not an IP address")
            return
        rest = words[1:]
        if rest[:1] == ["curve"] and len(rest) == 3:
            if not rest[1].startswith("/") or not rest[2].startswith("/"):
                self.error(number, "status_tcp curve: the secret key file and the client "
                                   "keys directory must be absolute paths")
                return
            self.status_tcp = StatusTcp(str(address), port, rest[1], rest[2], number)
            return
        if rest == ["insecure"]:
            if address.is_loopback:
                self.warn(number, f"status_tcp {words[0]} insecure: any local user can "
                                  "read the status feed (the ipc socket is for root and "
                                  "haclient only); prefer curve")
            else:
                self.warn(number, f"status_tcp {words[0]} insecure: the status feed goes "
                                  f"out unauthenticated and unencrypted to anyone who can "
                                  f"reach {address}; use curve")
            self.status_tcp = StatusTcp(str(address), port, None, None, number)
            return
        if not rest:
            self.error(number, f"status_tcp {words[0]} without authentication: add `curve "
                               "SERVER-SECRET-FILE CLIENT-KEYS-DIR`, or write `insecure` "
                               "to serve the feed to anyone who can connect")
            return
        self.error(number, f"status_tcp: [{' '.join(rest)}] not understood; {usage}")

    def monitor_(self, words: list[str], number: int) -> None:
        """`monitor INTERVAL [restarts N] [window TIME]` or `monitor off` (hbeat only)."""
        usage = ("monitor takes an interval, then optionally `restarts N` and `window TIME` "
                 "(e.g. monitor 10 restarts 3 window 600), or off")
        if self.monitor_line is not None:
            self.error(number, f"monitor given twice (first at line {self.monitor_line})")
            return
        self.monitor_line = number
        if not words:
            self.error(number, usage)
            return
        if words == ["off"] or (len(words) == 1 and parse_bool(words[0]) is False):
            self.monitor = None
            return
        try:
            interval = parse_msec(words[0])
        except TimeSyntaxError as exc:
            self.error(number, f"monitor interval: {exc}")
            return
        if interval < MIN_MONITOR_INTERVAL_MS:
            self.error(number, f"monitor interval [{words[0]}] must be at least "
                               f"{MIN_MONITOR_INTERVAL_MS} ms")
            return
        restarts, window = DEFAULT_MONITOR_RESTARTS, DEFAULT_MONITOR_WINDOW_MS
        rest = words[1:]
        seen: set[str] = set()
        while rest:
            if len(rest) < 2 or rest[0] not in ("restarts", "window") or rest[0] in seen:
                self.error(number, f"monitor: [{' '.join(rest)}] not understood; {usage}")
                return
            name, value, rest = rest[0], rest[1], rest[2:]
            seen.add(name)
            if name == "restarts":
                n = _int(value)
                if n is None or n > MAX_MONITOR_RESTARTS:
                    self.error(number, f"monitor restarts [{value}] must be a whole number "
                                       f"from 0 to {MAX_MONITOR_RESTARTS}")
                    return
                restarts = n
            else:
                try:
                    window = parse_msec(value)
                except TimeSyntaxError as exc:
                    self.error(number, f"monitor window: {exc}")
                    return
        if window < interval:
            self.error(number, f"monitor window [{format_ms(window)}] is shorter than the "
                               f"interval [{format_ms(interval)}]: no two failures could "
                               "ever count together")
            return
        self.monitor = MonitorSpec(interval, restarts, window, number)

    # ------------------------------------------------------------ media
    def port_for(self, plugin: str, number: int) -> int:
        """The plugin reads udpport once, when its first line is read."""
        if plugin not in self.plugin_port:
            raw = self.params.get("udpport")
            self.plugin_port[plugin] = (int(raw) if raw else DEFAULT_UDPPORT, number)
        return self.plugin_port[plugin][0]

    def ucast(self, words: list[str], number: int) -> None:
        if not words:
            self.warn(number, "ucast with no interface; line ignored, as in heartbeat")
            return
        dev = words[0]
        if len(words) < 2:
            self.error(number, f"ucast: [{dev}] missing target IP address/hostname")
            return
        peer = words[1]
        if not _is_ipv4(peer):
            self.error(number, f"ucast [{dev}]: [{peer}] is not an IPv4 address (hbeat "
                               "does not look host names up; write the address)")
            return
        if len(words) > 2:
            self.warn(number, f"ucast takes one peer address per line; "
                              f"[{' '.join(words[2:])}] is ignored, as in heartbeat; "
                              "write one ucast line per peer")
        self.media.append(Ucast(dev, peer, self.port_for("ucast", number), number))

    def mcast(self, words: list[str], number: int) -> None:
        if not words:
            self.warn(number, "mcast with no interface; line ignored, as in heartbeat")
            return
        dev = words[0]
        names = ("mcast address", "port", "ttl", "loop")
        for index, name in enumerate(names, start=1):
            if len(words) <= index:
                self.error(number, f"mcast [{dev}] missing {name} (mcast takes: "
                                   "interface group port ttl loop)")
                return
        group, port_s, ttl_s, loop_s = words[1:5]
        if not _is_ipv4(group) or not ipaddress.IPv4Address(group).is_multicast:
            self.error(number, f"mcast [{dev}] bad addr [{group}]: not an IPv4 multicast "
                               "address (224.0.0.0 to 239.255.255.255)")
            return
        port = _int(port_s)
        if port is None or not 1 <= port <= 65535:
            self.error(number, f"mcast [{dev}] bad port [{port_s}]: a UDP port is 1..65535")
            return
        ttl = _int(ttl_s)
        if ttl is None or ttl > 4:
            self.error(number, f"mcast [{dev}] bad ttl [{ttl_s}]: ttl must be 0..4")
            return
        loop = _int(loop_s)
        if loop is None or loop > 1:
            self.error(number, f"mcast [{dev}] bad loop [{loop_s}]: loop must be 0 or 1")
            return
        if len(words) > 5:
            self.warn(number, f"mcast: [{' '.join(words[5:])}] after the loop value is "
                              "ignored, as in heartbeat")
        self.media.append(Mcast(dev, group, port, ttl, loop, number))

    def bcast(self, value: str, number: int) -> bool:
        self.media.append(Bcast(value, self.port_for("bcast", number), number))
        return True

    def serial(self, value: str, number: int) -> bool:
        if not value.startswith("/"):
            self.error(number, f"Serial port not full pathname [{value}]")
            return False
        if self.serial_baud is None:
            raw = self.params.get("baud")
            self.serial_baud = (int(raw) if raw else DEFAULT_BAUD, number)
        self.media.append(Serial(value, self.serial_baud[0], number))
        return True

    def udpport(self, value: str, number: int) -> bool:
        port = _int(value)
        if port is None or not 1 <= port <= 65535:
            self.error(number, f"invalid port [{value}] specified: a UDP port is 1..65535")
            return False
        for plugin, (used, first) in sorted(self.plugin_port.items()):
            self.warn(number, f"udpport setting must precede media statements: the "
                              f"{plugin} links (first at line {first}) were set up with "
                              f"port {used}, as in heartbeat; move udpport above them")
        return True

    def baud(self, value: str, number: int) -> bool:
        if "baud" in self.params or self.first_line.get("baud", number) != number:
            self.error(number, f"Baudrate multiply specified (first at line "
                               f"{self.first_line['baud']})")
            return False
        rate = _int(value)
        if rate not in BAUD_RATES:
            self.error(number, f"invalid baudrate [{value}] specified: heartbeat accepts "
                               + ", ".join(str(b) for b in BAUD_RATES))
            return False
        if self.serial_baud is not None:
            used, first = self.serial_baud
            self.warn(number, f"baudrate setting must precede media statements: the serial "
                              f"links (first at line {first}) keep {used} baud, as in "
                              "heartbeat; move baud above them")
        return True

    def ping(self, value: str, number: int) -> bool:
        directive = self.directive
        if directive != "ping":
            self.warn(number, f"{directive} node [{value}]: ignored: hbeat pings IPv4 hosts "
                              "only (`ping` and `ping_group` lines); it is not a member")
            return True
        return self.add_ping_node(PingNode(directive, value, (value,), number))

    def add_ping_node(self, node: PingNode) -> bool:
        for other in self.ping_nodes:
            if other.name.lower() == node.name.lower():
                self.error(node.line, f"{node.kind} {node.name}: a ping node of that name "
                                      f"is already given at line {other.line}")
                return False
        self.ping_nodes.append(node)
        return True

    # ------------------------------------------------------------ nodes, modes
    def node(self, value: str, number: int) -> bool:
        name = value.lower()
        for known, line in self.nodes:
            if known == name:
                self.warn(number, f"node {name} already declared at line {line}; "
                                  "the repeat is ignored")
                return False
        self.nodes.append((name, number))
        return True

    def auto_failback_(self, value: str, number: int) -> bool:
        flag = parse_bool(value)
        if flag is None and value.lower() != "legacy":
            self.error(number, f"auto_failback [{value}] is not on, off or legacy")
            return False
        if flag is None:
            self.auto_failback = AutoFailback.LEGACY
        else:
            self.auto_failback = AutoFailback.ON if flag else AutoFailback.OFF
        self.auto_failback_line = number
        self.auto_failback_set = True
        return True

    def nice_failback(self, value: str, number: int) -> bool:
        if parse_bool(value) is None:
            self.error(number, f"nice_failback [{value}] is not a boolean "
                               "(true/on/yes/y/1 or false/off/no/n/0)")
            return False
        # heartbeat 3.0.6 tests the mode already in force, not the value given
        # (config.c set_nice_failback): after auto_failback on/off it means
        # "off", otherwise "legacy" -- whatever the value. Peers running 3.0.6
        # read the same file that way, so the protocol must match theirs.
        if self.auto_failback.nice_failback:
            mapped = AutoFailback.OFF
            how = f"'nice_failback {value}' has been changed to 'auto_failback off'"
        else:
            mapped = AutoFailback.LEGACY
            how = (f"nice_failback {value} has been strictly interpreted as "
                   "'auto_failback legacy' (as heartbeat 3.0.6 does)")
        self.auto_failback = mapped
        self.auto_failback_line = number
        self.auto_failback_set = True
        self.params["auto_failback"] = mapped.value
        self.warn(number, "nice_failback flag is obsolete. Use auto_failback {on, off, "
                          f"legacy}} instead: {how}")
        return True

    def pacemaker(self, value: str, number: int) -> bool:
        directive = self.directive
        if self.pacemaker_line is not None:
            self.error(number, f"pacemaker/crm directive used multiple times! (first at "
                               f"line {self.pacemaker_line})")
            return False
        self.pacemaker_line = number
        flag = parse_bool(value)
        if flag is False:
            # Recorded under the name used: a real 3.0.6 with `crm off` answers
            # `hbparameter -p crm` with `off`.
            self.params[directive] = value
            return True
        if flag is None and value.lower() not in CRM_MODES:
            self.error(number, f"{directive} [{value}] is not a boolean or a Pacemaker mode")
            return False
        self.error(number, f"{directive} [{value}]: hbeat runs haresources mode only and "
                           "cannot hand resources to Pacemaker/CRM; remove the line or set "
                           f"it to '{directive} off'")
        return False

    def autojoin(self, value: str, number: int) -> bool:
        word = value.lower()
        if word not in ("none", "other", "any"):
            self.error(number, f"Invalid autojoin directive [{value}]")
            return False
        if word != "none":
            self.error(number, "R1 style resource management conflicts with autojoin set: "
                               "haresources mode needs 'autojoin none'")
            return False
        return True

    # ------------------------------------------------------------ timers
    def timer(self, value: str, number: int) -> bool:
        directive = self.directive
        try:
            ms = parse_msec(value)
        except TimeSyntaxError as exc:
            self.error(number, f"{directive}: {exc}")
            return False
        if directive == "keepalive" and ms <= 0:
            self.error(number, f"keepalive [{value}] must be more than 0 ms")
            return False
        if directive == "warntime" and ms <= 0:
            self.error(number, f"Warn time [{value}] is invalid: it must be more than 0 ms")
            return False
        if directive == "conn_logd_time" and ms <= 0:
            self.error(number, f"conn_logd_time [{value}] must be more than 0 ms")
            return False
        self.timers[directive] = (ms, number)
        return True

    def clock_skew(self, value: str, number: int) -> bool:
        """hbeat only: how far a peer's `ts` may be from our clock (docs/security.md)."""
        try:
            ms = parse_msec(value)
        except TimeSyntaxError as exc:
            self.error(number, f"max_clock_skew: {exc}")
            return False
        if ms < MIN_CLOCK_SKEW_MS:
            self.error(number, f"max_clock_skew [{value}] must be at least "
                               f"{MIN_CLOCK_SKEW_MS // 1000} seconds: ts has one-second resolution "
                               "and keepalives take time to arrive")
            return False
        self.timers["max_clock_skew"] = (ms, number)
        return True

    # ------------------------------------------------------------ plain values
    def boolean(self, value: str, number: int) -> bool:
        flag = parse_bool(value)
        if flag is None:
            self.error(number, f"{self.directive} [{value}] is not a boolean "
                               "(true/on/yes/y/1 or false/off/no/n/0)")
            return False
        self.bools[self.directive] = flag
        return True

    def integer(self, value: str, number: int) -> bool:
        low, high, message = _INT_RANGES[self.directive]
        n = _int(value)
        if n is None or not low <= n <= high:
            self.error(number, message.format(value=value))
            return False
        self.ints[self.directive] = n
        return True

    def word(self, value: str, number: int) -> bool:
        allowed, message = _WORDS[self.directive]
        if allowed and value not in allowed:
            self.error(number, message.format(value=value))
            return False
        self.words[self.directive] = value
        return True

    def facility(self, value: str, number: int) -> bool:
        if value.lower() not in FACILITIES:
            self.error(number, f"Log facility({value}) not valid: use none, daemon, "
                               "local0..local7, user, ...")
            return False
        self.words["logfacility"] = value.lower()
        return True

    def watchdog_(self, value: str, number: int) -> bool:
        if self.watchdog is not None:
            self.error(number, f"Watchdog device multiply specified (first at line "
                               f"{self.watchdog[1]})")
            return False
        if not value.startswith("/"):
            self.error(number, f"watchdog device [{value}] is not a full path name")
            return False
        self.watchdog = (value, number)
        return True

    def metrics_(self, value: str, number: int) -> bool:
        """`metrics ADDR:PORT` or `metrics off` (hbeat only; docs/metrics.md)."""
        if value.lower() in FALSE_WORDS:
            self.metrics_listen = None
            return True
        host, colon, port_text = value.rpartition(":")
        host = host.strip("[]")
        port = _int(port_text)
        if not colon or port is None or not 1 <= port <= 65535:
            self.error(number, f"metrics [{value}] must be ADDRESS:PORT (e.g. "
                               "127.0.0.1:9712) or off")
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            self.error(number, f"metrics [{value}]: [{host}] is not an IP address")
            return False
        if not address.is_loopback:
            self.warn(number, f"metrics {value}: served without authentication to "
                              f"anyone who can reach {host}; bind 127.0.0.1 and let a "
                              "local Prometheus agent or a proxy expose it")
        self.metrics_listen = (str(address), port)
        return True

    def metrics_textfile_(self, value: str, number: int) -> bool:
        """`metrics_textfile PATH`: node_exporter's textfile collector (hbeat only)."""
        if not value.startswith("/") or not value.endswith(".prom"):
            self.error(number, f"metrics_textfile [{value}] must be an absolute path ending "
                               "in .prom (node_exporter's textfile collector reads only "
                               "those)")
            return False
        self.metrics_textfile = value
        return True

    def boot_takeover_(self, value: str, number: int) -> bool:
        if value not in BOOT_TAKEOVER:
            self.error(number, f"boot_takeover [{value}] must be one of "
                               f"{', '.join(BOOT_TAKEOVER)} (docs/fencing.md)")
            return False
        self.boot_takeover = value
        return True

    def env_(self, value: str, number: int) -> bool:
        name, eq, content = value.partition("=")
        if not eq or not name:
            self.error(number, f"env [{value}] is not NAME=value")
            return False
        self.env.append((f"HA_{name}", content))
        return True

    # ------------------------------------------------------------ defaults
    def finish(self) -> HaCf:
        params = dict(self.params)
        defaulted: set[str] = set()
        keepalive = self._timer("keepalive", 1000, defaulted)
        deadtime = self._timer("deadtime", 30000, defaulted)
        if "warntime" in self.timers:
            warntime = self.timers["warntime"][0]
        else:
            warntime = deadtime // 2
            params["warntime"] = format_ms(warntime)
            defaulted.add("warntime")
        if "initdead" in self.timers:
            initdead = self.timers["initdead"][0]
        else:
            if deadtime > 10000:
                initdead = deadtime
            elif deadtime < 6000:
                initdead = 12000
            else:
                initdead = 2 * deadtime
            params["initdead"] = format_ms(initdead)
            defaulted.add("initdead")
        if "deadping" in self.timers:
            deadping = self.timers["deadping"][0]
        else:
            deadping = deadtime
            params["deadping"] = format_ms(deadping)
            defaulted.add("deadping")
        for name, value in FIXED_DEFAULTS:
            params.setdefault(name, value)
        params.setdefault("udpport", str(DEFAULT_UDPPORT))
        params.setdefault("debug", "0")
        facility = self.words.get("logfacility")
        has_log = bool(params.get("logfile") or params.get("debugfile") or
                       (facility and facility != "none"))
        use_logd = self.bools.get("use_logd")
        if use_logd is None and not has_log:
            use_logd = True
            params["use_logd"] = "yes"
        if facility and facility != "none":
            params.setdefault("logfile", "/dev/null")
            params.setdefault("debugfile", "/dev/null")
        serial_baud = self.serial_baud[0] if self.serial_baud else None
        baud = serial_baud or int(self.params.get("baud", DEFAULT_BAUD))
        logging = Logging(
            logfile=self.params.get("logfile"),
            debugfile=self.params.get("debugfile"),
            logfacility=facility,
            use_logd=bool(use_logd),
            syslogmsgfmt=self.bools.get("syslogmsgfmt", True),
            debug=self.ints.get("debug", 0),
            program=self.words.get("hbeat_logname", "hbeat"),
        )
        return HaCf(
            path=self.path,
            nodes=tuple(n for n, _ in self.nodes),
            node_lines=tuple(line for _, line in self.nodes),
            media=tuple(self.media),
            timers=Timers(keepalive, deadtime, warntime, initdead, deadping,
                          frozenset(defaulted)),
            udpport=int(params["udpport"]),
            baud=baud,
            auto_failback=self.auto_failback,
            logging=logging,
            realtime=self.bools.get("realtime", True),
            rtprio=self.ints.get("rtprio"),
            hopfudge=self.ints.get("hopfudge", 1),
            cluster=self.params.get("cluster", "linux-ha"),
            msgfmt=self.words.get("msgfmt", "classic"),
            hbgenmethod=self.words.get("hbgenmethod", "file"),
            max_rexmit_delay_ms=self.ints.get("max_rexmit_delay", 250),
            log_badpack=self.bools.get("log_badpack", True),
            allow_crc=self.bools.get("allow_crc", False),
            max_clock_skew_ms=self.timers.get("max_clock_skew",
                                              (DEFAULT_MAX_CLOCK_SKEW_MS, 0))[0],
            uuidfrom=self.words.get("uuidfrom", "file"),
            env=tuple(self.env),
            ping_nodes=tuple(self.ping_nodes),
            ipfail=self.bools.get("ipfail"),
            stonith=tuple(self.stonith),
            boot_takeover=self.boot_takeover,
            monitor=self.monitor,
            watchdog=self.watchdog[0] if self.watchdog else None,
            clients=tuple(self.clients),
            metrics_listen=self.metrics_listen,
            metrics_textfile=self.metrics_textfile,
            status_tcp=self.status_tcp,
            parameters=tuple(params.items()),
            lines=tuple(self.lines.items()),
        )

    def _timer(self, name: str, default: int, defaulted: set[str]) -> int:
        if name in self.timers:
            return self.timers[name][0]
        defaulted.add(name)
        return default


def _split_directive(text: str) -> tuple[str, str]:
    parts = _WS.split(text, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _int(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text) else None


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_INT_RANGES: dict[str, tuple[int, int, str]] = {
    "rtprio": (1, 99, "Illegal realtime priority [{value}]: must be 1..99"),
    "debug": (0, 255, "debug level [{value}] must be 0..255"),
    "hopfudge": (0, 255, "hopfudge [{value}] must be 0..255"),
    "max_rexmit_delay": (1, 2**31 - 1, "Invalid max_rexmit_delay time({value}): "
                                       "a number of milliseconds, more than 0"),
    "memreserve": (1, 2**31 - 1, "memreserve [{value}] must be a number of kilobytes, "
                                 "more than 0"),
    "compression_threshold": (1, 2**31 - 1, "compress_threshhold({value}) invalid: "
                                            "a number of kilobytes, more than 0"),
}

_WORDS: dict[str, tuple[tuple[str, ...], str]] = {
    "hbgenmethod": (("file", "time"), "Illegal hb generation method [{value}]: "
                                      "must be file or time"),
    "msgfmt": (("classic", "netstring"), "msgfmt [{value}] must be classic or netstring"),
    "uuidfrom": (("file", "nodename"), "Invalid uuidfrom directive [{value}]: "
                                       "must be file or nodename"),
    "cluster": ((), ""),
    "logfile": ((), ""),
    "debugfile": ((), ""),
    "compression": ((), ""),
    "coreroot": ((), ""),
    "quorum_server": ((), ""),
    "crm_daemon_dir": ((), ""),
    "hbeat_logname": (LOG_NAMES, "hbeat_logname [{value}] must be hbeat or heartbeat "
                                 "(the program name log lines carry)"),
}

_Handler = Callable[[_Parser, str, int], bool]


def _bind(method: Callable[[_Parser, str, int], bool], name: str) -> _Handler:
    def handler(parser: _Parser, value: str, number: int) -> bool:
        parser.directive = name
        return method(parser, value, number)
    return handler


_TABLE: dict[str, Callable[[_Parser, str, int], bool]] = {
    "node": _Parser.node,
    "keepalive": _Parser.timer, "deadtime": _Parser.timer, "warntime": _Parser.timer,
    "initdead": _Parser.timer, "deadping": _Parser.timer, "conn_logd_time": _Parser.timer,
    "udpport": _Parser.udpport, "baud": _Parser.baud,
    "bcast": _Parser.bcast, "serial": _Parser.serial,
    "ping": _Parser.ping, "ping6": _Parser.ping, "hbaping": _Parser.ping,
    "auto_failback": _Parser.auto_failback_, "nice_failback": _Parser.nice_failback,
    "crm": _Parser.pacemaker, "pacemaker": _Parser.pacemaker,
    "autojoin": _Parser.autojoin,
    "logfacility": _Parser.facility,
    "watchdog": _Parser.watchdog_, "env": _Parser.env_,
    "metrics": _Parser.metrics_, "metrics_textfile": _Parser.metrics_textfile_,
    "boot_takeover": _Parser.boot_takeover_,
    "realtime": _Parser.boolean, "use_logd": _Parser.boolean, "use_apphbd": _Parser.boolean,
    "log_badpack": _Parser.boolean, "syslogmsgfmt": _Parser.boolean,
    "allow_crc": _Parser.boolean, "ipfail": _Parser.boolean,
    "max_clock_skew": _Parser.clock_skew,
    "coredumps": _Parser.boolean, "traditional_compression": _Parser.boolean,
    "crmd_spawns_pengine": _Parser.boolean, "record_config_changes": _Parser.boolean,
    "record_pengine_inputs": _Parser.boolean, "enable_config_writes": _Parser.boolean,
    **{name: _Parser.integer for name in _INT_RANGES},
    **{name: _Parser.word for name in _WORDS},
}
_HANDLERS: dict[str, _Handler] = {name: _bind(fn, name) for name, fn in _TABLE.items()}

KNOWN_DIRECTIVES = frozenset(_HANDLERS) | WHOLE_LINE | {"udp"}
