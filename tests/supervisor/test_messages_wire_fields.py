"""Builders + Sender.stamp reproduce the field lists of real heartbeat 3.0.6 frames."""

from __future__ import annotations

import pytest

from linklayer.message import BINARY, STRING
from supervisor import messages as m
from supervisor.sequencing import Sender
from tests import interop_vectors as iv


def _vector(kind: str) -> iv.Vector:
    for v in iv.udp_vectors():
        if v.kind == kind:
            return v
    raise AssertionError(f"no captured frame of kind {kind!r}")


def _restamp(v: iv.Vector, own: tuple) -> tuple:
    assert v.fields is not None
    got = dict((n, val) for n, _t, val in v.fields)
    seq = got.get(b"seq")
    sender = Sender(
        got[b"src"].decode(),
        got[b"srcuuid"],
        int(got[b"hg"], 16),
        int(got[b"ttl"]),
        allocate_seq=(lambda status: int(seq, 16)) if seq is not None else None,
    )
    return sender.stamp(
        own,
        now=0,
        wall_s=int(got[b"ts"], 16),
        load=got.get(b"ld", b"n/a"),
        dest_uuid=got.get(b"destuuid"),
    )


@pytest.mark.parametrize(
    ("kind", "build"),
    [
        ("status st=init", lambda: m.status_fields("init", 0x2EE0)),
        ("status st=up", lambda: m.status_fields("up", 0x2EE0)),
        ("status st=active", lambda: m.status_fields("active", 0x2EE0)),
        ("reqnodes", lambda: m.reqnodes_fields("weasel")),
        ("repnodes", lambda: m.repnodes_fields("otter", ["otter", "weasel"])),
        ("NS_ackmsg", lambda: m.ackmsg_fields("weasel", 6)),
    ],
)
def test_rebuilt_fields_equal_the_captured_ones(kind: str, build: object) -> None:
    v = _vector(kind)
    rebuilt = _restamp(v, build())  # type: ignore[operator]
    assert rebuilt == v.fields


def test_ns_rexmit_field_order_matches_the_fact_sheet() -> None:
    sender = Sender("nodea", b"u" * 16, 5, 3)
    f = sender.stamp(m.rexmit_fields("nodeb", 81), now=0, wall_s=1, dest_uuid=b"v" * 16)
    assert [x[0] for x in f] == [
        b"t",
        b"dest",
        b"firstseq",
        b"lastseq",
        b"destuuid",
        b"src",
        b"srcuuid",
        b"hg",
        b"ts",
        b"ttl",
    ]
    assert m.field_value(f, b"firstseq") == b"81"
    assert (b"destuuid", BINARY, b"v" * 16) in f and (b"hg", STRING, b"5") in f
    assert sender.history_seqs() == []  # NS_ messages are not sequenced


def test_stamp_replaces_spoofed_defaults_but_ns_keeps_its_own() -> None:
    sender = Sender("nodea", b"u" * 16, 5, 3)
    f = sender.stamp((m.s(b"t", b"resource"), m.s(b"src", b"evil")), now=0, wall_s=1)
    assert [x for x in f if x[0] == b"src"] == [(b"src", STRING, b"nodea")]
    assert [x[0] for x in f] == [b"t", b"src", b"srcuuid", b"seq", b"hg", b"ts", b"ld", b"ttl"]
    g = sender.stamp((m.s(b"t", b"NS_x"), m.s(b"ts", b"ff")), now=0, wall_s=1)
    assert m.field_value(g, b"ts") == b"ff"


def test_an_ack_for_a_keepalive_not_yet_reported_is_not_corrupt() -> None:
    """A worker's keepalive is on the wire before its `sent` report reaches the
    supervisor; the peer's ACK of it must be accepted, not logged as corrupt."""
    issued = [0]

    def allocate(status: bool = False) -> int:
        issued[0] += 1
        return issued[0]

    sender = Sender("otter", b"u" * 16, 7, 3, allocate_seq=allocate,
                    issued_seq=lambda: issued[0])
    allocate()  # the board hands seq 1 to a worker's keepalive
    assert sender.on_ack("weasel", 1) == []
    assert sender.acked["weasel"] == 1
    logs = sender.on_ack("weasel", 2)
    assert logs and "corrupted ackseq current hiseq = 1 ackseq =2" in logs[0][1]
