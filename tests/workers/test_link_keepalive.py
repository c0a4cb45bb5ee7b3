"""The link worker's keepalive template gives the very bytes that
`status_fields` + `encode_classic`/`encode_netstring` give, for every
status content shape, key method and value the worker may send."""

from __future__ import annotations

from dataclasses import replace

import pytest

import linklayer
from hbeat.ipc.keepalive import STATUS_VARIABLE, KeepaliveContent, status_fields
from linklayer.message import AuthKey, Keyring, Method
from workers.link import status_template

KEYRINGS = {
    "sha1": Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1),
    "md5": Keyring(keys={2: AuthKey(2, Method.MD5, b"othersecret")}, signing_index=2),
    "crc": Keyring(keys={3: AuthKey(3, Method.CRC)}, signing_index=3),
}

CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=True, src="weasel",
                           srcuuid=bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c"),
                           hg=0x6B066B7A, ttl=3)

TICKS = [
    (0, 0, b""),
    (0x1F, 0x6B066B8E, b"0.00 0.00 0.03 4/101 164"),
    (2**32 - 1, 2**31, b"12.50 8.00 7.25 100/1000 65535"),
    (5, 7, b"line\nbreak"),
]


@pytest.mark.parametrize("protocol", [True, False])
@pytest.mark.parametrize("method", list(KEYRINGS))
@pytest.mark.parametrize("form", ["classic", "netstring"])
def test_template_bytes_equal_status_fields_encoded(form: str, method: str, protocol: bool) -> None:
    keyring = KEYRINGS[method]
    content = replace(CONTENT, protocol=protocol)
    encode = linklayer.encode_classic if form == "classic" else linklayer.encode_netstring
    template = status_template(content, form, keyring)
    assert template.variable == STATUS_VARIABLE
    for seq, ts, ld in TICKS:
        want = encode(status_fields(content, seq, ts, ld), keyring)
        got = template.encode_values(b"%x" % seq, b"%x" % ts, ld)
        assert got == want, (seq, ts, ld)
        assert template.encode(seq=b"%x" % seq, ts=b"%x" % ts, ld=ld) == want
        decoded = linklayer.decode(got, keyring)
        assert decoded.fields == tuple(status_fields(content, seq, ts, ld))


def test_new_status_content_needs_a_new_template() -> None:
    keyring = KEYRINGS["sha1"]
    before = status_template(CONTENT, "netstring", keyring)
    changed = replace(CONTENT, st="dead", hg=0x10)
    after = status_template(changed, "netstring", keyring)
    tick = {"seq": b"1", "ts": b"2", "ld": b"0.00"}
    assert before.encode(**tick) != after.encode(**tick)
    assert after.encode(**tick) == linklayer.encode_netstring(
        status_fields(changed, 1, 2, b"0.00"), keyring
    )
