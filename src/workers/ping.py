"""The ping worker process (`hbeat: ping`): ha.cf's ping nodes.

It sends an ICMP echo request to every `ping`/`ping_group` host each
keepalive interval through the kernel's unprivileged ICMP socket
(`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`: the kernel fills in the
identifier and checksum and hands back only replies to this socket), feeds
the replies it accepts to `workers.pingtrack`, and reports each node's up
or dead transition to the supervisor (`ping-state`, hbeat/ipc/ping.py).

Every reply is hostile: at most `READ_BATCH` datagrams of at most
`MAX_REPLY` bytes are read per wake-up, and one counts only when its
source, sequence number and random payload match a request still
outstanding; the others are counted and summed up in one WARN a minute
at most, never a line per packet.

The kernel lets a process open such a socket only when one of its groups
is inside `net.ipv4.ping_group_range` (per network namespace; Debian's
default `1 0` lets nobody). Run as root, the worker widens the range by
its own group id when needed and says so; otherwise it stops with an
error naming the setting.

    python -m workers.ping --bus ipc:///run/hbeat/private/bus --name ping
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import struct
import sys
import time
from pathlib import Path

import zmq

from hbeat.ipc.bus import BusError, Fatal, Stop, Warn, drain
from hbeat.ipc.ping import PingSetup, PingState
from workers.pingtrack import EchoBook, PingTracker, Transition
from workers.procinit import become_worker, greet_supervisor

RANGE_SYSCTL = Path("/proc/sys/net/ipv4/ping_group_range")
ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, id, seq
TOKEN_BYTES = 16
MAX_REPLY = 512
READ_BATCH = 256
SUMMARY_EVERY_S = 60.0


class PingSocketError(OSError):
    """The ICMP socket cannot be opened; the message names the setting."""


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _widen_range(gid: int) -> str | None:
    """As root: let `gid` open ICMP sockets; what was changed (None: nothing)."""
    text = RANGE_SYSCTL.read_text().split()
    low, high = int(text[0]), int(text[1])
    if low <= gid <= high:
        return None
    new = (gid, gid) if low > high else (min(low, gid), max(high, gid))
    RANGE_SYSCTL.write_text(f"{new[0]} {new[1]}\n")
    return (f"net.ipv4.ping_group_range was {low} {high} (group {gid} may not open ICMP "
            f"sockets): set to {new[0]} {new[1]}")


def open_icmp() -> tuple[socket.socket, str | None]:
    """The ICMP echo socket, and a note when the range had to be widened."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), None
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM):
            raise PingSocketError(exc.errno, f"cannot open an ICMP socket: "
                                  f"{exc.strerror}") from None
        first = exc
    gid = os.getegid()
    if os.geteuid() != 0:
        raise PingSocketError(first.errno, f"cannot open an ICMP socket ({first.strerror}): "
                              f"group {gid} is outside net.ipv4.ping_group_range; run "
                              f"`sysctl -w net.ipv4.ping_group_range=\"{gid} {gid}\"` or run "
                              "hbeat as root")
    try:
        note = _widen_range(gid)
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), note
    except (OSError, ValueError, IndexError) as exc:
        raise PingSocketError(first.errno, f"cannot open an ICMP socket ({first.strerror}) and "
                              f"cannot set net.ipv4.ping_group_range: {exc}") from None


def resolve(host: str) -> str | None:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return None


