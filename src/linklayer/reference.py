"""Pure-Python reference codec: the oracle for the C codec.

Implements docs/wire-format.md literally (same rules, same order of checks,
same error codes, offsets and field indexes) with no I/O and no cleverness,
so property tests can compare the C codec against it. Speed is not a goal.

Choices where the contract leaves room (reported to the lead so the
contract can say them too):

* Whole-frame errors (`EMPTY`, `TOO_LARGE`, `UNKNOWN_FORM`) report offset 0
  and field -1.
* `TRUNCATED` reports the start and index of the incomplete line or item;
  input ending exactly at a line or item start reports offset
  `len(frame)` and field -1. Inside the netstring trailer: the trailer's
  start and field -1.
* `TRAILING_DATA` reports the offset of the first byte after the end of the
  message (after `<<<\\n` or after the trailer's comma), field -1.
* Field indexes count every field on the wire, `auth` included.
* An auth value is well formed when it is `N hex` with N as the contract
  says and a hex part that fits at least one method (40 or 32 lowercase
  digits, or 1..8 without a leading zero). A classic frame's `auth` field is
  checked for this after the `<<<` line (also when parse-only), at the auth
  line's offset and field index; the netstring trailer is checked as its
  step 4 says. Verification then requires the exact length of the key's
  method. A netstring frame's inner `auth` value is never checked.
* `AUTH_MISSING` reports where the signature was expected: the `<<<` line
  (classic) or the end of the frame (netstring), field -1. The other
  verification errors report the signature's start (the `auth` line with
  its field index, or the trailer with field -1).
* Encoding errors report offset -1; `BAD_KEYRING` is checked before any
  field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

from linklayer.errors import ErrorCode, FrameError
from linklayer.message import (
    BINARY,
    MAX_FIELDS,
    MAX_FRAME,
    MAX_NAME,
    MAX_VALUE,
    STRING,
    AuthKey,
    Decoded,
    Field,
    Form,
    Keyring,
    Method,
)

__all__ = ["classic_signed_bytes", "decode", "digest", "encode_classic", "encode_netstring"]

CLASSIC_START = b">>>\n"
CLASSIC_END_LINE = b"<<<"
NETSTRING_START = b"###\n"
NETSTRING_END = b"%%%\n"
AUTH = b"auth"
ESCAPED_NEWLINE = 0x13

_DIGITS = b"0123456789"
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_AUTH_VALUE = re.compile(rb"(0|[1-9][0-9]?) ([0-9a-f]+)")


# --------------------------------------------------------------------------
# Digests


def _crc32_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc32_table()


def crc32_posix(data: bytes) -> int:
    """CRC-32/POSIX: poly 0x04C11DB7, init 0, MSB first, xorout 0xFFFFFFFF."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc ^ 0xFFFFFFFF


def digest(method: Method, key: bytes, data: bytes) -> bytes:
    """The lowercase hex digest heartbeat writes for `data` (crc ignores `key`)."""
    if method is Method.SHA1:
        return hmac.new(key, data, hashlib.sha1).hexdigest().encode("ascii")
    if method is Method.MD5:
        return hmac.new(key, data, hashlib.md5).hexdigest().encode("ascii")
    if method is Method.CRC:
        return b"%x" % crc32_posix(data)
    raise ValueError(f"unknown auth method {method!r}")


def _digest_fits(method: Method, hexpart: bytes) -> bool:
    if method is Method.SHA1:
        return len(hexpart) == 40
    if method is Method.MD5:
        return len(hexpart) == 32
    return 1 <= len(hexpart) <= 8 and (hexpart == b"0" or hexpart[:1] != b"0")


def _parse_auth_value(value: bytes) -> tuple[int, bytes] | None:
    """(key index, hex digest) if `value` is a well-formed auth value."""
    match = _AUTH_VALUE.fullmatch(value)
    if match is None:
        return None
    index = int(match.group(1))
    hexpart = match.group(2)
    if index > 15:
        return None
    if not any(_digest_fits(m, hexpart) for m in Method):
        return None
    return index, hexpart


# --------------------------------------------------------------------------
# Field rendering and checks shared by both forms


def _name_error(name: bytes) -> ErrorCode | None:
    if not name:
        return ErrorCode.BAD_NAME
    if len(name) > MAX_NAME:
        return ErrorCode.NAME_TOO_LONG
    if name[0] == ord("("):
        return ErrorCode.BAD_NAME
    for byte in name:
        if byte < 0x21 or byte > 0x7E or byte == ord("="):
            return ErrorCode.BAD_NAME
    return None


def _string_value_ok(value: bytes) -> bool:
    return 0 not in value and ESCAPED_NEWLINE not in value


