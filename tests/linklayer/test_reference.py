"""The pure-Python reference codec against real heartbeat 3.0.6 frames,
published digest vectors and every rule of docs/wire-format.md."""

from __future__ import annotations

import base64

import pytest

from linklayer import reference as ref
from linklayer.errors import ErrorCode as E
from linklayer.errors import FrameError
from linklayer.message import (
    MAX_FIELDS,
    MAX_FRAME,
    MAX_NAME,
    MAX_VALUE,
    AuthKey,
    Field,
    Form,
    Keyring,
    Method,
)
from tests.interop_vectors import KEYRING, Vector, serial_vectors, udp_vectors

SHA1_HEX = b"d34480456110f1617bc64f5e1c58e7fabacbb75b"
MD5_HEX = b"9294727a3638bb1c13f48ef8158bfc9d"


def error_of(frame: bytes, keyring: Keyring | None = KEYRING) -> tuple[E, int, int]:
    with pytest.raises(FrameError) as info:
        ref.decode(frame, keyring)
    return info.value.code, info.value.offset, info.value.field_index


def encode_error(fields: list[Field], keyring: Keyring | None = KEYRING) -> tuple[E, int, int]:
    with pytest.raises(FrameError) as info:
        ref.encode_classic(fields, keyring)
    classic = (info.value.code, info.value.offset, info.value.field_index)
    with pytest.raises(FrameError) as info:
        ref.encode_netstring(fields, keyring)
    assert (info.value.code, info.value.offset, info.value.field_index) == classic
    return classic


def ns(*payloads: bytes, trailer: bytes | None = None) -> bytes:
    items = b"".join(b"%d:" % len(p) + p + b"," for p in payloads)
    frame = b"###\n" + items + b"%%%\n"
    if trailer is not None:
        frame += b"%d:" % len(trailer) + trailer + b","
    return frame


# --------------------------------------------------------------------------
# Digests


RFC2202_SHA1 = [
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ),
]

RFC2202_MD5 = [
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    (bytes(range(1, 26)), b"\xcd" * 50, "697eaf0aca3a3aea3a75164746ffaa79"),
    (b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995690efd4c"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    ),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "6f630fad67cda0ee1fb1f562db3aa53e",
    ),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC2202_SHA1)
def test_hmac_sha1_rfc2202(key: bytes, data: bytes, expected: str) -> None:
    assert ref.digest(Method.SHA1, key, data) == expected.encode()


@pytest.mark.parametrize(("key", "data", "expected"), RFC2202_MD5)
def test_hmac_md5_rfc2202(key: bytes, data: bytes, expected: str) -> None:
    assert ref.digest(Method.MD5, key, data) == expected.encode()


def test_crc32_posix_check_value() -> None:
    assert ref.crc32_posix(b"123456789") == 0x765E7680
    assert ref.digest(Method.CRC, b"ignored", b"123456789") == b"765e7680"
    assert ref.digest(Method.CRC, b"", b"") == b"ffffffff"


def test_crc_is_printed_without_leading_zeros() -> None:
    data = next(b"%d" % i for i in range(100000) if ref.crc32_posix(b"%d" % i) < 0x10000000)
    text = ref.digest(Method.CRC, b"", data)
    assert len(text) < 8
    assert not text.startswith(b"0")
    assert int(text, 16) == ref.crc32_posix(data)


def test_classic_signature_of_the_fact_sheet_example() -> None:
    fields = [
        (b"t", 0, b"status"),
        (b"st", 0, b"active"),
        (b"dt", 0, b"2710"),
        (b"protocol", 0, b"1"),
        (b"src", 0, b"nodea"),
        (b"srcuuid", 1, base64.b64decode("Or8KBWPnTcKDIAX10KuoqQ==")),
        (b"seq", 0, b"1a"),
        (b"hg", 0, b"6b066540"),
        (b"ts", 0, b"6b066554"),
        (b"ld", 0, b"0.28 0.16 0.09 3/118 31"),
        (b"ttl", 0, b"3"),
    ]
    signed = ref.classic_signed_bytes(fields)
    assert signed.startswith(b"t=status\nst=active\n")
    assert b"(1)srcuuid=Or8KBWPnTcKDIAX10KuoqQ==\n" in signed
    assert (
        ref.digest(Method.SHA1, b"testsecret", signed)
        == b"d2499343d77ea5068136a459c1790a00617d4dc3"
    )


