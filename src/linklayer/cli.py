"""`python -m linklayer`: wire-debugging commands for administrators.

`decode` reads captured frames (raw frame files, serial capture streams or
pcap files), prints every field of every frame and says whether it
verifies against an authkeys file, and why not when it does not. The
printing and stream splitting are plain functions; `main` does the I/O.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from linklayer import reference
from linklayer.authkeys import AuthkeysError, load_authkeys_result
from linklayer.errors import FrameError
from linklayer.message import BINARY, Decoded, Form, Keyring
from linklayer.pcap import PcapError, read_udp_numbered

DecodeFn = Callable[[bytes, Keyring | None], Decoded]

EXIT_VALID = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2

DEFAULT_AUTHKEYS = "/etc/ha.d/authkeys"

DESCRIPTION = """\
Decode heartbeat frames captured from the wire and check their signatures.

Each FRAME_FILE holds one raw frame exactly as it travelled: a UDP payload
(netstring form, starting with '###') or a serial frame (classic form,
'>>>' ... '<<<'). A file holding several classic frames, such as a serial
capture, is split at its '>>>' and '<<<' lines and each frame is decoded;
text between frames is skipped, as heartbeat's serial reader does. With
--pcap each FRAME_FILE is a pcap capture (tcpdump -w) and every IPv4 UDP
datagram in it is decoded.

For every frame the tool prints where it came from, its form, every field
(strings quoted with unprintable bytes escaped, binary values in hex) and
the verdict: 'valid: key N (method)' or 'REJECTED: <reason>', naming the
field and byte offset at fault."""

EPILOG = """\
exit status:
  0  every frame verified
  1  at least one frame was rejected (or a pcap held no UDP datagram)
  2  usage error, missing or unreadable file, bad authkeys, unreadable pcap

examples:
  python -m linklayer decode --authkeys /etc/ha.d/authkeys frame.bin
  tcpdump -i eth1 -w hb.pcap udp port 694
  python -m linklayer decode --pcap hb.pcap"""


@dataclass(frozen=True)
class Frame:
    """One frame to decode and a human description of where it came from."""

    origin: str
    data: bytes


# --------------------------------------------------------------------------
# Pure helpers


def printable(value: bytes) -> str:
    """A string value as a double-quoted, escaped, one-line text."""
    out = ['"']
    for byte in value:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x09:
            out.append("\\t")
        elif byte == 0x0D:
            out.append("\\r")
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


def split_classic_stream(data: bytes) -> tuple[list[tuple[int, int]], int]:
    """The (start, end) spans of the `>>>` ... `<<<` frames in a serial stream,
    and how many bytes lay outside any frame. A frame the stream ends inside
    runs to the end of the data."""
    spans: list[tuple[int, int]] = []
    outside = 0
    start: int | None = None
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline + 1
        line = data[pos:end]
        if start is None:
            if line == reference.CLASSIC_START:
                start = pos
            else:
                outside += len(line)
        elif line == reference.CLASSIC_END_LINE + b"\n":
            spans.append((start, end))
            start = None
        pos = end
    if start is not None:
        spans.append((start, len(data)))
    return spans, outside


def frames_in_file(name: str, data: bytes) -> tuple[list[Frame], int]:
    """The frames a FRAME_FILE holds, and the bytes skipped between them.

    One frame is the whole file, as captured; only a file holding two or
    more classic frames is split.
    """
    if not data.startswith(reference.NETSTRING_START):
        spans, outside = split_classic_stream(data)
        if len(spans) >= 2:
            frames = [
                Frame(f"{name}#{n} (bytes {start}-{end - 1})", data[start:end])
                for n, (start, end) in enumerate(spans, start=1)
            ]
            return frames, outside
    return [Frame(name, data)], 0


def describe_fields(decoded: Decoded) -> list[str]:
    """One line per field (auth excluded), name, type and printable value."""
    width = max((len(name) for name, _t, _v in decoded.fields), default=0)
    width = min(max(width, 4), 24)
    lines = []
    for name, ftype, value in decoded.fields:
        shown = name.decode("ascii", "backslashreplace")
        if ftype == BINARY:
            text = f"binary  {value.hex()}  ({len(value)} bytes)"
        else:
            text = f"string  {printable(value)}"
        lines.append(f"  {shown:<{width}}  {text}")
    return lines


def describe_signatures(decoded: Decoded, keyring: Keyring | None) -> list[str]:
    """The signature lines: classic auth field, or netstring inner auth + trailer."""
    lines = []
    if decoded.form is Form.CLASSIC:
        sig = decoded.signature
        lines.append(f"  auth field: {printable(sig)}" if sig is not None else "  auth field: none")
        return lines
    if decoded.inner_auth is not None:
        verdict = _inner_auth_verdict(decoded, keyring)
        lines.append(f"  inner auth field: {printable(decoded.inner_auth)}{verdict}")
    sig = decoded.signature
    lines.append(f"  trailer: {printable(sig)}" if sig is not None else "  trailer: none")
    return lines


def _inner_auth_verdict(decoded: Decoded, keyring: Keyring | None) -> str:
    """Whether a netstring frame's inner classic `auth` field matches (receivers
    do not check it, but a sender that gets it wrong is worth knowing about)."""
    assert decoded.inner_auth is not None
    text = decoded.inner_auth.decode("ascii", "replace")
    index, _, hexpart = text.partition(" ")
    if keyring is None or not index.isdigit() or int(index) not in keyring.keys:
        return " (not checked)"
    key = keyring.keys[int(index)]
    signed = reference.classic_signed_bytes(decoded.fields)
    expected = reference.digest(key.method, key.secret, signed)
    if hmac.compare_digest(expected, hexpart.encode("ascii")):
        return " (matches; receivers do not check it)"
    return " (does NOT match; receivers do not check it)"


def context(data: bytes, offset: int, length: int = 48) -> str:
    """The bytes at `offset`, escaped, for showing where a frame went wrong."""
    if offset < 0 or offset > len(data):
        return ""
    piece = data[offset : offset + length]
    more = "..." if offset + length < len(data) else ""
    return f"  bytes at {offset}: {printable(piece)}{more}"


def report_frame(frame: Frame, decode: DecodeFn, keyring: Keyring, out: TextIO) -> bool:
    """Print one frame and its verdict; True when it verified."""
    data = frame.data
    verified: Decoded | None = None
    error: FrameError | None = None
    try:
        verified = decode(data, keyring)
    except FrameError as exc:
        error = exc
    shown = verified
    if shown is None:
        try:
            shown = decode(data, None)
        except FrameError:
            shown = None

    form = shown.form.value if shown is not None else "unparsed"
    count = ""
    if shown is not None:
        count = f", {len(shown.fields)} field" + ("" if len(shown.fields) == 1 else "s")
    print(f"{frame.origin}: {form}, {len(data)} bytes{count}", file=out)
    if shown is not None:
        for line in describe_fields(shown) + describe_signatures(shown, keyring):
            print(line, file=out)
    if verified is not None:
        method = verified.method.value if verified.method is not None else "?"
        print(f"  valid: key {verified.key_index} ({method})", file=out)
        return True
    assert error is not None
    if shown is None:
        where = context(data, error.offset)
        if where:
            print(where, file=out)
    print(f"  REJECTED: {error}", file=out)
    return False


def _timestamp(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


# --------------------------------------------------------------------------
# Codec choice and I/O


def choose_codec(use_reference: bool, err: TextIO) -> DecodeFn:
    """The C codec when it is built (and not refused), else the reference."""
    if use_reference:
        return reference.decode
    try:
        importlib.import_module("linklayer._frame_cffi")  # only to know it is built
        native: DecodeFn = importlib.import_module("linklayer").decode
    except (ImportError, AttributeError) as exc:
        print(
            f"WARN: the C codec is not available ({exc}); run 'make' to build it."
            " Using the Python reference codec.",
            file=err,
        )
        return reference.decode
    return native


class InputError(Exception):
    """A FRAME_FILE that cannot be read; `status` is the exit status it implies."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def _pcap_frames(path: str) -> Iterator[Frame]:
    found = False
    try:
        for number, datagram in read_udp_numbered(path):
            found = True
            origin = (
                f"{path}#{number} {_timestamp(datagram.timestamp_ns)}"
                f" {datagram.src} -> {datagram.dst}"
            )
            yield Frame(origin, datagram.payload)
    except PcapError as exc:
        raise InputError(f"ERROR: {exc}") from None
    if not found:
        raise InputError(f"WARN: {path}: no IPv4 UDP datagram in this capture", EXIT_REJECTED)


