"""The immutable parsed configuration: what ha.cf, haresources and authkeys say.

Everything here is a frozen dataclass or a tuple, so the one `ClusterConfig`
object built by `load.load_config` can be handed to the supervisor and the
workers without anyone changing it. Problems found while reading carry the
file, line and level so every consumer prints them the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from linklayer.message import Keyring


class Level(enum.Enum):
    """Severity of a configuration problem; ERROR makes the configuration unusable."""

    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding, printed as `file:line: message` (`file: message` when no line applies)."""

    path: str
    line: int | None
    level: Level
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"

    def render(self) -> str:
        """The line `hbeat check` prints: level first, like heartbeat's log lines."""
        return f"{self.level.value}: {self}"


class AutoFailback(enum.Enum):
    """heartbeat's three resource modes (docs/heartbeat-protocol.md §5.1)."""

    ON = "on"
    OFF = "off"
    LEGACY = "legacy"

    @property
    def nice_failback(self) -> bool:
        """True for on/off: the start-up negotiation and standby protocol are used."""
        return self is not AutoFailback.LEGACY


@dataclass(frozen=True, slots=True)
class Bcast:
    """`bcast IFACE`: UDP broadcast on an interface."""

    interface: str
    port: int
    line: int

    kind = "bcast"

    @property
    def name(self) -> str:
        """The link name heartbeat shows (`Link node:eth1 up.`)."""
        return self.interface


@dataclass(frozen=True, slots=True)
class Ucast:
    """`ucast IFACE PEER-IP`: UDP unicast to one address out of one interface."""

    interface: str
    peer: str
    port: int
    line: int

    kind = "ucast"

    @property
    def name(self) -> str:
        return self.interface


@dataclass(frozen=True, slots=True)
class Mcast:
    """`mcast IFACE GROUP PORT TTL LOOP`: UDP multicast."""

    interface: str
    group: str
    port: int
    ttl: int
    loop: int
    line: int

    kind = "mcast"

    @property
    def name(self) -> str:
        return self.interface


@dataclass(frozen=True, slots=True)
class Serial:
    """`serial /dev/ttyS0`: a null-modem line at `baud` bits per second."""

    device: str
    baud: int
    line: int

    kind = "serial"

    @property
    def name(self) -> str:
        return self.device


Medium = Bcast | Ucast | Mcast | Serial


@dataclass(frozen=True, slots=True)
class Timers:
    """Effective timers in milliseconds; `defaulted` names those ha.cf did not set."""

    keepalive_ms: int
    deadtime_ms: int
    warntime_ms: int
    initdead_ms: int
    deadping_ms: int
    defaulted: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Logging:
    """Where log lines go. `syslog_facility` is the effective facility or None."""

    logfile: str | None = None
    debugfile: str | None = None
    logfacility: str | None = None
    use_logd: bool = False
    syslogmsgfmt: bool = True
    debug: int = 0
    program: str = "hbeat"
    """The name log lines carry (`hbeat_logname`): `hbeat`, or `heartbeat` for log monitors."""

    @property
    def syslog_facility(self) -> str | None:
        if self.logfacility is None or self.logfacility == "none":
            return None
        return self.logfacility


@dataclass(frozen=True, slots=True)
class PingNode:
    """A `ping HOST` (named by its address) or `ping_group NAME HOST...`
    pseudo-node: pinged by the ping worker, shown by cl_status, counted by ipfail."""

    kind: str
    name: str
    addresses: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Client:
    """A `respawn` (or `failfast`) line: a program heartbeat runs as `user` and
    restarts when it exits (failfast: the node is also reset when it dies)."""

    kind: str
    user: str
    command: str
    """The rest of the line, run as `/bin/sh -c "exec <command>"`, as heartbeat does."""
    line: int

    @property
    def program(self) -> str:
        return self.command.split()[0]

    @property
    def is_ipfail(self) -> bool:
        """heartbeat's ipfail, which hbeat never runs (it decides itself)."""
        return self.program.rsplit("/", 1)[-1] == "ipfail"


