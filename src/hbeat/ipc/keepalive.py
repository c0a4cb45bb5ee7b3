"""The keepalive: the content the supervisor hands its link workers, and the
one builder of the status message made from it.

The supervisor decides the content (`KeepaliveContent`: `st`, `dt`,
`protocol`, `src`, `srcuuid`, `hg`, `ttl`, and the status message it
follows); each link worker adds `seq`, `ts` and `ld` at its tick and sends
`status_fields(content, seq, ts, ld)`. The worker's log entry on the
sequence board (or its `sent` report) names the content it used
(`content_key`), so the supervisor keeps in its retransmission history
exactly what went on the wire, even when the content changed between the
tick and the moment it reads the entry (docs/processes.md).
"""

from __future__ import annotations

import json

# hashlib's own blake2b, without the OpenSSL set-up that `import hashlib`
# does (about 2 MiB per node: docs/processes.md, "Memory").
from _blake2 import blake2b
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linklayer.message import BINARY, STRING, Field


class ContentError(ValueError):
    """Keepalive content that is not what the supervisor sends (names the field)."""


@dataclass(frozen=True, slots=True)
class KeepaliveContent:
    """What a node's keepalives say besides seq, ts and ld."""

    st: str
    dt_ms: int
    protocol: bool
    src: str
    srcuuid: bytes
    hg: int
    ttl: int
    status_seq: int = 0
    """The status message the supervisor sent itself that this content
    follows (0: none yet); see the sequence board's status mark."""

    def to_json(self) -> dict[str, Any]:
        return {
            "st": self.st, "dt": f"{self.dt_ms:x}", "protocol": self.protocol,
            "src": self.src, "srcuuid": self.srcuuid.hex(), "hg": self.hg, "ttl": self.ttl,
            "status_seq": self.status_seq,
        }

    @classmethod
    def from_json(cls, body: Any, where: str = "keepalive content") -> KeepaliveContent:
        if not isinstance(body, Mapping):
            raise ContentError(f"{where}: not a JSON object")

        def text(name: str) -> str:
            value = body.get(name)
            if not isinstance(value, str) or not value.isascii():
                raise ContentError(f"{where}: field '{name}' must be an ASCII string, "
                                   f"not {value!r}")
            return value

        def whole(name: str, default: int | None = None) -> int:
            value = body.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ContentError(f"{where}: field '{name}' must be a non-negative "
                                   f"integer, not {value!r}")
            return value

        try:
            dt_ms = int(text("dt"), 16)
            srcuuid = bytes.fromhex(text("srcuuid"))
        except ValueError as exc:
            raise ContentError(f"{where}: 'dt' or 'srcuuid' is not hex: {exc}") from None
        protocol = body.get("protocol", True)
        if not isinstance(protocol, bool):
            raise ContentError(f"{where}: field 'protocol' must be true or false, "
                               f"not {protocol!r}")
        return cls(st=text("st"), dt_ms=dt_ms, protocol=protocol, src=text("src"),
                   srcuuid=srcuuid, hg=whole("hg"), ttl=whole("ttl"),
                   status_seq=whole("status_seq", 0))


STATUS_VARIABLE = (b"seq", b"ts", b"ld")
"""The status fields that change from one keepalive to the next (field order)."""


def status_head(st: str, dt_ms: int, protocol: bool) -> list[Field]:
    """`t=status st=<st> dt=<hex ms> [protocol=1]`: what a status message says
    before the default fields every message carries. The supervisor's own
    status messages are this, stamped by its sender."""
    if dt_ms < 0:
        raise ValueError(f"negative deadtime {dt_ms} cannot be sent as hex")
    head: list[Field] = [
        (b"t", STRING, b"status"),
        (b"st", STRING, st.encode("ascii")),
        (b"dt", STRING, b"%x" % dt_ms),
    ]
    if protocol:
        head.append((b"protocol", STRING, b"1"))
    return head


def status_fields(content: KeepaliveContent, seq: int, ts: int, ld: bytes) -> list[Field]:
    """A heartbeat 3.0.6 status message, fields in its wire order
    (docs/heartbeat-protocol.md §1.3): the head, then the default fields in
    the order the supervisor's sender stamps them."""
    return [
        *status_head(content.st, content.dt_ms, content.protocol),
        (b"src", STRING, content.src.encode()),
        (b"srcuuid", BINARY, content.srcuuid),
        (b"seq", STRING, b"%x" % seq),
        (b"hg", STRING, b"%x" % content.hg),
        (b"ts", STRING, b"%x" % ts),
        (b"ld", STRING, ld),
        (b"ttl", STRING, str(content.ttl).encode()),
    ]


def content_key(content: KeepaliveContent) -> int:
    """A 64-bit name of `content`, the same in every process (a hash of its
    JSON form): what a worker's keepalive log entry says it was built from."""
    text = json.dumps(content.to_json(), sort_keys=True, separators=(",", ":"))
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big")