# --------------------------------------------------------------------------
# Real heartbeat 3.0.6 frames


@pytest.mark.parametrize("vector", udp_vectors(), ids=lambda v: v.kind)
def test_real_udp_frame_verifies_and_reencodes(vector: Vector) -> None:
    assert vector.auth_ok
    decoded = ref.decode(vector.wire, KEYRING)
    assert decoded.form is Form.NETSTRING
    assert decoded.fields == vector.fields
    assert decoded.key_index == 1
    assert decoded.method is Method.SHA1
    assert decoded.inner_auth is not None and decoded.inner_auth.startswith(b"1 ")
    assert decoded.signature is not None and vector.wire.endswith(decoded.signature + b",")
    assert ref.encode_netstring(decoded.fields, KEYRING) == vector.wire
    # the inner classic auth is the signature a classic frame of these fields carries
    classic = ref.encode_classic(decoded.fields, KEYRING)
    assert b"\nauth=" + decoded.inner_auth + b"\n<<<\n" in classic


@pytest.mark.parametrize("vector", serial_vectors(), ids=lambda v: v.kind)
def test_real_serial_frame_verifies_and_reencodes(vector: Vector) -> None:
    assert vector.auth_ok
    decoded = ref.decode(vector.wire, KEYRING)
    assert decoded.form is Form.CLASSIC
    assert decoded.key_index == 1
    assert decoded.method is Method.SHA1
    assert decoded.inner_auth is None
    assert ref.encode_classic(decoded.fields, KEYRING) == vector.wire


def test_serial_and_udp_frames_of_the_same_message_agree() -> None:
    udp = {}
    for vector in udp_vectors():
        decoded = ref.decode(vector.wire, KEYRING)
        udp[decoded.get(b"src"), decoded.get(b"hg"), decoded.get(b"seq")] = decoded
    matched = 0
    for vector in serial_vectors():
        classic = ref.decode(vector.wire, KEYRING)
        netstring = udp.get((classic.get(b"src"), classic.get(b"hg"), classic.get(b"seq")))
        if netstring is not None and netstring.get(b"t") == classic.get(b"t"):
            matched += 1
            assert classic.fields == netstring.fields
            assert classic.signature == netstring.inner_auth
    assert matched >= 5


def test_parse_only_reports_the_key_index_without_checking() -> None:
    wrong = Keyring({1: AuthKey(1, Method.SHA1, b"not-the-secret")}, 1)
    for vector in udp_vectors()[:3] + serial_vectors()[:3]:
        decoded = ref.decode(vector.wire, None)
        assert decoded.key_index == 1
        assert decoded.method is None
        assert error_of(vector.wire, wrong)[0] is E.AUTH_MISMATCH


def _flip_everywhere(frame: bytes) -> None:
    for pos in range(len(frame)):
        forged = frame[:pos] + bytes([frame[pos] ^ 0x01]) + frame[pos + 1 :]
        with pytest.raises(FrameError):
            ref.decode(forged, KEYRING)


def test_one_flipped_byte_anywhere_is_rejected() -> None:
    _flip_everywhere(udp_vectors()[0].wire)
    _flip_everywhere(serial_vectors()[0].wire)


