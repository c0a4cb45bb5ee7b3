"""The C codec and the Python reference codec agree (hypothesis).

For random valid messages, random field lists (valid or not), random bytes
and mutations of real heartbeat 3.0.6 frames (flip, insert, delete,
truncate), both codecs must return the same frame or Decoded, or raise
FrameError with the same (code, offset, field index). The C-only fast
paths are held to the reference too: `verify` must give the key index the
reference's decode gives (or its error), and a `Template` the frame the
reference encoders build from the substituted fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linklayer import _native as nat
from linklayer import reference as ref
from linklayer.errors import FrameError
from linklayer.message import MAX_FIELDS, AuthKey, Field, Form, Keyring, Method
from tests.interop_vectors import KEYRING, serial_vectors, udp_vectors

REAL = [v.wire for v in udp_vectors() + serial_vectors()]

KEYS = {
    1: AuthKey(1, Method.SHA1, b"secret"),
    2: AuthKey(2, Method.MD5, b"othersecret"),
    3: AuthKey(3, Method.CRC),
    7: AuthKey(7, Method.SHA1, b"x" * 90),
}
KEYRINGS = [None, KEYRING] + [Keyring(keys=KEYS, signing_index=i) for i in KEYS]

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args, **kwargs))
    except FrameError as exc:
        return ("error", (exc.code, exc.offset, exc.field_index))


def assert_decode_agrees(frame: bytes) -> None:
    for keyring in (None, KEYRING, KEYRINGS[2]):
        c = outcome(nat.decode, frame, keyring)
        py = outcome(ref.decode, frame, keyring)
        assert c == py, (frame, keyring)
        if keyring is not None:
            key_index = ("ok", py[1].key_index) if py[0] == "ok" else py
            assert outcome(nat.verify, frame, keyring) == key_index, (frame, keyring)


NAME_BYTES = [b for b in range(0x21, 0x7F) if b != ord("=")]
names = st.binary(min_size=1, max_size=12).map(
    lambda raw: bytes(NAME_BYTES[b % len(NAME_BYTES)] for b in raw)
).filter(lambda n: n[:1] != b"(" and n != b"auth")
string_values = st.binary(max_size=40).map(lambda v: v.replace(b"\x00", b"").replace(b"\x13", b""))
valid_field = st.one_of(
    st.tuples(names, st.just(0), string_values),
    st.tuples(names, st.just(1), st.binary(max_size=40)),
)
valid_fields = st.lists(valid_field, max_size=20)

any_field = st.tuples(
    st.one_of(names, st.binary(max_size=70), st.sampled_from([b"auth", b"(x", b"a=b", b""])),
    st.sampled_from([0, 1, 2, 5, 255, 300, -1]),
    st.one_of(string_values, st.binary(max_size=40)),
)


@SETTINGS
@given(fields=valid_fields, which=st.integers(0, len(KEYRINGS) - 1), inner=st.booleans())
def test_valid_messages_encode_decode_and_verify_alike(
    fields: list[Field], which: int, inner: bool
) -> None:
    keyring = KEYRINGS[which]
    frames = {
        "classic": (nat.encode_classic(fields, keyring), ref.encode_classic(fields, keyring)),
        "netstring": (
            nat.encode_netstring(fields, keyring, inner_auth=inner),
            ref.encode_netstring(fields, keyring, inner_auth=inner),
        ),
    }
    for c_frame, py_frame in frames.values():
        assert c_frame == py_frame
        assert nat.decode(c_frame, keyring) == ref.decode(py_frame, keyring)
        assert nat.decode(c_frame, None) == ref.decode(py_frame, None)
        verifier = Keyring(keys=KEYS, signing_index=1)  # any configured key verifies
        assert outcome(nat.decode, c_frame, verifier) == outcome(ref.decode, c_frame, verifier)
        assert nat.decode(c_frame, None).fields == tuple(fields)


@SETTINGS
@given(
    fields=st.lists(any_field, max_size=8),
    which=st.integers(0, len(KEYRINGS) - 1),
    inner=st.booleans(),
)
def test_any_field_list_encodes_alike(fields: list[Field], which: int, inner: bool) -> None:
    keyring = KEYRINGS[which]
    assert outcome(nat.encode_classic, fields, keyring) == outcome(
        ref.encode_classic, fields, keyring
    )
    assert outcome(nat.encode_netstring, fields, keyring, inner_auth=inner) == outcome(
        ref.encode_netstring, fields, keyring, inner_auth=inner
    )


def test_field_count_limits_encode_alike() -> None:
    for count in (MAX_FIELDS - 1, MAX_FIELDS, MAX_FIELDS + 1, 3 * MAX_FIELDS):
        fields = [(b"f", 0, b"v")] * count
        for keyring in (None, KEYRING):
            for encoder_c, encoder_py in (
                (nat.encode_classic, ref.encode_classic),
                (nat.encode_netstring, ref.encode_netstring),
            ):
                assert outcome(encoder_c, fields, keyring) == outcome(encoder_py, fields, keyring)


SYNTAX = b"0123456789:,()=%#<>\n\x13\x00 abcdefAuth"
syntax_bytes = st.lists(st.sampled_from(list(SYNTAX)), max_size=120).map(bytes)


@SETTINGS
@given(body=st.one_of(st.binary(max_size=200), syntax_bytes),
       head=st.sampled_from([b"", b">>>\n", b"###\n"]))  # fmt: skip
def test_random_bytes_decode_alike(head: bytes, body: bytes) -> None:
    assert_decode_agrees(head + body)


def _mutate(data: st.DataObject, wire: bytes) -> bytes:
    frame = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(frame) - 1, 0)), label="at")
        if kind == "flip" and frame:
            frame[at] ^= data.draw(st.sampled_from([1, 2, 0x20, 0x80, 0xFF]))
        elif kind == "insert":
            frame[at:at] = data.draw(st.sampled_from([b",", b":", b"=", b"\n", b"0", b"%%%\n"]))
        elif kind == "delete" and frame:
            del frame[at : at + data.draw(st.integers(1, 4))]
        else:
            del frame[at:]
    return bytes(frame)


@SETTINGS
@given(data=st.data())
def test_mutated_real_frames_decode_alike(data: st.DataObject) -> None:
    wire = data.draw(st.sampled_from(REAL), label="frame")
    assert_decode_agrees(_mutate(data, wire))


def test_every_single_byte_flip_of_real_frames_decodes_alike() -> None:
    for wire in REAL[:: max(1, len(REAL) // 6)]:
        for at in range(len(wire)):
            for mask in (0x01, 0x40):
                frame = wire[:at] + bytes([wire[at] ^ mask]) + wire[at + 1 :]
                assert outcome(nat.decode, frame, KEYRING) == outcome(ref.decode, frame, KEYRING)


def test_every_truncation_of_real_frames_decodes_alike() -> None:
    for wire in REAL:
        for k in range(len(wire) + 1):
            assert_decode_agrees(wire[:k])


big_values = st.one_of(
    string_values, st.binary(max_size=40), st.binary(min_size=500, max_size=2000)
)


@SETTINGS
@given(
    fields=st.lists(
        st.one_of(valid_field, st.tuples(names, st.just(1), st.binary(min_size=500, max_size=900))),
        min_size=1, max_size=12,
    ),
    data=st.data(),
    which=st.integers(0, len(KEYRINGS) - 1),
    inner=st.booleans(),
    form=st.sampled_from([Form.CLASSIC, Form.NETSTRING]),
)
def test_templates_encode_as_the_reference_does(
    fields: list[Field], data: st.DataObject, which: int, inner: bool, form: Form
) -> None:
    keyring = KEYRINGS[which]
    counts: dict[bytes, int] = {}
    for name, _t, _v in fields:
        counts[name] = counts.get(name, 0) + 1
    unique = sorted(name for name, count in counts.items() if count == 1)
    variable = data.draw(st.lists(st.sampled_from(unique), max_size=4, unique=True)
                         if unique else st.just([]), label="variable")
    template = nat.Template(fields, form, keyring, variable, inner_auth=inner)
    for _ in range(3):
        values = {name: data.draw(big_values, label=name.decode()) for name in variable}
        given = [(n, t, values.get(n, v)) for n, t, v in fields]
        if form is Form.CLASSIC:
            want = outcome(ref.encode_classic, given, keyring)
        else:
            want = outcome(ref.encode_netstring, given, keyring, inner_auth=inner)
        got = outcome(template.encode, **{n.decode(): v for n, v in values.items()})
        assert got == want, (variable, values)
