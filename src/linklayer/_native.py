"""C-backed frame codec: the thin typed layer over `linklayer._frame_cffi`.

Same functions, results and errors as `linklayer.reference`, computed by
`_frame.c`. This module owns the Python<->C boundary and keeps it cheap:

* fields go down as two joined blobs (names, values) plus one packed array
  of lengths and one byte per type, so a call costs a handful of C-level
  operations rather than work per field;
* decoding writes names, types and values back to back into a per-thread
  scratch buffer with a matching struct format, so one `unpack_from` builds
  every Python object and `zip` groups them into fields;
* result structs and buffers are preallocated per thread (the C calls
  release the GIL), and the C keyring (with its precomputed HMAC states)
  is built once per `Keyring` object. A Keyring is treated as immutable:
  mutating its `keys` mapping after first use is not seen.

Every C error code becomes a FrameError in one place, `_frame_error`.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]
from linklayer.errors import ErrorCode, FrameError
from linklayer.message import MAX_FIELDS, MAX_FRAME, Decoded, Field, Form, Keyring, Method

__all__ = ["decode", "digest", "encode_classic", "encode_netstring"]

_FORMS: tuple[Form | None, ...] = (None, Form.CLASSIC, Form.NETSTRING)
_METHODS: tuple[Method | None, ...] = (None, Method.SHA1, Method.MD5, Method.CRC)
_METHOD_CODES = {
    Method.SHA1: lib.HB_METHOD_SHA1,
    Method.MD5: lib.HB_METHOD_MD5,
    Method.CRC: lib.HB_METHOD_CRC,
}
_SCRATCH_SIZE = MAX_FRAME + lib.HB_SCRATCH_EXTRA
_NULL = ffi.NULL
_hb_decode = lib.hb_decode
_hb_encode = lib.hb_encode
_ffi_string = ffi.string
_ffi_unpack = ffi.unpack


class _Buffers(threading.local):
    """Per-thread C result structs and buffers, allocated once."""

    def __init__(self) -> None:
        result = ffi.new("hb_decoded *")
        scratch = ffi.new("char[]", _SCRATCH_SIZE)
        self.dec: tuple[Any, Any, Any] = (result, scratch, ffi.buffer(scratch))
        self.enc: tuple[Any, Any] = (ffi.new("char[]", MAX_FRAME), ffi.new("hb_error *"))


_buffers = _Buffers()


# --------------------------------------------------------------------------
# Errors


def _frame_error(err: Any, names: bytes | None) -> Exception:
    """The exception for a C error record. `names` is the input the C code's
    name offsets point into (the frame, or the joined names when encoding)."""
    code = int(err.code)
    if code == lib.HB_BAD_ARGUMENT or code not in ErrorCode._value2member_map_:
        return RuntimeError(f"ERROR: _frame.c rejected its arguments (code {code})")
    name = None
    if names is not None and err.name_offset >= 0 and err.name_length >= 0:
        name = names[err.name_offset : err.name_offset + err.name_length]
    return FrameError(ErrorCode(code), int(err.offset), int(err.field_index), name)


# --------------------------------------------------------------------------
# Keyrings

_KEYRING_CACHE_MAX = 64
_keyrings: dict[int, tuple[Keyring, Any]] = {}
_keyrings_lock = threading.Lock()


def _build_keyring(keyring: Keyring) -> Any:
    ckr = lib.hb_keyring_new()
    if ckr == _NULL:
        raise MemoryError("hb_keyring_new failed")
    ckr = ffi.gc(ckr, lib.hb_keyring_free)
    for index, key in keyring.keys.items():
        if type(index) is not int or not 0 <= index < lib.HB_MAX_KEYS:
            raise ValueError(f"keyring: key index {index!r} is not 0..15")
        if key.index != index:
            raise ValueError(f"keyring: key {index} carries index {key.index}")
        method = _METHOD_CODES.get(key.method)
        if method is None:
            raise ValueError(f"keyring: key {index} has unknown method {key.method!r}")
        secret = bytes(key.secret)
        if lib.hb_keyring_add(ckr, index, method, secret, len(secret)) != lib.HB_OK:
            raise ValueError(f"keyring: key {index} was refused")
    signing = keyring.signing_index
    if signing is None or signing not in keyring.keys:
        signing = -1
    lib.hb_keyring_set_signing(ckr, signing)
    return ckr


def _c_keyring(keyring: Keyring | None) -> Any:
    if keyring is None:
        return _NULL
    hit = _keyrings.get(id(keyring))
    if hit is not None and hit[0] is keyring:
        return hit[1]
    if not isinstance(keyring, Keyring):
        raise TypeError(f"keyring must be a Keyring or None, not {type(keyring).__name__}")
    ckr = _build_keyring(keyring)
    with _keyrings_lock:
        if len(_keyrings) >= _KEYRING_CACHE_MAX:
            _keyrings.clear()
        _keyrings[id(keyring)] = (keyring, ckr)
    return ckr


# --------------------------------------------------------------------------
# Decoding

_UNPACKERS_MAX = 1024
_unpackers: dict[bytes, Callable[[Any], tuple[Any, ...]]] = {}


def _new_unpacker(fmt: bytes) -> Callable[[Any], tuple[Any, ...]]:
    if len(_unpackers) >= _UNPACKERS_MAX:
        _unpackers.clear()
    unpack = _unpackers[fmt] = struct.Struct(fmt).unpack_from
    return unpack


# Decoded is a frozen slotted dataclass whose __init__ sets each slot with
# object.__setattr__; setting the slots through their descriptors does the
# same work at about half the cost (it is most of what decode spends in
# Python). test_native checks the result equals Decoded(...) field by field.
_new_decoded = object.__new__
_DECODED_SLOTS: Mapping[str, Any] = vars(Decoded)
_set_form = _DECODED_SLOTS["form"].__set__
_set_fields = _DECODED_SLOTS["fields"].__set__
_set_signature = _DECODED_SLOTS["signature"].__set__
_set_inner_auth = _DECODED_SLOTS["inner_auth"].__set__
_set_key_index = _DECODED_SLOTS["key_index"].__set__
_set_method = _DECODED_SLOTS["method"].__set__


def decode(frame: bytes, keyring: Keyring | None) -> Decoded:
    """Parse `frame` and, with a keyring, verify its signature.

    Raises FrameError for the first rule of docs/wire-format.md it breaks.
    Without a keyring only the parsing checks run.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    ckr = _c_keyring(keyring)
    result, scratch, view = _buffers.dec
    if _hb_decode(frame, len(frame), ckr, result, scratch, _SCRATCH_SIZE):
        raise _frame_error(result.err, frame)
    fmt = _ffi_string(result.fmt)
    unpack = _unpackers.get(fmt)
    if unpack is None:
        unpack = _new_unpacker(fmt)
    flat = unpack(view)
    form, key_index, method, has_sig, has_inner, n = flat[:6]
    end = 6 + 3 * n
    items = iter(flat[6:end])
    decoded = _new_decoded(Decoded)
    _set_form(decoded, _FORMS[form])
    _set_fields(decoded, tuple(zip(items, items, items, strict=True)))
    _set_signature(decoded, flat[end] if has_sig else None)
    _set_inner_auth(decoded, flat[end + has_sig] if has_inner else None)
    _set_key_index(decoded, None if key_index < 0 else key_index)
    _set_method(decoded, _METHODS[method])
    return decoded


