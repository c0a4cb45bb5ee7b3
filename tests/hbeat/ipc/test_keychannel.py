"""hbeat.ipc.keychannel: keys reach a link worker on a private socketpair."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hbeat.ipc.keychannel import (
    KeyChannelError,
    channel_pair,
    decode_keyring,
    encode_keyring,
    recv_keyring,
    send_keyring,
)
from linklayer.message import AuthKey, Keyring, Method

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"s3cr\xc3\xa9t"), 2: AuthKey(2, Method.CRC),
                        3: AuthKey(3, Method.MD5, b"old")}, signing_index=1)


def test_round_trip() -> None:
    assert decode_keyring(encode_keyring(KEYRING)) == KEYRING
    unsigned = Keyring(keys={}, signing_index=None)
    assert decode_keyring(encode_keyring(unsigned)) == unsigned


@pytest.mark.parametrize(("data", "error"), [
    (b"{", "keyring message is not JSON"),
    (b"[]", "keyring message must be {keys: [...], signing: n}"),
    (b'{"keys": [[1, "rot13", "AA=="]], "signing": 1}', "keyring message: bad key 1"),
    (b'{"keys": [[1, "sha1"]], "signing": 1}', "keyring message: bad key [1, 'sha1']"),
    (b'{"keys": [[1, "sha1", "!!"]], "signing": 1}', "keyring message: bad key 1"),
    (b'{"keys": [], "signing": 4}', "keyring message: signing key 4 is not among the keys"),
])
def test_bad_messages_are_refused_with_reason(data: bytes, error: str) -> None:
    with pytest.raises(KeyChannelError) as info:
        decode_keyring(data)
    assert str(info.value).startswith(error)


def test_keys_reach_a_child_through_the_inherited_descriptor_only() -> None:
    ours, theirs = channel_pair()
    code = ("import socket, sys\n"
            "from hbeat.ipc.keychannel import recv_keyring\n"
            "s = socket.socket(fileno=int(sys.argv[1]))\n"
            "for _ in range(2):\n"
            "    k = recv_keyring(s, 10)\n"
            "    print(k.signing_index, sorted(k.keys), flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())],
                             pass_fds=(theirs.fileno(),), stdout=subprocess.PIPE, text=True)
    theirs.close()
    try:
        send_keyring(ours, KEYRING)
        send_keyring(ours, Keyring(keys={3: KEYRING.keys[3]}, signing_index=3))
        out, _ = child.communicate(timeout=30)
    finally:
        ours.close()
    assert out.splitlines() == ["1 [1, 2, 3]", "3 [3]"]
    assert child.returncode == 0


def test_closed_or_silent_channel() -> None:
    ours, theirs = channel_pair()
    with pytest.raises(KeyChannelError, match=r"no keyring within 0\.05 s"):
        recv_keyring(theirs, 0.05)
    ours.close()
    with pytest.raises(KeyChannelError, match="closed by the supervisor"):
        recv_keyring(theirs, 1)
    theirs.close()

