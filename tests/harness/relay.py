"""The impairment relay: a process in the lab's switch namespace that re-sends,
late, out of order, lost or twice, the IPv4 UDP frames a node sends.

It reads the frames entering the bridge from the node's port (an AF_PACKET
socket bound to that port, incoming frames only) and sends each chosen copy on
an injection veth whose other end is another bridge port; an nftables table
set up by impair.py keeps the originals from being forwarded. Every decision
comes from one `random.Random(seed)`, so a run is reproducible for the same
input. Frames wait in a heap of deadlines served by a poll() loop.

A re-sent frame is byte-identical to the captured one, except that a frame
whose UDP checksum the sender left to offload (veth TX checksum offload: the
field holds only the pseudo-header sum) gets its real checksum filled in.

Run by impair.py as `ip netns exec <switch> python relay.py --capture PORT
--inject VETH ...`; it prints `relay ready` once both sockets are bound, and a
summary line when it is stopped with SIGTERM. Standard library only.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import math
import random
import select
import signal
import socket
import struct
import time
from dataclasses import dataclass
from types import FrameType

ETH_P_ALL = 0x0003  # a bridge port delivers to protocol-specific sockets nothing
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 1 << 3
_AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
ETH_HLEN = 14
IPPROTO_UDP = 17
MIN_REORDER_SPAN_MS = 20.0
DEFAULT_SEED = 694
_BUFSIZE = 65536 + ETH_HLEN


@dataclass(frozen=True)
class Impairment:
    """What to do to each frame: percentages 0..100 and a delay in ms.

    A frame is lost with probability `loss`; otherwise it is sent after
    `delay_ms`, plus, with probability `reorder`, an extra 1 to 2 times
    max(delay_ms, 20 ms) so that frames sent meanwhile overtake it; with
    probability `duplicate` a second copy leaves at the same time."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be a percentage in 0..100, got {value!r}")
        if not (math.isfinite(self.delay_ms) and self.delay_ms >= 0):
            raise ValueError(f"delay_ms must be a finite number >= 0, got {self.delay_ms!r}")