class PingWorker:
    def __init__(self, bus: zmq.Socket[bytes], setup: PingSetup, sock: socket.socket) -> None:
        self.bus = bus
        self.setup = setup
        self.sock = sock
        sock.setblocking(False)
        now = now_ms()
        self.tracker = PingTracker([(t.name, t.hosts) for t in setup.targets],
                                   setup.deadping_ms, now)
        hosts = dict.fromkeys(h for t in setup.targets for h in t.hosts)
        self.address: dict[str, str] = {}  # host -> IPv4 address
        unresolved = []
        for host in hosts:
            addr = resolve(host)
            if addr is None:
                unresolved.append(host)
            else:
                self.address[host] = addr
        self.host_of = {addr: host for host, addr in self.address.items()}
        if unresolved:
            self.warn(f"ping: cannot resolve {', '.join(unresolved)}: never pinged, "
                      "counted as not answering")
        self.book = EchoBook(capacity=4 * max(1, len(self.address)) *
                             max(1, setup.deadping_ms // setup.interval_ms + 1),
                             max_age_ms=setup.deadping_ms)
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.next_send = now
        self.ignored = 0
        self.send_errors: dict[str, str] = {}
        self.next_summary = time.monotonic() + SUMMARY_EVERY_S
        self.running = True

    def warn(self, text: str) -> None:
        with contextlib.suppress(zmq.Again):
            self.bus.send_multipart(Warn(text).encode(), zmq.NOBLOCK)

    def report(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self.bus.send_multipart(PingState(t.node, t.up, t.host).encode())

    def send_round(self, now: int) -> None:
        for host, addr in self.address.items():
            self.seq = (self.seq + 1) & 0xFFFF
            token = os.urandom(TOKEN_BYTES)
            packet = _HEADER.pack(ICMP_ECHO_REQUEST, 0, 0, 0, self.seq) + token
            try:
                self.sock.sendto(packet, (addr, 0))
            except OSError as exc:
                if host not in self.send_errors:  # said once until it works again
                    self.warn(f"ping: echo request to {host}: {exc.strerror or exc}")
                self.send_errors[host] = str(exc)
                continue
            self.send_errors.pop(host, None)
            self.book.sent(addr, self.seq, token, now)
        self.book.expire(now)

    def on_socket(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data, source = self.sock.recvfrom(MAX_REPLY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: not a reply
                self.ignored += 1
                continue
            now = now_ms()
            addr = source[0] if isinstance(source, tuple) and source else ""
            if len(data) < _HEADER.size:
                self.ignored += 1
                continue
            kind, code, _, _, seq = _HEADER.unpack_from(data)
            if (kind != ICMP_ECHO_REPLY or code != 0
                    or not self.book.match(addr, seq, data[_HEADER.size:], now)):
                self.ignored += 1
                continue
            self.report(self.tracker.reply(self.host_of[addr], now))

    def on_bus(self) -> None:
        for parts in drain(self.bus):
            if parts and parts[0] == Stop.VERB:
                self.running = False
            elif parts and parts[0] == PingSetup.VERB:
                try:
                    self.retime(PingSetup.decode(parts))
                except BusError as exc:
                    self.warn(f"ping: new setup refused: {exc}")

    def retime(self, setup: PingSetup) -> None:
        """A new interval and deadping (a reload; the targets stay: changing
        them needs a restart of hbeat)."""
        self.setup = PingSetup(self.setup.targets, setup.interval_ms, setup.deadping_ms)
        self.tracker.deadping_ms = setup.deadping_ms
        self.book.max_age_ms = setup.deadping_ms
        self.next_send = min(self.next_send, now_ms() + setup.interval_ms)

    def summary(self) -> None:
        if self.ignored:
            self.warn(f"ping: ignored {self.ignored} ICMP packet{'s' if self.ignored != 1 else ''}"
                      f" that answer no request of ours (in the last {SUMMARY_EVERY_S:.0f} s)")
            self.ignored = 0
        self.next_summary = time.monotonic() + SUMMARY_EVERY_S

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.bus, zmq.POLLIN)
        poller.register(self.sock.fileno(), zmq.POLLIN)
        while self.running:
            now = now_ms()
            if now >= self.next_send:
                self.send_round(now)
                # absolute schedule; after a long stall, start again from now
                self.next_send += self.setup.interval_ms
                if self.next_send <= now:
                    self.next_send = now + self.setup.interval_ms
            self.report(self.tracker.tick(now))
            if time.monotonic() >= self.next_summary:
                self.summary()
            wait = min(self.next_send, self.tracker.next_deadline()) - now_ms()
            events = dict(poller.poll(max(1, min(wait, 1000))))
            if self.sock.fileno() in events:
                self.on_socket()
            if self.bus in events:
                self.on_bus()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="workers.ping", description=__doc__)
    ap.add_argument("--bus", required=True, help="the supervisor's worker bus endpoint")
    ap.add_argument("--name", required=True, help="the worker's name (ping)")
    args = ap.parse_args(argv)
    if not become_worker(args.name):
        return 0  # the supervisor died before we could follow it
    greeted = greet_supervisor(args.bus, args.name)
    if greeted is None:
        return 1
    ctx, bus, parts = greeted
    try:
        setup = PingSetup.decode(parts)
        sock, note = open_icmp()
    except (BusError, OSError) as exc:
        bus.send_multipart(Fatal(f"ping: {exc}").encode())
        print(f"ERROR: ping: {exc}", file=sys.stderr)
        bus.close()
        ctx.term()
        return 2
    if note is not None:
        bus.send_multipart(Warn(f"ping: {note}").encode())
    PingWorker(bus, setup, sock).run()
    bus.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
