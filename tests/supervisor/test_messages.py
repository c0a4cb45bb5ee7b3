"""Message parsers: typed views, and errors that name the bad field."""

from __future__ import annotations

import pytest

from linklayer.message import BINARY
from supervisor import messages as m


def env(*pairs: tuple[bytes, bytes]) -> m.Envelope:
    return m.parse_envelope(tuple(m.s(n, v) for n, v in pairs), iface="eth1")


BASE = ((b"src", b"Beta"), (b"ts", b"6b066b79"), (b"hg", b"10"))


def test_envelope_parses_and_lowercases_names() -> None:
    e = env((b"t", b"status"), (b"seq", b"1a"), (b"dest", b"ALPHA"), *BASE)
    assert (e.type, e.src, e.seq, e.gen, e.ts, e.dest) == (
        b"status",
        "beta",
        26,
        16,
        0x6B066B79,
        "alpha",
    )
    assert not e.is_noseq


@pytest.mark.parametrize(
    ("pairs", "needle"),
    [
        (((b"src", b"b"), (b"ts", b"1")), "missing from/ts/type: iface eth1, from b (no t)"),
        (((b"t", b"x"), (b"ts", b"1")), "missing from/ts/type: iface eth1, from <?> (no src)"),
        (((b"t", b"x"), (b"src", b"b"), (b"ts", b"1")), "missing seqno: iface eth1, from b"),
        (((b"t", b"x"), (b"src", b"b"), (b"ts", b"1"), (b"seq", b"zz")), "has bad cseq"),
        (((b"t", b"x"), (b"src", b"b"), (b"ts", b"1"), (b"seq", b"0")), "bad sequence number"),
        (((b"t", b"x"), (b"src", b"b"), (b"ts", b"0"), (b"seq", b"1")), "ts is 0"),
        (((b"t", b"x"), (b"src", b"b"), (b"ts", b"q"), (b"seq", b"1")), "bad ts [q]"),
        (
            ((b"t", b"x"), (b"src", b"b"), (b"ts", b"1"), (b"seq", b"1"), (b"hg", b"-1")),
            "bad generation number",
        ),
        (((b"t", b"x"), (b"src", b"b c"), (b"ts", b"1"), (b"seq", b"1")), "not a node name"),
    ],
)
def test_envelope_errors_name_the_field(pairs: tuple, needle: str) -> None:
    with pytest.raises(m.MessageError, match=None) as exc:
        env(*pairs)
    assert needle in str(exc.value)


def test_ns_types_need_no_seq_and_uuid_must_be_16_binary_bytes() -> None:
    e = env((b"t", b"NS_ackmsg"), (b"ackseq", b"1f"), *BASE)
    assert e.is_noseq and e.seq is None and m.parse_ackseq(e) == 31
    fields = (m.s(b"t", b"NS_ackmsg"), (b"srcuuid", BINARY, b"x" * 3), *(m.s(*p) for p in BASE))
    with pytest.raises(m.MessageError, match="srcuuid: expected 16 binary bytes"):
        m.parse_envelope(fields)


def test_status_view() -> None:
    e = env(
        (b"t", b"status"),
        (b"seq", b"1"),
        (b"st", b"active"),
        (b"dt", b"2710"),
        (b"protocol", b"1"),
        *BASE,
    )
    assert m.parse_status(e) == m.StatusView("active", 10000, 1)
    with pytest.raises(m.MessageError, match="unknown st"):
        m.parse_status(env((b"t", b"status"), (b"seq", b"1"), (b"st", b"bogus"), *BASE))
    with pytest.raises(m.MessageError, match="bad dt from beta"):
        m.parse_status(env((b"t", b"status"), (b"seq", b"1"), (b"st", b"up"), (b"dt", b"x"), *BASE))


def test_rexmit_nak_repnodes_views() -> None:
    r = env((b"t", b"NS_rexmit"), (b"firstseq", b"81"), (b"lastseq", b"82"), *BASE)
    assert m.parse_rexmit(r) == m.RexmitView(81, 82)
    with pytest.raises(m.MessageError, match=r"Invalid rexmit seqnos from beta: \[9:8\]"):
        m.parse_rexmit(env((b"t", b"NS_rexmit"), (b"firstseq", b"9"), (b"lastseq", b"8"), *BASE))
    with pytest.raises(m.MessageError, match="expected decimal"):
        m.parse_rexmit(env((b"t", b"NS_rexmit"), (b"firstseq", b"a"), (b"lastseq", b"b"), *BASE))
    n = env((b"t", b"NS_nak_rexmit"), (b"firstseq", b"1a"), (b"info", b"seqno too low"), *BASE)
    assert m.parse_nak(n) == m.NakView(26, "seqno too low")
    rep = env(
        (b"t", b"repnodes"),
        (b"seq", b"3"),
        (b"nodelist", b"otter weasel "),
        (b"delnodelist", b" "),
        *BASE,
    )
    assert m.parse_repnodes(rep) == m.RepnodesView(("otter", "weasel"), ())


def test_builders_encodings() -> None:
    assert m.status_fields("up", 12000)[2] == (b"dt", 0, b"2ee0")
    assert m.ackmsg_fields("b", 255)[2] == (b"ackseq", 0, b"ff")
    assert m.nak_rexmit_fields("b", 255, m.NAK_NOT_FOUND)[1] == (b"firstseq", 0, b"ff")
    assert m.rexmit_fields("b", 255)[2:] == ((b"firstseq", 0, b"255"), (b"lastseq", 0, b"255"))
    assert m.format_nodelist([]) == b" " and m.format_nodelist(["a", "b"]) == b"a b "
