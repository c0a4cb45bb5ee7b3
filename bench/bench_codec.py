"""Codec benchmarks: the C codec (linklayer._native) against the Python
reference (linklayer.reference) on a realistic heartbeat status message,
in both wire forms, in the same run. Figures and ratios: bench/README.md.

sign+encode:
  c           encode_<form>(fields, keyring): the general encoder
  c-template  Template(...).encode(seq=, ts=, ld=): three values change
              per frame, named
  c-template-pos  Template(...).encode_values(seq, ts, ld): the same,
              positional
  c-template-bound  Template(...).bind3()(seq, ts, ld): bound to this
              thread's buffers: the keepalive hot path of workers/link.py
  python      the reference encoder
verify+decode:
  c           decode(frame, keyring): verified, fields not yet read
  c+fields    decode(frame, keyring).fields: and every field read
  c-verify    verify(frame, keyring): the key index only (link worker)
  python      the reference decoder (fields are always built)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from linklayer import _native as nat
from linklayer import reference as ref
from linklayer.message import AuthKey, Decoded, Field, Form, Keyring, Method

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
TICK = {"seq": b"1f", "ts": b"6b066b8e", "ld": b"0.00 0.00 0.03 4/101 164"}

FORMS = ("netstring", "classic")


def _encoder(impl: str, form: str) -> Callable[[], bytes]:
    if impl.startswith("c-template"):
        kind = Form.NETSTRING if form == "netstring" else Form.CLASSIC
        template = nat.Template(STATUS, kind, KEYRING, (b"seq", b"ts", b"ld"))
        seq, ts, ld = TICK["seq"], TICK["ts"], TICK["ld"]
        if impl == "c-template-pos":
            return lambda: template.encode_values(seq, ts, ld)
        if impl == "c-template-bound":
            encode3 = template.bind3()
            return lambda: encode3(seq, ts, ld)
        return lambda: template.encode(seq=seq, ts=ts, ld=ld)
    codec: Any = nat if impl == "c" else ref
    if form == "netstring":
        return lambda: codec.encode_netstring(STATUS, KEYRING)  # type: ignore[no-any-return]
    return lambda: codec.encode_classic(STATUS, KEYRING)  # type: ignore[no-any-return]


def _decoder(impl: str) -> Callable[[bytes], object]:
    if impl == "c":
        return lambda frame: nat.decode(frame, KEYRING)
    if impl == "c+fields":
        return lambda frame: nat.decode(frame, KEYRING).fields
    if impl == "c-verify":
        return lambda frame: nat.verify(frame, KEYRING)
    return lambda frame: ref.decode(frame, KEYRING)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "impl", ["c", "c-template", "c-template-pos", "c-template-bound", "python"]
)
def test_sign_encode(benchmark: Any, impl: str, form: str) -> None:
    benchmark.group = f"sign+encode {form}"
    frame = benchmark(_encoder(impl, form))
    assert frame == _encoder("python", form)()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("impl", ["c", "c+fields", "c-verify", "python"])
def test_verify_decode(benchmark: Any, impl: str, form: str) -> None:
    benchmark.group = f"verify+decode {form}"
    frame = _encoder("python", form)()
    result = benchmark(_decoder(impl), frame)
    if impl == "c-verify":
        assert result == 1
    elif impl == "c+fields":
        assert result == STATUS
    else:
        assert isinstance(result, Decoded)
        assert result.fields == STATUS and result.key_index == 1
