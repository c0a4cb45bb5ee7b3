"""Differential replay: the C codec against the pure-Python reference codec on a
fuzz corpus.

libFuzzer cannot call the Python reference codec, so this replays what it
found (every file of the directories given, default fuzz/corpus and
fuzz/regressions) through both `linklayer.decode` (C) and
`linklayer.reference.decode`, parse-only and with the harness's keyrings
(make_seeds.KEYRING_A / KEYRING_B), and reports every input where they
disagree: a different result, or a different error code, byte offset or
field index. Exit status 1 if any does.
Usage: diff_reference.py [dir...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import make_seeds  # fuzz/ is on sys.path: this file is run as a script

import linklayer
from linklayer import reference
from linklayer.errors import FrameError
from linklayer.message import Decoded, Keyring

ROOT = Path(__file__).resolve().parents[1]


def _outcome(decode: object, frame: bytes, keyring: Keyring | None) -> object:
    try:
        result: Decoded = decode(frame, keyring)  # type: ignore[operator]
    except FrameError as err:
        return ("error", err.code, err.offset, err.field_index)
    return ("ok", result)


def disagreement(frame: bytes) -> str | None:
    """None if both codecs agree on every keyring, else what differs."""
    for name, keyring in (
        ("parse-only", None),
        ("keyring-a", make_seeds.KEYRING_A),
        ("keyring-b", make_seeds.KEYRING_B),
    ):
        c = _outcome(linklayer.decode, frame, keyring)
        ref = _outcome(reference.decode, frame, keyring)
        if c != ref:
            return f"{name}: C {c!r:.300} / reference {ref!r:.300}"
    return None


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv[1:]] or [ROOT / "fuzz" / "corpus", ROOT / "fuzz" / "regressions"]
    files = sorted(p for d in dirs if d.is_dir() for p in d.iterdir() if p.is_file())
    files = [p for p in files if p.suffix != ".md"]
    bad = 0
    for path in files:
        why = disagreement(path.read_bytes())
        if why is not None:
            bad += 1
            print(f"ERROR: diff_reference: {path}: {why}")
    print(f"info: diff_reference: {len(files)} inputs, {bad} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
