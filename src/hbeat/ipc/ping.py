"""The ping worker's side of the bus: its setup and its one report.

The ping worker (`hbeat: ping`, src/workers/ping.py) sends ICMP echo
requests to ha.cf's `ping` and `ping_group` hosts and tells the supervisor
when a ping node goes up or down (`ping-state`); nothing else crosses the
bus, so a flood of replies costs the supervisor nothing. It shares the
framing and `Hello`, `Fatal`, `Error`, `Warn` and `Stop` with the link
workers (hbeat/ipc/bus.py); the verbs are in docs/processes.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from hbeat.ipc.bus import (
    BusError,
    Error,
    Fatal,
    Hello,
    Warn,
    body_of,
    get_bool,
    get_int,
    get_opt_str,
    get_str,
    pack,
)


def _expect(parts: Sequence[bytes], verb: bytes) -> None:
    if not parts or parts[0] != verb:
        got = parts[0].decode("ascii", "replace") if parts else "nothing"
        raise BusError(f"expected bus message '{verb.decode()}', got '{got}'")


PING_WORKER = "ping"
"""The ping worker's bus identity (and `hbeat: ping` its title)."""
MAX_NODES = 64
MAX_HOSTS = 64


@dataclass(frozen=True, slots=True)
class PingTarget:
    """One ping pseudo-node: a `ping` host (name = address) or a `ping_group`."""

    name: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PingSetup:
    """supervisor -> ping worker, answering its hello: what to ping and when."""

    VERB: ClassVar[bytes] = b"ping-setup"
    targets: tuple[PingTarget, ...]
    interval_ms: int
    """One echo request to every host this often (ha.cf keepalive)."""
    deadping_ms: int
    """A node with no answer from any of its hosts for this long is dead."""

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {
            "targets": [{"name": t.name, "hosts": list(t.hosts)} for t in self.targets],
            "interval_ms": self.interval_ms, "deadping_ms": self.deadping_ms,
        })

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> PingSetup:
        _expect(parts, cls.VERB)
        verb = "ping-setup"
        body = body_of(parts, verb)
        raw = body.get("targets")
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_NODES:
            raise BusError(f"bus message '{verb}': field 'targets' must be a list of 1 to "
                           f"{MAX_NODES} ping nodes")
        targets = []
        for item in raw:
            if not isinstance(item, dict):
                raise BusError(f"bus message '{verb}': a target is not a JSON object")
            hosts = item.get("hosts")
            if (not isinstance(hosts, list) or not 0 < len(hosts) <= MAX_HOSTS
                    or not all(isinstance(h, str) and h for h in hosts)):
                raise BusError(f"bus message '{verb}': field 'hosts' must be a list of 1 to "
                               f"{MAX_HOSTS} addresses")
            targets.append(PingTarget(get_str(item, verb, "name"), tuple(hosts)))
        interval = get_int(body, verb, "interval_ms")
        deadping = get_int(body, verb, "deadping_ms")
        if interval <= 0 or deadping <= 0:
            raise BusError(f"bus message '{verb}': interval_ms and deadping_ms must be positive")
        return cls(tuple(targets), interval, deadping)


@dataclass(frozen=True, slots=True)
class PingState:
    """ping worker -> supervisor: ping node `node` is now up (a host of it
    answered; `host` says which) or dead (none answered for deadping)."""

    VERB: ClassVar[bytes] = b"ping-state"
    node: str
    up: bool
    host: str | None = None

    def encode(self) -> list[bytes]:
        return pack(self.VERB, {"node": self.node, "up": self.up, "host": self.host})

    @classmethod
    def decode(cls, parts: Sequence[bytes]) -> PingState:
        _expect(parts, cls.VERB)
        verb = "ping-state"
        body = body_of(parts, verb)
        return cls(get_str(body, verb, "node"), get_bool(body, verb, "up"),
                   get_opt_str(body, verb, "host"))


PingReport = Hello | PingState | Fatal | Error | Warn
_FROM_PING: dict[bytes, type[Hello] | type[PingState] | type[Fatal] | type[Error] | type[Warn]] = {
    c.VERB: c for c in (Hello, PingState, Fatal, Error, Warn)
}


def decode_ping_report(parts: Sequence[bytes]) -> PingReport:
    """Any message the ping worker sends (`parts` without the sender's identity)."""
    cls = _FROM_PING.get(parts[0]) if parts else None
    if cls is None:
        raise BusError(f"unknown verb {parts[0] if parts else b''!r} from the ping worker")
    report: PingReport = cls.decode(parts)
    return report
