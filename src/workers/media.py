"""Opening heartbeat media: UDP bcast/ucast/mcast sockets and serial ports.

Each medium gives the worker a readable file descriptor, a way to read
whole frames with their source, and a way to write one frame. `receive`
is the worker's read: frames already verified with the keyring, and the
refused ones counted per (reason, source). For UDP it is one call into C
(linklayer.batchrecv: recvmmsg, the ucast source filter and the signature
check, no Python object per refused datagram) on a socket whose receive
buffer is raised to RCVBUF, so a flood is absorbed by the kernel's queue
while the worker is busy with a keepalive. UDP follows
docs/heartbeat-protocol.md §1.6 (receive on 0.0.0.0:udpport bound to the device, send
bound to the device: to its broadcast address, the peer, or the group);
serial follows §1.5 (raw 8N1, 7-bit input, CR ignored; RTS/CTS flow control
off, unlike heartbeat, because a three-wire null-modem cable stalls with it
and a keepalive never needs it; the stream
cut into classic frames by SerialFramer). Every failure names the medium
and what the kernel said.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
from dataclasses import dataclass
from typing import Protocol

import linklayer
from hbeat.ipc.bus import MediumSpec
from linklayer.batchrecv import BatchReceiver, Refused
from linklayer.errors import FrameError
from linklayer.message import MAX_FRAME, Keyring
from workers.selfecho import drop_from
from workers.serialframer import SerialFramer

READ_BATCH = 64
"""Datagrams (or serial reads of 4 KiB) one call reads at most."""

RCVBUF = 4 << 20
"""Receive buffer asked for each UDP socket (SO_RCVBUFFORCE, else SO_RCVBUF
within net.core.rmem_max; the kernel doubles it for its bookkeeping): some
thousands of datagrams, tens of milliseconds of a flood, while the worker
sends a keepalive."""
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

Received = tuple[list[tuple[bytes, str]], list[Refused]]
"""What `receive` returns: verified frames with their sources, in arrival
order, and the refused datagrams summed per (reason, source)."""

SIOCGIFBRDADDR = 0x8919
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


class MediumError(OSError):
    pass


class Medium(Protocol):
    name: str
    form: str  # "netstring" (UDP) or "classic" (serial)

    def fileno(self) -> int: ...
    def read_frames(self, limit: int = READ_BATCH) -> list[tuple[bytes, str]]: ...
    def refuses(self, peer: str) -> bool: ...
    def receive(self, keyring: Keyring, limit: int = READ_BATCH) -> Received: ...
    def write(self, frame: bytes) -> None: ...
    def close(self) -> None: ...


def broadcast_address(dev: str) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("256s", dev.encode()[:15])
        res = fcntl.ioctl(s.fileno(), SIOCGIFBRDADDR, req)
        return socket.inet_ntoa(res[20:24])
    except OSError as exc:
        raise MediumError(f"bcast {dev}: cannot get the broadcast address: {exc.strerror}") from exc
    finally:
        s.close()


@dataclass
class UdpMedium:
    name: str
    rx: socket.socket
    tx: socket.socket
    dest: tuple[str, int]
    form: str = "netstring"
    accept_from: frozenset[str] = frozenset()
    """ucast: the source addresses whose datagrams are worth verifying (empty: any)."""
    receiver: BatchReceiver | None = None
    """The batched reader `receive` uses (made on first use, filtering on
    `accept_from`)."""

    def fileno(self) -> int:
        return self.rx.fileno()

    def refuses(self, peer: str) -> bool:
        """Whether a datagram from `peer` (`ip:port`) is dropped unverified."""
        return bool(self.accept_from) and peer.rsplit(":", 1)[0] not in self.accept_from

    def read_frames(self, limit: int = READ_BATCH) -> list[tuple[bytes, str]]:
        """Up to `limit` datagrams (a flood must not keep the worker here past
        its next keepalive: what is left is read on the next turn)."""
        out: list[tuple[bytes, str]] = []
        while len(out) < limit:
            try:
                data, addr = self.rx.recvfrom(MAX_FRAME + 1)
            except BlockingIOError:
                return out
            out.append((data, f"{addr[0]}:{addr[1]}"))
        return out

    def receive(self, keyring: Keyring, limit: int = READ_BATCH) -> Received:
        """Up to `limit` datagrams, read and checked in one C call: those from
        outside `accept_from` refused unparsed (NOT_FROM_PEER), the others
        verified with `keyring`."""
        receiver = self.receiver
        if receiver is None:
            receiver = self.receiver = BatchReceiver(
                batch=max(1, limit), peers=sorted(self.accept_from))
        try:
            _n, frames, refused = receiver.receive(self.rx.fileno(), keyring, limit)
        except OSError as exc:
            raise MediumError(f"{self.name}: receive failed: {exc.strerror}") from exc
        return frames, refused

    def drop_own(self, peer: str) -> str | None:
        """Have the kernel drop what comes from `peer` (`ip:port`, where the
        echo of our own keepalive came from: our sending socket) from now on
        (workers/selfecho.py). None when it does, else why not."""
        address, _, port = peer.rpartition(":")
        if not port.isdigit():
            return f"{peer!r} is not ip:port"
        return drop_from(self.rx, address, int(port))

    def write(self, frame: bytes) -> None:
        try:
            self.tx.sendto(frame, self.dest)
        except OSError as exc:
            raise MediumError(f"{self.name}: send to {self.dest[0]}: {exc.strerror}") from exc

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


def _bind_device(s: socket.socket, dev: str, what: str) -> None:
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev.encode() + b"\0")
    except PermissionError:
        # Unprivileged (the loopback demo): the socket stays unbound to a device.
        pass
    except OSError as exc:
        raise MediumError(f"{what}: cannot bind to device {dev}: {exc.strerror}") from exc


def _raise_rcvbuf(s: socket.socket, size: int = RCVBUF) -> None:
    """At least `size` bytes of receive buffer if the kernel grants it:
    SO_RCVBUFFORCE (CAP_NET_ADMIN) passes net.core.rmem_max, SO_RCVBUF
    stops there; never lower than the default."""
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 2 * size:
        return
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _rx_socket(what: str, dev: str, port: int, bind_addr: str = "0.0.0.0") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _raise_rcvbuf(s)
    _bind_device(s, dev, what)
    try:
        s.bind((bind_addr, port))
    except OSError as exc:
        s.close()
        raise MediumError(f"{what}: cannot bind UDP port {port}: {exc.strerror}") from exc
    s.setblocking(False)
    return s


def _tx_socket(what: str, dev: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _bind_device(s, dev, what)
    s.setblocking(False)
    return s


def open_udp(spec: MediumSpec) -> UdpMedium:
    kind, dev, port = spec.kind, spec.dev, spec.port
    name = spec.name
    if kind == "bcast":
        dest = (broadcast_address(dev), port)
        rx = _rx_socket(name, dev, port)
        tx = _tx_socket(name, dev)
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_DONTROUTE, 1)
    elif kind == "ucast":
        assert spec.peer is not None  # MediumSpec.from_json checks it
        dest = (spec.peer, port)
        rx = _rx_socket(name, dev, port)
        tx = _tx_socket(name, dev)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)  # IPTOS_LOWDELAY
    elif kind == "mcast":
        assert spec.group is not None  # MediumSpec.from_json checks it
        group, ttl, loop = spec.group, spec.ttl, spec.loop
        dest = (group, port)
        rx = _rx_socket(name, dev, port)
        mreq = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"),
                           socket.if_nametoindex(dev))
        try:
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            rx.close()
            raise MediumError(f"{name}: cannot join group {group}: {exc.strerror}") from exc
        tx = _tx_socket(name, dev)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, loop)
    else:
        raise MediumError(f"unknown UDP medium kind {kind!r}")
    accept_from = frozenset((spec.accept_from or (spec.peer or "",))
                            if kind == "ucast" else ())
    try:
        receiver = BatchReceiver(batch=READ_BATCH, peers=sorted(accept_from))
    except ValueError as exc:
        rx.close()
        tx.close()
        raise MediumError(f"{name}: {exc}") from exc
    return UdpMedium(name=name, rx=rx, tx=tx, dest=dest, accept_from=accept_from,
                     receiver=receiver)


BAUD = {
    9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
    57600: termios.B57600, 115200: termios.B115200, 230400: termios.B230400,
    460800: termios.B460800,
}


@dataclass
class SerialMedium:
    name: str
    fd: int
    framer: SerialFramer
    form: str = "classic"

    def fileno(self) -> int:
        return self.fd

    def refuses(self, peer: str) -> bool:
        return False  # a cable has one other end

    def read_frames(self, limit: int = READ_BATCH, first: bytes = b"") -> list[tuple[bytes, str]]:
        """The frames in `first` (bytes already read from the line: the C
        wait's, linklayer/quiet.py) and in up to `limit` reads of the line
        (bounded like UDP's)."""
        frames: list[tuple[bytes, str]] = [(f, self.name) for f in self.framer.feed(first)]
        for _ in range(limit):
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return frames
            except OSError as exc:
                raise MediumError(f"{self.name}: read failed: {exc.strerror}") from exc
            if not data:
                return frames
            frames.extend((f, self.name) for f in self.framer.feed(data))
        return frames

    def receive(self, keyring: Keyring, limit: int = READ_BATCH, first: bytes = b"") -> Received:
        """The frames of `first` and of up to `limit` reads, verified with `keyring`."""
        accepted: list[tuple[bytes, str]] = []
        refused: list[Refused] = []
        for frame, peer in self.read_frames(limit, first):
            try:
                linklayer.verify(frame, keyring)
            except FrameError as exc:
                refused.append(Refused(exc.code.name, peer, 1, exc.offset, exc.field_index,
                                       exc.field_name))
                continue
            accepted.append((frame, peer))
        return accepted, refused

    def write(self, frame: bytes) -> None:
        view = memoryview(frame)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except BlockingIOError as exc:
            termios.tcflush(self.fd, termios.TCOFLUSH)
            raise MediumError(
                f"TTY write timeout on [{self.name}] (no connection or bad cable?)"
            ) from exc

    def close(self) -> None:
        os.close(self.fd)


def open_serial(spec: MediumSpec) -> SerialMedium:
    dev, baud = spec.dev, spec.baud
    try:
        fd = os.open(dev, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise MediumError(f"serial {dev}: cannot open: {exc.strerror}") from exc
    try:
        attrs = termios.tcgetattr(fd)
        # iflag: heartbeat's INPCK|ISTRIP|IGNCR|BRKINT; no XON/XOFF.
        attrs[0] = termios.INPCK | termios.ISTRIP | termios.IGNCR | termios.BRKINT
        attrs[1] = 0  # oflag: no OPOST
        attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL  # 8N1
        attrs[3] = 0  # lflag: raw
        speed = BAUD.get(baud)
        if speed is None:
            raise MediumError(f"serial {dev}: unsupported baud {baud}")
        attrs[4] = attrs[5] = speed
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 1
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        # What the line received before this open is an earlier worker's
        # conversation (a restarted worker, a restarted node: the tty keeps
        # what came in meanwhile): a peer's ack of our previous life's
        # messages, its resource messages of seconds ago. None of it is read.
        termios.tcflush(fd, termios.TCIFLUSH)
    except termios.error as exc:
        os.close(fd)
        raise MediumError(f"serial {dev}: cannot set line settings: {exc}") from exc
    return SerialMedium(name=dev, fd=fd, framer=SerialFramer())


def open_medium(spec: MediumSpec) -> Medium:
    if spec.kind == "serial":
        return open_serial(spec)
    return open_udp(spec)
