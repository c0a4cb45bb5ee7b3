"""Frame error codes and the exception that carries them.

The numbers are the contract of docs/wire-format.md: the C codec returns
them, the Python reference raises them, and tests compare the two. They are
stable; a new code gets a new number.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Why a frame was rejected (or could not be built)."""

    OK = 0
    EMPTY = 1
    TOO_LARGE = 2
    UNKNOWN_FORM = 3
    TRUNCATED = 4
    TRAILING_DATA = 5
    TOO_MANY_FIELDS = 6
    BAD_TYPE = 7
    UNSUPPORTED_TYPE = 8
    NO_EQUALS = 9
    BAD_NAME = 10
    NAME_TOO_LONG = 11
    VALUE_TOO_LONG = 12
    BAD_VALUE = 13
    BAD_BASE64 = 14
    NS_BAD_LENGTH = 15
    NS_NO_COMMA = 16
    NS_NO_TYPE = 17
    DUPLICATE_AUTH = 18
    AUTH_MISSING = 19
    AUTH_MALFORMED = 20
    AUTH_UNKNOWN_KEY = 21
    AUTH_MISMATCH = 22
    NO_SPACE = 23
    BAD_KEYRING = 24


DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.OK: "no error",
    ErrorCode.EMPTY: "the frame is empty",
    ErrorCode.TOO_LARGE: "the frame is larger than 262144 bytes",
    ErrorCode.UNKNOWN_FORM: "the frame starts with neither '>>>' (classic) nor '###' (netstring)",
    ErrorCode.TRUNCATED: "the frame ends before its end marker",
    ErrorCode.TRAILING_DATA: "bytes follow the end of the message",
    ErrorCode.TOO_MANY_FIELDS: "more than 128 fields",
    ErrorCode.BAD_TYPE: "malformed '(T)' type prefix",
    ErrorCode.UNSUPPORTED_TYPE: "field type other than string (0) or binary (1)",
    ErrorCode.NO_EQUALS: "field has no '='",
    ErrorCode.BAD_NAME: "empty or reserved field name, or a byte not allowed in names",
    ErrorCode.NAME_TOO_LONG: "field name longer than 64 bytes",
    ErrorCode.VALUE_TOO_LONG: "field value longer than 65536 bytes",
    ErrorCode.BAD_VALUE: "string value holds a NUL or 0x13 byte",
    ErrorCode.BAD_BASE64: "binary value is not canonical base64",
    ErrorCode.NS_BAD_LENGTH: "netstring length is not 1-6 digits followed by ':'",
    ErrorCode.NS_NO_COMMA: "netstring item does not end with ','",
    ErrorCode.NS_NO_TYPE: "netstring item does not start with '(T)'",
    ErrorCode.DUPLICATE_AUTH: "more than one auth field",
    ErrorCode.AUTH_MISSING: "no signature (auth field or netstring trailer)",
    ErrorCode.AUTH_MALFORMED: (
        "signature is not '<key index> <lowercase hex>' as its method requires"
    ),
    ErrorCode.AUTH_UNKNOWN_KEY: "signature uses a key index that authkeys does not define",
    ErrorCode.AUTH_MISMATCH: "signature does not match (wrong key or altered frame)",
    ErrorCode.NO_SPACE: "output buffer too small",
    ErrorCode.BAD_KEYRING: "signing requested but the keyring has no signing key",
}


class FrameError(ValueError):
    """A frame was rejected, or a message could not be encoded.

    `offset` is the byte offset where the problem was found (the start of
    the offending line, item or signature); `field_index` is the 0-based
    index of the field involved, or -1; `field_name` its name when known.
    """

    def __init__(
        self,
        code: ErrorCode,
        offset: int = -1,
        field_index: int = -1,
        field_name: bytes | None = None,
    ) -> None:
        self.code = ErrorCode(code)
        self.offset = offset
        self.field_index = field_index
        self.field_name = field_name
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.field_index >= 0:
            name = ""
            if self.field_name is not None:
                name = " " + repr(self.field_name.decode("ascii", "backslashreplace"))
            where.append(f"field {self.field_index}{name}")
        if self.offset >= 0:
            where.append(f"at byte {self.offset}")
        prefix = " ".join(where)
        text = f"{self.code.name}: {DESCRIPTIONS[self.code]}"
        return f"{prefix}: {text}" if prefix else text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameError):
            return NotImplemented
        return (self.code, self.offset, self.field_index) == (
            other.code,
            other.offset,
            other.field_index,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.offset, self.field_index))
