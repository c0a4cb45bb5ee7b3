"""A link worker process: one medium (`hbeat: bcast eth1`, `hbeat: serial /dev/ttyS0`).

It receives frames, verifies them in C and forwards the authentic ones to
the supervisor; it writes what the supervisor hands it; and it sends the
keepalive itself on the absolute schedule of the sequence board, while the
supervisor's lease is fresh (docs/processes.md). The keepalive is a
`linklayer.Template` rebuilt whenever the supervisor pushes new status
content, so each tick only passes seq, ts and ld to C. It exits when the
supervisor dies (parent-death signal) or says `stop`. Its bus messages are
hbeat/ipc/bus.py.

    python -m workers.link --bus ipc:///run/hbeat/private/bus --name "bcast eth1"
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import select
import socket
import sys
import time
from pathlib import Path
from typing import cast

import zmq

import linklayer
from hbeat.addrspace import default_thread_stack, one_malloc_arena
from hbeat.ipc.bus import (
    BusError,
    Error,
    Fatal,
    Junk,
    LinkReady,
    LinkSetup,
    Rejected,
    Reschedule,
    Rx,
    Send,
    Sent,
    Status,
    Stop,
    Warn,
    decode_link_order,
    drain,
)
from hbeat.ipc.keepalive import STATUS_VARIABLE, KeepaliveContent, content_key, status_fields
from hbeat.ipc.keychannel import KEYS_FD_ARG, KeyChannelError, recv_keyring
from hbeat.ipc.seqboard import LD_MAX, SeqBoard, StaleKeepalive
from hbeat.schedslice import SLICE_NS, shorten_slice
from linklayer.message import Form, Keyring
from workers.locktrim import trim as trim_locked_pages
from workers.media import Medium, MediumError, open_medium
from workers.nslimit import NS_MARK, NsLimit, ns_type
from workers.procinit import become_worker, greet_supervisor
from workers.recentframes import RecentFrames
from workers.rejecttally import SUMMARY_EVERY_S, RejectTally
from workers.schedule import KeepaliveSchedule
from workers.warnlimit import WarnLimiter

REPLAYED = "the same bytes as a frame received a moment ago"
PR_SET_TIMERSLACK = 29
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
EINVAL, ENOMEM = 22, 12
# Stacks of the threads ZeroMQ starts here (hbeat/addrspace.py; 8 MiB by default).
THREAD_STACK_BYTES = 256 * 1024
# How a tick is met (measured in bench/README.md): the poll loop (ms
# resolution) runs until PRECISE_NS before the tick, then one clock_nanosleep
# (timer slack 1 ns) until SPIN_NS before it, then a busy wait to the tick.
# The medium and the bus wait at most PRECISE_NS meanwhile.
PRECISE_NS = 2_000_000
SPIN_NS = 30_000
# Within PRECISE_NS the bus is still served (`serve_precise`): one order at a
# time, and none once the tick is SERVE_GUARD_NS away. The costliest order,
# a `status` (a new keepalive template), takes about 50 us (a `send` 6 us;
# medians on the shared 2-vCPU machine; docs/processes.md "How a link worker
# meets its tick"), so an order never delays a keepalive.
SERVE_GUARD_NS = 300_000
# How long a tick may wait for new status content the supervisor is sending
# (it follows the supervisor's own status message within microseconds).
CONTENT_WAIT_MS = 5
# After how many keepalives a locked worker keeps only its own pages locked
# (workers/locktrim.py): the first ticks and frames have run the keepalive
# and receive paths by then; the later trims lock what they wrote since.
TRIM_AFTER_TICKS = frozenset({3, 10, 60, 600})

_LIBC = ctypes.CDLL(None, use_errno=True)


def lock_memory() -> int:
    """Lock every page of the process once it is touched, now and in future
    mappings (mlockall with MCL_ONFAULT, Linux >= 4.4): a page the keepalive
    path has used is never paged out, and nothing is populated only to be
    locked (docs/processes.md). An older kernel refuses MCL_ONFAULT (EINVAL):
    then everything is populated and locked. Returns 0 or the errno."""
    if _LIBC.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        return 0
    err = ctypes.get_errno()
    if err == EINVAL and _LIBC.mlockall(MCL_CURRENT | MCL_FUTURE) == 0:
        return 0
    return ctypes.get_errno() if err == EINVAL else err


def locked_kb() -> int:
    """VmLck of this process (kB): the address space of its locked mappings."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    return 0


