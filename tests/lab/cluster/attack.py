"""Hostile input for cluster tests: datagrams sent from another lab host, and
frames forged from captured ones.

`send_udp(node, dest, payloads)` sends each payload as one UDP datagram to
`dest`:694 from a socket in `node`'s network namespace (broadcast allowed).
`forge(frame, keys, **changes)` re-signs a captured frame's fields with
`keys` after replacing some values; `as_classic(frame)` re-sends a captured
netstring frame in classic form, signed by its own inner `auth` field
(other bytes, no key needed: a replay that byte-identical filters miss);
`rexmit_requests(...)` forges many different `NS_rexmit` requests from one
node to another.
"""

from __future__ import annotations

import base64
import json

import linklayer
from linklayer.message import BINARY, STRING, AuthKey, Field, Keyring, Method
from tests.harness import Node
from tests.harness.procs import run

_SENDER = """
import json, socket, sys
dest, port, items = json.loads(sys.stdin.read())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for item in items:
    s.sendto(bytes.fromhex(item), (dest, port))
print(len(items))
"""


def send_udp(node: Node, dest: str, payloads: list[bytes], port: int = 694) -> None:
    """One datagram per payload from `node` to `dest`:`port`."""
    body = json.dumps([dest, port, [p.hex() for p in payloads]]).encode()
    res = run(node.netns_argv(["python3", "-c", _SENDER]), input=body)
    assert res.stdout.strip() == str(len(payloads)), res


def keyring(method: str, secret: str, index: int = 1) -> Keyring:
    key = b"" if method == "crc" else secret.encode()
    return Keyring(keys={index: AuthKey(index, Method(method), key)}, signing_index=index)


def fields_of(frame: bytes, keys: Keyring) -> list[Field]:
    return list(linklayer.decode(frame, keys).fields)


def replace(fields: list[Field], **changes: bytes) -> list[Field]:
    """`fields` with the values of the named fields replaced."""
    out = []
    for name, kind, value in fields:
        key = name.decode()
        out.append((name, kind, changes.pop(key) if key in changes else value))
    assert not changes, f"no such fields: {sorted(changes)}"
    return out


def as_classic(frame: bytes) -> bytes:
    """A captured netstring frame rewritten in classic form with its own inner
    `auth` field (a valid classic signature heartbeat puts in every UDP frame):
    a replay with other bytes, made without the key."""
    decoded = linklayer.decode(frame, None)
    assert decoded.inner_auth is not None, "no inner auth field in the frame"
    lines = [b">>>\n"]
    for name, kind, value in decoded.fields:
        if kind == BINARY:
            lines.append(b"(1)" + name + b"=" + base64.b64encode(value) + b"\n")
        else:
            lines.append(name + b"=" + value.replace(b"\n", b"\x13") + b"\n")
    lines += [b"auth=" + decoded.inner_auth + b"\n", b"<<<\n"]
    return b"".join(lines)


def forge(fields: list[Field], keys: Keyring, *, classic: bool = False) -> bytes:
    encode = linklayer.encode_classic if classic else linklayer.encode_netstring
    return encode(fields, keys)


def rexmit_requests(requester: dict[bytes, tuple[int, bytes]],
                    holder: dict[bytes, tuple[int, bytes]], keys: Keyring, *,
                    count: int = 2000, window: int = 100, classic: bool = False) -> list[bytes]:
    """`count` different `NS_rexmit` frames as if from `requester` to `holder`
    (each given as the fields of its last status: name -> (type, value)),
    signed with `keys`: every [first, last] range within the holder's last
    `window` sequence numbers, the requester's `ts` stepped by one per round
    until there are `count` of them."""
    hiseq = int(holder[b"seq"][1], 16)
    ranges = [(first, last) for first in range(max(1, hiseq - window + 1), hiseq + 1)
              for last in range(first, min(hiseq, first + 19) + 1)]
    ts = int(requester[b"ts"][1], 16)
    encode = linklayer.encode_classic if classic else linklayer.encode_netstring
    out: list[bytes] = []
    while len(out) < count:
        for first, last in ranges[:count - len(out)]:
            fields: list[Field] = [(b"t", STRING, b"NS_rexmit"),
                                   (b"dest", STRING, holder[b"src"][1])]
            if b"srcuuid" in holder:
                fields.append((b"destuuid", BINARY, holder[b"srcuuid"][1]))
            fields += [(b"firstseq", STRING, str(first).encode()),
                       (b"lastseq", STRING, str(last).encode())]
            for name in (b"src", b"srcuuid", b"hg", b"ts", b"ttl"):
                if name == b"ts":
                    fields.append((b"ts", STRING, b"%x" % ts))
                elif name in requester:
                    kind, value = requester[name]
                    fields.append((name, kind, value))
            out.append(encode(fields, keys))
        ts += 1
    return out
