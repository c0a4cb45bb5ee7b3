"""workers/nslimit.py: the link worker's limit on NS_* frames per source and type."""

from __future__ import annotations

import pytest

import linklayer
from linklayer.message import STRING, AuthKey, Keyring, Method
from workers.nslimit import NsLimit, ns_type


def test_a_burst_passes_then_the_rate_holds() -> None:
    lim = NsLimit(rate=10, burst=5)
    assert [lim.admit(b"weasel", b"NS_rexmit", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert lim.admit(b"weasel", b"NS_rexmit", 0.1)  # one token back after 0.1 s
    assert not lim.admit(b"weasel", b"NS_rexmit", 0.1)
    # A 10 s flood at 1000/s gets about rate * 10 through.
    passed = sum(lim.admit(b"weasel", b"NS_rexmit", 1 + i / 1000) for i in range(10_000))
    assert 95 <= passed <= 106


def test_sources_and_types_are_separate_and_bounded() -> None:
    lim = NsLimit(rate=1, burst=1, max_keys=2)
    assert lim.admit(b"weasel", b"NS_rexmit", 0.0)
    assert lim.admit(b"weasel", b"NS_ackmsg", 0.0)  # another type: its own bucket
    assert not lim.admit(b"weasel", b"NS_rexmit", 0.0)
    # Past max_keys, new (source, type) pairs share one bucket.
    assert lim.admit(b"spoof1", b"NS_rexmit", 0.0)
    assert not lim.admit(b"spoof2", b"NS_rexmit", 0.0)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        NsLimit(rate=0)


def test_ns_type_is_read_from_either_wire_form() -> None:
    keys = Keyring(keys={1: AuthKey(1, Method.SHA1, b"k")}, signing_index=1)
    fields = [(b"t", STRING, b"NS_rexmit"), (b"src", STRING, b"weasel"),
              (b"info", STRING, b"xt=NS_fake")]
    assert ns_type(linklayer.encode_netstring(fields, keys)) == b"NS_rexmit"
    assert ns_type(linklayer.encode_classic(fields, keys)) == b"NS_rexmit"
    status = [(b"t", STRING, b"status"), (b"info", STRING, b"xt=NS_fake")]
    assert ns_type(linklayer.encode_netstring(status, keys)) is None
