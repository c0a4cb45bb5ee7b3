"""The C codec (linklayer._native over _frame.c) against real heartbeat 3.0.6
frames, published digest vectors and every error code of docs/wire-format.md.

Expected errors are written out by hand from the contract (code, offset,
field index); test_agreement.py compares the C codec with the reference.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError

import pytest
from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]

import linklayer
from linklayer import _native as nat
from linklayer.errors import ErrorCode as E
from linklayer.errors import FrameError
from linklayer.message import (
    MAX_FIELDS,
    MAX_FRAME,
    MAX_NAME,
    MAX_VALUE,
    AuthKey,
    Decoded,
    Field,
    Form,
    Keyring,
    Method,
)
from tests.interop_vectors import KEYRING, Vector, serial_vectors, udp_vectors

UDP = udp_vectors()
SERIAL = serial_vectors()

STATUS: tuple[Field, ...] = (
    (b"t", 0, b"status"),
    (b"st", 0, b"active"),
    (b"dt", 0, b"2710"),
    (b"protocol", 0, b"1"),
    (b"src", 0, b"nodea"),
    (b"srcuuid", 1, bytes(range(0x0A, 0x1A))),
    (b"seq", 0, b"1a"),
    (b"hg", 0, b"6b066540"),
    (b"ts", 0, b"6b066554"),
    (b"ld", 0, b"0.28 0.16 0.09 3/118 31"),
    (b"ttl", 0, b"3"),
)

MULTI = Keyring(
    keys={
        1: AuthKey(1, Method.SHA1, b"secret"),
        2: AuthKey(2, Method.MD5, b"othersecret"),
        3: AuthKey(3, Method.CRC),
        15: AuthKey(15, Method.SHA1, b"k" * 100),
    },
    signing_index=1,
)


def signing_with(index: int) -> Keyring:
    return Keyring(keys=MULTI.keys, signing_index=index)


def err(code: E, offset: int, field: int) -> tuple[E, int, int]:
    return (code, offset, field)


def decode_error(frame: bytes, keyring: Keyring | None) -> tuple[E, int, int]:
    with pytest.raises(FrameError) as info:
        nat.decode(frame, keyring)
    return (info.value.code, info.value.offset, info.value.field_index)


def encode_error(form: str, fields: object, keyring: Keyring | None) -> tuple[E, int, int]:
    encoder = nat.encode_classic if form == "classic" else nat.encode_netstring
    with pytest.raises(FrameError) as info:
        encoder(fields, keyring)  # type: ignore[arg-type]
    return (info.value.code, info.value.offset, info.value.field_index)


# --------------------------------------------------------------------------
# Package surface


def test_package_reexports_the_c_codec() -> None:
    assert linklayer.decode is nat.decode
    assert linklayer.verify is nat.verify
    assert linklayer.Template is nat.Template
    assert linklayer.encode_classic is nat.encode_classic
    assert linklayer.encode_netstring is nat.encode_netstring
    assert linklayer.FrameError is FrameError
    assert (linklayer.STRING, linklayer.BINARY) == (0, 1)


def test_extension_exports_only_ffi_and_lib() -> None:
    import linklayer._frame_cffi as ext

    assert {n for n in dir(ext) if not n.startswith("__")} == {"ffi", "lib"}


def test_header_constants_match_the_contract() -> None:
    assert lib.HB_MAX_FRAME == MAX_FRAME
    assert lib.HB_MAX_FIELDS == MAX_FIELDS
    assert lib.HB_MAX_NAME == MAX_NAME
    assert lib.HB_MAX_VALUE == MAX_VALUE
    for code in E:
        assert getattr(lib, f"HB_{code.name}") == code.value


def test_decoded_is_a_regular_decoded() -> None:
    frame = nat.encode_netstring(STATUS, KEYRING)
    got = nat.decode(frame, KEYRING)
    built = Decoded(
        Form.NETSTRING, STATUS, got.signature, got.inner_auth, 1, Method.SHA1
    )
    assert got == built
    assert hash(got.fields) == hash(STATUS)
    assert got[b"src"] == b"nodea"
    with pytest.raises(AttributeError):
        got.form = Form.CLASSIC  # type: ignore[misc]


# --------------------------------------------------------------------------
# Real heartbeat 3.0.6 frames


@pytest.mark.parametrize("vector", UDP, ids=lambda v: v.kind)
def test_real_udp_frame_verifies(vector: Vector) -> None:
    got = nat.decode(vector.wire, KEYRING)
    assert got.form is Form.NETSTRING
    assert got.fields == vector.fields
    assert got.key_index == 1 and got.method is Method.SHA1
    trailer = vector.wire[vector.wire.index(b"%%%\n") + 4 :]
    assert got.signature == trailer[trailer.index(b":") + 1 : -1]
    assert got.inner_auth is not None and got.inner_auth.startswith(b"1 ")
    parsed = nat.decode(vector.wire, None)
    assert parsed.fields == vector.fields and parsed.key_index == 1 and parsed.method is None


@pytest.mark.parametrize("vector", UDP, ids=lambda v: v.kind)
def test_our_netstring_encoding_is_byte_identical(vector: Vector) -> None:
    assert vector.fields is not None
    assert nat.encode_netstring(vector.fields, KEYRING) == vector.wire


@pytest.mark.parametrize("vector", SERIAL, ids=lambda v: v.kind)
def test_real_serial_frame_verifies_and_reencodes(vector: Vector) -> None:
    got = nat.decode(vector.wire, KEYRING)
    assert got.form is Form.CLASSIC and got.key_index == 1 and got.method is Method.SHA1
    assert got.inner_auth is None
    assert nat.encode_classic(got.fields, KEYRING) == vector.wire


def test_serial_and_udp_captures_carry_the_same_message() -> None:
    udp = {v.kind: v for v in UDP}
    for vector in SERIAL:
        if vector.kind in udp:
            assert nat.decode(vector.wire, KEYRING).fields == udp[vector.kind].fields


def _flip(byte: int, string_value: bool) -> int:
    """A different byte that keeps the frame's syntax: letters change case,
    digits step, anything else (raw binary) is xor-ed with 1."""
    c = bytes([byte])
    if c.isalpha():
        return c.swapcase()[0]
    if c.isdigit():
        return ord("0") + (byte - ord("0") + 1) % 10
    flipped = byte ^ 1
    assert not (string_value and flipped in (0, 0x0A, 0x13))
    return flipped


B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _netstring_items(frame: bytes) -> list[tuple[int, int, int, int]]:
    """(item start, name start, value start, end) of every netstring item."""
    out, pos = [], 4
    while frame[pos : pos + 4] != b"%%%\n":
        colon = frame.index(b":", pos)
        end = colon + 1 + int(frame[pos:colon])
        equals = frame.index(b"=", colon)
        out.append((pos, colon + 4, equals + 1, end))
        pos = end + 1
    return out


@pytest.mark.parametrize("vector", UDP, ids=lambda v: v.kind)
def test_one_flipped_byte_in_any_field_or_signature_is_rejected(vector: Vector) -> None:
    wire = vector.wire
    items = _netstring_items(wire)
    trailer = wire.index(b"%%%\n") + 4
    for index, (_start, name_at, value_at, end) in enumerate(items):
        string = wire[name_at - 2] == ord("0")
        spots = [name_at] + ([value_at] if end > value_at else [])
        if end - value_at > 2:
            spots.append(end - 1)
        for spot in spots:
            bad = bytearray(wire)
            bad[spot] = _flip(wire[spot], string)
            assert decode_error(bytes(bad), KEYRING) == err(E.AUTH_MISMATCH, trailer, -1), (
                index,
                spot,
            )
    # The trailer's digest: a changed digit does not match; upper case is malformed.
    bad = bytearray(wire)
    bad[-2] = ord("0") if wire[-2] != ord("0") else ord("1")
    assert decode_error(bytes(bad), KEYRING) == err(E.AUTH_MISMATCH, trailer, -1)
    bad = bytearray(wire)
    bad[-2] = ord("A")
    assert decode_error(bytes(bad), KEYRING) == err(E.AUTH_MALFORMED, trailer, -1)
    # The trailer's key index: 2 is not configured.
    bad = bytearray(wire)
    colon = wire.index(b":", trailer)
    bad[colon + 1] = ord("2")
    assert decode_error(bytes(bad), KEYRING) == err(E.AUTH_UNKNOWN_KEY, trailer, -1)


@pytest.mark.parametrize("vector", SERIAL, ids=lambda v: v.kind)
def test_one_flipped_byte_in_any_classic_line_is_rejected(vector: Vector) -> None:
    wire = vector.wire
    lines = wire[4:].split(b"\n")[:-2]  # field lines, without "<<<" and the tail
    starts, pos = [], 4
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    auth_index = next(i for i, line in enumerate(lines) if line.startswith(b"auth="))
    auth_at = starts[auth_index]
    end_line = pos
    for index, (start, line) in enumerate(zip(starts, lines, strict=True)):
        binary = line.startswith(b"(1)")
        name_at = start + (3 if binary else 0)
        value_at = start + line.index(b"=") + 1
        for spot in (name_at, value_at):
            if spot >= start + len(line):
                continue
            bad = bytearray(wire)
            if binary and spot == value_at:  # first base64 digit of a group: any other digit
                bad[spot] = B64[(B64.index(wire[spot]) + 1) % 64]
            else:
                bad[spot] = _flip(wire[spot], not binary)
            got = decode_error(bytes(bad), KEYRING)
            if index == auth_index and spot == name_at:
                # "Auth=..." is an ordinary field: the frame has no signature.
                assert got == err(E.AUTH_MISSING, end_line, -1)
            elif index == auth_index:
                # The key index digit: 2 is not configured.
                assert got == err(E.AUTH_UNKNOWN_KEY, auth_at, auth_index)
            else:
                assert got == err(E.AUTH_MISMATCH, auth_at, auth_index), (index, spot)
    bad = bytearray(wire)
    last = end_line - 2  # the last hex digit of the auth value
    bad[last] = ord("0") if wire[last] != ord("0") else ord("1")
    assert decode_error(bytes(bad), KEYRING) == err(E.AUTH_MISMATCH, auth_at, auth_index)


def test_syntax_flips_in_a_real_frame_give_parse_errors() -> None:
    wire = UDP[0].wire
    items = _netstring_items(wire)
    start, name_at, value_at, end = items[1]
    index = 1

    def flipped(at: int, byte: bytes) -> bytes:
        return wire[:at] + byte + wire[at + 1 :]

    assert decode_error(flipped(end, b";"), KEYRING) == err(E.NS_NO_COMMA, start, index)
    assert decode_error(flipped(name_at - 4, b";"), KEYRING) == err(E.NS_BAD_LENGTH, start, index)
    assert decode_error(flipped(name_at - 3, b"["), KEYRING) == err(E.NS_NO_TYPE, start, index)
    assert decode_error(flipped(name_at - 2, b"4"), KEYRING) == err(E.UNSUPPORTED_TYPE, start, 1)
    assert decode_error(flipped(value_at - 1, b"-"), KEYRING) == err(E.NO_EQUALS, start, index)
    assert decode_error(flipped(name_at, b" "), KEYRING) == err(E.BAD_NAME, start, index)
    assert decode_error(flipped(value_at, b"\x13"), KEYRING) == err(E.BAD_VALUE, start, index)
    assert decode_error(flipped(value_at, b"\x00"), KEYRING) == err(E.BAD_VALUE, start, index)
    assert decode_error(flipped(0, b"$"), KEYRING) == err(E.UNKNOWN_FORM, 0, -1)
    marker = wire.index(b"%%%\n")
    assert decode_error(flipped(marker, b"&"), KEYRING) == err(
        E.NS_BAD_LENGTH, marker, len(items)
    )


# --------------------------------------------------------------------------
# Truncation at every byte of a real frame


def _expected_truncation_netstring(wire: bytes, k: int, verify: bool) -> tuple[E, int, int] | None:
    if k == 0:
        return err(E.EMPTY, 0, -1)
    if k < 4:
        return err(E.UNKNOWN_FORM, 0, -1)
    items = _netstring_items(wire)
    marker = wire.index(b"%%%\n")
    body_end = marker + 4
    if k == body_end:
        return err(E.AUTH_MISSING, k, -1) if verify else None
    if k > body_end:
        return err(E.TRUNCATED, body_end, -1)
    if k > marker:  # part of "%%%\n": not a length
        return err(E.NS_BAD_LENGTH, marker, len(items))
    for index, (start, _n, _v, end) in enumerate(items):
        if k == start:
            return err(E.TRUNCATED, k, -1)
        if start < k <= end:
            return err(E.TRUNCATED, start, index)
    assert k == marker
    return err(E.TRUNCATED, k, -1)


def _expected_truncation_classic(wire: bytes, k: int) -> tuple[E, int, int] | None:
    if k == 0:
        return err(E.EMPTY, 0, -1)
    if k < 4:
        return err(E.UNKNOWN_FORM, 0, -1)
    if k == len(wire):
        return None
    pos, index = 4, 0
    while True:
        newline = wire.index(b"\n", pos)
        if k == pos:
            return err(E.TRUNCATED, k, -1)
        if k <= newline:
            return err(E.TRUNCATED, pos, index)
        pos, index = newline + 1, index + 1


@pytest.mark.parametrize("verify", [False, True], ids=["parse", "verify"])
def test_truncated_at_every_byte_of_a_real_udp_frame(verify: bool) -> None:
    wire = UDP[5].wire
    keyring = KEYRING if verify else None
    for k in range(len(wire)):
        want = _expected_truncation_netstring(wire, k, verify)
        if want is None:
            assert nat.decode(wire[:k], keyring).fields == UDP[5].fields
        else:
            assert decode_error(wire[:k], keyring) == want, k


@pytest.mark.parametrize("verify", [False, True], ids=["parse", "verify"])
def test_truncated_at_every_byte_of_a_real_serial_frame(verify: bool) -> None:
    wire = SERIAL[5].wire
    keyring = KEYRING if verify else None
    for k in range(len(wire) + 1):
        want = _expected_truncation_classic(wire, k)
        if want is None:
            nat.decode(wire[:k], keyring)
        else:
            assert decode_error(wire[:k], keyring) == want, k


# --------------------------------------------------------------------------
# Digests: RFC 2202 and CRC-32/POSIX

RFC2202 = [
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00",
     b"\x0b" * 16, "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
     b"Jefe", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
     b"\xaa" * 16, "56be34521d144c88dbb8c733f0e8b3f6"),
    (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
     bytes(range(1, 26)), "697eaf0aca3a3aea3a75164746ffaa79"),
    (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
     b"\x0c" * 16, "56461ef2342edc00f9bab995690efd4c"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "aa4ae5e15272d00e95705637ce8a3b55ed402112",
     b"\xaa" * 80, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
    (b"\xaa" * 80,
     b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
     "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
     b"\xaa" * 80, "6f630fad67cda0ee1fb1f562db3aa53e"),
]  # fmt: skip


@pytest.mark.parametrize("case", RFC2202, ids=[f"case{i + 1}" for i in range(len(RFC2202))])
def test_rfc2202_hmac_sha1_and_md5(case: tuple[bytes, bytes, str, bytes, str]) -> None:
    sha_key, data, sha_hex, md5_key, md5_hex = case
    assert nat.digest(Method.SHA1, sha_key, data) == sha_hex.encode()
    assert nat.digest(Method.MD5, md5_key, data) == md5_hex.encode()


def test_crc32_posix_check_value_and_no_leading_zeros() -> None:
    assert nat.digest(Method.CRC, b"ignored", b"123456789") == b"765e7680"
    assert nat.digest(Method.CRC, b"", b"") == b"ffffffff"
    # A CRC whose top nibble is zero prints without leading zeros.
    found = next(
        bytes([a, b])
        for a in range(256)
        for b in range(256)
        if len(nat.digest(Method.CRC, b"", bytes([a, b]))) < 8
    )
    assert not nat.digest(Method.CRC, b"", found).startswith(b"0")


def test_digest_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown auth method"):
        nat.digest("sha256", b"k", b"d")  # type: ignore[arg-type]


def test_the_real_example_of_the_fact_sheet() -> None:
    signed = (
        b"t=status\nst=active\ndt=2710\nprotocol=1\nsrc=nodea\n"
        b"(1)srcuuid=Or8KBWPnTcKDIAX10KuoqQ==\nseq=1a\nhg=6b066540\nts=6b066554\n"
        b"ld=0.28 0.16 0.09 3/118 31\nttl=3\n"
    )
    assert nat.digest(Method.SHA1, b"testsecret", signed) == (
        b"d2499343d77ea5068136a459c1790a00617d4dc3"
    )


# --------------------------------------------------------------------------
# Round trips and keys


@pytest.mark.parametrize("index", [1, 2, 3, 15], ids=["sha1", "md5", "crc", "sha1-longkey"])
@pytest.mark.parametrize("form", ["classic", "netstring"])
def test_every_method_round_trips_and_any_configured_key_verifies(index: int, form: str) -> None:
    signer = signing_with(index)
    frame = (nat.encode_classic if form == "classic" else nat.encode_netstring)(STATUS, signer)
    method = MULTI.keys[index].method
    got = nat.decode(frame, MULTI)  # MULTI signs with key 1: any configured key verifies
    assert got.fields == STATUS and got.key_index == index and got.method is method
    assert got.signature is not None and got.signature.startswith(b"%d " % index)
    hexpart = got.signature.split(b" ")[1]
    if method is Method.CRC:
        assert 1 <= len(hexpart) <= 8
    else:
        assert len(hexpart) == (40 if method is Method.SHA1 else 32)
    # Verified with that key's own secret, not the signing key's.
    wrong = Keyring(
        keys={**MULTI.keys, 2: AuthKey(2, Method.MD5, b"secret"), 15: AuthKey(15, Method.SHA1)},
        signing_index=1,
    )
    if index in (2, 15):
        assert decode_error(frame, wrong)[0] is E.AUTH_MISMATCH


def test_unknown_key_index() -> None:
    frame = nat.encode_netstring(STATUS, signing_with(2))
    trailer = frame.index(b"%%%\n") + 4
    assert decode_error(frame, KEYRING) == err(E.AUTH_UNKNOWN_KEY, trailer, -1)
    classic = nat.encode_classic(STATUS, signing_with(3))
    auth_at = classic.index(b"auth=")
    assert decode_error(classic, KEYRING) == err(E.AUTH_UNKNOWN_KEY, auth_at, len(STATUS))


def test_digest_length_must_fit_the_keys_method() -> None:
    md5_frame = nat.encode_classic(STATUS, signing_with(2))
    as_sha1 = Keyring(keys={2: AuthKey(2, Method.SHA1, b"othersecret")}, signing_index=2)
    auth_at = md5_frame.index(b"auth=")
    assert decode_error(md5_frame, as_sha1) == err(E.AUTH_MALFORMED, auth_at, len(STATUS))


def test_unsigned_frames_and_inner_auth_choices() -> None:
    plain = nat.encode_netstring(STATUS, None)
    assert plain.endswith(b"%%%\n")
    assert nat.decode(plain, None) == Decoded(Form.NETSTRING, STATUS)
    assert decode_error(plain, KEYRING) == err(E.AUTH_MISSING, len(plain), -1)
    outer_only = nat.encode_netstring(STATUS, KEYRING, inner_auth=False)
    got = nat.decode(outer_only, KEYRING)
    assert got.inner_auth is None and got.fields == STATUS
    classic = nat.encode_classic(STATUS, None)
    assert decode_error(classic, KEYRING) == err(E.AUTH_MISSING, len(classic) - 4, -1)


def test_string_newlines_and_empty_values() -> None:
    fields: tuple[Field, ...] = ((b"info", 0, b"a\nb"), (b"e", 0, b""), (b"b", 1, b""))
    classic = nat.encode_classic(fields, KEYRING)
    assert b"info=a\x13b\n" in classic and b"(1)b=\n" in classic
    assert nat.decode(classic, KEYRING).fields == fields
    netstring = nat.encode_netstring(fields, KEYRING)
    assert b"11:(0)info=a\nb," in netstring
    assert nat.decode(netstring, KEYRING).fields == fields


def test_keyring_is_built_once_and_checked() -> None:
    assert nat._c_keyring(KEYRING) is nat._c_keyring(KEYRING)
    with pytest.raises(ValueError, match="carries index"):
        nat.decode(b">>>\n<<<\n", Keyring(keys={1: AuthKey(2, Method.SHA1, b"x")}))
    with pytest.raises(ValueError, match=r"not 0\.\.15"):
        nat.decode(b">>>\n<<<\n", Keyring(keys={16: AuthKey(16, Method.SHA1, b"x")}))
    with pytest.raises(TypeError, match="Keyring"):
        nat.decode(b">>>\n<<<\n", {1: "sha1"})  # type: ignore[arg-type]


def test_bad_field_shapes_are_type_errors() -> None:
    with pytest.raises(TypeError, match="field 1: expected a"):
        nat.encode_classic([(b"a", 0, b""), (b"b", 0)], None)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="field 0: value must be bytes"):
        nat.encode_netstring([(b"a", 0, "text")], None)  # type: ignore[list-item]


# --------------------------------------------------------------------------
# Every error code, with its offset and field index

HUGE = b"x" * MAX_VALUE


def classic(*lines: bytes) -> bytes:
    return b">>>\n" + b"".join(line + b"\n" for line in lines) + b"<<<\n"


def ns_item(payload: bytes) -> bytes:
    return b"%d:" % len(payload) + payload + b","


def netstring(*payloads: bytes, trailer: bytes = b"") -> bytes:
    return b"###\n" + b"".join(ns_item(p) for p in payloads) + b"%%%\n" + trailer


C_AUTH_SHA1 = b"auth=1 " + b"a" * 40

DECODE_CASES: list[tuple[str, bytes, bool, tuple[E, int, int]]] = [
    ("empty", b"", False, err(E.EMPTY, 0, -1)),
    ("too-large", b">>>\n" + b"x" * MAX_FRAME, False, err(E.TOO_LARGE, 0, -1)),
    ("unknown-form", b"<<<\n", False, err(E.UNKNOWN_FORM, 0, -1)),
    ("short-unknown-form", b">>>", False, err(E.UNKNOWN_FORM, 0, -1)),
    ("classic-truncated-at-line", b">>>\na=1\n", False, err(E.TRUNCATED, 8, -1)),
    ("classic-truncated-in-line", b">>>\na=1\nb=2", False, err(E.TRUNCATED, 8, 1)),
    ("classic-end-without-newline", b">>>\na=1\n<<<", False, err(E.TRUNCATED, 8, 1)),
    ("classic-trailing", b">>>\na=1\n<<<\n\n", False, err(E.TRAILING_DATA, 12, -1)),
    ("classic-too-many", classic(*[b"f=1"] * (MAX_FIELDS + 1)), False,
     err(E.TOO_MANY_FIELDS, 4 + 4 * MAX_FIELDS, MAX_FIELDS)),
    ("classic-bad-type-short", classic(b"a=1", b"(1"), False, err(E.BAD_TYPE, 8, 1)),
    ("classic-bad-type-letter", classic(b"(x)a=1"), False, err(E.BAD_TYPE, 4, 0)),
    ("classic-bad-type-zero", classic(b"(0)a=1"), False, err(E.BAD_TYPE, 4, 0)),
    ("classic-unsupported", classic(b"(2)a=1"), False, err(E.UNSUPPORTED_TYPE, 4, 0)),
    ("classic-no-equals", classic(b"a=1", b"novalue"), False, err(E.NO_EQUALS, 8, 1)),
    ("classic-empty-name", classic(b"=1"), False, err(E.BAD_NAME, 4, 0)),
    ("classic-long-name", classic(b"n" * (MAX_NAME + 1) + b"=1"), False,
     err(E.NAME_TOO_LONG, 4, 0)),
    ("classic-max-name-ok-then-space", classic(b"n" * MAX_NAME + b"=1", b"a b=1"), False,
     err(E.BAD_NAME, 4 + MAX_NAME + 3, 1)),
    ("classic-name-paren", classic(b"(1)(a=AA=="), False, err(E.BAD_NAME, 4, 0)),
    ("classic-long-value", classic(b"v=" + HUGE + b"x"), False, err(E.VALUE_TOO_LONG, 4, 0)),
    ("classic-nul", classic(b"a=1", b"v=a\x00b"), False, err(E.BAD_VALUE, 8, 1)),
    ("classic-b64-length", classic(b"(1)u=AAA"), False, err(E.BAD_BASE64, 4, 0)),
    ("classic-b64-alphabet", classic(b"(1)u=AA-A"), False, err(E.BAD_BASE64, 4, 0)),
    ("classic-b64-unused-bits", classic(b"(1)u=AB=="), False, err(E.BAD_BASE64, 4, 0)),
    ("classic-b64-inner-pad", classic(b"(1)u=A=AA"), False, err(E.BAD_BASE64, 4, 0)),
    ("classic-auth-binary", classic(b"(1)auth=AAAA"), False, err(E.AUTH_MALFORMED, 4, 0)),
    ("classic-auth-duplicate", classic(C_AUTH_SHA1, b"a=1", C_AUTH_SHA1), False,
     err(E.DUPLICATE_AUTH, 4 + 48 + 4, 2)),
    ("classic-auth-upper", classic(b"a=1", b"auth=1 " + b"A" * 40), False,
     err(E.AUTH_MALFORMED, 8, 1)),
    ("classic-auth-leading-zero-index", classic(b"auth=01 " + b"a" * 40), False,
     err(E.AUTH_MALFORMED, 4, 0)),
    ("classic-auth-index-16", classic(b"auth=16 " + b"a" * 40), False,
     err(E.AUTH_MALFORMED, 4, 0)),
    ("classic-auth-bad-length", classic(b"auth=1 " + b"a" * 39), False,
     err(E.AUTH_MALFORMED, 4, 0)),
    ("classic-auth-checked-after-lines", classic(b"auth=x", b"(7)a=1"), False,
     err(E.UNSUPPORTED_TYPE, 11, 1)),
    ("classic-missing", classic(b"a=1"), True, err(E.AUTH_MISSING, 8, -1)),
    ("classic-unknown-key", classic(b"a=1", b"auth=9 " + b"a" * 40), True,
     err(E.AUTH_UNKNOWN_KEY, 8, 1)),
    ("classic-wrong-length-for-sha1", classic(b"auth=1 " + b"a" * 32), True,
     err(E.AUTH_MALFORMED, 4, 0)),
    ("classic-mismatch", classic(b"a=1", C_AUTH_SHA1), True, err(E.AUTH_MISMATCH, 8, 1)),
    ("ns-truncated-at-item", b"###\n", False, err(E.TRUNCATED, 4, -1)),
    ("ns-truncated-in-length", b"###\n12", False, err(E.TRUNCATED, 4, 0)),
    ("ns-truncated-in-payload", b"###\n6:(0)a=1,5:(0)", False, err(E.TRUNCATED, 13, 1)),
    ("ns-truncated-marker-prefix", b"###\n%%%", False, err(E.NS_BAD_LENGTH, 4, 0)),
    ("ns-too-many", netstring(*[b"(0)f=1"] * (MAX_FIELDS + 1)), False,
     err(E.TOO_MANY_FIELDS, 4 + 9 * MAX_FIELDS, MAX_FIELDS)),
    ("ns-bad-length-letter", b"###\nx:(0)a=1,%%%\n", False, err(E.NS_BAD_LENGTH, 4, 0)),
    ("ns-bad-length-leading-zero", b"###\n06:(0)a=1,%%%\n", False,
     err(E.NS_BAD_LENGTH, 4, 0)),
    ("ns-bad-length-seven-digits", b"###\n1000000:", False, err(E.NS_BAD_LENGTH, 4, 0)),
    ("ns-bad-length-empty", b"###\n:(0)a=1,%%%\n", False, err(E.NS_BAD_LENGTH, 4, 0)),
    ("ns-no-comma", b"###\n6:(0)a=1;%%%\n", False, err(E.NS_NO_COMMA, 4, 0)),
    ("ns-no-type", netstring(b"(0)a=1", b"b=1"), False, err(E.NS_NO_TYPE, 13, 1)),
    ("ns-no-type-empty", netstring(b""), False, err(E.NS_NO_TYPE, 4, 0)),
    ("ns-unsupported", netstring(b"(2)a=1"), False, err(E.UNSUPPORTED_TYPE, 4, 0)),
    ("ns-no-equals", netstring(b"(0)a"), False, err(E.NO_EQUALS, 4, 0)),
    ("ns-bad-name", netstring(b"(1)(a=1"), False, err(E.BAD_NAME, 4, 0)),
    ("ns-long-name", netstring(b"(0)" + b"n" * (MAX_NAME + 1) + b"=1"), False,
     err(E.NAME_TOO_LONG, 4, 0)),
    ("ns-long-value", netstring(b"(1)v=" + HUGE + b"x"), False, err(E.VALUE_TOO_LONG, 4, 0)),
    ("ns-bad-value-013", netstring(b"(0)v=\x13"), False, err(E.BAD_VALUE, 4, 0)),
    ("ns-binary-may-hold-anything", netstring(b"(1)v=\x13\x00,\n"), True,
     err(E.AUTH_MISSING, 20, -1)),
    ("ns-auth-binary", netstring(b"(1)auth=x"), False, err(E.AUTH_MALFORMED, 4, 0)),
    ("ns-auth-duplicate", netstring(b"(0)auth=x", b"(0)auth=y"), False,
     err(E.DUPLICATE_AUTH, 16, 1)),
    ("ns-trailer-bad-length", netstring(b"(0)a=1", trailer=b"x"), False,
     err(E.NS_BAD_LENGTH, 17, -1)),
    ("ns-trailer-truncated", netstring(b"(0)a=1", trailer=b"42:1 ab"), False,
     err(E.TRUNCATED, 17, -1)),
    ("ns-trailer-no-comma", netstring(b"(0)a=1", trailer=b"3:0 0;"), False,
     err(E.NS_NO_COMMA, 17, -1)),
    ("ns-trailer-trailing", netstring(b"(0)a=1", trailer=b"3:0 0,x"), False,
     err(E.TRAILING_DATA, 23, -1)),
    ("ns-trailer-malformed", netstring(b"(0)a=1", trailer=b"3:0 g,"), False,
     err(E.AUTH_MALFORMED, 17, -1)),
    ("ns-trailer-crc-leading-zero", netstring(b"(0)a=1", trailer=b"4:0 0a,"), False,
     err(E.AUTH_MALFORMED, 17, -1)),
    ("ns-missing", netstring(b"(0)a=1"), True, err(E.AUTH_MISSING, 17, -1)),
    ("ns-unknown-key", netstring(b"(0)a=1", trailer=b"3:7 0,"), True,
     err(E.AUTH_UNKNOWN_KEY, 17, -1)),
    ("ns-wrong-length-for-sha1", netstring(b"(0)a=1", trailer=b"3:1 0,"), True,
     err(E.AUTH_MALFORMED, 17, -1)),
    ("ns-mismatch", netstring(b"(0)a=1", trailer=b"42:1 " + b"0" * 40 + b","), True,
     err(E.AUTH_MISMATCH, 17, -1)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "verify", "want"),
    [case[1:] for case in DECODE_CASES],
    ids=[case[0] for case in DECODE_CASES],
)
def test_decode_errors(frame: bytes, verify: bool, want: tuple[E, int, int]) -> None:
    assert decode_error(frame, KEYRING if verify else None) == want


def test_decode_error_names_the_field() -> None:
    with pytest.raises(FrameError) as info:
        nat.decode(classic(b"a=1", b"v=a\x00b"), None)
    assert info.value.field_name == b"v"
    assert str(info.value) == (
        "field 1 'v' at byte 8: BAD_VALUE: string value holds a NUL or 0x13 byte"
    )


def test_limits_themselves_are_accepted() -> None:
    fields = [(b"f%d" % i, i % 2, b"v") for i in range(MAX_FIELDS - 1)]
    for encoder in (nat.encode_classic, nat.encode_netstring):
        frame = encoder(fields, KEYRING)
        assert nat.decode(frame, KEYRING).fields == tuple(fields)
    unsigned = [(b"f%d" % i, 0, b"") for i in range(MAX_FIELDS)]
    assert len(nat.decode(nat.encode_netstring(unsigned, None), None).fields) == MAX_FIELDS
    big = [(b"n" * MAX_NAME, 0, HUGE), (b"b", 1, HUGE)]
    assert nat.decode(nat.encode_netstring(big, KEYRING), KEYRING).fields == tuple(big)
    # A frame of exactly MAX_FRAME bytes: three full values plus a filler.
    three = [(b"v%d" % i, 1, HUGE) for i in range(3)]
    room = MAX_FRAME - len(nat.encode_netstring([*three, (b"w", 1, b"")], None))
    filler = room - (len(str(room + 5)) - 1)  # the item's length prefix grows too
    exact = [*three, (b"w", 1, b"y" * filler)]
    frame = nat.encode_netstring(exact, None)
    assert len(frame) == MAX_FRAME
    assert nat.decode(frame, None).fields == tuple(exact)
    assert decode_error(frame + b"x", None) == err(E.TOO_LARGE, 0, -1)


ENCODE_CASES: list[tuple[str, object, Keyring | None, tuple[E, int, int]]] = [
    ("too-many-signed", [(b"f", 0, b"")] * MAX_FIELDS, KEYRING,
     err(E.TOO_MANY_FIELDS, -1, MAX_FIELDS - 1)),
    ("too-many-unsigned", [(b"f", 0, b"")] * (MAX_FIELDS + 1), None,
     err(E.TOO_MANY_FIELDS, -1, MAX_FIELDS)),
    ("earlier-field-first", [(b"f", 0, b"")] * 3 + [(b"", 0, b"")] + [(b"f", 0, b"")] * 200,
     None, err(E.BAD_NAME, -1, 3)),
    ("type-2", [(b"a", 0, b""), (b"b", 2, b"")], None, err(E.UNSUPPORTED_TYPE, -1, 1)),
    ("type-300", [(b"a", 300, b"")], None, err(E.UNSUPPORTED_TYPE, -1, 0)),
    ("type-str", [(b"a", "0", b"")], None, err(E.UNSUPPORTED_TYPE, -1, 0)),
    ("empty-name", [(b"", 0, b"")], None, err(E.BAD_NAME, -1, 0)),
    ("long-name", [(b"n" * (MAX_NAME + 1), 0, b"")], None, err(E.NAME_TOO_LONG, -1, 0)),
    ("equals-in-name", [(b"a=b", 0, b"")], None, err(E.BAD_NAME, -1, 0)),
    ("space-in-name", [(b"a b", 0, b"")], None, err(E.BAD_NAME, -1, 0)),
    ("paren-name", [(b"(a", 0, b"")], None, err(E.BAD_NAME, -1, 0)),
    ("auth-reserved", [(b"auth", 0, b"1 00")], None, err(E.BAD_NAME, -1, 0)),
    ("long-value", [(b"v", 1, HUGE + b"x")], None, err(E.VALUE_TOO_LONG, -1, 0)),
    ("nul-value", [(b"v", 0, b"a\x00")], None, err(E.BAD_VALUE, -1, 0)),
    ("x13-value", [(b"v", 0, b"\x13")], None, err(E.BAD_VALUE, -1, 0)),
    ("too-large", [(b"v%d" % i, 0, HUGE) for i in range(4)], None, err(E.TOO_LARGE, -1, -1)),
    ("bad-keyring", [(b"a", 0, b"")], Keyring(keys=KEYRING.keys), err(E.BAD_KEYRING, -1, -1)),
    ("bad-keyring-first", [(b"", 0, b"")], Keyring(keys=KEYRING.keys, signing_index=4),
     err(E.BAD_KEYRING, -1, -1)),
]  # fmt: skip


@pytest.mark.parametrize("form", ["classic", "netstring"])
@pytest.mark.parametrize(
    ("fields", "keyring", "want"),
    [case[1:] for case in ENCODE_CASES],
    ids=[case[0] for case in ENCODE_CASES],
)
def test_encode_errors(
    form: str, fields: object, keyring: Keyring | None, want: tuple[E, int, int]
) -> None:
    assert encode_error(form, fields, keyring) == want


def test_classic_base64_growth_counts_toward_too_large() -> None:
    # Each value is the largest a classic binary field may carry (its base64
    # is exactly MAX_VALUE bytes); five of them: 245760 bytes raw, 327680 written.
    fields = [(b"b%d" % i, 1, b"\x01" * (MAX_VALUE // 4 * 3)) for i in range(5)]
    assert len(nat.encode_netstring(fields, None)) < MAX_FRAME
    assert encode_error("classic", fields, None) == err(E.TOO_LARGE, -1, -1)


def test_no_space_from_the_c_api() -> None:
    err_out = ffi.new("hb_error *")
    out = ffi.new("char[]", 16)
    lens = ffi.new("int32_t[]", [1, 6])
    size = lib.hb_encode(
        lib.HB_FORM_NETSTRING, b"t", 1, b"status", 6, ffi.cast("char *", lens), b"\x00", 1,
        ffi.NULL, 0, out, 16, err_out,
    )
    assert size == -E.NO_SPACE and err_out.code == E.NO_SPACE
    size = lib.hb_encode(
        lib.HB_FORM_NETSTRING, b"t", 1, b"status", 6, ffi.cast("char *", lens), b"\x00", 1,
        ffi.NULL, 0, out, 0, err_out,
    )
    assert size == -E.NO_SPACE
    result = ffi.new("hb_decoded *")
    scratch = ffi.new("char[]", 8)
    frame = netstring(b"(0)a=1")
    assert lib.hb_decode(frame, len(frame), ffi.NULL, result, scratch, 8) == E.NO_SPACE
    assert result.err.code == E.NO_SPACE


def test_c_api_refuses_bad_arguments() -> None:
    result = ffi.new("hb_decoded *")
    assert lib.hb_decode(b"x", 1, ffi.NULL, ffi.NULL, ffi.NULL, 0) == lib.HB_BAD_ARGUMENT
    assert lib.hb_decode(b"", 0, ffi.NULL, result, ffi.NULL, 0) == E.EMPTY
    kr = ffi.gc(lib.hb_keyring_new(), lib.hb_keyring_free)
    assert lib.hb_keyring_add(kr, 16, lib.HB_METHOD_SHA1, b"k", 1) == lib.HB_BAD_ARGUMENT
    assert lib.hb_keyring_add(kr, 1, 9, b"k", 1) == lib.HB_BAD_ARGUMENT
    assert lib.hb_keyring_set_signing(kr, 16) == lib.HB_BAD_ARGUMENT
    out = ffi.new("char[]", 64)
    lens = ffi.new("int32_t[]", [5, 0])  # claims more name bytes than given
    size = lib.hb_encode(
        lib.HB_FORM_CLASSIC, b"t", 1, b"", 0, ffi.cast("char *", lens), b"\x00", 1, ffi.NULL,
        0, out, 64, ffi.NULL,
    )
    assert size == -lib.HB_BAD_ARGUMENT
    hexbuf = ffi.new("char[]", lib.HB_HEX_SIZE)
    assert lib.hb_digest_hex(7, b"", 0, b"", 0, hexbuf) == -lib.HB_BAD_ARGUMENT


def test_every_error_code_is_covered_here() -> None:
    decode_codes = {case[3][0] for case in DECODE_CASES}
    encode_codes = {case[3][0] for case in ENCODE_CASES}
    covered = decode_codes | encode_codes | {E.NO_SPACE}
    assert covered == set(E) - {E.OK}


# --------------------------------------------------------------------------
# Lazy Decoded: fields, signature and inner auth built on first access


def test_lazy_decoded_materialises_once_and_behaves_like_a_plain_one() -> None:
    frame = nat.encode_netstring(STATUS, KEYRING)
    got = nat.decode(frame, KEYRING)
    assert isinstance(got, Decoded)
    assert (got.form, got.key_index, got.method) == (Form.NETSTRING, 1, Method.SHA1)
    trailer = frame[frame.index(b"%%%\n") + 4 :]
    # signature and inner auth first: they load the fields too
    assert got.signature == trailer[trailer.index(b":") + 1 : -1]
    assert got.inner_auth is not None and got.inner_auth.startswith(b"1 ")
    assert got.fields == STATUS
    assert got.fields is got.fields
    plain = Decoded(Form.NETSTRING, STATUS, got.signature, got.inner_auth, 1, Method.SHA1)
    fresh = nat.decode(frame, KEYRING)
    assert fresh == plain and plain == fresh and hash(fresh) == hash(plain)
    assert repr(nat.decode(frame, KEYRING)) == repr(plain)
    assert nat.decode(frame, KEYRING).get(b"seq") == b"1a"
    assert nat.decode(frame, KEYRING)[b"ttl"] == b"3"
    assert plain != Decoded(Form.NETSTRING, STATUS[:-1], got.signature, got.inner_auth, 1)
    for clone in (pickle.loads(pickle.dumps(fresh)), copy.copy(nat.decode(frame, KEYRING))):
        assert type(clone) is Decoded and clone == plain


def test_decoded_is_immutable() -> None:
    got = nat.decode(nat.encode_classic(STATUS, KEYRING), KEYRING)
    for name in ("form", "fields", "signature", "_fields", "_frame", "key_index"):
        with pytest.raises(FrozenInstanceError):
            setattr(got, name, None)
        with pytest.raises(FrozenInstanceError):
            delattr(got, name)
    assert got.fields == STATUS


def test_parse_only_decode_is_built_at_once() -> None:
    frame = nat.encode_classic(STATUS, signing_with(2))
    got = nat.decode(frame, None)
    assert type(got) is Decoded
    assert (got.key_index, got.method, got.inner_auth) == (2, None, None)
    assert got.signature is not None and got.signature.startswith(b"2 ")
    assert got.fields == STATUS


def test_a_plain_decoded_without_fields_says_so() -> None:
    broken = object.__new__(Decoded)
    object.__setattr__(broken, "_fields", None)
    with pytest.raises(TypeError, match="without its fields"):
        _ = broken.fields


# --------------------------------------------------------------------------
# verify: decode's checks, the key index only


@pytest.mark.parametrize("index", [1, 2, 3, 15], ids=["sha1", "md5", "crc", "sha1-longkey"])
@pytest.mark.parametrize("form", ["classic", "netstring"])
def test_verify_returns_the_key_index(index: int, form: str) -> None:
    encode = nat.encode_classic if form == "classic" else nat.encode_netstring
    assert nat.verify(encode(STATUS, signing_with(index)), MULTI) == index


@pytest.mark.parametrize(
    ("frame", "verify"),
    [case[1:3] for case in DECODE_CASES],
    ids=[case[0] for case in DECODE_CASES],
)
def test_verify_rejects_as_decode_does(frame: bytes, verify: bool) -> None:
    with pytest.raises(FrameError) as info:
        nat.verify(frame, KEYRING)
    with pytest.raises(FrameError) as want:
        nat.decode(frame, KEYRING)
    assert info.value == want.value
    assert str(info.value) == str(want.value)


def test_verify_needs_a_keyring() -> None:
    with pytest.raises(TypeError, match="needs a Keyring"):
        nat.verify(nat.encode_netstring(STATUS, KEYRING), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Keyring"):
        nat.verify(nat.encode_netstring(STATUS, KEYRING), {1: "sha1"})  # type: ignore[arg-type]


def test_hb_verify_packs_its_result_and_writes_only_the_error() -> None:
    ckr = nat._c_keyring(MULTI)
    frame = nat.encode_classic(STATUS, signing_with(2))
    info = lib.hb_verify(frame, len(frame), ckr, ffi.NULL)
    assert info == lib.HB_FORM_CLASSIC | lib.HB_METHOD_MD5 << 2 | (2 + 1) << 4
    info = lib.hb_verify(frame, len(frame), ffi.NULL, ffi.NULL)
    assert info == lib.HB_FORM_CLASSIC | lib.HB_METHOD_NONE << 2 | (2 + 1) << 4
    plain = nat.encode_netstring(STATUS, None)
    assert lib.hb_verify(plain, len(plain), ffi.NULL, ffi.NULL) == lib.HB_FORM_NETSTRING
    err = ffi.new("hb_error *")
    assert lib.hb_verify(plain, len(plain), ckr, err) == -E.AUTH_MISSING
    assert (err.code, err.offset, err.field_index) == (E.AUTH_MISSING, len(plain), -1)
    assert lib.hb_verify(ffi.NULL, 5, ckr, err) == -lib.HB_BAD_ARGUMENT
    assert lib.hb_verify(b"", 0, ckr, ffi.NULL) == -E.EMPTY


# --------------------------------------------------------------------------
# Templates

KEEPALIVE_VARIABLE = (b"seq", b"ts", b"ld")
TICKS = [
    {"seq": b"1a", "ts": b"6b066554", "ld": b"0.28 0.16 0.09 3/118 31"},
    {"seq": b"0", "ts": b"", "ld": b"a\nb"},
    {"seq": b"ffffffff", "ts": b"7fffffff", "ld": b"x" * 1000},
]


def substituted(fields: tuple[Field, ...], values: dict[str, bytes]) -> list[Field]:
    return [(n, t, values.get(n.decode(), v)) for n, t, v in fields]


@pytest.mark.parametrize("signer", [None, 1, 2, 3, 15], ids=["unsigned", "sha1", "md5", "crc",
                                                            "sha1-longkey"])
@pytest.mark.parametrize("inner", [True, False], ids=["inner", "outer-only"])
@pytest.mark.parametrize("form", [Form.CLASSIC, Form.NETSTRING])
def test_template_gives_the_encoders_bytes(form: Form, inner: bool, signer: int | None) -> None:
    keyring = None if signer is None else signing_with(signer)

    def encode(fields: list[Field] | tuple[Field, ...]) -> bytes:
        if form is Form.CLASSIC:
            return nat.encode_classic(fields, keyring)
        return nat.encode_netstring(fields, keyring, inner_auth=inner)

    template = nat.Template(STATUS, form, keyring, KEEPALIVE_VARIABLE, inner_auth=inner)
    assert template.fields == STATUS and template.form is form
    assert template.variable == KEEPALIVE_VARIABLE
    assert template.encode() == encode(STATUS)
    for tick in TICKS:
        assert template.encode(**tick) == encode(substituted(STATUS, tick)), tick
        assert template.encode_values(tick["seq"], tick["ts"], tick["ld"]) == encode(
            substituted(STATUS, tick)
        )
        assert template.bind3()(tick["seq"], tick["ts"], tick["ld"]) == encode(
            substituted(STATUS, tick)
        )
    assert template.encode(ld=b"1.00") == encode(substituted(STATUS, {"ld": b"1.00"}))


def test_bind3_errors_are_encode_values_errors() -> None:
    template = nat.Template(STATUS, Form.NETSTRING, KEYRING, KEEPALIVE_VARIABLE)
    encode3 = template.bind3()
    with pytest.raises(FrameError) as bound:
        encode3(b"1", b"2", b"x" * (MAX_VALUE + 1))
    with pytest.raises(FrameError) as plain:
        template.encode_values(b"1", b"2", b"x" * (MAX_VALUE + 1))
    assert bound.value == plain.value and bound.value.code is E.VALUE_TOO_LONG
    with pytest.raises(TypeError):
        encode3(b"1", "2", b"3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="3 variable fields, not 2"):
        nat.Template(STATUS, Form.CLASSIC, KEYRING, (b"seq", b"ts")).bind3()


def test_template_slots_anywhere_and_of_any_type() -> None:
    binary_first = ((b"u", 1, b"\x00\x01"), *STATUS, (b"tail", 1, b""))
    for variable in ((), (b"u",), (b"tail",), (b"u", b"t", b"srcuuid", b"tail")):
        for form, encode in ((Form.CLASSIC, nat.encode_classic),
                             (Form.NETSTRING, nat.encode_netstring)):
            template = nat.Template(binary_first, form, KEYRING, variable)
            values = {name.decode(): bytes(range(7)) * 100 for name in variable}
            if b"t" in variable:
                values["t"] = b"status\nnew"
            want = encode(substituted(binary_first, values), KEYRING)
            assert template.encode(**values) == want, (variable, form)


def test_template_value_errors_name_the_field() -> None:
    template = nat.Template(STATUS, Form.NETSTRING, KEYRING, KEEPALIVE_VARIABLE)
    cases = [
        ({"ts": b"a\x00"}, E.BAD_VALUE, 8),
        ({"ld": b"\x13"}, E.BAD_VALUE, 9),
        ({"seq": b"x" * (MAX_VALUE + 1)}, E.VALUE_TOO_LONG, 6),
        ({"seq": HUGE, "ts": HUGE, "ld": HUGE, }, None, None),
    ]
    for values, code, index in cases:
        if code is None:
            assert template.encode(**values) == nat.encode_netstring(
                substituted(STATUS, values), KEYRING
            )
            continue
        with pytest.raises(FrameError) as info:
            template.encode(**values)
        assert (info.value.code, info.value.offset, info.value.field_index) == (code, -1, index)
        assert info.value.field_name == STATUS[index][0]
        with pytest.raises(FrameError) as want:
            nat.encode_netstring(substituted(STATUS, values), KEYRING)
        assert info.value == want.value
    big = ((b"a", 1, HUGE), (b"b", 1, HUGE), (b"c", 1, HUGE), (b"v", 1, b""))
    # Constant fields too large on their own (base64 grows): refused at build.
    # (A classic binary value is itself limited as written: MAX_VALUE // 4 * 3.)
    big_classic = (*((b"c%d" % i, 1, b"\x01" * (MAX_VALUE // 4 * 3)) for i in range(5)),
                   (b"v", 1, b""))
    with pytest.raises(FrameError) as info:
        nat.Template(big_classic, Form.CLASSIC, None, (b"v",))
    assert (info.value.code, info.value.field_index) == (E.TOO_LARGE, -1)
    with pytest.raises(FrameError) as info:
        nat.Template(big, Form.CLASSIC, None, (b"v",))
    assert (info.value.code, info.value.field_index) == (E.VALUE_TOO_LONG, 0)
    netstring = nat.Template(big, Form.NETSTRING, KEYRING, (b"v",))
    assert nat.decode(netstring.encode(v=b"fits"), KEYRING).fields[-1] == (b"v", 1, b"fits")
    with pytest.raises(FrameError) as info:
        netstring.encode(v=HUGE)
    assert info.value.code is E.TOO_LARGE


def test_template_argument_errors() -> None:
    template = nat.Template(STATUS, Form.CLASSIC, KEYRING, (b"seq",))
    with pytest.raises(TypeError, match=r"no variable field named 'ts'.*variable: seq"):
        template.encode(ts=b"1")
    with pytest.raises(TypeError, match="field 6 'seq': value must be bytes, not str"):
        template.encode(seq="1f")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="field 6 'seq': value must be bytes, not int"):
        template.encode_values(31)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes 1 values \(seq\), got 2"):
        template.encode_values(b"1", b"2")
    with pytest.raises(TypeError, match=r"takes 1 values \(seq\), got 0"):
        template.encode_values()
    assert template.encode_values(b"1f") == template.encode(seq=b"1f")
    with pytest.raises(ValueError, match="at most 4 variable fields"):
        nat.Template(STATUS, Form.CLASSIC, KEYRING, (b"t", b"st", b"dt", b"seq", b"ts"))
    with pytest.raises(ValueError, match="named twice"):
        nat.Template(STATUS, Form.CLASSIC, KEYRING, (b"seq", b"seq"))
    with pytest.raises(ValueError, match=r"b'nope' must appear exactly once.*not 0"):
        nat.Template(STATUS, Form.CLASSIC, KEYRING, (b"nope",))
    with pytest.raises(ValueError, match="not 2 times"):
        nat.Template([*STATUS, (b"seq", 0, b"")], Form.CLASSIC, KEYRING, (b"seq",))
    with pytest.raises(TypeError, match="form must be a Form"):
        nat.Template(STATUS, "classic", KEYRING, ())  # type: ignore[arg-type]


@pytest.mark.parametrize("form", [Form.CLASSIC, Form.NETSTRING])
@pytest.mark.parametrize(
    ("fields", "keyring", "want"),
    [case[1:] for case in ENCODE_CASES],
    ids=[case[0] for case in ENCODE_CASES],
)
def test_template_build_errors_are_the_encoders(
    form: Form, fields: object, keyring: Keyring | None, want: tuple[E, int, int]
) -> None:
    with pytest.raises(FrameError) as info:
        nat.Template(fields, form, keyring, ())  # type: ignore[arg-type]
    assert (info.value.code, info.value.offset, info.value.field_index) == want


def _c_fields(fields: tuple[Field, ...]) -> tuple[bytes, bytes, bytes, bytes, int]:
    n, names, values, lens, types = nat._split(fields)
    return names, values, lens, types, n


@pytest.mark.parametrize("signer", [1, 2, 3], ids=["sha1", "md5", "crc"])
@pytest.mark.parametrize("form", [lib.HB_FORM_CLASSIC, lib.HB_FORM_NETSTRING])
def test_c_encoders_fill_an_exact_buffer_and_refuse_a_short_one(form: int, signer: int) -> None:
    """Every buffer size: the frame when it fits, NO_SPACE when it does not
    (the signature then comes from the streaming path, which must agree)."""
    names, values, lens, types, n = _c_fields(STATUS)
    ckr = nat._c_keyring(signing_with(signer))
    err = ffi.new("hb_error *")
    want = (nat.encode_classic if form == lib.HB_FORM_CLASSIC else nat.encode_netstring)(
        STATUS, signing_with(signer)
    )
    variable = bytes(1 if name in KEEPALIVE_VARIABLE else 0 for name, _t, _v in STATUS)
    tpl = ffi.gc(
        lib.hb_template_new(form, names, len(names), values, len(values), lens, types, n, ckr, 1,
                            variable, err),
        lib.hb_template_free,
    )
    slot_values = [STATUS[i][2] for i in range(n) if variable[i]]
    for cap in (len(want), len(want) - 1, len(want) // 2, 5, 0):
        out = ffi.new("char[]", max(cap, 1))
        size = lib.hb_encode(form, names, len(names), values, len(values), lens, types, n, ckr,
                             1, out, cap, err)
        tsize = lib.hb_template_encode(tpl, *[x for v in slot_values for x in (v, len(v))],
                                       ffi.NULL, 0, out, cap, err)
        if cap >= len(want):
            assert size == tsize == len(want) and ffi.unpack(out, size) == want
        else:
            assert size == tsize == -E.NO_SPACE and err.code == E.NO_SPACE


def test_c_template_refuses_bad_arguments() -> None:
    names, values, lens, types, n = _c_fields(STATUS)
    err = ffi.new("hb_error *")
    args = (names, len(names), values, len(values), lens, types, n, ffi.NULL, 0)
    assert lib.hb_template_new(lib.HB_FORM_CLASSIC, *args, ffi.NULL, err) == ffi.NULL
    assert err.code == lib.HB_BAD_ARGUMENT
    assert lib.hb_template_new(7, *args, bytes(n), err) == ffi.NULL
    assert err.code == lib.HB_BAD_ARGUMENT
    five = bytes([1] * 5 + [0] * (n - 5))
    assert lib.hb_template_new(lib.HB_FORM_CLASSIC, *args, five, err) == ffi.NULL
    assert (err.code, err.field_index) == (lib.HB_BAD_ARGUMENT, 4)
    tpl = ffi.gc(lib.hb_template_new(lib.HB_FORM_CLASSIC, *args, bytes([1] + [0] * (n - 1)),
                                     err), lib.hb_template_free)
    out = ffi.new("char[]", 64)
    assert lib.hb_template_encode(tpl, ffi.NULL, 3, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, 0,
                                  out, 64, err) == -lib.HB_BAD_ARGUMENT
    assert lib.hb_template_encode(ffi.NULL, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, 0,
                                  out, 64, err) == -lib.HB_BAD_ARGUMENT
    assert lib.hb_template_encode(tpl, b"x", 1, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, 0,
                                  ffi.NULL, 64, ffi.NULL) == -lib.HB_BAD_ARGUMENT
    lib.hb_template_free(ffi.NULL)


def test_classic_binary_values_are_limited_as_written_so_every_frame_decodes() -> None:
    """In classic form a binary value is written as base64 and the decoder
    limits what is written: the encoder limits the same thing."""
    from linklayer import reference as ref

    largest = MAX_VALUE // 4 * 3  # base64 of this is exactly MAX_VALUE bytes
    for codec in (nat, ref):
        fits = [(b"blob", 1, b"\xff" * largest)]
        frame = codec.encode_classic(fits, KEYRING)
        assert nat.decode(frame, KEYRING).fields == tuple(fits)
        with pytest.raises(FrameError) as info:
            codec.encode_classic([(b"blob", 1, b"\xff" * (largest + 1))], KEYRING)
        assert (info.value.code, info.value.field_index) == (E.VALUE_TOO_LONG, 0)
        # netstring carries binary raw: the whole MAX_VALUE fits
        raw = codec.encode_netstring([(b"blob", 1, b"\xff" * MAX_VALUE)], KEYRING)
        assert nat.decode(raw, KEYRING).fields[0][2] == b"\xff" * MAX_VALUE
    template = nat.Template([(b"blob", 1, b"")], Form.CLASSIC, KEYRING, (b"blob",))
    assert template.encode_values(b"\x00" * largest)
    with pytest.raises(FrameError) as info:
        template.encode_values(b"\x00" * (largest + 1))
    assert info.value.code is E.VALUE_TOO_LONG
