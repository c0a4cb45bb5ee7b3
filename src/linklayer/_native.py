"""C-backed frame codec: the thin typed layer over `linklayer._frame_cffi`.

Same functions, results and errors as `linklayer.reference`, computed by
`_frame.c`. This module owns the Python<->C boundary and keeps it cheap:

* `decode` with a keyring is one C call (`hb_verify`: parse and verify,
  nothing recorded) and one small object: the `Decoded` it returns keeps
  the frame and builds its fields, signature and inner auth on first
  access, with a second, parse-only C call (`hb_decode`) that writes
  names, types and values back to back into a per-thread scratch buffer
  with a matching struct format, so one `unpack_from` builds every Python
  object. Parse-only `decode` (no keyring) makes that call at once;
* `verify` is the same C call returning only the key index;
* `Template` keeps a message's constant fields checked, rendered and
  hashed in C (`hb_template_*`), so encoding a keepalive passes only the
  few variable values down;
* the general encoders pass fields down as two joined blobs (names,
  values) plus one packed array of lengths and one byte per type;
* result structs and buffers are preallocated per thread (the C calls
  release the GIL), and the C keyring (with its precomputed HMAC states)
  is built once per `Keyring` object. A Keyring is treated as immutable:
  mutating its `keys` mapping after first use is not seen.

Every C error code becomes an exception in one place, `_frame_error` (a
FrameError for the frame codes; the batched receive of `batchrecv` uses it
too).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from linklayer._frame_cffi import ffi, lib  # type: ignore[import-not-found]
from linklayer.errors import ErrorCode, FrameError
from linklayer.message import MAX_FIELDS, MAX_FRAME, Decoded, Field, Form, Keyring, Method

__all__ = ["Template", "decode", "digest", "encode_classic", "encode_netstring", "verify"]

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
_hb_verify = lib.hb_verify
_hb_encode = lib.hb_encode
_hb_template_encode = lib.hb_template_encode
_ffi_string = ffi.string


class _Buffers(threading.local):
    """Per-thread C result structs and buffers, allocated once."""

    def __init__(self) -> None:
        result = ffi.new("hb_decoded *")
        scratch = ffi.new("char[]", _SCRATCH_SIZE)
        self.dec: tuple[Any, Any, Any, Any] = (result, result.fmt, scratch, ffi.buffer(scratch))
        out = ffi.new("char[]", MAX_FRAME)
        self.enc: tuple[Any, Any, Any] = (out, ffi.buffer(out), ffi.new("hb_error *"))


_buffers = _Buffers()


# --------------------------------------------------------------------------
# Errors


class TickerError(OSError):
    """A keepalive ticker call failed (linklayer.ticker): `code` is the C
    code (HB_BOARD_OPEN...), `errno` the system's reason where one applies."""

    def __init__(self, code: int, errno: int, what: str) -> None:
        super().__init__(errno, what)
        self.code = code


_TICKER_ERRORS: dict[int, str] = {
    int(lib.HB_BOARD_OPEN): "cannot open the sequence board",
    int(lib.HB_BOARD_INVALID): "not an hbeat sequence board (size, magic or schedule)",
    int(lib.HB_BOARD_LOCK): "cannot lock the sequence board",
    int(lib.HB_THREAD_FAILED): "cannot start the keepalive thread",
    int(lib.HB_TICKER_RUNNING): "the keepalive thread is running",
    int(lib.HB_NO_TEMPLATE): "no keepalive template yet",
    int(lib.HB_WRITE_FAILED): "write failed",
    int(lib.HB_WRITE_TIMEOUT): "write timeout",
    int(lib.HB_MLOCK_FAILED): "cannot lock the keepalive path in memory",
    int(lib.HB_OPEN_FAILED): "cannot open a descriptor the ticker needs",
}


def _frame_error(err: Any, names: bytes | None) -> Exception:
    """The exception for a C error record. `names` is the input the C code's
    name offsets point into (the frame, or the joined names when encoding)."""
    code = int(err.code)
    if code == lib.HB_NO_MEMORY:
        return MemoryError("_frame.c: out of memory")
    if code == lib.HB_RECV_FAILED:  # the batched receive; errno in the offset
        errno = int(err.offset)
        return OSError(errno, f"recvmmsg: {os.strerror(errno)}")
    ticker = _TICKER_ERRORS.get(code)
    if ticker is not None:  # the keepalive ticker (linklayer.ticker); errno in the offset
        errno = max(0, int(err.offset))
        what = ticker if not errno else f"{ticker}: {os.strerror(errno)}"
        return TickerError(code, errno, what)
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