def _classic_line(field: Field) -> bytes:
    name, ftype, value = field
    if ftype == BINARY:
        return b"(1)" + name + b"=" + base64.b64encode(value) + b"\n"
    return name + b"=" + value.replace(b"\n", bytes([ESCAPED_NEWLINE])) + b"\n"


def classic_signed_bytes(fields: Iterable[Field]) -> bytes:
    return b"".join(_classic_line(f) for f in fields)


def _netstring_item(payload: bytes) -> bytes:
    return b"%d:" % len(payload) + payload + b","


def _canonical_base64(text: bytes) -> bytes | None:
    """Decode canonical padded base64, or None."""
    if len(text) % 4:
        return None
    pad = len(text) - len(text.rstrip(b"="))
    if pad > 2:
        return None
    body = text[: len(text) - pad]
    if any(byte not in _BASE64_ALPHABET for byte in body):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw) != text:  # non-zero unused bits
        return None
    return raw


# --------------------------------------------------------------------------
# Encoding


def _field_error(
    index: int, limit: int, name: bytes, ftype: int, value: bytes, classic: bool
) -> ErrorCode | None:
    """The first encoding check `fields[index]` fails, in contract order."""
    if index >= limit:
        return ErrorCode.TOO_MANY_FIELDS
    if ftype not in (STRING, BINARY):
        return ErrorCode.UNSUPPORTED_TYPE
    code = _name_error(name)
    if code is not None:
        return code
    if name == AUTH:
        return ErrorCode.BAD_NAME
    written = (len(value) + 2) // 3 * 4 if classic and ftype == BINARY else len(value)
    if len(value) > MAX_VALUE or written > MAX_VALUE:
        return ErrorCode.VALUE_TOO_LONG
    if ftype == STRING and not _string_value_ok(value):
        return ErrorCode.BAD_VALUE
    return None


def _check_fields(fields: Iterable[Field], signing: bool, classic: bool) -> tuple[Field, ...]:
    limit = MAX_FIELDS - 1 if signing else MAX_FIELDS
    out = []
    for index, (raw_name, ftype, raw_value) in enumerate(fields):
        name, value = bytes(raw_name), bytes(raw_value)
        code = _field_error(index, limit, name, ftype, value, classic)
        if code is not None:
            raise FrameError(code, -1, index, name)
        out.append((name, int(ftype), value))
    return tuple(out)


def _signing_key(keyring: Keyring | None) -> AuthKey | None:
    if keyring is None:
        return None
    key = keyring.signing_key
    if key is None:
        raise FrameError(ErrorCode.BAD_KEYRING)
    return key


def _auth_value(key: AuthKey, data: bytes) -> bytes:
    return b"%d " % key.index + digest(key.method, key.secret, data)


def _finish(frame: bytes) -> bytes:
    if len(frame) > MAX_FRAME:
        raise FrameError(ErrorCode.TOO_LARGE)
    return frame


def encode_classic(fields: Iterable[Field], keyring: Keyring | None) -> bytes:
    """Build a classic `>>>` frame, signed with the keyring's signing key if given."""
    key = _signing_key(keyring)
    checked = _check_fields(fields, key is not None, classic=True)
    body = classic_signed_bytes(checked)
    auth = b""
    if key is not None:
        auth = b"auth=" + _auth_value(key, body) + b"\n"
    return _finish(CLASSIC_START + body + auth + CLASSIC_END_LINE + b"\n")


def encode_netstring(
    fields: Iterable[Field], keyring: Keyring | None, *, inner_auth: bool = True
) -> bytes:
    """Build a netstring `###` frame; when signing, add the inner classic
    `auth` item (unless `inner_auth` is false) and the trailer."""
    key = _signing_key(keyring)
    checked = _check_fields(fields, key is not None, classic=False)
    parts = [NETSTRING_START]
    for name, ftype, value in checked:
        parts.append(_netstring_item(b"(%d)" % ftype + name + b"=" + value))
    if key is not None and inner_auth:
        inner = _auth_value(key, classic_signed_bytes(checked))
        parts.append(_netstring_item(b"(0)auth=" + inner))
    parts.append(NETSTRING_END)
    signed = b"".join(parts)
    if key is None:
        return _finish(signed)
    return _finish(signed + _netstring_item(_auth_value(key, signed)))


# --------------------------------------------------------------------------
# Decoding