class Scheduler:
    """Decides the fate of each frame and holds the copies until they are due."""

    def __init__(self, impairment: Impairment, seed: int) -> None:
        self.imp = impairment
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self.stats = {"captured": 0, "lost": 0, "duplicated": 0, "reordered": 0, "sent": 0}

    def _chance(self, pct: float) -> bool:
        return self.rng.random() * 100 < pct

    def add(self, frame: bytes, now: float) -> None:
        """Schedule the copies of a frame captured at monotonic time `now`."""
        self.stats["captured"] += 1
        if self._chance(self.imp.loss):
            self.stats["lost"] += 1
            return
        copies = 1
        if self._chance(self.imp.duplicate):
            copies = 2
            self.stats["duplicated"] += 1
        delay_ms = self.imp.delay_ms
        if self._chance(self.imp.reorder):
            delay_ms += self.rng.uniform(1.0, 2.0) * max(self.imp.delay_ms, MIN_REORDER_SPAN_MS)
            self.stats["reordered"] += 1
        for _ in range(copies):
            self._seq += 1
            heapq.heappush(self._heap, (now + delay_ms / 1000, self._seq, frame))

    def timeout_ms(self, now: float) -> int | None:
        """poll() timeout until the next copy is due (None: nothing pending)."""
        if not self._heap:
            return None
        return max(0, math.ceil((self._heap[0][0] - now) * 1000))

    def due(self, now: float) -> list[bytes]:
        """Pop every copy whose deadline has passed, earliest first."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_in_ipv4(frame: bytes) -> bool:
    """Whether an Ethernet frame carries IPv4 with protocol UDP (any fragment)."""
    return (
        len(frame) >= ETH_HLEN + 20
        and frame[12:14] == b"\x08\x00"
        and frame[ETH_HLEN] >> 4 == 4
        and frame[ETH_HLEN + 9] == IPPROTO_UDP
    )


def complete_udp_checksum(frame: bytes) -> bytes:
    """The frame with its UDP checksum computed in full (for checksum-offloaded
    frames, whose field holds only the pseudo-header sum)."""
    ihl = (frame[ETH_HLEN] & 0x0F) * 4
    udp = ETH_HLEN + ihl
    if len(frame) < udp + 8:
        return frame
    length = struct.unpack_from("!H", frame, udp + 4)[0]
    if length < 8 or udp + length > len(frame):
        return frame
    segment = bytearray(frame[udp : udp + length])
    segment[6:8] = b"\0\0"
    pseudo = frame[ETH_HLEN + 12 : ETH_HLEN + 20] + struct.pack("!BBH", 0, IPPROTO_UDP, length)
    csum = ~_ones_sum(pseudo + bytes(segment)) & 0xFFFF or 0xFFFF
    out = bytearray(frame)
    struct.pack_into("!H", out, udp + 6, csum)
    return bytes(out)


def _checksum_pending(ancdata: list[tuple[int, int, bytes]]) -> bool:
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _AUXDATA.size:
            return bool(_AUXDATA.unpack_from(data)[0] & TP_STATUS_CSUMNOTREADY)
    return False


def _open(iface: str, proto: int) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # receives nothing until bound
    try:
        sock.bind((iface, proto))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENODEV:
            raise SystemExit(f"relay: no interface {iface!r} in this network namespace") from None
        raise SystemExit(f"relay: cannot bind to {iface!r}: {exc}") from None
    return sock


def relay(capture: str, inject: str, impairment: Impairment, seed: int) -> None:
    """Run until SIGTERM/SIGINT: frames entering from `capture` go out on `inject`."""
    cap = _open(capture, ETH_P_ALL)  # bind() swaps to network order itself
    cap.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    cap.setblocking(False)
    out = _open(inject, 0)  # protocol 0: a send-only socket
    sched = Scheduler(impairment, seed)
    stats = sched.stats
    stats["checksums completed"] = 0
    stats["not udp"] = 0

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    poller = select.poll()
    poller.register(cap, select.POLLIN)
    print(f"relay ready: {capture} -> {inject}, {impairment}, seed {seed}", flush=True)
    try:
        while True:
            if poller.poll(sched.timeout_ms(time.monotonic())):
                while True:
                    try:
                        frame, anc, flags, addr = cap.recvmsg(_BUFSIZE, socket.CMSG_SPACE(32))
                    except BlockingIOError:
                        break
                    except OSError as exc:  # ENETDOWN while the port is down: keep going
                        print(f"relay: capture on {capture}: {exc}", flush=True)
                        break
                    if addr[2] == socket.PACKET_OUTGOING or flags & socket.MSG_TRUNC:
                        continue
                    if not udp_in_ipv4(frame):
                        stats["not udp"] += 1
                        continue
                    if _checksum_pending(anc):
                        frame = complete_udp_checksum(frame)
                        stats["checksums completed"] += 1
                    sched.add(frame, time.monotonic())
            for frame in sched.due(time.monotonic()):
                try:
                    out.send(frame)
                    stats["sent"] += 1
                except OSError as exc:
                    print(f"relay: send on {inject}: {exc}", flush=True)
    finally:
        print("relay stopped: " + ", ".join(f"{k} {v}" for k, v in stats.items()), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="relay", description="Re-send a node's IPv4 UDP frames, impaired."
    )
    parser.add_argument("--capture", required=True, help="bridge port the node's frames enter")
    parser.add_argument("--inject", required=True, help="interface to send the copies on")
    parser.add_argument("--loss", type=float, default=0.0, help="percent of frames dropped")
    parser.add_argument("--duplicate", type=float, default=0.0, help="percent sent twice")
    parser.add_argument("--reorder", type=float, default=0.0, help="percent held back extra")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="delay of every frame")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    try:
        impairment = Impairment(args.loss, args.duplicate, args.reorder, args.delay_ms)
    except ValueError as exc:
        parser.error(str(exc))
    relay(args.capture, args.inject, impairment, args.seed)


if __name__ == "__main__":
    main()