def _verify_error(frame: bytes, ckr: Any) -> Exception:
    """The error of a frame hb_verify refused: the call again, with an
    error record (only rejected frames pay for it)."""
    err = ffi.new("hb_error *")
    _hb_verify(frame, len(frame), ckr, err)
    return _frame_error(err, frame)


_Parsed = tuple[tuple[Field, ...], bytes | None, bytes | None, int, int, int]


def _parse(frame: bytes, ckr: Any) -> _Parsed:
    """Fields, signature, inner auth, form, key index and method of a frame,
    from hb_decode's scratch output in one unpack."""
    result, fmtbuf, scratch, view = _buffers.dec
    if _hb_decode(frame, len(frame), ckr, result, scratch, _SCRATCH_SIZE):
        raise _frame_error(result.err, frame)
    fmt = _ffi_string(fmtbuf)
    unpack = _unpackers.get(fmt)
    if unpack is None:
        unpack = _new_unpacker(fmt)
    flat = unpack(view)
    has_sig = flat[3]
    end = 6 + 3 * flat[5]
    # The format has exactly three items per field: no strict zip needed.
    items = iter(flat[6:end])
    fields = tuple(zip(items, items, items))  # noqa: B905
    return (
        fields,
        flat[end] if has_sig else None,
        flat[end + has_sig] if flat[4] else None,
        flat[0],
        flat[1],
        flat[2],
    )


class _LazyDecoded(Decoded):
    """A Decoded from `decode`: form, key index and method come from the
    verifying C call; the rest is parsed from the kept frame on first use."""

    __slots__ = ("_frame",)

    _frame: bytes

    def _load(self) -> tuple[Field, ...]:
        fields, signature, inner_auth = _parse(self._frame, _NULL)[:3]
        _set_signature(self, signature)
        _set_inner_auth(self, inner_auth)
        _set_fields(self, fields)
        return fields


# Decoded is immutable (its __setattr__ refuses); its slots are set through
# their descriptors, which is also the cheapest way to fill an object.
_new_decoded = object.__new__
_SLOTS: Mapping[str, Any] = vars(Decoded)
_set_form = _SLOTS["form"].__set__
_set_fields = _SLOTS["_fields"].__set__
_set_signature = _SLOTS["_signature"].__set__
_set_inner_auth = _SLOTS["_inner_auth"].__set__
_set_key_index = _SLOTS["key_index"].__set__
_set_method = _SLOTS["method"].__set__
_set_frame = vars(_LazyDecoded)["_frame"].__set__
# hb_verify's result: form | method << 2 | (key index + 1) << 4.
_KEY_INDEXES: tuple[int | None, ...] = (None, *range(lib.HB_MAX_KEYS))