def go_realtime(rtprio: int | None) -> list[str]:
    """`realtime on`: SCHED_FIFO at `rtprio` (default the lowest, 1) and every
    page locked in memory once touched (`lock_memory`), as heartbeat locks its
    processes. Failures do not stop the worker; returns heartbeat's words for
    each one, to be logged."""
    problems = []
    prio = rtprio if rtprio is not None else os.sched_get_priority_min(os.SCHED_FIFO)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
    except OSError as exc:
        problems.append(f"Unable to set realtime scheduling (SCHED_FIFO priority {prio}): "
                        f"{exc.strerror}")
    # Raise the locked-memory limit first, as heartbeat does (needs CAP_SYS_RESOURCE).
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_MEMLOCK,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    err = lock_memory()
    if err != 0:
        reason = ("System limits on locked-in memory are too small." if err == ENOMEM
                  else os.strerror(err))
        problems.append(f"Cannot lock ourselves into memory: {reason}")
    return problems


def tighten_timing(name: str, realtime: bool,
                   rtprio: int | None) -> list[Error | Warn]:
    """Everything the worker asks of the kernel to meet its ticks
    (docs/processes.md): SCHED_FIFO with `realtime on`; a short fair-scheduler
    slice when it runs without SCHED_FIFO (`realtime off`, or FIFO refused);
    1 ns timer slack. Returns the bus message for each refusal: the
    realtime ones (`error`) in heartbeat's words, ours (`warn`) naming the worker."""
    problems: list[Error | Warn] = [Error(p) for p in go_realtime(rtprio)] if realtime else []
    if os.sched_getscheduler(0) != os.SCHED_FIFO:
        problem = shorten_slice(SLICE_NS)
        if problem:
            problems.append(Warn(f"{name}: {problem}"))
    if _LIBC.prctl(PR_SET_TIMERSLACK, 1) != 0:  # wake on time, not up to 50 us late
        problems.append(Warn(f"{name}: prctl(PR_SET_TIMERSLACK, 1): "
                             f"{os.strerror(ctypes.get_errno())}"))
    return problems


class LoadAvg:
    """/proc/loadavg for each keepalive's `ld`: opened once, read with one
    pread per tick (the kernel renders it afresh at offset 0) instead of an
    open, fstat, ioctl, lseek, read and close."""

    def __init__(self, path: str = "/proc/loadavg") -> None:
        self.path = path
        self.fd: int | None = None

    def read(self) -> bytes:
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            return os.pread(self.fd, 128, 0).split(b"\n", 1)[0]
        except OSError:
            if self.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = None
            return b"n/a"


def status_template(content: KeepaliveContent, form: str,
                    keyring: Keyring) -> linklayer.Template:
    """The keepalive of `content` as a template: `.encode_values(seq, ts, ld)`
    (hex bytes, as status_fields writes them) gives the bytes
    `encode_<form>(status_fields(content, seq, ts, ld))` would."""
    return linklayer.Template(
        status_fields(content, 0, 0, b""),
        Form.CLASSIC if form == "classic" else Form.NETSTRING,
        keyring,
        STATUS_VARIABLE,
    )


