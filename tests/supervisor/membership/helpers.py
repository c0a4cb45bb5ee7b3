"""Shared fixtures for the membership tests: a configured node and scripted peers."""

from __future__ import annotations

import random
from collections.abc import Sequence

from linklayer.message import Field
from supervisor import membership as mb
from supervisor import messages as m
from supervisor.sequencing import Sender

ETH = "eth1"
SER = "/dev/ttyS0"
WALL0 = 1_795_582_841.0
SEED = 7


def uuid_of(name: str) -> bytes:
    return (name.encode() * 16)[:16]


def make(
    local: str = "alpha",
    nodes: Sequence[str] = ("alpha", "beta"),
    media: Sequence[str] = (ETH, SER),
    *,
    now: int = 0,
    start: bool = True,
    seed: int = SEED,
    **kw: object,
) -> mb.Membership:
    cfg = mb.MembershipConfig(
        local=local,
        nodes=tuple(nodes),
        media=tuple(media),
        keepalive_ms=1000,
        deadtime_ms=10000,
        warntime_ms=5000,
        initdead_ms=20000,
        **kw,  # type: ignore[arg-type]
    )
    ms = mb.Membership(
        cfg, generation=100, uuid=uuid_of(local), now=now, wall_s=WALL0, rng=random.Random(seed)
    )
    if start:
        ms.start(now)
    return ms


class Peer:
    """A scripted remote node that stamps its messages with a real Sender."""

    def __init__(self, name: str, gen: int = 200, nodes: int = 2) -> None:
        self.name = name
        self.sender = Sender(name, uuid_of(name), gen, 1 + nodes)

    def msg(self, *fields: Field, now: int = 0) -> tuple[Field, ...]:
        return self.sender.stamp(fields, now=now, wall_s=int(WALL0) + now // 1000, load=b"0.00")

    def status(self, st: str = "active", dt: int = 10000, now: int = 0, **kw: bool) -> tuple:
        return self.msg(*m.status_fields(st, dt, **kw), now=now)

    def resource(self, now: int = 0) -> tuple[Field, ...]:
        return self.msg(m.s(b"t", b"resource"), m.s(b"rsc_hold", b"none"), now=now)


def of(actions: list[mb.Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def logs(actions: list[mb.Action]) -> list[tuple[str, str]]:
    return [(a.level.value, a.text) for a in actions if isinstance(a, mb.Log)]


def sent_types(actions: list[mb.Action]) -> list[bytes]:
    return [m.field_value(a.fields, b"t") or b"" for a in of(actions, mb.SendMessage)]


def value(fields: Sequence[Field], name: bytes) -> bytes | None:
    return m.field_value(fields, name)


def bring_up(ms: mb.Membership, peer: Peer, now: int = 100) -> list[mb.Action]:
    """Hear the peer once and answer our reqnodes: comm up."""
    acts = ms.receive(peer.status("up", now=now), ETH, now)
    acts += ms.receive(peer.msg(*m.repnodes_fields(ms.local, ms.config.nodes), now=now), ETH, now)
    return acts
