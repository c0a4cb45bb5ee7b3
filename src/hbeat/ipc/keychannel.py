"""The private channel on which a link worker gets its keys: never the bus.

A link worker needs the authkeys secrets to sign and verify. They do not
travel over the worker bus (a socket file, however well guarded): the
supervisor creates a socketpair for each link worker it starts, passes one
end to that worker alone (an inherited descriptor, `--keys-fd N`), and
sends the keyring on it: at start, and again whenever `systemctl reload`
changes authkeys. One SOCK_SEQPACKET message per keyring, JSON
`{"keys": [[index, method, base64 secret], ...], "signing": index|null}`.
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

from linklayer.message import AuthKey, Keyring, Method

KEYS_FD_ARG = "--keys-fd"
MAX_MESSAGE = 64 * 1024


class KeyChannelError(ValueError):
    """A keyring message that cannot be used; the text says why."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(supervisor's end, worker's end); both close-on-exec until passed."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def encode_keyring(keyring: Keyring) -> bytes:
    keys = [[k.index, k.method.value, base64.b64encode(k.secret).decode()]
            for k in sorted(keyring.keys.values(), key=lambda k: k.index)]
    return json.dumps({"keys": keys, "signing": keyring.signing_index}).encode()


def decode_keyring(data: bytes) -> Keyring:
    try:
        body: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyChannelError(f"keyring message is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise KeyChannelError("keyring message must be {keys: [...], signing: n}")
    keys: dict[int, AuthKey] = {}
    for item in body["keys"]:
        if (not isinstance(item, list) or len(item) != 3 or type(item[0]) is not int
                or not isinstance(item[1], str) or not isinstance(item[2], str)):
            raise KeyChannelError(f"keyring message: bad key {item!r}")
        try:
            keys[item[0]] = AuthKey(item[0], Method(item[1]),
                                    base64.b64decode(item[2], validate=True))
        except ValueError as exc:
            raise KeyChannelError(f"keyring message: bad key {item[0]}: {exc}") from None
    signing = body.get("signing")
    if signing is not None and (type(signing) is not int or signing not in keys):
        raise KeyChannelError(f"keyring message: signing key {signing!r} is not among the keys")
    return Keyring(keys=keys, signing_index=signing)


def send_keyring(sock: socket.socket, keyring: Keyring) -> None:
    sock.send(encode_keyring(keyring))


def recv_keyring(sock: socket.socket, timeout_s: float | None = None) -> Keyring:
    """The next keyring on the channel; KeyChannelError when it is closed,
    silent past `timeout_s`, or the message is bad."""
    sock.settimeout(timeout_s)
    try:
        data = sock.recv(MAX_MESSAGE)
    except TimeoutError:
        raise KeyChannelError(f"no keyring within {timeout_s:g} s") from None
    except OSError as exc:
        raise KeyChannelError(f"key channel: {exc.strerror}") from None
    finally:
        sock.settimeout(None)
    if not data:
        raise KeyChannelError("key channel closed by the supervisor")
    return decode_keyring(data)