class LinkWorker:
    def __init__(self, name: str, bus: zmq.Socket[bytes], setup: LinkSetup, keyring: Keyring,
                 key_channel: socket.socket | None = None) -> None:
        self.name = name
        self.bus = bus
        self.bus_fd = cast(int, bus.get(zmq.FD))
        self.keyring: Keyring = keyring
        self.key_channel = key_channel
        self.medium: Medium = open_medium(setup.medium)
        self.board = SeqBoard.attach(Path(setup.board))
        view = self.board.read()
        self.schedule = KeepaliveSchedule(view.t0_ns, view.interval_ns)
        self.status: KeepaliveContent = setup.status
        self.content_seq = self.status.status_seq
        self._keyed: tuple[KeepaliveContent, int] | None = None
        self.keepalive = status_template(self.status, self.medium.form, self.keyring).bind3()
        self.running = True
        self.loadavg = LoadAvg()
        self.tally = RejectTally()
        self.recent = RecentFrames()
        self.ns_limit = NsLimit()
        self.bus_lost = 0
        self.lost_reported = 0
        self.last_summary = float("-inf")
        self.warnings = WarnLimiter()
        self.junk_reported = 0
        self.report_all = setup.report_all
        self.last_keepalive = b""
        self.echo_forwarded = False
        self.echoes_dropped = 0
        self.echo_filter_problem: str | None = None
        """Why the kernel does not drop our own echoes (None: it does, or
        not asked yet); they are dropped here then."""
        self.memory_locked = False  # set by main once mlockall succeeded
        self.ticks_sent = 0

    def post(self, parts: list[bytes]) -> bool:
        """Send to the supervisor without ever waiting for it: when the bus is
        full (the supervisor is behind, say under a flood of valid frames)
        the message is dropped and counted, and the keepalives go on."""
        try:
            self.bus.send_multipart(parts, zmq.NOBLOCK)
        except zmq.Again:
            self.bus_lost += 1
            return False
        return True

    def warn(self, text: str) -> None:
        line = self.warnings.admit(text, time.monotonic())
        if line is not None:
            self.post(Warn(line).encode())

    def content_key(self) -> int:
        """`content_key` of the content the keepalive is built from (computed
        once per content: whatever replaces `self.status` changes it)."""
        keyed = self._keyed
        if keyed is None or keyed[0] is not self.status:
            keyed = self._keyed = (self.status, content_key(self.status))
        return keyed[1]

    def claim(self, tick: int, ts: int, ld: bytes) -> tuple[int, bool] | None:
        """The seq of keepalive `tick` and whether this worker took it (it
        logs `ts`, `ld` and its content on the board then), or None (send
        nothing). When the
        supervisor has just sent a status message newer than our content,
        read the new content from the bus first: a keepalive with a higher
        seq and the old `st` would take the node's state back at the peers."""
        try:
            return self.board.claim(tick, time.monotonic_ns(), self.content_seq,
                                    (ts, ld, self.content_key()))
        except StaleKeepalive:
            pass
        deadline = time.monotonic_ns() + CONTENT_WAIT_MS * 1_000_000
        while self.running and time.monotonic_ns() < deadline:
            if self.bus.poll(CONTENT_WAIT_MS, zmq.POLLIN):
                self.on_bus()
            try:
                return self.board.claim(tick, time.monotonic_ns(), self.content_seq,
                                        (ts, ld, self.content_key()))
            except StaleKeepalive:
                continue
        return None  # skip this tick: the supervisor's status message just went out

    def prepare(self, due_ns: int) -> tuple[int, bytes]:
        """What a keepalive carries besides its seq, read before the last sleep
        so the wake-up only claims, signs and sends: `ts` (the wall clock at
        the tick, whole seconds) and `ld` (a pread of /proc/loadavg and the
        kernel's formatting, the largest part of the wake-to-send time it
        replaces)."""
        ahead_s = max(0, due_ns - time.monotonic_ns()) / 1e9
        return int(time.time() + ahead_s), self.loadavg.read()[:LD_MAX]

    def send_keepalive(self, tick: int, prepared: tuple[int, bytes] | None = None) -> None:
        ts, ld = prepared if prepared is not None else (
            int(time.time()), self.loadavg.read()[:LD_MAX])
        claimed = self.claim(tick, ts, ld)
        if claimed is None:
            return  # lease expired (supervisor hung), tick already past, or no fresh content
        seq = claimed[0]
        frame = self.keepalive(b"%x" % seq, b"%x" % ts, ld)  # STATUS_VARIABLE order
        late_us = (time.monotonic_ns() - self.schedule.due_at(tick)) // 1000
        written = True
        self.last_keepalive = frame
        try:
            self.medium.write(frame)
        except MediumError as exc:
            self.warn(str(exc))
            written = False
        # The worker that took the seq logged the keepalive on the board with
        # the claim (even when this medium cannot write it: the seq is taken,
        # and a peer asking for it again must get it, not "Irretrievably
        # lost"), naming the content this frame was built from; the
        # supervisor reads the log on its loop's turns, so no bus message
        # wakes it for each keepalive. A `sent` report goes only when the
        # supervisor asked for every one (its metrics count each keepalive of
        # each medium: docs/processes.md).
        if self.report_all:
            self.post(Sent(seq, ts, ld, tick, written, self.status, late_us).encode())

    def own_echo(self, frame: bytes, peer: str = "") -> bool:
        """True for an echo of our own last keepalive (a bcast or looped
        mcast socket receives what it sends) that need not cross the bus: the
        supervisor only counts its own messages and sets its own link up on
        the first one, and never judges its own links by silence. The first
        echo is forwarded (the local link comes up), and the kernel is asked
        to drop the later ones (workers/selfecho.py: they come from our
        sending socket, `peer`); those it lets through are counted here. With
        `report_all` every one is forwarded (metrics)."""
        if self.report_all or frame != self.last_keepalive:
            return False
        if not self.echo_forwarded:
            self.echo_forwarded = True
            drop_own = getattr(self.medium, "drop_own", None)
            if drop_own is not None and peer:
                self.echo_filter_problem = drop_own(peer)
            return False
        self.echoes_dropped += 1
        return True

    def on_medium(self) -> None:
        """One bounded batch: a flood cannot keep us from the next tick. The
        medium hands over verified frames and, for the refused datagrams
        (source filter and frame checks, in C for UDP), counts per (reason,
        source): the tally's summary, not a Python object per datagram."""
        try:
            frames, refused = self.medium.receive(self.keyring)
        except MediumError as exc:
            self.warn(str(exc))
            return
        add = self.tally.add
        for r in refused:
            add(r.code, r.peer, r, r.datagrams)  # made text (str(r)) by the summary
        for frame, peer in frames:
            if self.own_echo(frame, peer):
                continue
            now = time.monotonic_ns()
            if self.recent.seen_before(frame):
                self.tally.add("REPLAYED_FRAME", peer, REPLAYED)
                continue
            if NS_MARK in frame and not self.admit_ns(frame, peer, now):
                continue
            self.post(Rx(now, frame).encode())
        self.report_junk()
        self.report_rejected(time.monotonic())

    def admit_ns(self, frame: bytes, peer: str, now_ns: int) -> bool:
        """A verified frame holding `t=NS_` within its type's rate
        (workers/nslimit.py); the others are counted. The type is read from
        the bytes (no parse: this runs for every frame of a flood)."""
        mtype = ns_type(frame)
        if mtype is None:
            return True
        if self.ns_limit.admit(b"", mtype, now_ns / 1e9):
            return True
        self.tally.add("NS_RATE_LIMITED", peer,
                       f"{mtype.decode(errors='replace')}: more than "
                       f"{self.ns_limit.rate:g} a second")
        return False

    def report_rejected(self, now: float) -> None:
        """At most one summary a second, however many frames were refused (or
        bus messages lost), sent at the next turn of the loop once due."""
        lost = self.bus_lost != self.lost_reported
        if self.tally.due(now) or (lost and now - self.last_summary >= SUMMARY_EVERY_S):
            counts = self.tally.flush(now)
            self.last_summary = now
            self.lost_reported = self.bus_lost
            self.post(Rejected(counts, self.tally.total, self.bus_lost).encode())

    def report_junk(self) -> None:
        """Bytes a serial framer threw away (lines outside `>>>`..`<<<`, cut or
        oversized frames) are rejected input too: tell the supervisor."""
        framer = getattr(self.medium, "framer", None)
        if framer is None or framer.stats.junk_bytes <= self.junk_reported:
            return
        delta = framer.stats.junk_bytes - self.junk_reported
        self.junk_reported = framer.stats.junk_bytes
        self.post(Junk(delta, self.junk_reported).encode())

    def on_bus(self) -> None:
        for parts in drain(self.bus):
            self.on_order(parts)
            if not self.running:
                return

    def serve_precise(self, due_ns: int) -> bool:
        """The last PRECISE_NS before a tick: wait for the bus with a
        microsecond timeout (select on ZMQ_FD) until SERVE_GUARD_NS before the
        tick, and carry out one order if one is there and that much time is
        left (a `send` of a `stonith` frame must not wait for our tick: the
        peer's deadline tends to fall near it). True when it came back early
        (an order served, or the bus stirred): ask again; False when the tick
        is within SERVE_GUARD_NS: only the last sleep and spin remain."""
        left = due_ns - SERVE_GUARD_NS - time.monotonic_ns()
        if left <= 0:
            return False
        if not cast(int, self.bus.get(zmq.EVENTS)) & zmq.POLLIN:
            # ZMQ_FD is readable when the socket's events may have changed;
            # ZMQ_EVENTS (just read) re-arms it.
            select.select([self.bus_fd], [], [], left / 1e9)
            return True
        try:
            parts = self.bus.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return True
        self.on_order(parts)
        return True

    def on_order(self, parts: list[bytes]) -> None:
        """One message from the supervisor."""
        try:
            order = decode_link_order(parts)
        except BusError as exc:
            self.warn(f"{self.name}: {exc}")
            return
        if isinstance(order, Send):
            try:
                self.medium.write(order.frame)
            except MediumError as exc:
                self.warn(str(exc))
        elif isinstance(order, Status):
            self.status = order.content
            self.content_seq = self.status.status_seq
            self.keepalive = status_template(
                self.status, self.medium.form, self.keyring).bind3()
        elif isinstance(order, Reschedule):
            self.reschedule()
        elif isinstance(order, Stop):
            self.running = False

    def reschedule(self) -> None:
        """The keepalive interval changed: the schedule as the sequence board
        now has it (the supervisor moved it there, tick numbers going on)."""
        view = self.board.read()
        self.schedule = KeepaliveSchedule(view.t0_ns, view.interval_ns)

    def on_key_channel(self) -> None:
        """New keys from the supervisor (`systemctl reload` changed authkeys)."""
        assert self.key_channel is not None
        try:
            keyring = recv_keyring(self.key_channel, 0.1)
        except KeyChannelError as exc:
            self.warn(f"{self.name}: {exc}")
            if "closed" in str(exc):
                self.key_channel = None  # the supervisor is going; we follow it
            return
        self.keyring = keyring
        self.keepalive = status_template(self.status, self.medium.form, self.keyring).bind3()

    def trim_locks(self) -> None:
        problem = trim_locked_pages()
        if problem is not None:
            self.memory_locked = False  # locked as before; not tried again
            self.warn(f"{self.name}: could not unlock the pages it does not use: {problem}")

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.bus, zmq.POLLIN)
        poller.register(self.medium.fileno(), zmq.POLLIN)
        if self.key_channel is not None:
            poller.register(self.key_channel.fileno(), zmq.POLLIN)
        tick = self.schedule.next_tick(time.monotonic_ns())
        prepared: tuple[int, bytes] | None = None
        while self.running:
            due = self.schedule.due_at(tick)
            now = time.monotonic_ns()
            if now >= due:
                self.send_keepalive(tick, prepared)
                prepared = None
                self.ticks_sent += 1
                if self.memory_locked and self.ticks_sent in TRIM_AFTER_TICKS:
                    self.trim_locks()
                tick = max(tick + 1, self.schedule.next_tick(time.monotonic_ns()))
                continue
            remaining = due - now
            if remaining > PRECISE_NS:
                # Rounded up: the poll ends at most PRECISE_NS before the tick, not
                # up to 1 ms earlier, which cost a second 1 ms poll every tick.
                events = dict(poller.poll(-(-(remaining - PRECISE_NS) // 1_000_000)))
                if self.medium.fileno() in events:
                    self.on_medium()
                if self.bus in events:
                    self.on_bus()
                if self.key_channel is not None and self.key_channel.fileno() in events:
                    channel = self.key_channel.fileno()
                    self.on_key_channel()
                    if self.key_channel is None:
                        poller.unregister(channel)
                self.report_rejected(time.monotonic())
                continue
            if prepared is None:
                prepared = self.prepare(due)
            if self.serve_precise(due):
                continue
            remaining = due - time.monotonic_ns()
            if remaining > SPIN_NS:
                time.sleep((remaining - SPIN_NS) / 1e9)  # clock_nanosleep
            while time.monotonic_ns() < due:
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="workers.link", description=__doc__)
    ap.add_argument("--bus", required=True, help="the supervisor's worker bus endpoint")
    ap.add_argument("--name", required=True, help="medium name, e.g. 'bcast eth1'")
    ap.add_argument(KEYS_FD_ARG, type=int, required=True, dest="keys_fd",
                    help="inherited descriptor the supervisor sends the keys on")
    args = ap.parse_args(argv)
    if not become_worker(args.name):
        return 0  # the supervisor died before we could follow it
    # Before ZeroMQ starts its threads: less address space to lock (VmLck).
    one_malloc_arena()
    default_thread_stack(THREAD_STACK_BYTES)
    key_channel = socket.socket(fileno=args.keys_fd)
    try:
        keyring = recv_keyring(key_channel, 10.0)
    except KeyChannelError as exc:
        print(f"ERROR: {args.name}: {exc}", file=sys.stderr)
        return 1
    greeted = greet_supervisor(args.bus, args.name)
    if greeted is None:
        return 1
    ctx, bus, parts = greeted
    if parts[0] != b"setup" or len(parts) != 2:
        print(f"ERROR: {args.name}: expected setup, got {parts[0]!r}", file=sys.stderr)
        return 1
    try:
        setup = LinkSetup.decode(parts)
        worker = LinkWorker(args.name, bus, setup, keyring, key_channel)
    except (BusError, MediumError, OSError) as exc:
        bus.send_multipart(Fatal(str(exc)).encode())
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    for problem in tighten_timing(args.name, setup.realtime, setup.rtprio):
        bus.send_multipart(problem.encode())
    worker.memory_locked = setup.realtime and locked_kb() > 0
    bus.send_multipart(LinkReady(os.getpid(), worker.medium.form).encode())
    worker.run()
    bus.close()  # LINGER bounds this: what is still queued gets 500 ms
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
