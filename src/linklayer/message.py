"""The message model shared by the C codec and the Python reference codec.

A message is an ordered tuple of fields `(name, type, value)`, all bytes
except the type (0 string, 1 binary). Decoding returns a `Decoded`; keys
come from authkeys as a `Keyring`. Limits are those of docs/wire-format.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass

STRING = 0
BINARY = 1

MAX_FRAME = 262144
MAX_FIELDS = 128
MAX_NAME = 64
MAX_VALUE = 65536

Field = tuple[bytes, int, bytes]
"""(name, type, value): one message field."""


class Form(enum.Enum):
    CLASSIC = "classic"
    NETSTRING = "netstring"


class Method(enum.Enum):
    SHA1 = "sha1"
    MD5 = "md5"
    CRC = "crc"


@dataclass(frozen=True, slots=True)
class AuthKey:
    index: int
    method: Method
    secret: bytes = b""


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every key authkeys defines, and the one we sign with."""

    keys: Mapping[int, AuthKey]
    signing_index: int | None = None

    @property
    def signing_key(self) -> AuthKey | None:
        if self.signing_index is None:
            return None
        return self.keys.get(self.signing_index)


class Decoded:
    """A parsed (and, with a keyring, verified) frame.

    `fields` holds every field in wire order except `auth`. `signature` is
    the signature that authenticates the frame in its form (classic: the
    `auth` field's value; netstring: the trailer's content), or None.
    `inner_auth` is a netstring frame's inner `auth` field value, if any.
    `key_index`/`method` name the key that verified it (parse-only: the
    index found in the signature, method None).

    Immutable, compared and hashed by those six values, like the frozen
    dataclass it replaces. A codec may build one lazily: a subclass that
    leaves `fields`, `signature` and `inner_auth` unset and provides
    `_load`, called once on first access (the C codec does this, so that
    verifying a frame does not pay for Python objects nobody reads).
    """

    __slots__ = ("_fields", "_inner_auth", "_signature", "form", "key_index", "method")
    __match_args__ = ("form", "fields", "signature", "inner_auth", "key_index", "method")

    form: Form
    key_index: int | None
    method: Method | None
    _fields: tuple[Field, ...] | None
    _signature: bytes | None
    _inner_auth: bytes | None

    def __init__(
        self,
        form: Form,
        fields: tuple[Field, ...],
        signature: bytes | None = None,
        inner_auth: bytes | None = None,
        key_index: int | None = None,
        method: Method | None = None,
    ) -> None:
        init = object.__setattr__
        init(self, "form", form)
        init(self, "_fields", fields)
        init(self, "_signature", signature)
        init(self, "_inner_auth", inner_auth)
        init(self, "key_index", key_index)
        init(self, "method", method)

    def _load(self) -> tuple[Field, ...]:
        """Set `_fields`, `_signature` and `_inner_auth`; return the fields.
        Only lazily built instances (subclasses) get here."""
        raise TypeError(f"{type(self).__name__} was built without its fields")

    @property
    def fields(self) -> tuple[Field, ...]:
        fields = self._fields
        if fields is None:
            fields = self._load()
        return fields

    @property
    def signature(self) -> bytes | None:
        if self._fields is None:
            self._load()
        return self._signature

    @property
    def inner_auth(self) -> bytes | None:
        if self._fields is None:
            self._load()
        return self._inner_auth

    def _astuple(self) -> tuple[Form, tuple[Field, ...], bytes | None, bytes | None, int | None,
                                Method | None]:
        return (self.form, self.fields, self.signature, self.inner_auth, self.key_index,
                self.method)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decoded):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        return (
            f"Decoded(form={self.form!r}, fields={self.fields!r}, signature={self.signature!r}, "
            f"inner_auth={self.inner_auth!r}, key_index={self.key_index!r}, "
            f"method={self.method!r})"
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[Decoded], tuple[object, ...]]:
        return (Decoded, self._astuple())

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        """The value of the first field called `name`."""
        for fname, _ftype, value in self.fields:
            if fname == name:
                return value
        return default

    def __getitem__(self, name: bytes) -> bytes:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value
