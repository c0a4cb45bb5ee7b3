"""Inputs kept by the fuzzer (fuzz/regressions/) and the seed edge cases
(fuzz/make_seeds.py EDGE_CASES) through `linklayer.decode`.

Each input is decoded parse-only and with the fuzzer's two keyrings: the C
codec must return a result or raise FrameError (nothing else, never crash),
agree with the pure-Python reference codec (same fields, or the same error
code, byte offset and field index), and a decoded frame must survive being
re-encoded by the C encoder. Every input is also decoded in a child
process, so one that still crashes the C code fails a test with the child's
output (naming the input) instead of taking the test run down.

tools/sanitize.sh runs this file again against an ASan+UBSan build.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import linklayer
from linklayer import reference
from linklayer.errors import FrameError
from linklayer.message import Decoded, Form, Keyring

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = ROOT / "fuzz" / "regressions"


def _load_seeds() -> ModuleType:
    path = ROOT / "fuzz" / "make_seeds.py"
    spec = importlib.util.spec_from_file_location("fuzz_make_seeds", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SEEDS = _load_seeds()
KEYRINGS: dict[str, Keyring | None] = {
    "parse-only": None,
    "keyring-a": SEEDS.KEYRING_A,
    "keyring-b": SEEDS.KEYRING_B,
}
REGRESSION_FILES = sorted(
    p
    for p in REGRESSIONS.glob("*")
    if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"
)
# Every input under test, by label: the seed edge cases, then the kept files.
CASES: dict[str, bytes] = {f"edge:{k}": v for k, v in SEEDS.EDGE_CASES.items()}
CASES.update((f"regression:{p.name}", p.read_bytes()) for p in REGRESSION_FILES)


def _outcome(codec: ModuleType, frame: bytes, keyring: Keyring | None) -> Decoded | FrameError:
    try:
        result: Decoded = codec.decode(frame, keyring)
    except FrameError as err:
        return err
    return result


def _check(frame: bytes, keyring: Keyring | None) -> None:
    got = _outcome(linklayer, frame, keyring)
    want = _outcome(reference, frame, keyring)
    if isinstance(want, FrameError):
        assert isinstance(got, FrameError), f"C decoded a frame the reference rejects: {want}"
        assert (got.code, got.offset, got.field_index) == (
            want.code,
            want.offset,
            want.field_index,
        ), f"C says {got}, reference says {want}"
        return
    assert isinstance(got, Decoded), f"C rejects a frame the reference decodes: {got}"
    assert got == want
    if keyring is not None:
        return
    # Round trip through the C encoder, in the same form, unsigned.
    if got.form is Form.CLASSIC:
        again = linklayer.encode_classic(got.fields, None)
    else:
        again = linklayer.encode_netstring(got.fields, None)
    if got.signature is None and got.inner_auth is None:
        assert again == frame, "an unsigned frame does not re-encode to the same bytes"
    assert linklayer.decode(again, None).fields == got.fields


@pytest.mark.parametrize("keyring_name", list(KEYRINGS))
@pytest.mark.parametrize("label", list(CASES))
def test_decode_agrees_with_reference(label: str, keyring_name: str) -> None:
    _check(CASES[label], KEYRINGS[keyring_name])


def test_heartbeat_abort_frame_is_a_clear_error() -> None:
    """The item that makes heartbeat 3.0.6 abort is NS_NO_TYPE at its item."""
    with pytest.raises(FrameError) as info:
        linklayer.decode(SEEDS.EDGE_CASES["hb306-abort"], None)
    assert (info.value.code.name, info.value.offset, info.value.field_index) == (
        "NS_NO_TYPE",
        4,
        0,
    )


_CHILD = """
import importlib.util, sys
import linklayer
from linklayer.errors import FrameError
spec = importlib.util.spec_from_file_location("seeds", sys.argv[1])
seeds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seeds)
for path in sys.argv[2:]:
    print("decoding", path, file=sys.stderr, flush=True)
    frame = open(path, "rb").read()
    for keyring in (None, seeds.KEYRING_A, seeds.KEYRING_B):
        try:
            linklayer.decode(frame, keyring)
        except FrameError:
            pass
print("survived")
"""


def test_no_input_crashes_the_process(tmp_path: Path) -> None:
    """Every case decoded in a child process: a crash (or a sanitizer abort)
    fails this test with the child's output, naming the input it was on."""
    paths = []
    for number, (label, frame) in enumerate(CASES.items()):
        path = tmp_path / f"{number:03d}-{label.replace(':', '-')}"
        path.write_bytes(frame)
        paths.append(str(path))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT / "fuzz" / "make_seeds.py"), *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0 and "survived" in child.stdout, (
        f"decoding crashed the process (exit {child.returncode}):\n{child.stderr[-4000:]}"
    )


def test_regressions_directory_is_kept() -> None:
    """fuzz/regressions/ has a README describing every kept input."""
    readme = (REGRESSIONS / "README.md").read_text()
    for path in REGRESSION_FILES:
        assert path.name in readme, f"{path.name} is not described in fuzz/regressions/README.md"