def _file_frames(path: str, err: TextIO) -> Iterator[Frame]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(f"ERROR: {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"ERROR: {path}: cannot read: {exc.strerror}") from None
    frames, outside = frames_in_file(path, data)
    if outside:
        print(f"WARN: {path}: skipped {outside} bytes outside '>>>'...'<<<' frames", file=err)
    yield from frames


def decode_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run `decode`; returns the exit status."""
    try:
        loaded = load_authkeys_result(args.authkeys)
    except AuthkeysError as exc:
        print(f"ERROR: {exc}", file=err)
        return EXIT_USAGE
    for warning in loaded.warnings:
        print(f"WARN: {warning}", file=err)
    decode = choose_codec(args.reference, err)

    status = EXIT_VALID
    total = valid = 0
    for path in args.frame_files:
        frames = _pcap_frames(path) if args.pcap else _file_frames(path, err)
        try:
            for frame in frames:
                total += 1
                if report_frame(frame, decode, loaded.keyring, out):
                    valid += 1
                else:
                    status = max(status, EXIT_REJECTED)
        except InputError as exc:
            out.flush()
            print(exc, file=err)
            status = max(status, exc.status)
    noun = "frame" if total == 1 else "frames"
    print(f"{total} {noun}: {valid} valid, {total - valid} rejected", file=out)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m linklayer",
        description="hbeat link-layer tools for debugging heartbeat traffic.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    decode = commands.add_parser(
        "decode",
        help="decode captured frames and check their signatures",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decode.add_argument(
        "frame_files", nargs="+", metavar="FRAME_FILE", help="captured frame or pcap file"
    )
    decode.add_argument(
        "--authkeys",
        metavar="FILE",
        default=DEFAULT_AUTHKEYS,
        help=f"heartbeat authkeys file with the keys to verify with (default {DEFAULT_AUTHKEYS})",
    )
    decode.add_argument(
        "--pcap",
        action="store_true",
        help="FRAME_FILEs are pcap captures: decode every UDP payload",
    )
    decode.add_argument(
        "--reference",
        action="store_true",
        help="use the pure-Python reference codec instead of the C codec",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "decode":
        try:
            return decode_command(args, sys.stdout, sys.stderr)
        except BrokenPipeError:  # output piped into head & co.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_REJECTED
    parser.print_usage(sys.stderr)
    return EXIT_USAGE
