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


# --- parse_envelope against its definition ----------------------------------


def _node_name_by_definition(value: bytes, what: str) -> str:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise m.MessageError(f"bad {what} [{m._show(value)}]: not ASCII") from None
    if not text or len(text) > 100 or any(c.isspace() or not c.isprintable() for c in text):
        raise m.MessageError(f"bad {what} [{m._show(value)}]: not a node name")
    return text.lower()


def _uuid_by_definition(fields: tuple[m.Field, ...], name: bytes) -> bytes | None:
    for fname, ftype, value in fields:
        if fname == name:
            if ftype != BINARY or len(value) != 16:
                raise m.MessageError(f"bad {name.decode()}: expected 16 binary bytes")
            return value
    return None


def _envelope_by_definition(fields: tuple[m.Field, ...], iface: str) -> m.Envelope:
    """parse_envelope written field by field with `field_value` (the first
    field of a name counts), as it was before it became one pass."""
    fv = m.field_value
    t, src, ts = fv(fields, m.F_TYPE), fv(fields, m.F_ORIG), fv(fields, m.F_TIME)
    if t is None or src is None or ts is None or not t:
        who = m._show(src) if src is not None else "<?>"
        missing = [n.decode() for n, v in ((m.F_ORIG, src), (m.F_TIME, ts), (m.F_TYPE, t))
                   if not v]
        raise m.MessageError(f"process_clustermsg: missing from/ts/type: iface {iface}, from "
                             f"{who} (no {', '.join(missing)})")
    srcname = _node_name_by_definition(src, "src")
    try:
        tsval = m.parse_hex(ts, "ts")
    except m.MessageError as exc:
        raise m.MessageError(f"process_clustermsg: iface {iface}, from {srcname}: {exc}") from None
    if tsval == 0:
        raise m.MessageError(f"process_clustermsg: iface {iface}, from {srcname}: ts is 0")
    cseq, seq = fv(fields, m.F_SEQ), None
    if cseq is not None:
        try:
            seq = m.parse_hex(cseq, "seq")
        except m.MessageError:
            raise m.MessageError(f"process_clustermsg: has bad cseq: iface {iface}, from "
                                 f"{srcname} [{m._show(cseq)}]") from None
        if seq == 0:
            raise m.MessageError(f"should_drop_message: bad sequence number: iface {iface}, "
                                 f"from {srcname} [0]")
    elif not t.startswith(m.NOSEQ_PREFIX):
        raise m.MessageError(f"process_clustermsg: missing seqno: iface {iface}, from {srcname}")
    cgen, gen = fv(fields, m.F_HBGENERATION), 0
    if cgen is not None:
        try:
            gen = m.parse_hex(cgen, "hg")
        except m.MessageError:
            raise m.MessageError(f"should_drop_message: bad generation number: iface {iface}, "
                                 f"from {srcname} [{m._show(cgen)}]") from None
    dest_raw = fv(fields, m.F_TO)
    dest = _node_name_by_definition(dest_raw, "dest") if dest_raw is not None else None
    try:
        srcuuid = _uuid_by_definition(fields, m.F_ORIGUUID)
        destuuid = _uuid_by_definition(fields, m.F_TOUUID)
    except m.MessageError as exc:
        raise m.MessageError(f"process_clustermsg: iface {iface}, from {srcname}: {exc}") from None
    return m.Envelope(t, srcname, tsval, seq, gen, srcuuid, dest, destuuid, fields)


def _outcome(parse: object, fields: tuple[m.Field, ...]) -> object:
    try:
        return parse(fields, iface="eth1")  # type: ignore[operator]
    except m.MessageError as exc:
        return ("error", str(exc))


def test_envelope_parses_every_message_as_its_field_by_field_definition() -> None:
    """Random messages, well formed and not (fields missing, repeated, out of
    order, bad numbers, names with spaces, control or non-ASCII bytes, uuids
    of the wrong type or size): the same envelope or the same error."""
    import random

    rng = random.Random(11)
    values = {
        m.F_TYPE: [b"status", b"NS_ackmsg", b"NS_rexmit", b"resource", b""],
        m.F_ORIG: [b"Beta", b"alpha", b"", b"a b", b"x\x01", b"\xc3\xa9t\xc3\xa9", b"n" * 100,
                   b"n" * 101, b"~!"],
        m.F_TIME: [b"6b066b79", b"0", b"00", b"zz", b"1" * 17, b"7fffffffffffffff",
                   b"8000000000000000"],
        m.F_SEQ: [b"1a", b"0", b"-1", b"", b"ffffffffffffffff", b"12"],
        m.F_HBGENERATION: [b"10", b"x", b"0"],
        m.F_TO: [b"ALPHA", b"", b"al pha", b"\x7f"],
        m.F_ORIGUUID: [b"u" * 16, b"u" * 15],
        m.F_TOUUID: [b"v" * 16, b"v" * 17],
        b"st": [b"active"],
    }
    seen: set[str] = set()
    for _ in range(4000):
        fields: list[m.Field] = []
        for name, choices in values.items():
            for _copy in range(rng.choice((0, 1, 1, 1, 2))):
                ftype = BINARY if name in (m.F_ORIGUUID, m.F_TOUUID) and rng.random() < 0.8 \
                    else m.s(name, b"")[1]
                fields.append((name, ftype, rng.choice(choices)))
        rng.shuffle(fields)
        message = tuple(fields)
        want = _outcome(_envelope_by_definition, message)
        assert _outcome(m.parse_envelope, message) == want, message
        seen.add("ok" if isinstance(want, m.Envelope) else str(want[1]).split(":")[0])  # type: ignore[index]
    assert "ok" in seen and len(seen) >= 4  # envelopes and several kinds of error