def test_a_changed_value_in_every_field_is_an_auth_mismatch() -> None:
    for vector in (udp_vectors()[0], udp_vectors()[4]):
        assert vector.fields is not None
        wire = vector.wire
        pos = 4
        while wire[pos : pos + 4] != b"%%%\n":
            colon = wire.index(b":", pos)
            end = colon + 1 + int(wire[pos:colon])
            last = end - 1  # last value byte of this item
            forged = wire[:last] + bytes([wire[last] ^ 0x01]) + wire[last + 1 :]
            assert error_of(forged)[0] is E.AUTH_MISMATCH, wire[pos:end]
            pos = end + 1
    serial = serial_vectors()[0].wire
    lines = serial.split(b"\n")
    offset = 4
    for line in lines[1:-3]:  # every field line except auth
        last = offset + len(line) - 1
        if line.startswith(b"(1)"):
            last -= 3  # the last base64 symbol that is not padding or zero bits
        forged = serial[:last] + bytes([serial[last] ^ 0x01]) + serial[last + 1 :]
        assert error_of(forged)[0] is E.AUTH_MISMATCH, line
        offset += len(line) + 1


@pytest.mark.parametrize("which", ["udp", "serial"])
def test_truncation_at_every_byte_is_a_clean_error(which: str) -> None:
    vectors = udp_vectors() if which == "udp" else serial_vectors()
    for vector in vectors[:4]:
        frame = vector.wire
        for cut in range(len(frame)):
            prefix = frame[:cut]
            with pytest.raises(FrameError) as info:
                ref.decode(prefix, KEYRING)
            code = info.value.code
            if which == "serial":
                assert code in (E.EMPTY, E.UNKNOWN_FORM, E.TRUNCATED), cut
            else:
                assert code in (
                    E.EMPTY,
                    E.UNKNOWN_FORM,
                    E.TRUNCATED,
                    E.NS_BAD_LENGTH,  # a cut inside "%%%\n"
                    E.AUTH_MISSING,  # the cut right after "%%%\n"
                ), cut
                if code is E.AUTH_MISSING:
                    assert prefix.endswith(b"%%%\n")
                    assert ref.decode(prefix, None).signature is None


# --------------------------------------------------------------------------
# Encoding round trips and key handling


FIELDS: list[Field] = [
    (b"t", 0, b"status"),
    (b"note", 0, b"two\nlines, a comma = and %%%\n"),
    (b"blob", 1, bytes(range(256))),
    (b"empty", 0, b""),
    (b"t", 0, b"duplicate names are kept"),
]


@pytest.mark.parametrize(
    "key",
    [
        AuthKey(1, Method.SHA1, b"secret"),
        AuthKey(15, Method.MD5, b"othersecret"),
        AuthKey(0, Method.CRC),
    ],
    ids=lambda k: k.method.value,
)
def test_round_trip_every_method(key: AuthKey) -> None:
    keyring = Keyring({key.index: key}, key.index)
    for frame in (
        ref.encode_classic(FIELDS, keyring),
        ref.encode_netstring(FIELDS, keyring),
        ref.encode_netstring(FIELDS, keyring, inner_auth=False),
    ):
        decoded = ref.decode(frame, keyring)
        assert list(decoded.fields) == FIELDS
        assert decoded.key_index == key.index
        assert decoded.method is key.method
    assert b"\x13" in ref.encode_classic(FIELDS, keyring)
    bare = ref.encode_netstring(FIELDS, keyring, inner_auth=False)
    assert ref.decode(bare, None).inner_auth is None


def test_unsigned_frames() -> None:
    classic = ref.encode_classic(FIELDS, None)
    assert b"auth=" not in classic
    netstring = ref.encode_netstring(FIELDS, None)
    assert netstring.endswith(b"%%%\n")
    for frame in (classic, netstring):
        decoded = ref.decode(frame, None)
        assert list(decoded.fields) == FIELDS
        assert decoded.key_index is None and decoded.signature is None
        assert error_of(frame)[0] is E.AUTH_MISSING


