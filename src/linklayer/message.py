"""The message model shared by the C codec and the Python reference codec.

A message is an ordered tuple of fields `(name, type, value)`, all bytes
except the type (0 string, 1 binary). Decoding returns a `Decoded`; keys
come from authkeys as a `Keyring`. Limits are those of docs/wire-format.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Decoded:
    """A parsed (and, with a keyring, verified) frame.

    `fields` holds every field in wire order except `auth`. `signature` is
    the signature that authenticates the frame in its form (classic: the
    `auth` field's value; netstring: the trailer's content), or None.
    `inner_auth` is a netstring frame's inner `auth` field value, if any.
    `key_index`/`method` name the key that verified it (parse-only: the
    index found in the signature, method None).
    """

    form: Form
    fields: tuple[Field, ...]
    signature: bytes | None = None
    inner_auth: bytes | None = None
    key_index: int | None = None
    method: Method | None = None

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
