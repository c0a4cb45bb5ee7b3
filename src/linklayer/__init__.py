"""hbeat link layer: heartbeat 3.0.6 wire frames.

`encode_classic`, `encode_netstring` and `decode` build, sign, parse and
verify frames with the C codec (`_frame.c` via cffi, see `_native`); the
pure-Python reference codec with the same API is `linklayer.reference`.
For hot paths, `verify` checks a frame's signature without building its
fields, and `Template` encodes a message whose values mostly stay the same
(a keepalive) passing only the changing ones to C; `linklayer.batchrecv`
reads a UDP socket in batches and checks every datagram in the same C call;
`linklayer.quiet` waits on a medium in C and records there the keepalives
that only repeat a peer's last status (`quiet`), returning for the rest.
The rules are docs/wire-format.md; errors are `FrameError` with an
`ErrorCode`, a byte offset and a field index.
"""

from linklayer._native import Template, decode, encode_classic, encode_netstring, verify
from linklayer.errors import ErrorCode, FrameError
from linklayer.message import (
    BINARY,
    STRING,
    AuthKey,
    Decoded,
    Field,
    Form,
    Keyring,
    Method,
)

__all__ = [
    "BINARY",
    "STRING",
    "AuthKey",
    "Decoded",
    "ErrorCode",
    "Field",
    "Form",
    "FrameError",
    "Keyring",
    "Method",
    "Template",
    "decode",
    "encode_classic",
    "encode_netstring",
    "verify",
]
