"""Codec benchmarks: the C codec (linklayer._native) against the Python
reference (linklayer.reference) on a realistic heartbeat status message,
in both wire forms, in the same run. Figures and ratios: bench/README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from linklayer import _native as nat
from linklayer import reference as ref
from linklayer.message import AuthKey, Field, Keyring, Method

KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)

# The fields of a real 3.0.6 keepalive (tests/interop_vectors.py, "status
# st=active"); the signed netstring frame is ~300 bytes.
STATUS: tuple[Field, ...] = (
    (b"t", 0, b"status"),
    (b"st", 0, b"active"),
    (b"dt", 0, b"2710"),
    (b"protocol", 0, b"1"),
    (b"src", 0, b"weasel"),
    (b"srcuuid", 1, bytes.fromhex("6659a81ed15e4fac9ae63cb66281cc9c")),
    (b"seq", 0, b"1f"),
    (b"hg", 0, b"6b066b7a"),
    (b"ts", 0, b"6b066b8e"),
    (b"ld", 0, b"0.00 0.00 0.03 4/101 164"),
    (b"ttl", 0, b"3"),
)

CODECS = {"c": nat, "python": ref}
FORMS = ("netstring", "classic")


def _encoder(codec: Any, form: str) -> Callable[[], bytes]:
    if form == "netstring":
        return lambda: codec.encode_netstring(STATUS, KEYRING)  # type: ignore[no-any-return]
    return lambda: codec.encode_classic(STATUS, KEYRING)  # type: ignore[no-any-return]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("codec", list(CODECS))
def test_sign_encode(benchmark: Any, codec: str, form: str) -> None:
    benchmark.group = f"sign+encode {form}"
    encode = _encoder(CODECS[codec], form)
    frame = benchmark(encode)
    assert frame == _encoder(ref, form)()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("codec", list(CODECS))
def test_verify_decode(benchmark: Any, codec: str, form: str) -> None:
    benchmark.group = f"verify+decode {form}"
    frame = _encoder(ref, form)()
    decode = CODECS[codec].decode
    decoded = benchmark(decode, frame, KEYRING)
    assert decoded.fields == STATUS and decoded.key_index == 1
