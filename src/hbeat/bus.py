"""The worker bus: messages between the supervisor and its workers.

ZeroMQ multipart messages over `ipc://<runtime-dir>/bus` (ROUTER in the
supervisor, one DEALER per worker whose identity is the worker's name, such
as `bcast eth1`). The first part is the verb; control parts are JSON;
frames travel as raw bytes, never re-encoded.

worker -> supervisor
  hello  {"pid", "name", "version"}
  rx     <8-byte big-endian CLOCK_MONOTONIC ns> <raw authentic frame>
  bad    {"code", "error", "peer"}           a frame the C layer rejected
  sent   {"seq", "ts", "ld", "tick"}          a keepalive this worker sent
  junk   {"bytes"}                            bytes a serial line discarded
  fatal  {"error"}                            the medium cannot be used

supervisor -> worker
  setup  {"medium": {...}, "keys": [[n, method, b64 secret]], "signing": n,
          "board": path, "status": {...}}
  status {...}                                new keepalive content
  reload {"keys": [...], "signing": n}        the configuration was reread: new
                                              keys, and read the keepalive
                                              schedule from the board again
  send   <raw frame>                          write these bytes as they are
  stop   {}

Pure encoding and decoding, plus `drain` (read what is waiting on a socket).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import zmq

from linklayer.message import AuthKey, Keyring, Method

BUS_VERSION = 1
_TS = struct.Struct(">q")


class BusError(ValueError):
    pass


def drain(sock: zmq.Socket[bytes]) -> Iterator[list[bytes]]:
    """Every message waiting on `sock` now, without blocking."""
    while True:
        try:
            yield sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return


def pack(verb: bytes, body: Mapping[str, Any] | None = None) -> list[bytes]:
    return [verb, json.dumps(body or {}, separators=(",", ":")).encode()]


def unpack_json(part: bytes, verb: str) -> dict[str, Any]:
    try:
        body = json.loads(part)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusError(f"bus message '{verb}': body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BusError(f"bus message '{verb}': body is not a JSON object")
    return body


def pack_rx(recv_ns: int, frame: bytes) -> list[bytes]:
    return [b"rx", _TS.pack(recv_ns), frame]


def unpack_rx(parts: list[bytes]) -> tuple[int, bytes]:
    if len(parts) != 3 or len(parts[1]) != 8:
        raise BusError("bus message 'rx' must be: rx <8-byte timestamp> <frame>")
    return _TS.unpack(parts[1])[0], parts[2]


def keyring_to_json(keyring: Keyring) -> tuple[list[list[Any]], int | None]:
    keys = [
        [k.index, k.method.value, base64.b64encode(k.secret).decode()]
        for k in keyring.keys.values()
    ]
    return keys, keyring.signing_index


def keyring_from_json(keys: list[list[Any]], signing: int | None) -> Keyring:
    try:
        parsed = {
            int(n): AuthKey(int(n), Method(m), base64.b64decode(s, validate=True))
            for n, m, s in keys
        }
    except (ValueError, TypeError) as exc:
        raise BusError(f"bus message 'setup': bad keyring: {exc}") from exc
    return Keyring(keys=parsed, signing_index=signing)
