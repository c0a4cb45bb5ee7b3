"""Known-answer vectors from tests/data/interop: real heartbeat 3.0.6 frames.

Every frame there was captured from a live 3.0.6 cluster whose authkeys is
`auth 1` / `1 sha1 secret` (tests/data/interop/README.md says how). This
module only loads them; tests decide what to assert. The data is part of the
repository, so nothing here is optional: a missing file is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from linklayer.message import AuthKey, Field, Keyring, Method

INTEROP = Path(__file__).resolve().parent / "data" / "interop"

SECRET = b"secret"
KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, SECRET)}, signing_index=1)


@dataclass(frozen=True)
class Vector:
    kind: str
    form: str  # "netstring" or "classic"
    wire: bytes
    fields: tuple[Field, ...] | None  # decoded by the capture tooling, auth field excluded
    auth_ok: bool


def udp_vectors() -> list[Vector]:
    out = []
    for item in json.loads((INTEROP / "frames" / "udp_frames.json").read_text()):
        fields = []
        for f in item["decoded"]["fields"]:
            if f["name"] == "auth":
                continue
            value = bytes.fromhex(f["hex"]) if f["type"] == 1 else f["value"].encode("latin-1")
            fields.append((f["name"].encode(), int(f["type"]), value))
        out.append(
            Vector(
                kind=item["kind"],
                form="netstring",
                wire=bytes.fromhex(item["payload_hex"]),
                fields=tuple(fields),
                auth_ok=bool(item["trailer_auth_ok"]),
            )
        )
    return out


def serial_vectors() -> list[Vector]:
    out = []
    for item in json.loads((INTEROP / "frames" / "serial_frames.json").read_text()):
        out.append(
            Vector(
                kind=item["kind"],
                form="classic",
                wire=item["frame_text"].encode("latin-1"),
                fields=None,
                auth_ok=bool(item["auth_ok"]),
            )
        )
    return out