def test_any_configured_key_verifies_with_its_own_secret() -> None:
    old = AuthKey(1, Method.SHA1, b"old-secret")
    new = AuthKey(2, Method.MD5, b"new-secret")
    sender = Keyring({2: new}, 2)
    receiver = Keyring({1: old, 2: new}, 1)
    for frame in (ref.encode_classic(FIELDS, sender), ref.encode_netstring(FIELDS, sender)):
        decoded = ref.decode(frame, receiver)
        assert (decoded.key_index, decoded.method) == (2, Method.MD5)
        assert error_of(frame, Keyring({1: old}, 1))[0] is E.AUTH_UNKNOWN_KEY
        same_index_other_secret = Keyring({2: AuthKey(2, Method.MD5, b"old-secret")}, 2)
        assert error_of(frame, same_index_other_secret)[0] is E.AUTH_MISMATCH


def test_netstring_inner_auth_is_not_checked() -> None:
    frame = ns(b"(0)t=x", b"(0)auth=garbage")
    trailer = ref.digest(Method.SHA1, b"secret", frame)
    signed = frame + b"%d:1 %s," % (2 + len(trailer), trailer)
    decoded = ref.decode(signed, KEYRING)
    assert decoded.inner_auth == b"garbage"
    assert decoded.fields == ((b"t", 0, b"x"),)


# --------------------------------------------------------------------------
# Every error code of the contract, with its offset and field index

SHA1_AUTH = b"auth=1 " + SHA1_HEX


