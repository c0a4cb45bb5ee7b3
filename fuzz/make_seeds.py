"""Seed corpus for fuzz/fuzz_decode.c: real 3.0.6 frames plus hand-made edge cases.

Writes, into the corpus directory given (default fuzz/corpus/), one file per
seed named `seed-<label>-<sha1 prefix>`:

* every UDP payload of every pcap in tests/data/interop/pcap/ (read with
  linklayer.pcap) and every serial frame of
  tests/data/interop/frames/serial_frames.json;
* `EDGE_CASES`: hand-made frames at each rule and limit of
  docs/wire-format.md, including the item that makes heartbeat 3.0.6 abort;
* frames signed by the pure-Python reference encoder with every key of
  `KEYRING_A` and `KEYRING_B` (the keyrings the harness verifies with), so
  the fuzzer starts from valid sha1, md5 and crc signatures.

`EDGE_CASES`, `KEYRING_A` and `KEYRING_B` are also what
tests/linklayer/test_fuzz_regressions.py decodes. Importing this module does
no I/O; running it does. Usage: make_seeds.py [corpus-dir]
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from linklayer import reference
from linklayer.message import MAX_FIELDS, MAX_FRAME, MAX_NAME, MAX_VALUE, AuthKey, Keyring, Method
from linklayer.pcap import read_udp

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "tests" / "data" / "interop"

# The harness's keyrings (fuzz_decode.c KEYS_A / KEYS_B), key for key.
KEYRING_A = Keyring(
    keys={
        1: AuthKey(1, Method.SHA1, b"secret"),
        2: AuthKey(2, Method.MD5, b"othersecret"),
        3: AuthKey(3, Method.CRC),
        15: AuthKey(15, Method.SHA1, b"k" * 100),
    }
)
KEYRING_B = Keyring(
    keys={
        0: AuthKey(0, Method.SHA1, b""),
        1: AuthKey(1, Method.MD5, b"secret"),
        2: AuthKey(2, Method.CRC),
        3: AuthKey(3, Method.SHA1, b"othersecret"),
        9: AuthKey(9, Method.MD5, b"k" * 100),
    }
)

SHA1_HEX = b"d34480456110f1617bc64f5e1c58e7fabacbb75b"


def _ns(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


def _classic(*lines: bytes) -> bytes:
    return b">>>\n" + b"".join(line + b"\n" for line in lines) + b"<<<\n"


def _netstring(*payloads: bytes, trailer: bytes | None = None) -> bytes:
    body = b"###\n" + b"".join(_ns(p) for p in payloads) + b"%%%\n"
    return body if trailer is None else body + _ns(trailer)


EDGE_CASES: dict[str, bytes] = {
    # The item that makes heartbeat 3.0.6 abort (no "(T)" type prefix).
    "hb306-abort": b"###\n5:hello,%%%\n3:1 x,",
    "empty": b"",
    "short-classic": b">>>",
    "short-netstring": b"###",
    "classic-only-start": b">>>\n",
    "classic-empty": b">>>\n<<<\n",
    "classic-no-newline": b">>>\nt=status\n<<<",
    "classic-trailing": b">>>\nt=x\n<<<\nmore",
    "classic-nul": b">>>\nt=a\x00b\n<<<\n",
    "classic-0x13": b">>>\nt=a\x13b\n<<<\n",
    "classic-type0": _classic(b"(0)t=x"),
    "classic-type2": _classic(b"(2)t=x"),
    "classic-type-open": _classic(b"(1"),
    "classic-no-equals": _classic(b"novalue"),
    "classic-empty-name": _classic(b"=v"),
    "classic-paren-name": _classic(b"(1)(x=QQ=="),
    "classic-name-64": _classic(b"n" * MAX_NAME + b"=v"),
    "classic-name-65": _classic(b"n" * (MAX_NAME + 1) + b"=v"),
    "classic-name-space": _classic(b"a b=v"),
    "classic-value-max": _classic(b"v=" + b"x" * MAX_VALUE),
    "classic-value-over": _classic(b"v=" + b"x" * (MAX_VALUE + 1)),
    "classic-b64-ok": _classic(b"(1)u=QQ==", b"(1)v=QUI=", b"(1)w=QUJD", b"(1)e="),
    "classic-b64-bits": _classic(b"(1)u=QR=="),
    "classic-b64-len": _classic(b"(1)u=QUJ"),
    "classic-b64-pad3": _classic(b"(1)u=Q==="),
    "classic-b64-mid-pad": _classic(b"(1)u=QQ==QUJD"),
    "classic-auth-binary": _classic(b"(1)auth=QQ=="),
    "classic-auth-dup": _classic(b"auth=1 " + SHA1_HEX, b"auth=1 " + SHA1_HEX),
    "classic-auth-first": _classic(b"auth=1 " + SHA1_HEX, b"t=status"),
    "classic-auth-upper": _classic(b"t=x", b"auth=1 " + SHA1_HEX.upper()),
    "classic-auth-crc0": _classic(b"t=x", b"auth=3 0"),
    "classic-auth-crc-lead0": _classic(b"t=x", b"auth=3 0abc"),
    "classic-auth-key16": _classic(b"t=x", b"auth=16 abc"),
    "classic-auth-key05": _classic(b"t=x", b"auth=05 abc"),
    "classic-auth-nospace": _classic(b"t=x", b"auth=1"),
    "classic-fields-max": _classic(*(b"f=%d" % i for i in range(MAX_FIELDS))),
    "classic-fields-over": _classic(*(b"f=%d" % i for i in range(MAX_FIELDS + 1))),
    "netstring-empty": b"###\n%%%\n",
    "netstring-cut-marker": b"###\n%%",
    "netstring-only-start": b"###\n",
    "netstring-zero-len": b"###\n0:,%%%\n",
    "netstring-lead-zero": b"###\n09:(0)t=abcd,%%%\n",
    "netstring-7-digits": b"###\n1000000:(0)t=x,%%%\n",
    "netstring-past-end": b"###\n99:(0)t=x,%%%\n",
    "netstring-no-comma": b"###\n7:(0)t=xy;%%%\n",
    "netstring-no-type": b"###\n3:t=x,%%%\n",
    "netstring-type9": _netstring(b"(9)t=x"),
    "netstring-no-equals": _netstring(b"(0)tx"),
    "netstring-binary-raw": _netstring(b"(1)u=\x00\x13\n,=%%%\n\xff"),
    "netstring-string-0x13": _netstring(b"(0)t=a\x13"),
    "netstring-name-comma": _netstring(b"(0)a,b%=v"),
    "netstring-inner-auth-junk": _netstring(b"(0)t=x", b"(0)auth=whatever"),
    "netstring-inner-auth-dup": _netstring(b"(0)auth=1 a", b"(0)auth=1 b"),
    "netstring-trailer-bad": _netstring(b"(0)t=x", trailer=b"1 XYZ"),
    "netstring-trailer-trailing": _netstring(b"(0)t=x", trailer=b"1 " + SHA1_HEX) + b"x",
    "netstring-trailer-lead0": b"###\n6:(0)t=x,%%%\n042:1 " + SHA1_HEX + b",",
    "netstring-trailer-cut": b"###\n6:(0)t=x,%%%\n42:1 abc",
    "netstring-trailer-nocomma": _netstring(b"(0)t=x", trailer=b"1 " + SHA1_HEX)[:-1] + b";",
    "netstring-value-max": _netstring(b"(1)v=" + b"\x00" * MAX_VALUE),
    "netstring-value-over": _netstring(b"(0)v=" + b"x" * (MAX_VALUE + 1)),
    "netstring-fields-max": _netstring(*(b"(0)f=%d" % i for i in range(MAX_FIELDS))),
    "netstring-fields-over": _netstring(*(b"(0)f=%d" % i for i in range(MAX_FIELDS + 1))),
    # Binary values that grow past MAX_VALUE once base64'd in classic form.
    "netstring-binary-49153": _netstring(b"(1)v=" + b"\xff" * 49153),
    "frame-max": _netstring(*(b"(1)v=" + b"y" * (MAX_VALUE - 12) for _ in range(4)))[:MAX_FRAME],
    "frame-over": b">>>\n" + b"x" * MAX_FRAME,
    "unknown-form": b"GET / HTTP/1.0\r\n\r\n",
}

# Field lists the reference encoder signs with every key (seed_signed).
_SIGNED_FIELDS = (
    (b"t", 0, b"status"),
    (b"st", 0, b"active"),
    (b"srcuuid", 1, bytes(range(16))),
    (b"info", 0, b"two\nlines"),
    (b"seq", 0, b"2a"),
)


def _signed_frames() -> Iterator[tuple[str, bytes]]:
    for ring_name, ring in (("a", KEYRING_A), ("b", KEYRING_B)):
        for index, key in ring.keys.items():
            signer = Keyring(keys=ring.keys, signing_index=index)
            label = f"{ring_name}{index}-{key.method.value}"
            yield f"signed-classic-{label}", reference.encode_classic(_SIGNED_FIELDS, signer)
            yield f"signed-ns-{label}", reference.encode_netstring(_SIGNED_FIELDS, signer)
            yield (
                f"signed-ns-noinner-{label}",
                reference.encode_netstring(_SIGNED_FIELDS, signer, inner_auth=False),
            )


def interop_frames() -> Iterator[tuple[str, bytes]]:
    """Every UDP payload of the interop pcaps and every captured serial frame."""
    for pcap in sorted((INTEROP / "pcap").glob("*.pcap")):
        for number, datagram in enumerate(read_udp(pcap), 1):
            yield f"udp-{pcap.stem}-{number}", datagram.payload
    serial = json.loads((INTEROP / "frames" / "serial_frames.json").read_text())
    for number, item in enumerate(serial, 1):
        yield f"serial-{item['capture']}-{number}", item["frame_text"].encode("latin-1")


def seeds() -> Iterator[tuple[str, bytes]]:
    yield from interop_frames()
    yield from EDGE_CASES.items()
    yield from _signed_frames()


def write(corpus: Path) -> tuple[int, int]:
    """Writes every seed (once per distinct content); returns (written, total)."""
    corpus.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    written = 0
    for label, data in seeds():
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        path = corpus / f"seed-{label}-{digest[:12]}"
        if not path.exists():
            path.write_bytes(data)
            written += 1
    return written, len(seen)


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print("usage: make_seeds.py [corpus-dir]", file=sys.stderr)
        return 2
    if not (INTEROP / "pcap").is_dir():
        print(f"ERROR: make_seeds: {INTEROP / 'pcap'} is missing", file=sys.stderr)
        return 1
    corpus = Path(argv[1]) if len(argv) == 2 else ROOT / "fuzz" / "corpus"
    written, total = write(corpus)
    print(f"info: make_seeds: {total} seeds ({written} new) in {corpus}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