@dataclass(frozen=True, slots=True)
class StatusTcp:
    """`status_tcp ADDR:PORT curve SECRET CLIENTS` or `... insecure` (hbeat only):
    the status feed offered over TCP as well (docs/status-feed.md)."""

    address: str
    port: int
    secret_file: str | None
    """The server's certificate with its secret key (zmq.auth format); None: no CURVE."""
    clients_dir: str | None
    """Directory of the public certificates (`*.key`) of the clients allowed in."""
    line: int

    @property
    def curve(self) -> bool:
        return self.secret_file is not None

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class HaCf:
    """Everything ha.cf says, with heartbeat's defaults applied."""

    path: str
    nodes: tuple[str, ...]
    node_lines: tuple[int, ...]
    media: tuple[Medium, ...]
    timers: Timers
    udpport: int
    baud: int
    auto_failback: AutoFailback
    logging: Logging
    realtime: bool = True
    rtprio: int | None = None
    hopfudge: int = 1
    cluster: str = "linux-ha"
    msgfmt: str = "classic"
    hbgenmethod: str = "file"
    max_rexmit_delay_ms: int = 250
    log_badpack: bool = True
    allow_crc: bool = False
    """hbeat only: accept `crc` keys in authkeys (heartbeat accepts them unasked)."""
    max_clock_skew_ms: int = 60_000
    """hbeat only: how far a peer's `ts` may be from our clock (docs/security.md)."""
    uuidfrom: str = "file"
    env: tuple[tuple[str, str], ...] = ()
    ping_nodes: tuple[PingNode, ...] = ()
    ipfail: bool | None = None
    """`ipfail on|off` (hbeat only); None: on when a `respawn` line runs ipfail."""
    stonith: tuple[StonithDevice, ...] = ()
    boot_takeover: str = "fenced"
    monitor: MonitorSpec | None = None
    """hbeat only: resource monitoring (docs/resources.md, "Monitoring"); None: off."""
    watchdog: str | None = None
    clients: tuple[Client, ...] = ()
    metrics_listen: tuple[str, int] | None = None
    """`metrics ADDR:PORT`: serve Prometheus metrics there (hbeat only; off by default)."""
    metrics_textfile: str | None = None
    """`metrics_textfile PATH`: write the metrics there for node_exporter (hbeat only)."""
    status_tcp: StatusTcp | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    """(directive, value) as `cl_status hbparameter` returns them: values as typed,
    derived ones with an `ms` suffix, defaults filled in (docs/heartbeat-protocol.md §7)."""

    @property
    def ipfail_client(self) -> Client | None:
        """The `respawn ... ipfail` line heartbeat admins write (hbeat runs no
        ipfail binary: it makes ipfail's decision itself)."""
        for client in self.clients:
            if client.is_ipfail:
                return client
        return None

    @property
    def ipfail_enabled(self) -> bool:
        """ipfail's decision is made: ping nodes exist, and `ipfail on`, or no
        `ipfail` directive and a `respawn ... ipfail` line."""
        if not self.ping_nodes or self.auto_failback is AutoFailback.LEGACY:
            return False
        if self.ipfail is not None:
            return self.ipfail
        return self.ipfail_client is not None

    def parameter(self, name: str) -> str | None:
        for key, value in self.parameters:
            if key == name:
                return value
        return None

    lines: tuple[tuple[str, int], ...] = ()
    """(directive, line of its last accepted value), for messages about it."""

    def line_of(self, name: str) -> int | None:
        for key, line in self.lines:
            if key == name:
                return line
        return None