CLASSIC_ERRORS: list[tuple[str, bytes, tuple[E, int, int]]] = [
    ("empty", b"", (E.EMPTY, 0, -1)),
    ("too large", b">>>\n" + b"x" * MAX_FRAME, (E.TOO_LARGE, 0, -1)),
    ("unknown form", b"hello\n", (E.UNKNOWN_FORM, 0, -1)),
    ("marker without newline", b">>>", (E.UNKNOWN_FORM, 0, -1)),
    ("ends at a line start", b">>>\nt=a\n", (E.TRUNCATED, 8, -1)),
    ("ends inside a line", b">>>\nt=a\nst=b", (E.TRUNCATED, 8, 1)),
    ("end marker without newline", b">>>\nt=a\n<<<", (E.TRUNCATED, 8, 1)),
    ("trailing data", b">>>\nt=a\n<<<\nx", (E.TRAILING_DATA, 12, -1)),
    ("two frames", b">>>\nt=a\n<<<\n>>>\nt=a\n<<<\n", (E.TRAILING_DATA, 12, -1)),
    ("bad type", b">>>\nt=a\n(x)a=b\n<<<\n", (E.BAD_TYPE, 8, 1)),
    ("type 0 written", b">>>\n(0)a=b\n<<<\n", (E.BAD_TYPE, 4, 0)),
    ("type without )", b">>>\n(1a=b\n<<<\n", (E.BAD_TYPE, 4, 0)),
    ("lone (", b">>>\n(\n<<<\n", (E.BAD_TYPE, 4, 0)),
    ("struct type", b">>>\n(2)a=b\n<<<\n", (E.UNSUPPORTED_TYPE, 4, 0)),
    ("list type", b">>>\nt=a\n(3)a=b\n<<<\n", (E.UNSUPPORTED_TYPE, 8, 1)),
    ("no equals", b">>>\nt=a\nnoequals\n<<<\n", (E.NO_EQUALS, 8, 1)),
    ("carriage return", b">>>\nt=a\r\n<<<\r\n", (E.NO_EQUALS, 9, 1)),
    ("empty name", b">>>\n=v\n<<<\n", (E.BAD_NAME, 4, 0)),
    ("space in name", b">>>\na b=v\n<<<\n", (E.BAD_NAME, 4, 0)),
    ("DEL in name", b">>>\na\x7f=v\n<<<\n", (E.BAD_NAME, 4, 0)),
    ("high byte in name", b">>>\n\xc3\xa9=v\n<<<\n", (E.BAD_NAME, 4, 0)),
    ("name starts with (", b">>>\n(1)(a=AAAA\n<<<\n", (E.BAD_NAME, 4, 0)),
    ("name too long", b">>>\n" + b"n" * (MAX_NAME + 1) + b"=v\n<<<\n", (E.NAME_TOO_LONG, 4, 0)),
    (
        "value too long",
        b">>>\nt=a\nv=" + b"x" * (MAX_VALUE + 1) + b"\n<<<\n",
        (E.VALUE_TOO_LONG, 8, 1),
    ),
    (
        "base64 too long",
        b">>>\n(1)v=" + b"A" * (MAX_VALUE + 4) + b"\n<<<\n",
        (E.VALUE_TOO_LONG, 4, 0),
    ),
    ("NUL in value", b">>>\nt=a\x00b\n<<<\n", (E.BAD_VALUE, 4, 0)),
    ("base64 length", b">>>\n(1)b=AAA\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("base64 alphabet", b">>>\n(1)b=AA-A\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("base64 inner pad", b">>>\n(1)b=AA=A\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("base64 three pads", b">>>\n(1)b=A===\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("base64 unused bits", b">>>\n(1)b=AB==\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("base64 no padding", b">>>\n(1)b=AA\n<<<\n", (E.BAD_BASE64, 4, 0)),
    ("binary auth", b">>>\nt=a\n(1)auth=AAAA\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    (
        "duplicate auth",
        b">>>\nt=a\n" + SHA1_AUTH + b"\n" + SHA1_AUTH + b"\n<<<\n",
        (E.DUPLICATE_AUTH, 56, 2),
    ),
    ("auth not N hex", b">>>\nt=a\nauth=1\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    ("auth index 16", b">>>\nt=a\nauth=16 " + SHA1_HEX + b"\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    ("auth leading 0", b">>>\nt=a\nauth=01 " + SHA1_HEX + b"\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    (
        "auth upper hex",
        b">>>\nt=a\nauth=1 " + SHA1_HEX.upper() + b"\n<<<\n",
        (E.AUTH_MALFORMED, 8, 1),
    ),
    ("auth two spaces", b">>>\nt=a\nauth=1  " + SHA1_HEX + b"\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    ("auth 39 hex", b">>>\nt=a\nauth=1 " + SHA1_HEX[:39] + b"\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    ("auth crc zero", b">>>\nt=a\nauth=1 00\n<<<\n", (E.AUTH_MALFORMED, 8, 1)),
    (
        "malformed auth before trailing data",
        b">>>\nauth=x\n<<<\nx",
        (E.TRAILING_DATA, 15, -1),
    ),
    ("auth missing", b">>>\nt=a\n<<<\n", (E.AUTH_MISSING, 8, -1)),
    ("auth unknown key", b">>>\nt=a\nauth=2 " + SHA1_HEX + b"\n<<<\n", (E.AUTH_UNKNOWN_KEY, 8, 1)),
    (
        "md5 length for sha1 key",
        b">>>\nt=a\nauth=1 " + MD5_HEX + b"\n<<<\n",
        (E.AUTH_MALFORMED, 8, 1),
    ),
    ("auth mismatch", b">>>\nt=a\n" + SHA1_AUTH + b"\nu=b\n<<<\n", (E.AUTH_MISMATCH, 8, 1)),
]


@pytest.mark.parametrize(
    ("frame", "expected"), [c[1:] for c in CLASSIC_ERRORS], ids=[c[0] for c in CLASSIC_ERRORS]
)
def test_classic_errors(frame: bytes, expected: tuple[E, int, int]) -> None:
    assert error_of(frame) == expected


def test_classic_too_many_fields() -> None:
    lines = b"a=b\n" * MAX_FIELDS
    assert ref.decode(b">>>\n" + lines + b"<<<\n", None).fields[-1] == (b"a", 0, b"b")
    frame = b">>>\n" + lines + b"a=b\n<<<\n"
    assert error_of(frame) == (E.TOO_MANY_FIELDS, 4 + 4 * MAX_FIELDS, MAX_FIELDS)


def test_classic_limits_are_inclusive() -> None:
    name = b"n" * MAX_NAME
    value = b"x" * MAX_VALUE
    decoded = ref.decode(b">>>\n" + name + b"=" + value + b"\n<<<\n", None)
    assert decoded.fields == ((name, 0, value),)


def test_classic_escape_decodes_to_newline() -> None:
    decoded = ref.decode(b">>>\nv=a\x13b\n<<<\n", None)
    assert decoded.fields == ((b"v", 0, b"a\nb"),)


def test_classic_value_may_hold_equals_and_be_empty() -> None:
    decoded = ref.decode(b">>>\nv=a=b\ne=\n(1)z=\n<<<\n", None)
    assert decoded.fields == ((b"v", 0, b"a=b"), (b"e", 0, b""), (b"z", 1, b""))


def _trailer_frame(items: bytes, trailer: bytes) -> bytes:
    return b"###\n" + items + b"%%%\n" + trailer


NS_ERRORS: list[tuple[str, bytes, tuple[E, int, int]]] = [
    ("ends at the start", b"###\n", (E.TRUNCATED, 4, -1)),
    ("ends at an item start", b"###\n6:(0)t=a,", (E.TRUNCATED, 13, -1)),
    ("non-digit length", b"###\nx:(0)t=a,%%%\n", (E.NS_BAD_LENGTH, 4, 0)),
    ("empty length", b"###\n:(0)t=a,%%%\n", (E.NS_BAD_LENGTH, 4, 0)),
    ("leading zero", b"###\n06:(0)t=a,%%%\n", (E.NS_BAD_LENGTH, 4, 0)),
    ("seven digits", b"###\n0000006:(0)t=a,%%%\n", (E.NS_BAD_LENGTH, 4, 0)),
    ("seven digits no zero", b"###\n1000000:", (E.NS_BAD_LENGTH, 4, 0)),
    ("cut in %%%", b"###\n%%", (E.NS_BAD_LENGTH, 4, 0)),
    ("ends in the length", b"###\n12", (E.TRUNCATED, 4, 0)),
    ("ends after six digits", b"###\n123456", (E.TRUNCATED, 4, 0)),
    ("ends after a zero", b"###\n6:(0)t=a,0", (E.TRUNCATED, 13, 1)),
    ("ends in the payload", b"###\n10:(0)t=a", (E.TRUNCATED, 4, 0)),
    ("ends before the comma", b"###\n6:(0)t=a", (E.TRUNCATED, 4, 0)),
    ("no comma", b"###\n6:(0)t=a;%%%\n", (E.NS_NO_COMMA, 4, 0)),
    ("no type", b"###\n5:hello,%%%\n3:1 x,", (E.NS_NO_TYPE, 4, 0)),
    ("short item", b"###\n2:(0,%%%\n", (E.NS_NO_TYPE, 4, 0)),
    ("zero-length item", b"###\n0:,%%%\n", (E.NS_NO_TYPE, 4, 0)),
    ("type letter", b"###\n6:(s)t=a,%%%\n", (E.NS_NO_TYPE, 4, 0)),
    ("type without )", b"###\n6:(0]t=a,%%%\n", (E.NS_NO_TYPE, 4, 0)),
    ("struct type", ns(b"(0)t=a", b"(2)s=###\n%%%\n"), (E.UNSUPPORTED_TYPE, 13, 1)),
    ("no equals", ns(b"(0)t=a", b"(0)noequals"), (E.NO_EQUALS, 13, 1)),
    ("empty name", ns(b"(0)=v"), (E.BAD_NAME, 4, 0)),
    ("tab in name", ns(b"(0)a\tb=v"), (E.BAD_NAME, 4, 0)),
    ("NUL in name", ns(b"(0)a\x00=v"), (E.BAD_NAME, 4, 0)),
    ("name starts with (", ns(b"(0)(a=v"), (E.BAD_NAME, 4, 0)),
    ("name too long", ns(b"(0)" + b"n" * (MAX_NAME + 1) + b"=v"), (E.NAME_TOO_LONG, 4, 0)),
    ("value too long", ns(b"(1)v=" + b"\x00" * (MAX_VALUE + 1)), (E.VALUE_TOO_LONG, 4, 0)),
    ("NUL in string", ns(b"(0)t=a", b"(0)v=a\x00"), (E.BAD_VALUE, 13, 1)),
    ("0x13 in string", ns(b"(0)v=a\x13b"), (E.BAD_VALUE, 4, 0)),
    ("binary auth", ns(b"(1)auth=1 x"), (E.AUTH_MALFORMED, 4, 0)),
    ("duplicate auth", ns(b"(0)auth=a", b"(0)auth=b"), (E.DUPLICATE_AUTH, 16, 1)),
    ("trailer bad length", b"###\n%%%\nx", (E.NS_BAD_LENGTH, 8, -1)),
    ("trailer leading zero", b"###\n%%%\n01:0,", (E.NS_BAD_LENGTH, 8, -1)),
    ("trailer ends in length", b"###\n%%%\n42", (E.TRUNCATED, 8, -1)),
    ("trailer truncated", b"###\n%%%\n42:1 abc", (E.TRUNCATED, 8, -1)),
    ("trailer no comma", b"###\n%%%\n3:1 0;", (E.NS_NO_COMMA, 8, -1)),
    ("trailer trailing data", b"###\n%%%\n3:1 0,\n", (E.TRAILING_DATA, 14, -1)),
    ("trailer malformed", b"###\n%%%\n3:1 x,", (E.AUTH_MALFORMED, 8, -1)),
    ("trailer index 16", b"###\n%%%\n4:16 0,", (E.AUTH_MALFORMED, 8, -1)),
    ("auth missing", ns(b"(0)t=a"), (E.AUTH_MISSING, 17, -1)),
    ("auth unknown key", ns(b"(0)t=a", trailer=b"3 " + SHA1_HEX), (E.AUTH_UNKNOWN_KEY, 17, -1)),
    ("md5 length for sha1", ns(b"(0)t=a", trailer=b"1 " + MD5_HEX), (E.AUTH_MALFORMED, 17, -1)),
    ("crc form for sha1", ns(b"(0)t=a", trailer=b"1 1a2b"), (E.AUTH_MALFORMED, 17, -1)),
    ("auth mismatch", ns(b"(0)t=a", trailer=b"1 " + SHA1_HEX), (E.AUTH_MISMATCH, 17, -1)),
]


@pytest.mark.parametrize(
    ("frame", "expected"), [c[1:] for c in NS_ERRORS], ids=[c[0] for c in NS_ERRORS]
)
def test_netstring_errors(frame: bytes, expected: tuple[E, int, int]) -> None:
    assert error_of(frame) == expected


def test_netstring_too_many_fields() -> None:
    items = b"6:(0)a=b," * MAX_FIELDS
    assert len(ref.decode(b"###\n" + items + b"%%%\n", None).fields) == MAX_FIELDS
    frame = b"###\n" + items + b"6:(0)a=b,%%%\n"
    assert error_of(frame) == (E.TOO_MANY_FIELDS, 4 + 9 * MAX_FIELDS, MAX_FIELDS)


def test_netstring_values_are_raw() -> None:
    value = bytes(range(256))
    frame = ns(b"(1)b=" + value, b"(0)s=a\nb,c%%%\n=", b"(0)e=")
    assert ref.decode(frame, None).fields == (
        (b"b", 1, value),
        (b"s", 0, b"a\nb,c%%%\n="),
        (b"e", 0, b""),
    )


def test_names_may_hold_any_printable_byte_but_equals() -> None:
    name = bytes(b for b in range(0x21, 0x7F) if b != ord("=") and b != ord("("))[:MAX_NAME]
    frame = ns(b"(0)a,b%%=v", b"(0)" + name + b"=x")
    assert ref.decode(frame, None).fields == ((b"a,b%%", 0, b"v"), (name, 0, b"x"))
    assert ref.decode(ref.encode_classic([(b")x#", 0, b"y")], None), None).fields == (
        (b")x#", 0, b"y"),
    )


def test_parse_only_still_runs_every_parsing_check() -> None:
    assert error_of(b">>>\nt=a\nauth=1 XY\n<<<\n", None) == (E.AUTH_MALFORMED, 8, 1)
    assert error_of(b"###\n%%%\n3:1 x,", None) == (E.AUTH_MALFORMED, 8, -1)
    assert ref.decode(ns(b"(0)t=a", trailer=b"3 " + SHA1_HEX), None).key_index == 3


def test_error_message_names_field_and_byte() -> None:
    with pytest.raises(FrameError) as info:
        ref.decode(ns(b"(0)t=a", b"(0)seq=a\x13"), KEYRING)
    assert str(info.value).startswith("field 1 'seq' at byte 13: BAD_VALUE")


# --------------------------------------------------------------------------
# Encoding errors


def test_encoding_errors() -> None:
    ok = (b"t", 0, b"x")
    assert encode_error([ok, (b"v", 2, b"x")]) == (E.UNSUPPORTED_TYPE, -1, 1)
    assert encode_error([(b"", 0, b"x")]) == (E.BAD_NAME, -1, 0)
    assert encode_error([ok, (b"a=b", 0, b"x")]) == (E.BAD_NAME, -1, 1)
    assert encode_error([(b"(a", 0, b"x")]) == (E.BAD_NAME, -1, 0)
    assert encode_error([(b"a b", 0, b"x")]) == (E.BAD_NAME, -1, 0)
    assert encode_error([ok, (b"auth", 0, b"1 00")]) == (E.BAD_NAME, -1, 1)
    assert encode_error([(b"n" * (MAX_NAME + 1), 0, b"x")]) == (E.NAME_TOO_LONG, -1, 0)
    assert encode_error([(b"v", 1, b"x" * (MAX_VALUE + 1))]) == (E.VALUE_TOO_LONG, -1, 0)
    assert encode_error([(b"v", 0, b"a\x00")]) == (E.BAD_VALUE, -1, 0)
    assert encode_error([(b"v", 0, b"a\x13")]) == (E.BAD_VALUE, -1, 0)
    # the first failing field wins, checks in contract order within a field
    assert encode_error([(b"", 5, b"\x00"), (b"", 0, b"")]) == (E.UNSUPPORTED_TYPE, -1, 0)


def test_encoding_field_count_limits() -> None:
    fields = [(b"a", 0, b"b")] * (MAX_FIELDS - 1)
    ref.encode_classic(fields, KEYRING)
    ref.encode_netstring(fields, KEYRING)
    ref.encode_classic([*fields, (b"a", 0, b"b")], None)
    over = [*fields, (b"c", 0, b"d")]
    assert encode_error(over) == (E.TOO_MANY_FIELDS, -1, MAX_FIELDS - 1)
    assert encode_error([*over, (b"e", 0, b"f")], None) == (E.TOO_MANY_FIELDS, -1, MAX_FIELDS)


def test_encoding_too_large_and_bad_keyring() -> None:
    big = [(b"v%d" % i, 0, b"x" * MAX_VALUE) for i in range(4)]
    ref.encode_netstring(big[:3], KEYRING)
    assert encode_error(big) == (E.TOO_LARGE, -1, -1)
    no_signing_key = Keyring({1: AuthKey(1, Method.SHA1, b"s")}, None)
    assert encode_error([(b"t", 0, b"x")], no_signing_key) == (E.BAD_KEYRING, -1, -1)
    dangling = Keyring({1: AuthKey(1, Method.SHA1, b"s")}, 2)
    # checked before any field
    assert encode_error([(b"", 9, b"")], dangling) == (E.BAD_KEYRING, -1, -1)
