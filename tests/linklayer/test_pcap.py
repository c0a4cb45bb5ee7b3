"""The pcap reader against the interop captures and hand-built files."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from linklayer.pcap import (
    PcapError,
    UdpDatagram,
    parse_udp,
    parse_udp_numbered,
    read_udp,
    read_udp_numbered,
)
from tests.interop_vectors import INTEROP

PCAPS = sorted((INTEROP / "pcap").glob("*.pcap"))
NODES = {"otter": "10.99.0.1", "weasel": "10.99.0.2"}


def _flow_rows(pcap: Path) -> list[list[str]]:
    flow = INTEROP / "flows" / (pcap.stem + ".flow.txt")
    return [line.split() for line in flow.read_text().splitlines() if line and line[0] != "#"]


def _clock(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    seconds %= 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}.{fraction:09d}"


@pytest.mark.parametrize("pcap", PCAPS, ids=lambda p: p.stem)
def test_interop_pcap_matches_its_flow_listing(pcap: Path) -> None:
    """flows/*.flow.txt has one line per captured packet (ARP included); its UDP
    lines (those with a payload size) are exactly the datagrams we read."""
    rows = _flow_rows(pcap)
    numbered = list(read_udp_numbered(pcap))
    assert numbered[-1][0] <= len(rows)
    udp_rows = [row for row in rows if re.fullmatch(r"\d+B", row[4])]
    assert len(numbered) == len(udp_rows) > 0
    for (number, datagram), row in zip(numbered, udp_rows, strict=True):
        assert rows[number - 1] is row  # packet numbers count every packet, from 1
        assert row[0] == _clock(datagram.timestamp_ns)
        assert row[4] == f"{len(datagram.payload)}B"
        assert datagram.src.startswith(NODES[row[3]] + ":")
        assert datagram.dst == "10.99.0.255:694"
        assert datagram.payload.startswith(b"###\n")
    assert [d for _n, d in numbered] == list(read_udp(str(pcap)))


def test_interop_frames_come_from_the_pcaps() -> None:
    for item in json.loads((INTEROP / "frames" / "udp_frames.json").read_text()):
        datagrams = list(read_udp(INTEROP / item["pcap"]))
        datagram = datagrams[item["index_in_pcap"]]
        assert datagram == UdpDatagram(
            item["ts_ns"], item["src"], item["dst"], bytes.fromhex(item["payload_hex"])
        )


# --------------------------------------------------------------------------
# Hand-built captures


def ipv4_udp(
    payload: bytes,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    sport: int = 1234,
    dport: int = 694,
    proto: int = 17,
    frag: int = 0,
) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(udp), 1, frag, 64, proto, 0,
        bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split(".")),
    )  # fmt: skip
    return header + udp


def ethernet(packet: bytes, ethertype: int = 0x0800, vlan: bool = False) -> bytes:
    macs = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"
    if vlan:
        return macs + struct.pack("!HHH", 0x8100, 42, ethertype) + packet
    return macs + struct.pack("!H", ethertype) + packet


def sll(packet: bytes, protocol: int = 0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, protocol) + packet


def pcap(
    records: list[bytes],
    linktype: int = 1,
    order: str = "<",
    nano: bool = False,
    times: list[tuple[int, int]] | None = None,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for i, record in enumerate(records):
        sec, frac = times[i] if times else (1000 + i, 5)
        out += struct.pack(order + "IIII", sec, frac, len(record), len(record)) + record
    return out  # fmt: skip


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_byte_orders_and_timestamp_resolutions(order: str, nano: bool) -> None:
    data = pcap([ethernet(ipv4_udp(b"hello"))], order=order, nano=nano, times=[(7, 123)])
    (datagram,) = parse_udp(data, "x.pcap")
    assert datagram.timestamp_ns == 7_000_000_000 + (123 if nano else 123_000)
    assert datagram == (datagram.timestamp_ns, "10.0.0.1:1234", "10.0.0.2:694", b"hello")


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (1, ethernet),
        (1, lambda p: ethernet(p, vlan=True)),
        (113, sll),
        (101, lambda p: p),
        (228, lambda p: p),
    ],
    ids=["ethernet", "vlan", "sll", "raw", "ipv4"],
)
def test_link_types(linktype: int, wrap: Callable[[bytes], bytes]) -> None:
    data = pcap([wrap(ipv4_udp(b"payload", sport=5, dport=6))], linktype=linktype)
    assert [d.payload for d in parse_udp(data, "x")] == [b"payload"]
    assert next(parse_udp(data, "x")).src == "10.0.0.1:5"


def test_other_packets_are_skipped_and_numbers_count_them() -> None:
    arp = ethernet(b"\x00" * 28, ethertype=0x0806)
    ipv6 = ethernet(b"\x60" + b"\x00" * 60, ethertype=0x86DD)
    tcp = ethernet(ipv4_udp(b"tcp?", proto=6))
    records = [arp, ethernet(ipv4_udp(b"one")), ipv6, tcp, ethernet(ipv4_udp(b"")), arp]
    numbered = list(parse_udp_numbered(pcap(records), "x"))
    assert [(n, d.payload) for n, d in numbered] == [(2, b"one"), (5, b"")]
    raw = pcap([b"\x60" + b"\x00" * 39, ipv4_udp(b"v4")], linktype=101)
    assert [d.payload for d in parse_udp(raw, "x")] == [b"v4"]


def test_empty_capture_has_no_datagrams() -> None:
    assert list(parse_udp(pcap([]), "x")) == []


def _error(data: bytes) -> str:
    with pytest.raises(PcapError) as info:
        list(parse_udp(data, "cap.pcap"))
    return str(info.value)


def test_not_a_pcap() -> None:
    assert _error(b"###\n5:hello,") == "cap.pcap: not a pcap file (magic number 0x2323230a)"
    assert _error(b"") == "cap.pcap: not a pcap file (only 0 bytes)"
    assert _error(b"\x0a\x0d\x0d\x0a" + b"\x00" * 40) == (
        "cap.pcap: pcapng files are not supported; convert with: editcap -F pcap IN OUT"
    )


def test_truncated_files() -> None:
    good = pcap([ethernet(ipv4_udp(b"one")), ethernet(ipv4_udp(b"two"))])
    assert _error(good[:10]) == "cap.pcap: truncated pcap file header (10 of 24 bytes)"
    first_end = 24 + 16 + len(ethernet(ipv4_udp(b"one")))
    assert _error(good[: first_end + 5]) == (
        f"cap.pcap: packet 2: truncated record header (5 of 16 bytes) at file offset {first_end}"
    )
    assert _error(good[:-2]) == (
        f"cap.pcap: packet 2: truncated packet data (43 of 45 bytes) at file offset"
        f" {first_end + 16}"
    )
    # every prefix is a clean error, except those ending at a record boundary
    boundaries = {24: 0, first_end: 1}
    for cut in range(len(good)):
        if cut in boundaries:
            assert len(list(parse_udp(good[:cut], "cap.pcap"))) == boundaries[cut]
        else:
            with pytest.raises(PcapError):
                list(parse_udp(good[:cut], "cap.pcap"))


def test_unsupported_link_type_and_version() -> None:
    assert _error(pcap([], linktype=105)) == (
        "cap.pcap: link type 105 is not supported (Ethernet 1, Linux cooked 113, raw IPv4 101/228)"
    )
    data = bytearray(pcap([]))
    data[4] = 3
    assert _error(bytes(data)) == "cap.pcap: unsupported pcap version 3"


def test_broken_datagrams_name_the_packet() -> None:
    short = ethernet(ipv4_udp(b"0123456789"))[:-4]
    assert _error(pcap([ethernet(ipv4_udp(b"ok")), short])) == (
        "cap.pcap: packet 2: UDP datagram cut short by the capture (34 of 38 IP bytes;"
        " capture with a larger snaplen, e.g. tcpdump -s 0)"
    )
    fragment = ethernet(ipv4_udp(b"x", frag=0x2000))
    assert _error(pcap([fragment])) == (
        "cap.pcap: packet 1: fragmented IPv4 datagram (reassembly is not supported)"
    )
    bad_len = bytearray(ethernet(ipv4_udp(b"abc")))
    bad_len[14 + 20 + 4 : 14 + 20 + 6] = (100).to_bytes(2, "big")
    assert _error(pcap([bytes(bad_len)])) == (
        "cap.pcap: packet 1: bad UDP length 100 (11 bytes present)"
    )


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match=r"nope\.pcap: no such file"):
        read_udp(tmp_path / "nope.pcap")
    with pytest.raises(PcapError, match="cannot read: Is a directory"):
        read_udp_numbered(tmp_path)
    path = tmp_path / "t.pcap"
    path.write_bytes(b"hello world, not a capture")
    with pytest.raises(PcapError) as info:
        list(read_udp(path))
    assert str(info.value) == f"{path}: not a pcap file (magic number 0x68656c6c)"
