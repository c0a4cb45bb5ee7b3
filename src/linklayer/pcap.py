"""A small reader for classic libpcap files: the UDP datagrams they hold.

Supports both byte orders, microsecond and nanosecond timestamps, and the
link types Ethernet (1, with 802.1Q tags), Linux cooked capture (113) and
raw IPv4 (101, 228). Every IPv4 UDP datagram is yielded as
`UdpDatagram(timestamp_ns, src, dst, payload)` with `src`/`dst` as
`"ip:port"`; other packets (ARP, IPv6, TCP...) are skipped. A file that is
not a pcap, is truncated, or holds a datagram the capture cut short or
fragmented raises PcapError naming the file and the packet (1-based, as
tcpdump and Wireshark count them). pcapng is not supported (the error says
how to convert it).

`parse_udp` works on bytes and does no I/O; `read_udp` reads a file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "PcapError",
    "UdpDatagram",
    "parse_udp",
    "parse_udp_numbered",
    "read_udp",
    "read_udp_numbered",
]

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
MAGIC_PCAPNG = 0x0A0D0D0A
GLOBAL_HEADER = 24
RECORD_HEADER = 16

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = (0x8100, 0x88A8)
IPPROTO_UDP = 17


class PcapError(ValueError):
    """A pcap file that cannot be read; `packet` is 0 for the file header."""

    def __init__(self, path: str, packet: int, message: str) -> None:
        self.path = path
        self.packet = packet
        self.message = message
        where = f"{path}: packet {packet}" if packet else path
        super().__init__(f"{where}: {message}")


class UdpDatagram(NamedTuple):
    timestamp_ns: int
    src: str
    dst: str
    payload: bytes


def _ipv4_packet(linktype: int, frame: bytes) -> bytes | None:
    """The IPv4 packet inside a link-layer frame, or None if it holds something else."""
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype_at = 14, 12
        if len(frame) < offset:
            return None
        ethertype = int.from_bytes(frame[ethertype_at : ethertype_at + 2], "big")
        while ethertype in ETHERTYPE_VLAN and len(frame) >= offset + 4:
            ethertype = int.from_bytes(frame[offset + 2 : offset + 4], "big")
            offset += 4
        return frame[offset:] if ethertype == ETHERTYPE_IPV4 else None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        protocol = int.from_bytes(frame[14:16], "big")
        return frame[16:] if protocol == ETHERTYPE_IPV4 else None
    # raw IP: LINKTYPE_RAW may hold IPv4 or IPv6, LINKTYPE_IPV4 only IPv4
    return frame if frame[:1] and frame[0] >> 4 == 4 else None


def _udp(path: str, number: int, ip: bytes) -> tuple[str, str, bytes] | None:
    """(src, dst, payload) of an IPv4 UDP packet, None for other protocols."""
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    header_len = (ip[0] & 0x0F) * 4
    total_len = int.from_bytes(ip[2:4], "big")
    if ip[9] != IPPROTO_UDP:
        return None
    if header_len < 20 or total_len < header_len:
        raise PcapError(path, number, "malformed IPv4 header")
    flags_fragment = int.from_bytes(ip[6:8], "big")
    if flags_fragment & 0x3FFF:  # more-fragments flag or a fragment offset
        raise PcapError(path, number, "fragmented IPv4 datagram (reassembly is not supported)")
    if len(ip) < total_len:
        raise PcapError(
            path,
            number,
            f"UDP datagram cut short by the capture ({len(ip)} of {total_len} IP bytes;"
            " capture with a larger snaplen, e.g. tcpdump -s 0)",
        )
    udp = ip[header_len:total_len]
    if len(udp) < 8:
        raise PcapError(path, number, "truncated UDP header")
    udp_len = int.from_bytes(udp[4:6], "big")
    if udp_len < 8 or udp_len > len(udp):
        raise PcapError(path, number, f"bad UDP length {udp_len} ({len(udp)} bytes present)")
    src_ip = ".".join(str(b) for b in ip[12:16])
    dst_ip = ".".join(str(b) for b in ip[16:20])
    src_port = int.from_bytes(udp[0:2], "big")
    dst_port = int.from_bytes(udp[2:4], "big")
    return f"{src_ip}:{src_port}", f"{dst_ip}:{dst_port}", udp[8:udp_len]


def parse_udp_numbered(data: bytes, path: str) -> Iterator[tuple[int, UdpDatagram]]:
    """(packet number, datagram) for every IPv4 UDP datagram in pcap `data`."""
    if len(data) < 4:
        raise PcapError(path, 0, f"not a pcap file (only {len(data)} bytes)")
    magic_le = int.from_bytes(data[:4], "little")
    magic_be = int.from_bytes(data[:4], "big")
    if magic_le in (MAGIC_USEC, MAGIC_NSEC):
        order, magic = "<", magic_le
    elif magic_be in (MAGIC_USEC, MAGIC_NSEC):
        order, magic = ">", magic_be
    elif magic_le == MAGIC_PCAPNG:
        raise PcapError(
            path, 0, "pcapng files are not supported; convert with: editcap -F pcap IN OUT"
        )
    else:
        raise PcapError(path, 0, f"not a pcap file (magic number 0x{magic_be:08x})")
    if len(data) < GLOBAL_HEADER:
        raise PcapError(
            path, 0, f"truncated pcap file header ({len(data)} of {GLOBAL_HEADER} bytes)"
        )
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack(
        order + "HHiIII", data[4:GLOBAL_HEADER]
    )
    if major != 2:
        raise PcapError(path, 0, f"unsupported pcap version {major}")
    linktype = network & 0x0FFFFFFF
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, LINKTYPE_IPV4):
        raise PcapError(
            path,
            0,
            f"link type {linktype} is not supported"
            " (Ethernet 1, Linux cooked 113, raw IPv4 101/228)",
        )
    frac_ns = 1 if magic == MAGIC_NSEC else 1000

    pos = GLOBAL_HEADER
    number = 0
    while pos < len(data):
        number += 1
        if len(data) - pos < RECORD_HEADER:
            raise PcapError(
                path,
                number,
                f"truncated record header ({len(data) - pos} of {RECORD_HEADER} bytes)"
                f" at file offset {pos}",
            )
        seconds, fraction, captured, _original = struct.unpack(
            order + "IIII", data[pos : pos + RECORD_HEADER]
        )
        pos += RECORD_HEADER
        if len(data) - pos < captured:
            raise PcapError(
                path,
                number,
                f"truncated packet data ({len(data) - pos} of {captured} bytes)"
                f" at file offset {pos}",
            )
        frame = data[pos : pos + captured]
        pos += captured
        ip = _ipv4_packet(linktype, frame)
        if ip is None:
            continue
        udp = _udp(path, number, ip)
        if udp is None:
            continue
        src, dst, payload = udp
        yield number, UdpDatagram(seconds * 1_000_000_000 + fraction * frac_ns, src, dst, payload)


def parse_udp(data: bytes, path: str) -> Iterator[UdpDatagram]:
    """Every IPv4 UDP datagram in pcap `data`; `path` is only used in errors."""
    for _number, datagram in parse_udp_numbered(data, path):
        yield datagram


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PcapError(str(path), 0, "no such file") from None
    except OSError as exc:
        raise PcapError(str(path), 0, f"cannot read: {exc.strerror}") from None


def read_udp_numbered(path: Path | str) -> Iterator[tuple[int, UdpDatagram]]:
    """(packet number, datagram) for every IPv4 UDP datagram in the pcap file."""
    return parse_udp_numbered(_read(path), str(path))


def read_udp(path: Path | str) -> Iterator[UdpDatagram]:
    """Every IPv4 UDP datagram in the pcap file at `path`."""
    return parse_udp(_read(path), str(path))