# --------------------------------------------------------------------------
# Encoding

_lengths: dict[int, Callable[..., bytes]] = {}


def _pack_lengths(n: int) -> Callable[..., bytes]:
    pack = _lengths.get(n)
    if pack is None:
        pack = _lengths[n] = struct.Struct(f"={2 * n}i").pack
    return pack


def _types_blob(types: tuple[Any, ...]) -> bytes:
    """One byte per field type; anything but 0/1 becomes 255, which the C
    code rejects as UNSUPPORTED_TYPE at the right field."""
    try:
        return bytes(types)
    except (TypeError, ValueError):
        return bytes(int(t) if t in (0, 1) else 255 for t in types)


def _split(given: Iterable[Field]) -> tuple[int, bytes, bytes, bytes, bytes]:
    fields: Sequence[Field] = given if isinstance(given, tuple | list) else tuple(given)
    n = len(fields)
    if n == 0:
        return 0, b"", b"", b"", b""
    if n > MAX_FIELDS:
        # The C code reports the first bad field; it needs no more than
        # one field past the limit to do so, and lengths stay bounded.
        fields = fields[: MAX_FIELDS + 1]
        n = MAX_FIELDS + 1
    try:
        names, types, values = zip(*fields, strict=True)
    except (TypeError, ValueError):
        for index, field in enumerate(fields):
            if not isinstance(field, tuple | list) or len(field) != 3:
                raise TypeError(
                    f"field {index}: expected a (name, type, value) tuple, got {field!r}"
                ) from None
        raise
    try:
        name_blob = b"".join(names)
        value_blob = b"".join(values)
        lens = _pack_lengths(n)(*map(len, names), *map(len, values))
    except TypeError:
        for index, (name, _ftype, value) in enumerate(fields):
            for what, item in (("name", name), ("value", value)):
                if not isinstance(item, bytes | bytearray | memoryview):
                    raise TypeError(
                        f"field {index}: {what} must be bytes, not {type(item).__name__}"
                    ) from None
        raise
    return n, name_blob, value_blob, lens, _types_blob(types)


def _encode(form: int, fields: Iterable[Field], keyring: Keyring | None, inner: bool) -> bytes:
    ckr = _c_keyring(keyring)
    n, names, values, lens, types = _split(fields)
    out, err = _buffers.enc
    size = _hb_encode(
        form, names, len(names), values, len(values), lens, types, n, ckr, inner, out,
        MAX_FRAME, err,
    )
    if size < 0:
        raise _frame_error(err, names)
    result: bytes = _ffi_unpack(out, size)
    return result


def encode_classic(fields: Iterable[Field], keyring: Keyring | None) -> bytes:
    """Build a classic `>>>` frame, signed with the keyring's signing key if given."""
    return _encode(lib.HB_FORM_CLASSIC, fields, keyring, False)


def encode_netstring(
    fields: Iterable[Field], keyring: Keyring | None, *, inner_auth: bool = True
) -> bytes:
    """Build a netstring `###` frame; when signing, add the inner classic
    `auth` item (unless `inner_auth` is false) and the trailer."""
    return _encode(lib.HB_FORM_NETSTRING, fields, keyring, bool(inner_auth))


# --------------------------------------------------------------------------
# Raw digests (for known-answer tests)


def digest(method: Method, key: bytes, data: bytes) -> bytes:
    """The lowercase hex digest heartbeat writes for `data` (crc ignores `key`)."""
    code = _METHOD_CODES.get(method)
    if code is None:
        raise ValueError(f"unknown auth method {method!r}")
    key, data = bytes(key), bytes(data)
    hexbuf = ffi.new("char[]", lib.HB_HEX_SIZE)
    size = lib.hb_digest_hex(code, key, len(key), data, len(data), hexbuf)
    if size < 0:
        raise RuntimeError(f"ERROR: hb_digest_hex failed (code {-size})")
    result: bytes = ffi.unpack(hexbuf, size)
    return result