def decode(frame: bytes, keyring: Keyring | None) -> Decoded:
    """Parse `frame` and, with a keyring, verify its signature.

    Raises FrameError for the first rule of docs/wire-format.md it breaks.
    Without a keyring only the parsing checks run, and the result is built
    at once (parse-only callers, like the supervisor, read the fields).
    With one, the fields (and signature, inner auth) are built when first
    read: verifying is what is paid for up front.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    if keyring is None:
        fields, signature, inner_auth, form, key_index, method = _parse(frame, _NULL)
        eager = _new_decoded(Decoded)
        _set_fields(eager, fields)
        _set_signature(eager, signature)
        _set_inner_auth(eager, inner_auth)
        _set_form(eager, _FORMS[form])
        _set_key_index(eager, None if key_index < 0 else key_index)
        _set_method(eager, _METHODS[method])
        return eager
    hit = _keyrings.get(id(keyring))
    ckr = hit[1] if hit is not None and hit[0] is keyring else _c_keyring(keyring)
    info = _hb_verify(frame, len(frame), ckr, _NULL)
    if info < 0:
        raise _verify_error(frame, ckr)
    decoded = _new_decoded(_LazyDecoded)
    _set_frame(decoded, frame)
    _set_fields(decoded, None)
    _set_form(decoded, _FORMS[info & 3])
    _set_method(decoded, _METHODS[(info >> 2) & 3])
    _set_key_index(decoded, _KEY_INDEXES[info >> 4])
    return decoded


def verify(frame: bytes, keyring: Keyring) -> int:
    """Parse and verify `frame`; return the index of the key that verified
    it. Raises FrameError exactly as `decode(frame, keyring)` would; for
    callers that need authenticity, not the fields."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    hit = _keyrings.get(id(keyring))
    if hit is not None and hit[0] is keyring:
        ckr = hit[1]
    elif keyring is None:
        raise TypeError("verify needs a Keyring (decode parses without one)")
    else:
        ckr = _c_keyring(keyring)
    info = _hb_verify(frame, len(frame), ckr, _NULL)
    if info < 0:
        raise _verify_error(frame, ckr)
    key_index: int = (info >> 4) - 1
    return key_index


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
    out, view, err = _buffers.enc
    size = _hb_encode(
        form, names, len(names), values, len(values), lens, types, n, ckr, inner, out,
        MAX_FRAME, err,
    )
    if size < 0:
        raise _frame_error(err, names)
    result: bytes = view[:size]
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
# Templates

_FORM_CODES = {Form.CLASSIC: lib.HB_FORM_CLASSIC, Form.NETSTRING: lib.HB_FORM_NETSTRING}
_EMPTY_SLOTS = (b"",) * lib.HB_TEMPLATE_SLOTS