@dataclass(frozen=True, slots=True)
class StonithDevice:
    """One `stonith TYPE FILE` or `stonith_host FROM TYPE PARAMS...` line of ha.cf.

    heartbeat's meaning (docs/fencing.md): `stonith` lines apply on every
    node, `stonith_host` lines only on the node named FROM (`*`: every node).
    The device is driven by cluster-glue's `stonith` command: `-F FILE` for
    `stonith`, `-p "PARAMS"` (positional, as `stonith -n TYPE` lists them)
    for `stonith_host`."""

    directive: str
    """`stonith` or `stonith_host`."""
    source: str
    """The node that may use the device (`*`: any)."""
    type: str
    params: tuple[str, ...]
    file: str | None
    line: int

    def usable_on(self, node: str) -> bool:
        return self.source == "*" or self.source == node.lower()

    def config_argv(self) -> tuple[str, ...]:
        """The `stonith` options that configure the device."""
        if self.file is not None:
            return ("-F", self.file)
        return ("-p", " ".join(self.params))

    @property
    def text(self) -> str:
        """How the line names the device in log lines: `TYPE` and where it is configured."""
        return f"{self.type} ({self.directive} at line {self.line})"


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    """`monitor INTERVAL [restarts N] [window TIME]` (hbeat only; off unless given):
    probe every running resource that often, restart a failed one in place up to
    `restarts` times within `window_ms`, then hand its group to the peer
    (docs/resources.md, "Monitoring")."""

    interval_ms: int
    restarts: int = 3
    window_ms: int = 600_000
    line: int = 0


BOOT_TAKEOVER = ("fenced", "initdead")
"""hbeat's `boot_takeover` directive: what a node that boots with every link
down does with a peer it never heard (docs/fencing.md)."""


@dataclass(frozen=True, slots=True)
class Resource:
    """One haresources entry: `script[::arg...]`, or a bare IP meaning IPaddr."""

    text: str
    """As written in haresources (the group key when first in its group)."""
    script: str
    args: tuple[str, ...]
    line: int
    path: str | None = None
    """Resolved script path (filled in by the checks; None before)."""

    @property
    def canonical(self) -> str:
        """`script::arg::...`: the same resource however it was spelled."""
        return "::".join((self.script, *self.args))


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    """One logical haresources line: the preferred node and its resources in start order."""

    node: str
    resources: tuple[Resource, ...]
    line: int

    @property
    def key(self) -> str:
        """ResourceManager names a group by its first resource, as written."""
        return self.resources[0].text


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The whole configuration of one node, handed to the supervisor and the workers."""

    config_dir: str
    node_name: str
    hacf: HaCf
    groups: tuple[ResourceGroup, ...]
    keyring: Keyring
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.hacf.nodes

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(n for n in self.hacf.nodes if n != self.node_name)

    @property
    def media(self) -> tuple[Medium, ...]:
        return self.hacf.media

    @property
    def timers(self) -> Timers:
        return self.hacf.timers

    @property
    def auto_failback(self) -> AutoFailback:
        return self.hacf.auto_failback

    @property
    def logging(self) -> Logging:
        return self.hacf.logging

    def parameter(self, name: str) -> str | None:
        """`cl_status hbparameter -p NAME`."""
        return self.hacf.parameter(name)

    @property
    def stonith_devices(self) -> tuple[StonithDevice, ...]:
        """The STONITH devices this node may use, in ha.cf order (empty: no fencing)."""
        return tuple(d for d in self.hacf.stonith if d.usable_on(self.node_name))

    def groups_of(self, node: str) -> tuple[ResourceGroup, ...]:
        return tuple(g for g in self.groups if g.node == node)

    @property
    def resource_nodes(self) -> tuple[str, ...]:
        """The nodes that run resource groups (ha.cf order): every node of a
        one- or two-node cluster; with more nodes, the two haresources names
        (`check_groups` makes sure there are exactly two). The others are
        members only: they never start, stop or take over a group."""
        return resource_nodes(self.nodes, self.groups)


def resource_nodes(nodes: tuple[str, ...], groups: tuple[ResourceGroup, ...]) -> tuple[str, ...]:
    """See `ClusterConfig.resource_nodes`."""
    if len(nodes) <= 2 or not groups:
        return nodes
    named = {g.node for g in groups}
    return tuple(n for n in nodes if n in named)


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every error and warning found."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.level is Level.ERROR]
        super().__init__("\n".join(str(p) for p in errors) or "configuration error")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level is Level.ERROR)