class _Parsed:
    """What the parser found, before verification."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.fields: list[Field] = []  # without auth
        self.auth_value: bytes | None = None  # the auth field's value
        self.auth_offset = -1
        self.auth_index = -1
        self.signature: bytes | None = None  # what authenticates the frame
        self.signature_offset = -1
        self.signature_field = -1
        self.missing_offset = -1  # where a missing signature was expected
        self.signed: bytes = b""  # the bytes the signature covers


def _check_name(name: bytes, offset: int, index: int) -> None:
    code = _name_error(name)
    if code is not None:
        raise FrameError(code, offset, index, name)


def _add_field(
    parsed: _Parsed, name: bytes, ftype: int, value: bytes, offset: int, index: int
) -> None:
    """The `auth` rules shared by both forms, then keep the field."""
    if name == AUTH:
        if ftype != STRING:
            raise FrameError(ErrorCode.AUTH_MALFORMED, offset, index, name)
        if parsed.auth_value is not None:
            raise FrameError(ErrorCode.DUPLICATE_AUTH, offset, index, name)
        parsed.auth_value = value
        parsed.auth_offset = offset
        parsed.auth_index = index
        return
    parsed.fields.append((name, ftype, value))


def _parse_classic(frame: bytes) -> _Parsed:
    parsed = _Parsed(Form.CLASSIC)
    pos = len(CLASSIC_START)
    index = 0
    while True:
        if pos == len(frame):
            raise FrameError(ErrorCode.TRUNCATED, pos, -1)
        newline = frame.find(b"\n", pos)
        if newline < 0:
            raise FrameError(ErrorCode.TRUNCATED, pos, index)
        line = frame[pos:newline]
        if line == CLASSIC_END_LINE:
            if newline + 1 != len(frame):
                raise FrameError(ErrorCode.TRAILING_DATA, newline + 1, -1)
            parsed.missing_offset = pos
            break
        _parse_classic_line(parsed, line, pos, index)
        index += 1
        pos = newline + 1

    parsed.signed = classic_signed_bytes(parsed.fields)
    if parsed.auth_value is not None:
        if _parse_auth_value(parsed.auth_value) is None:
            raise FrameError(ErrorCode.AUTH_MALFORMED, parsed.auth_offset, parsed.auth_index, AUTH)
        parsed.signature = parsed.auth_value
        parsed.signature_offset = parsed.auth_offset
        parsed.signature_field = parsed.auth_index
    return parsed


def _parse_classic_line(parsed: _Parsed, line: bytes, offset: int, index: int) -> None:
    if index >= MAX_FIELDS:
        raise FrameError(ErrorCode.TOO_MANY_FIELDS, offset, index)
    ftype = STRING
    rest = line
    if line[:1] == b"(":
        if len(line) < 3 or line[1] not in _DIGITS or line[2] != ord(")"):
            raise FrameError(ErrorCode.BAD_TYPE, offset, index)
        digit = line[1] - ord("0")
        if digit == 0:
            raise FrameError(ErrorCode.BAD_TYPE, offset, index)
        if digit != BINARY:
            raise FrameError(ErrorCode.UNSUPPORTED_TYPE, offset, index)
        ftype = BINARY
        rest = line[3:]
    equals = rest.find(b"=")
    if equals < 0:
        raise FrameError(ErrorCode.NO_EQUALS, offset, index)
    name = rest[:equals]
    _check_name(name, offset, index)
    written = rest[equals + 1 :]
    if len(written) > MAX_VALUE:
        raise FrameError(ErrorCode.VALUE_TOO_LONG, offset, index, name)
    if ftype == STRING:
        if 0 in written:
            raise FrameError(ErrorCode.BAD_VALUE, offset, index, name)
        value = written.replace(bytes([ESCAPED_NEWLINE]), b"\n")
    else:
        raw = _canonical_base64(written)
        if raw is None:
            raise FrameError(ErrorCode.BAD_BASE64, offset, index, name)
        if len(raw) > MAX_VALUE:
            raise FrameError(ErrorCode.VALUE_TOO_LONG, offset, index, name)
        value = raw
    _add_field(parsed, name, ftype, value, offset, index)


def _netstring_length(frame: bytes, start: int, index: int) -> tuple[int, int]:
    """Parse `<len>:` at `start`; return (length, offset of the payload)."""
    pos = start
    while True:
        if pos == len(frame):
            raise FrameError(ErrorCode.TRUNCATED, start, index)
        byte = frame[pos]
        if byte == ord(":"):
            if pos == start:
                raise FrameError(ErrorCode.NS_BAD_LENGTH, start, index)
            return int(frame[start:pos]), pos + 1
        if byte not in _DIGITS:
            raise FrameError(ErrorCode.NS_BAD_LENGTH, start, index)
        if pos - start == 6:  # a seventh digit
            raise FrameError(ErrorCode.NS_BAD_LENGTH, start, index)
        if pos > start and frame[start] == ord("0"):  # leading zero
            raise FrameError(ErrorCode.NS_BAD_LENGTH, start, index)
        pos += 1


def _netstring_payload(frame: bytes, start: int, index: int) -> tuple[bytes, int]:
    """Parse one netstring at `start`; return (payload, offset after the comma)."""
    length, begin = _netstring_length(frame, start, index)
    end = begin + length
    if end + 1 > len(frame):
        raise FrameError(ErrorCode.TRUNCATED, start, index)
    if frame[end] != ord(","):
        raise FrameError(ErrorCode.NS_NO_COMMA, start, index)
    return frame[begin:end], end + 1


def _parse_netstring(frame: bytes) -> _Parsed:
    parsed = _Parsed(Form.NETSTRING)
    pos = len(NETSTRING_START)
    index = 0
    while True:
        if frame[pos : pos + 4] == NETSTRING_END:
            pos += 4
            break
        if pos == len(frame):
            raise FrameError(ErrorCode.TRUNCATED, pos, -1)
        if index >= MAX_FIELDS:
            raise FrameError(ErrorCode.TOO_MANY_FIELDS, pos, index)
        payload, after = _netstring_payload(frame, pos, index)
        _parse_netstring_item(parsed, payload, pos, index)
        index += 1
        pos = after

    parsed.signed = frame[:pos]
    parsed.missing_offset = pos
    if pos == len(frame):
        return parsed
    content, after = _netstring_payload(frame, pos, -1)
    if after != len(frame):
        raise FrameError(ErrorCode.TRAILING_DATA, after, -1)
    if _parse_auth_value(content) is None:
        raise FrameError(ErrorCode.AUTH_MALFORMED, pos, -1)
    parsed.signature = content
    parsed.signature_offset = pos
    parsed.signature_field = -1
    return parsed


def _parse_netstring_item(parsed: _Parsed, payload: bytes, offset: int, index: int) -> None:
    if len(payload) < 3 or payload[0] != ord("(") or payload[1] not in _DIGITS:
        raise FrameError(ErrorCode.NS_NO_TYPE, offset, index)
    if payload[2] != ord(")"):
        raise FrameError(ErrorCode.NS_NO_TYPE, offset, index)
    ftype = payload[1] - ord("0")
    if ftype not in (STRING, BINARY):
        raise FrameError(ErrorCode.UNSUPPORTED_TYPE, offset, index)
    rest = payload[3:]
    equals = rest.find(b"=")
    if equals < 0:
        raise FrameError(ErrorCode.NO_EQUALS, offset, index)
    name = rest[:equals]
    _check_name(name, offset, index)
    value = rest[equals + 1 :]
    if len(value) > MAX_VALUE:
        raise FrameError(ErrorCode.VALUE_TOO_LONG, offset, index, name)
    if ftype == STRING and not _string_value_ok(value):
        raise FrameError(ErrorCode.BAD_VALUE, offset, index, name)
    _add_field(parsed, name, ftype, value, offset, index)


def _verify(parsed: _Parsed, keyring: Keyring) -> AuthKey:
    if parsed.signature is None:
        raise FrameError(ErrorCode.AUTH_MISSING, parsed.missing_offset, -1)
    offset, field = parsed.signature_offset, parsed.signature_field
    name = AUTH if field >= 0 else None
    found = _parse_auth_value(parsed.signature)
    if found is None:  # the parser already refused these; kept for safety
        raise FrameError(ErrorCode.AUTH_MALFORMED, offset, field, name)
    index, hexpart = found
    key = keyring.keys.get(index)
    if key is None:
        raise FrameError(ErrorCode.AUTH_UNKNOWN_KEY, offset, field, name)
    if not _digest_fits(key.method, hexpart):
        raise FrameError(ErrorCode.AUTH_MALFORMED, offset, field, name)
    expected = digest(key.method, key.secret, parsed.signed)
    if not hmac.compare_digest(expected, hexpart):
        raise FrameError(ErrorCode.AUTH_MISMATCH, offset, field, name)
    return key


def decode(frame: bytes, keyring: Keyring | None) -> Decoded:
    """Parse `frame` and, with a keyring, verify its signature.

    Raises FrameError for the first rule of docs/wire-format.md it breaks.
    Without a keyring only the parsing checks run.
    """
    frame = bytes(frame)
    if not frame:
        raise FrameError(ErrorCode.EMPTY, 0, -1)
    if len(frame) > MAX_FRAME:
        raise FrameError(ErrorCode.TOO_LARGE, 0, -1)
    if frame.startswith(CLASSIC_START):
        parsed = _parse_classic(frame)
    elif frame.startswith(NETSTRING_START):
        parsed = _parse_netstring(frame)
    else:
        raise FrameError(ErrorCode.UNKNOWN_FORM, 0, -1)

    inner_auth = parsed.auth_value if parsed.form is Form.NETSTRING else None
    key_index: int | None = None
    method: Method | None = None
    if keyring is not None:
        key = _verify(parsed, keyring)
        key_index, method = key.index, key.method
    elif parsed.signature is not None:
        found = _parse_auth_value(parsed.signature)
        key_index = found[0] if found is not None else None
    return Decoded(
        form=parsed.form,
        fields=tuple(parsed.fields),
        signature=parsed.signature,
        inner_auth=inner_auth,
        key_index=key_index,
        method=method,
    )