class Template:
    """A message encoded many times with only a few values changing.

    `fields` is the whole message (as for `encode_classic`/`encode_netstring`),
    `variable` the names of the fields whose values change, at most
    HB_TEMPLATE_SLOTS (4) and each present once. Every field is checked
    once, here (FrameError as the encoders raise it); the keyring's signing
    key is copied. Then `encode(name=value, ...)` returns exactly the bytes
    `encode_<form>(fields, keyring)` would give for the fields with those
    values (fields not given keep the value they had in `fields`), while
    only the given values cross into C: the constant fields were rendered,
    and the MAC states after the constant prefix computed, at build time.
    Variable names are given as keyword arguments, decoded as ASCII
    (`seq=...` for the field b"seq").
    """

    __slots__ = ("_c", "_count", "_defaults", "_names", "_pad", "_pick", "_slots", "fields",
                 "form", "variable")

    def __init__(
        self,
        fields: Iterable[Field],
        form: Form,
        keyring: Keyring | None,
        variable: Iterable[bytes],
        *,
        inner_auth: bool = True,
    ) -> None:
        fields = tuple(fields)
        wanted = tuple(variable)
        code = _FORM_CODES.get(form)
        if code is None:
            raise TypeError(f"form must be a Form, not {form!r}")
        if len(wanted) > lib.HB_TEMPLATE_SLOTS:
            raise ValueError(
                f"a template has at most {lib.HB_TEMPLATE_SLOTS} variable fields, "
                f"got {len(wanted)}"
            )
        if len(set(wanted)) != len(wanted):
            raise ValueError(f"variable fields named twice: {wanted!r}")
        ckr = _c_keyring(keyring)
        n, names, values, lens, types = _split(fields)
        flags = bytearray(n)
        for want in wanted:
            where = [i for i, field in enumerate(fields) if field[0] == want]
            if len(where) != 1:
                raise ValueError(
                    f"variable field {want!r} must appear exactly once in the message, "
                    f"not {len(where)} times"
                )
            flags[where[0]] = 1
        slots = tuple(
            (fields[index][0].decode("ascii", "replace"), index)
            for index, flag in enumerate(flags)
            if flag
        )
        err = ffi.new("hb_error *")
        ctpl = lib.hb_template_new(
            code, names, len(names), values, len(values), lens, types, n, ckr,
            bool(inner_auth), bytes(flags), err,
        )
        if ctpl == _NULL:
            if err.code == lib.HB_NO_MEMORY:
                raise MemoryError("hb_template_new: out of memory")
            raise _frame_error(err, names)
        self._c = ffi.gc(ctpl, lib.hb_template_free)
        self._names = names
        self._slots: tuple[tuple[str, int], ...] = slots
        self._count = len(slots)
        self._pad: tuple[bytes, ...] = _EMPTY_SLOTS[len(slots) :]
        self._defaults: tuple[bytes, ...] = (
            *(bytes(fields[index][2]) for _name, index in slots),
            *self._pad,
        )
        # The values of a call naming every variable field, in slot order,
        # in one C-level call (itemgetter returns a bare value for one key).
        keys = [name for name, _index in slots]
        self._pick: Callable[[dict[str, bytes]], tuple[bytes, ...]] = (
            itemgetter(*keys) if len(keys) > 1 else lambda kw: tuple(kw[k] for k in keys)
        )
        self.fields: tuple[Field, ...] = fields
        self.form = form
        self.variable: tuple[bytes, ...] = tuple(fields[index][0] for _name, index in slots)

    def encode(self, **values: bytes) -> bytes:
        """The frame with the given values for the variable fields."""
        if len(values) == self._count:
            try:
                v0, v1, v2, v3 = self._pick(values) + self._pad
            except KeyError:
                v0, v1, v2, v3 = self._resolve(values)
        else:
            v0, v1, v2, v3 = self._resolve(values)
        return self._encode4(v0, v1, v2, v3)

    def encode_values(self, *values: bytes) -> bytes:
        """The frame with these values for the variable fields, given in
        field order (the order of `self.variable`), all of them: the
        cheapest call, for the hottest paths."""
        try:
            v0, v1, v2, v3 = values + self._pad
        except ValueError:
            raise TypeError(
                f"encode_values takes {self._count} values "
                f"({', '.join(name for name, _i in self._slots) or 'none'}), got {len(values)}"
            ) from None
        return self._encode4(v0, v1, v2, v3)

    def _encode4(self, v0: bytes, v1: bytes, v2: bytes, v3: bytes) -> bytes:
        out, view, err = _buffers.enc
        try:
            size = _hb_template_encode(
                self._c, v0, len(v0), v1, len(v1), v2, len(v2), v3, len(v3), out, MAX_FRAME,
                err,
            )
        except TypeError:
            raise self._not_bytes(v0, v1, v2, v3) from None
        if size < 0:
            raise _frame_error(err, self._names)
        result: bytes = view[:size]
        return result

    def bind3(self) -> Callable[[bytes, bytes, bytes], bytes]:
        """`encode3(v0, v1, v2)`: this three-variable template's encoder bound
        to the calling thread's buffers, for a loop that encodes many frames
        (the keepalive: seq, ts, ld). The same bytes and errors as
        `encode_values`, less per-call work; use it from the thread that
        bound it."""
        if self._count != 3:
            raise TypeError(f"bind3 needs a template with 3 variable fields, not {self._count}")
        out, view, err = _buffers.enc
        ctpl, names, fn = self._c, self._names, _hb_template_encode
        not_bytes = self._not_bytes

        def encode3(v0: bytes, v1: bytes, v2: bytes) -> bytes:
            try:
                size = fn(ctpl, v0, len(v0), v1, len(v1), v2, len(v2), b"", 0, out, MAX_FRAME,
                          err)
            except TypeError:
                raise not_bytes(v0, v1, v2, b"") from None
            if size < 0:
                raise _frame_error(err, names)
            result: bytes = view[:size]
            return result

        return encode3

    def _resolve(self, values: dict[str, bytes]) -> tuple[bytes, ...]:
        """Slot values when some are left out (or a name is unknown)."""
        got = tuple(values.pop(name, self._defaults[k]) for k, (name, _i) in enumerate(self._slots))
        if values:
            raise TypeError(
                f"no variable field named {next(iter(values))!r} in this template "
                f"(variable: {', '.join(name for name, _i in self._slots) or 'none'})"
            )
        return got + self._pad

    def _not_bytes(self, *values: object) -> TypeError:
        for (name, index), value in zip(self._slots, values, strict=False):
            if type(value) is not bytes:
                return TypeError(
                    f"field {index} {name!r}: value must be bytes, not {type(value).__name__}"
                )
        return TypeError("template values must be bytes")


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
