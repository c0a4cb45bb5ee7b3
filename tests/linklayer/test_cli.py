"""`python -m linklayer decode`, run as a real subprocess on real frames."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linklayer import reference as ref
from linklayer.authkeys import load_authkeys
from linklayer.errors import FrameError
from tests.interop_vectors import INTEROP, KEYRING, serial_vectors, udp_vectors

C_BUILT = importlib.util.find_spec("linklayer._frame_cffi") is not None
CODECS = [
    pytest.param(["--reference"], id="reference"),
    pytest.param([], id="C", marks=pytest.mark.skipif(not C_BUILT, reason="C codec not built")),
]
C_WARNING = "WARN: the C codec is not available"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linklayer", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def authkeys(tmp_path: Path) -> Path:
    path = tmp_path / "authkeys"
    shutil.copyfile(INTEROP / "config" / "authkeys", path)
    path.chmod(0o600)
    return path


def write_frames(tmp_path: Path) -> list[Path]:
    paths = []
    for i, vector in enumerate(udp_vectors() + serial_vectors()):
        path = tmp_path / f"{i:02d}-{vector.form}.frame"
        path.write_bytes(vector.wire)
        paths.append(path)
    return paths


def frame_headers(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line and not line.startswith(" ")]


@pytest.mark.parametrize("codec", CODECS)
def test_all_valid_frame_files(tmp_path: Path, authkeys: Path, codec: list[str]) -> None:
    paths = write_frames(tmp_path)
    proc = run("decode", "--authkeys", authkeys, *codec, *paths)
    assert proc.returncode == 0, proc.stderr
    assert C_WARNING not in proc.stderr
    assert proc.stderr == ""
    n = len(paths)
    assert proc.stdout.count("  valid: key 1 (sha1)\n") == n
    assert "REJECTED" not in proc.stdout
    assert proc.stdout.endswith(f"{n} frames: {n} valid, 0 rejected\n")
    headers = frame_headers(proc.stdout)[:-1]
    vectors = udp_vectors() + serial_vectors()
    for path, vector, header in zip(paths, vectors, headers, strict=True):
        decoded = ref.decode(vector.wire, KEYRING)
        assert header == (
            f"{path}: {vector.form}, {len(vector.wire)} bytes, {len(decoded.fields)} fields"
        )
    block = proc.stdout.split(f"{paths[1]}: ")[0]  # the first frame's lines
    assert re.search(r'^  t +string  "status"$', block, re.M)
    assert re.search(r'^  st +string  "init"$', block, re.M)
    assert re.search(r'^  ld +string  "0\.00 0\.00 0\.03 4/101 164"$', block, re.M)
    assert re.search(
        r"^  srcuuid +binary  6659a81ed15e4fac9ae63cb66281cc9c  \(16 bytes\)$", block, re.M
    )
    assert '  inner auth field: "1 d34480456110f1617bc64f5e1c58e7fabacbb75b" (matches;' in block
    assert '  trailer: "1 21d9b57f4968be930f5bfff5527b20d43de77831"' in block


@pytest.mark.parametrize("codec", CODECS)
def test_one_forged_frame(tmp_path: Path, authkeys: Path, codec: list[str]) -> None:
    good, other = udp_vectors()[0].wire, serial_vectors()[1].wire
    forged = good.replace(b"st=init", b"st=idle")
    with pytest.raises(FrameError) as info:
        ref.decode(forged, KEYRING)
    (tmp_path / "good").write_bytes(other)
    (tmp_path / "forged").write_bytes(forged)
    proc = run("decode", *codec, "--authkeys", authkeys, tmp_path / "good", tmp_path / "forged")
    assert proc.returncode == 1, proc.stderr
    trailer_at = forged.index(b"%%%\n") + 4
    assert str(info.value).startswith(f"at byte {trailer_at}: AUTH_MISMATCH")
    forged_part = proc.stdout.split(f"{tmp_path / 'forged'}: ")[1]
    assert forged_part.startswith("netstring, 308 bytes, 11 fields\n")
    assert '  st        string  "idle"\n' in forged_part
    assert f"  REJECTED: {info.value}\n" in forged_part
    assert "valid: key 1 (sha1)" in proc.stdout.split(str(tmp_path / "forged"))[0]
    assert proc.stdout.endswith("2 frames: 1 valid, 1 rejected\n")


@pytest.mark.parametrize("codec", CODECS)
def test_unparseable_frame_shows_where(tmp_path: Path, authkeys: Path, codec: list[str]) -> None:
    path = tmp_path / "crash.bin"
    path.write_bytes(b"###\n5:hello,%%%\n3:1 x,")  # the packet that aborts heartbeat 3.0.6
    proc = run("decode", *codec, "--authkeys", authkeys, path)
    assert proc.returncode == 1
    assert proc.stdout == (
        f"{path}: unparsed, 22 bytes\n"
        '  bytes at 4: "5:hello,%%%\\n3:1 x,"\n'
        "  REJECTED: field 0 at byte 4: NS_NO_TYPE: netstring item does not start with '(T)'\n"
        "1 frame: 0 valid, 1 rejected\n"
    )


@pytest.mark.parametrize("codec", CODECS)
def test_interop_pcaps(authkeys: Path, codec: list[str]) -> None:
    pcaps = sorted((INTEROP / "pcap").glob("*.pcap"))
    proc = run("decode", "--pcap", *codec, "--authkeys", authkeys, *pcaps)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    expected = 0
    for pcap in pcaps:
        flow = (INTEROP / "flows" / (pcap.stem + ".flow.txt")).read_text()
        expected += len(re.findall(r"^\S+ \+ +\S+ +\S+ +\d+B ", flow, re.M))
    assert expected == 253
    assert proc.stdout.count("  valid: key 1 (sha1)\n") == expected
    assert proc.stdout.endswith(f"{expected} frames: {expected} valid, 0 rejected\n")
    first = frame_headers(proc.stdout)[0]
    assert first == (
        f"{pcaps[0]}#1 2026-11-25 05:00:41.068798471Z 10.99.0.2:47175 -> 10.99.0.255:694:"
        " netstring, 308 bytes, 11 fields"
    )


def test_serial_capture_stream(authkeys: Path) -> None:
    stream = INTEROP / "frames" / "serial_startup_stream.txt"
    proc = run("decode", "--reference", "--authkeys", authkeys, stream)
    assert proc.returncode == 0, proc.stderr
    headers = frame_headers(proc.stdout)
    assert headers[-1] == f"{len(headers) - 1} frames: {len(headers) - 1} valid, 0 rejected"
    assert len(headers) - 1 == stream.read_text().count(">>>\n") > 50
    assert headers[0].startswith(f"{stream}#1 (bytes ")
    first = stream.read_bytes().split(b"<<<\n")[0]
    first = first[first.index(b">>>\n") :] + b"<<<\n"
    assert headers[0].endswith(f": classic, {len(first)} bytes, 11 fields")
    assert re.fullmatch(
        rf"WARN: {re.escape(str(stream))}: skipped \d+ bytes outside '>>>'...'<<<' frames\n",
        proc.stderr,
    )


def test_forged_frame_inside_a_stream(tmp_path: Path, authkeys: Path) -> None:
    frames = [v.wire for v in serial_vectors()[:3]]
    frames[1] = frames[1].replace(b"st=up", b"st=UP")
    path = tmp_path / "serial.cap"
    path.write_bytes(b"".join(frames))
    proc = run("decode", "--reference", "--authkeys", authkeys, path)
    assert proc.returncode == 1
    assert proc.stderr == ""
    end0 = len(frames[0])
    assert f"{path}#2 (bytes {end0}-{end0 + len(frames[1]) - 1}): classic" in proc.stdout
    with pytest.raises(FrameError) as info:
        ref.decode(frames[1], KEYRING)  # offsets are relative to the frame
    assert str(info.value).startswith("field 11 'auth' at byte ")
    assert proc.stdout.count(f"  REJECTED: {info.value}\n") == 1
    assert proc.stdout.endswith("3 frames: 2 valid, 1 rejected\n")


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("auth 1\n1 sha1 secret\n", 0o644, "0: Bad permissions on keyfile [{p}], 600 recommended."),
        ("auth 1\n1 sha1\n", 0o600, "2: Auth method [sha1] requires a key"),
        ("1 sha1 secret\n", 0o600, "0: Missing auth directive in keyfile [{p}]"),
    ],
)
def test_bad_authkeys(tmp_path: Path, text: str, mode: int, message: str) -> None:
    keys = tmp_path / "authkeys"
    keys.write_text(text)
    keys.chmod(mode)
    frame = tmp_path / "f"
    frame.write_bytes(udp_vectors()[0].wire)
    proc = run("decode", "--reference", "--authkeys", keys, frame)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"ERROR: {keys}:" + message.format(p=keys))


def test_missing_authkeys_and_crc_warning(tmp_path: Path) -> None:
    frame = tmp_path / "f"
    frame.write_bytes(ref.encode_classic([(b"t", 0, b"status")], None))
    proc = run("decode", "--reference", "--authkeys", tmp_path / "none", frame)
    assert proc.returncode == 2
    none = tmp_path / "none"
    assert proc.stderr == f"ERROR: {none}:0: Cannot open keyfile [{none}]: no such file\n"
    keys = tmp_path / "crckeys"
    keys.write_text("auth 3\n3 crc\n")
    keys.chmod(0o600)
    crc_keyring = load_authkeys(keys)
    assert crc_keyring.signing_index == 3
    frame.write_bytes(ref.encode_classic([(b"t", 0, b"status")], crc_keyring))
    proc = run("decode", "--reference", "--authkeys", keys, frame)
    assert proc.returncode == 0
    assert proc.stderr.startswith(f"WARN: {keys}:2: key 3 uses crc, which is a checksum")
    assert "  valid: key 3 (crc)\n" in proc.stdout


def test_missing_frame_file(tmp_path: Path, authkeys: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(udp_vectors()[0].wire)
    proc = run("decode", "--reference", "--authkeys", authkeys, tmp_path / "nope", good)
    assert proc.returncode == 2
    assert proc.stderr == f"ERROR: {tmp_path / 'nope'}: no such file\n"
    assert "valid: key 1 (sha1)" in proc.stdout
    assert proc.stdout.endswith("1 frame: 1 valid, 0 rejected\n")


def test_bad_pcaps(tmp_path: Path, authkeys: Path) -> None:
    not_pcap = tmp_path / "frame.pcap"
    not_pcap.write_bytes(udp_vectors()[0].wire)
    proc = run("decode", "--pcap", "--reference", "--authkeys", authkeys, not_pcap)
    assert proc.returncode == 2
    assert proc.stderr == f"ERROR: {not_pcap}: not a pcap file (magic number 0x2323230a)\n"

    pcap = INTEROP / "pcap" / "02-steady-30s.pcap"
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap.read_bytes()[:1000])
    proc = run("decode", "--pcap", "--reference", "--authkeys", authkeys, cut)
    assert proc.returncode == 2
    assert re.fullmatch(
        rf"ERROR: {re.escape(str(cut))}: packet 3: truncated packet data \(\d+ of \d+ bytes\)"
        r" at file offset \d+\n",
        proc.stderr,
    )
    assert proc.stdout.endswith("2 frames: 2 valid, 0 rejected\n")

    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap.read_bytes()[:24])
    proc = run("decode", "--pcap", "--reference", "--authkeys", authkeys, empty)
    assert proc.returncode == 1
    assert proc.stderr == f"WARN: {empty}: no IPv4 UDP datagram in this capture\n"


def test_usage() -> None:
    proc = run()
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python -m linklayer")
    proc = run("decode")
    assert proc.returncode == 2
    assert "FRAME_FILE" in proc.stderr
    proc = run("decode", "--help")
    assert proc.returncode == 0
    for text in ("--authkeys FILE", "--pcap", "--reference", "exit status:", "REJECTED"):
        assert text in proc.stdout
