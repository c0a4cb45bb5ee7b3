"""A link worker process: one medium (`hbeat: bcast eth1`, `hbeat: serial /dev/ttyS0`).

It receives frames, verifies them in C and forwards the authentic ones to
the supervisor; it writes what the supervisor hands it; and its keepalive
thread (`linklayer.ticker`, in C) sends the keepalive on the absolute
schedule of the sequence board, while the supervisor's lease is fresh
(docs/processes.md, "How a link worker meets its tick"). This Python thread
hands the ticker a new `linklayer.Template` whenever the supervisor pushes
new status content or keys, writes the supervisor's frames through the
ticker's write mutex and relays what the ticker reports; nothing wakes it
per tick. With `realtime on` the ticker thread alone runs SCHED_FIFO, and
only its tick path is locked in memory. It exits when the supervisor dies
(parent-death signal) or says `stop`. Its bus messages are
hbeat/ipc/bus.py.

    python -m workers.link --bus ipc:///run/hbeat/private/bus --name "bcast eth1"
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import os
import resource
import select
import socket
import sys
import time
from pathlib import Path

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
from hbeat.ipc.seqboard import LD_MAX, SeqBoard
from hbeat.schedslice import SLICE_NS, shorten_slice
from linklayer.errors import ErrorCode, FrameError
from linklayer.message import Form, Keyring
from linklayer.quiet import PEERS as QUIET_PEERS
from linklayer.quiet import Quiet, QuietError
from linklayer.ticker import (
    CONTENT_WAIT_NS,
    OK,
    ORDER_WAIT_NS,
    WRITE_FAILED,
    WRITE_TIMEOUT,
    StaleContent,
    Ticker,
    TickerError,
    TickReport,
)
from workers.media import Medium, MediumError, SerialMedium, UdpMedium, open_medium
from workers.nslimit import NS_MARK, NsLimit, ns_type
from workers.procinit import become_worker, greet_supervisor
from workers.recentframes import RecentFrames
from workers.rejecttally import SUMMARY_EVERY_S, RejectTally
from workers.schedule import KeepaliveSchedule
from workers.warnlimit import WarnLimiter

REPLAYED = "the same bytes as a frame received a moment ago"
PR_SET_TIMERSLACK = 29
# Stacks of the threads ZeroMQ starts here (hbeat/addrspace.py; 8 MiB by default).
THREAD_STACK_BYTES = 256 * 1024
# How long the synchronous `send_keepalive` waits for new status content the
# supervisor is sending (the ticker thread waits as long: HB_TK_CONTENT_WAIT_NS).
CONTENT_WAIT_MS = CONTENT_WAIT_NS // 1_000_000
# A serial line that answers a read or write with one of these is gone (the
# other end of a pty closed, a USB adapter unplugged): its descriptor never
# works again. The worker exits and the supervisor starts a new one, which
# opens the device again (`hang_up`).
LINE_GONE = frozenset({errno.EIO, errno.ENXIO, errno.ENODEV})
LINE_GONE_EXIT = 3
# Contents handed to the ticker that its reports may still name (a new one
# comes with each status order; the ticker holds only the latest).
CONTENTS_KEPT = 8

_LIBC = ctypes.CDLL(None, use_errno=True)


def tighten_timing(name: str) -> list[Error | Warn]:
    """What the worker's Python thread asks of the kernel: a short
    fair-scheduler slice (an order of the supervisor, a `stonith` frame,
    goes out as soon as it arrives) and 1 ns timer slack. It is never
    real-time: the keepalives are the ticker thread's (`start_ticker`).
    Returns a `warn` naming the worker for each refusal."""
    problems: list[Error | Warn] = []
    problem = shorten_slice(SLICE_NS)
    if problem:
        problems.append(Warn(f"{name}: {problem}"))
    if _LIBC.prctl(PR_SET_TIMERSLACK, 1) != 0:
        problems.append(Warn(f"{name}: prctl(PR_SET_TIMERSLACK, 1): "
                             f"{os.strerror(ctypes.get_errno())}"))
    return problems


def start_ticker(name: str, ticker: Ticker, realtime: bool,
                 rtprio: int | None) -> list[Error | Warn]:
    """Start the keepalive thread (docs/processes.md, "How a link worker
    meets its tick"): with `realtime on`, SCHED_FIFO at `rtprio` (default
    the lowest, 1) and the tick path locked in memory (`Ticker.lock_memory`:
    its stack, buffers, templates, the board and the code it runs), as
    heartbeat locks its media processes; without (or FIFO refused) the
    short fair-scheduler slice; 1 ns timer slack either way. Failures do
    not stop the worker; returns the bus message for each: the realtime ones
    (`error`) in heartbeat's words, ours (`warn`) naming the worker."""
    problems: list[Error | Warn] = []
    prio = 0
    if realtime:
        prio = rtprio if rtprio is not None else os.sched_get_priority_min(os.SCHED_FIFO)
        # Raise the locked-memory limit first, as heartbeat does (needs CAP_SYS_RESOURCE).
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_MEMLOCK,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    timing = ticker.start(prio, SLICE_NS)
    if realtime and timing.fifo:
        problems.append(Error(f"Unable to set realtime scheduling (SCHED_FIFO priority {prio}): "
                              f"{os.strerror(timing.fifo)}"))
    if timing.slice:
        problems.append(Warn(f"{name}: sched_setattr (slice {SLICE_NS} ns): "
                             f"{os.strerror(timing.slice)}"))
    if timing.slack:
        problems.append(Warn(f"{name}: prctl(PR_SET_TIMERSLACK, 1): "
                             f"{os.strerror(timing.slack)}"))
    if realtime:
        try:
            ticker.lock_memory()
        except TickerError as exc:
            err = exc.errno or 0
            reason = ("System limits on locked-in memory are too small."
                      if err in (errno.ENOMEM, errno.EPERM) else os.strerror(err))
            problems.append(Error(f"Cannot lock ourselves into memory: {reason}"))
    return problems


def write_target(medium: Medium) -> tuple[int, tuple[str, int] | None]:
    """The descriptor the ticker writes `medium`'s frames to, and the UDP
    destination (None: a serial line, written as a stream)."""
    if isinstance(medium, UdpMedium):
        return medium.tx.fileno(), medium.dest
    return medium.fileno(), None


class LoadAvg:
    """/proc/loadavg for a keepalive sent from Python (`send_keepalive`; the
    ticker thread reads it in C): opened once, one pread per read."""

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
        self.keyring: Keyring = keyring
        self.key_channel = key_channel
        self.medium: Medium = open_medium(setup.medium)
        self.board = SeqBoard.attach(Path(setup.board))
        view = self.board.read()
        self.schedule = KeepaliveSchedule(view.t0_ns, view.interval_ns)
        fd, dest = write_target(self.medium)
        try:
            self.ticker = Ticker(setup.board, fd, dest, report_all=setup.report_all)
        except TickerError as exc:
            self.medium.close()
            self.board.close()
            raise OSError(exc.errno, f"{name}: keepalive ticker: {exc.strerror}") from exc
        self.ticker.messages_before(setup.messages_before)
        self.status: KeepaliveContent = setup.status
        self.content_seq = self.status.status_seq
        self._keyed: tuple[KeepaliveContent, int] | None = None
        self._handed: tuple[KeepaliveContent, int, Keyring] = (self.status, -1, keyring)
        self._contents: dict[int, KeepaliveContent] = {}
        """The contents handed to the ticker lately, by content key: a report
        names the one its frame was built from (`on_report`)."""
        self.new_template()
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
        self.exit_code = 0
        """What `main` returns: LINE_GONE_EXIT after `hang_up`."""
        self.echo_forwarded = False
        self.echoes_dropped = 0
        self.echo_filter_problem: str | None = None
        """Why the kernel does not drop our own echoes (None: it does, or
        not asked yet); they are dropped here then."""
        self.quiet: Quiet | None = None
        """The C wait that records the peers' repeated keepalives on the heard
        board instead of waking this thread (None: every frame is forwarded,
        as when the supervisor asks for every report)."""
        self.quiet_gap_ns = setup.quiet_gap_ms * 1_000_000
        self.quiet_slots: dict[str, int] = {}
        """The heard board's slot of each peer that has a model."""
        if setup.heard and not setup.report_all:
            try:
                self.quiet = Quiet(setup.heard, serial=not isinstance(self.medium, UdpMedium))
            except QuietError as exc:
                self.ticker.close()
                self.medium.close()
                self.board.close()
                raise OSError(exc.errno, f"{name}: heard board: {exc}") from exc

    @property
    def last_keepalive(self) -> bytes:
        """The last keepalive frame the ticker made (a copy)."""
        return self.ticker.last_keepalive()

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

    def hang_up(self, text: str, err: int | None) -> bool:
        """A serial line that `err` says is gone (LINE_GONE): say so, stop
        the loop and exit with LINE_GONE_EXIT, so that the supervisor
        restarts the worker, which opens the device again; the ticker is
        stopped with the loop. Returns whether it was (False: an error
        like any other, for the caller to warn about)."""
        if err not in LINE_GONE or isinstance(self.medium, UdpMedium):
            return False
        # WARN: the supervisor logs the worker's exit as the ERROR it is.
        self.post(Warn(f"{text}: the line is gone; exiting to open it again").encode())
        self.running = False
        self.exit_code = LINE_GONE_EXIT
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

    def new_template(self) -> None:
        """Hand the ticker the keepalive of the current content and keys (the
        C side keeps its own copy; the thread switches at its next tick)."""
        template = status_template(self.status, self.medium.form, self.keyring)
        key = self.content_key()
        self.ticker.set_template(template, self.content_seq, key)
        self._handed = (self.status, self.content_seq, self.keyring)
        self._contents.pop(key, None)
        self._contents[key] = self.status
        while len(self._contents) > CONTENTS_KEPT:
            del self._contents[next(iter(self._contents))]

    def write_failed(self, code: int, err: int) -> str:
        """The warning for a write to the medium that failed (as the media
        word it: workers/media.py)."""
        if code == WRITE_TIMEOUT:
            return f"TTY write timeout on [{self.medium.name}] (no connection or bad cable?)"
        if isinstance(self.medium, UdpMedium):
            return f"{self.medium.name}: send to {self.medium.dest[0]}: {os.strerror(err)}"
        return f"{self.medium.name}: write failed: {os.strerror(err)}"

    def write(self, frame: bytes, seq: int = 0) -> None:
        """A frame the supervisor hands us, written through the ticker's
        write mutex (a serial frame never interleaves with a keepalive);
        `seq`, its number, lets the keepalive numbered next go out."""
        try:
            self.ticker.write(frame, seq)
        except TickerError as exc:
            text = self.write_failed(exc.code, exc.errno or 0)
            if not self.hang_up(text, exc.errno):
                self.warn(text)

    def send_keepalive(self, tick: int) -> None:
        """Keepalive `tick` now, from this thread, through the ticker's C
        path (claim, encode, write: the thread must not be running). When
        the supervisor has just sent a status message newer than our content,
        read the new content from the bus first: a keepalive with a higher
        seq and the old `st` would take the node's state back at the peers."""
        handed = self._handed
        if (handed[0] is not self.status or handed[1] != self.content_seq
                or handed[2] is not self.keyring):
            self.new_template()  # the content was replaced in place (tests do)
        ts, ld = int(time.time()), self.loadavg.read()[:LD_MAX]
        deadline = time.monotonic_ns() + CONTENT_WAIT_MS * 1_000_000
        while True:
            try:
                report = self.ticker.tick(tick, ts, ld)
                break
            except StaleContent:
                if not self.running or time.monotonic_ns() >= deadline:
                    return  # skip this tick: the supervisor's status message just went out
                if self.bus.poll(CONTENT_WAIT_MS, zmq.POLLIN):
                    self.on_bus()
        if report is not None:
            self.on_report(report)

    def on_report(self, report: TickReport) -> None:
        """A keepalive the ticker made. The one that took the seq logged it
        on the board with the claim (even when this medium cannot write it:
        the seq is taken, and a peer asking for it again must get it, not
        "Irretrievably lost"), naming the content this frame was built from;
        the supervisor reads the log on its loop's turns, so no bus message
        wakes it for each keepalive. A `sent` report goes only when the
        supervisor asked for every one (its metrics count each keepalive of
        each medium: docs/processes.md)."""
        if report.code in (WRITE_FAILED, WRITE_TIMEOUT):
            text = self.write_failed(report.code, report.errno)
            if report.code != WRITE_FAILED or not self.hang_up(text, report.errno):
                self.warn(text)
        elif report.code != OK:
            self.warn(f"{self.name}: cannot encode the keepalive: "
                      f"{FrameError(ErrorCode(report.code), -1, -1, None)}")
            return
        if report.ahead_of:
            self.warn(f"{self.name}: keepalive {report.seq} went out before message "
                      f"{report.ahead_of}, which was not handed over within "
                      f"{ORDER_WAIT_NS // 1_000_000} ms (a peer counts it lost until it comes)")
        if self.report_all:
            # The content the frame carried, not this thread's latest: a
            # status order may have come between the tick and this report,
            # and the supervisor keeps what the report says for
            # retransmission (the board's log names the same content).
            content = self._contents.get(report.content_key)
            if content is None:  # cannot be: the ticker only has contents handed here
                self.warn(f"{self.name}: keepalive {report.seq} built from a content no "
                          "longer known: not reported")
                return
            self.post(Sent(report.seq, report.ts, report.ld, report.tick, report.written,
                           content, report.late_us).encode())

    def on_ticker(self) -> None:
        """What the ticker thread reported: write failures, and with
        `report_all` every keepalive; reports its ring lost count as lost
        bus messages."""
        reports, overrun = self.ticker.events()
        self.bus_lost += overrun
        for report in reports:
            self.on_report(report)

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
        source): the tally's summary, not a Python object per datagram. A
        serial line's bytes the C wait read and handed back come first."""
        try:
            if self.quiet is not None and isinstance(self.medium, SerialMedium):
                frames, refused = self.medium.receive(self.keyring, first=self.quiet.pending())
            else:
                frames, refused = self.medium.receive(self.keyring)
        except MediumError as exc:
            cause = exc.__cause__
            if not self.hang_up(str(exc), cause.errno if isinstance(cause, OSError) else None):
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
            if NS_MARK in frame:
                if (self.admit_ns(frame, peer, now) and self.post(Rx(now, frame).encode())
                        and self.quiet is not None):
                    self.quiet.posted()  # every Rx counts: a run's rx_before
                continue
            self.forward(frame, peer, now)
        self.report_junk()
        self.report_rejected(time.monotonic())

    def forward(self, frame: bytes, peer: str, now_ns: int) -> None:
        """Hand a verified, numbered frame to the supervisor. With quiet
        keepalives (docs/processes.md, "Quiet keepalives"), the run of its
        sender's keepalives recorded on the heard board since the last frame
        forwarded from it goes with it (taken off the board, so the
        supervisor applies them before this frame, never after), and a
        status frame becomes the model the next keepalives are compared
        with; any other frame only moves the sender's last seq."""
        quiet = self.quiet
        if quiet is None:
            self.post(Rx(now_ns, frame).encode())
            return
        try:
            fields = linklayer.decode(frame, None).fields
        except FrameError:  # cannot be: the medium verified it
            if self.post(Rx(now_ns, frame).encode()):
                quiet.posted()
            return
        src = t = seq = None
        for name, _type, value in fields:
            if name == b"src":
                src = value
            elif name == b"t":
                t = value
            elif name == b"seq":
                seq = value
        try:
            src_name = None if src is None else bytes(src).decode()
            number = int(bytes(seq), 16) if seq is not None else 0
        except ValueError:
            src_name, number = None, 0
        if src_name is None or src_name == self.status.src or number <= 0:
            if self.post(Rx(now_ns, frame).encode()):
                quiet.posted()
            return
        slot = self.quiet_slots.get(src_name)
        run = quiet.take(slot) if slot is not None else None
        if not self.post(Rx(now_ns, frame, run).encode()):
            return  # lost with its run: the supervisor's tracker counts both missing
        quiet.posted()
        if t == b"status":
            if slot is None:
                if len(self.quiet_slots) >= QUIET_PEERS:
                    return  # more peers than slots: the others' frames are all forwarded
                slot = self.quiet_slots[src_name] = len(self.quiet_slots)
            try:
                quiet.set_model(slot, src_name, frame, number, now_ns,
                                peer if isinstance(self.medium, UdpMedium) else None,
                                self.quiet_gap_ns)
            except QuietError as exc:
                # Not a frame the C side can compare with: this peer's
                # keepalives are forwarded until its next status is one.
                self.warn(f"{self.name}: keepalives of {src_name} forwarded: {exc}")
                quiet.forget(slot)
        elif slot is not None:
            quiet.saw(slot, number, now_ns)

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

    def on_order(self, parts: list[bytes]) -> None:
        """One message from the supervisor."""
        try:
            order = decode_link_order(parts)
        except BusError as exc:
            self.warn(f"{self.name}: {exc}")
            return
        if isinstance(order, Send):
            self.write(order.frame, order.seq)
        elif isinstance(order, Status):
            self.status = order.content
            self.content_seq = self.status.status_seq
            self.new_template()
        elif isinstance(order, Reschedule):
            self.reschedule()
            if order.quiet_gap_ms:
                self.quiet_gap_ns = order.quiet_gap_ms * 1_000_000
                if self.quiet is not None:
                    self.quiet.set_gap(self.quiet_gap_ns)
        elif isinstance(order, Stop):
            self.running = False
        # Warm: nothing to do; waking for it was the point (hbeat/ipc/bus.py).

    def reschedule(self) -> None:
        """The keepalive interval changed: the schedule as the sequence board
        now has it (the supervisor moved it there, tick numbers going on)."""
        self.ticker.reschedule()
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
        self.new_template()

    def run(self) -> None:
        """Serve the medium, the bus, the key channel and the ticker's reports
        until `stop` (the keepalives are the ticker thread's: started by
        `start_ticker`, stopped here). No wake-up per tick: the wait has no
        timeout unless a summary of refused input is pending; with quiet
        keepalives, none for the peers' repeated keepalives either."""
        if self.quiet is not None:
            self.run_quiet(self.quiet)
            return
        poller = zmq.Poller()
        poller.register(self.bus, zmq.POLLIN)
        poller.register(self.medium.fileno(), zmq.POLLIN)
        poller.register(self.ticker.fileno(), zmq.POLLIN)
        if self.key_channel is not None:
            poller.register(self.key_channel.fileno(), zmq.POLLIN)
        try:
            while self.running:
                pending = self.tally.pending or self.bus_lost != self.lost_reported
                events = dict(poller.poll(int(SUMMARY_EVERY_S * 1000) if pending else None))
                if self.medium.fileno() in events:
                    self.on_medium()
                if self.ticker.fileno() in events:
                    self.on_ticker()
                if self.bus in events:
                    self.on_bus()
                if self.key_channel is not None and self.key_channel.fileno() in events:
                    channel = self.key_channel.fileno()
                    self.on_key_channel()
                    if self.key_channel is None:
                        poller.unregister(channel)
                self.report_rejected(time.monotonic())
        finally:
            self.ticker.stop()
            self.on_ticker()  # its last reports


    def run_quiet(self, quiet: Quiet) -> None:
        """`run` with the wait in C (linklayer/quiet.py): it returns for the
        bus, the ticker, the key channel and input that is not a quiet
        keepalive. The bus's descriptor (ZMQ_FD) is edge-triggered, so its
        ZMQ_EVENTS are read before each wait (supervisor/zwait.py explains
        why that is enough). While the serial framer holds part of a frame
        (the C wait handed it bytes it could not take), the line is read
        here until the framer is between frames again."""
        bus_fd = int(self.bus.get(zmq.FD))
        medium_fd = self.medium.fileno()
        ticker_fd = self.ticker.fileno()
        framer = getattr(self.medium, "framer", None)
        try:
            while self.running:
                pending = self.tally.pending or self.bus_lost != self.lost_reported
                timeout = int(SUMMARY_EVERY_S * 1000) if pending else None
                if int(self.bus.get(zmq.EVENTS)) & zmq.POLLIN:
                    timeout = 0
                fds = [bus_fd, ticker_fd]
                if self.key_channel is not None:
                    fds.append(self.key_channel.fileno())
                if framer is not None and not framer.idle:
                    ready = {fd for fd, _ in select_poll([*fds, medium_fd], timeout)}
                    medium = medium_fd in ready
                else:
                    result = quiet.wait(self.keyring, medium_fd, fds, timeout)
                    ready, medium = set(result.ready), result.medium
                if medium:
                    self.on_medium()
                if ticker_fd in ready:
                    self.on_ticker()
                self.on_bus()  # ZMQ_EVENTS first: it may hold messages without a wake-up
                if self.key_channel is not None and self.key_channel.fileno() in ready:
                    self.on_key_channel()
                self.report_rejected(time.monotonic())
        finally:
            self.ticker.stop()
            self.on_ticker()  # its last reports
            quiet.close()


def select_poll(fds: list[int], timeout_ms: int | None) -> list[tuple[int, int]]:
    """A plain poll of `fds` for input (the serial line while its framer is
    inside a frame)."""
    p = select.poll()
    for fd in fds:
        p.register(fd, select.POLLIN)
    return p.poll(timeout_ms)


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
    problems = tighten_timing(args.name)
    problems += start_ticker(args.name, worker.ticker, setup.realtime, setup.rtprio)
    for problem in problems:
        bus.send_multipart(problem.encode())
    bus.send_multipart(LinkReady(os.getpid(), worker.medium.form).encode())
    worker.run()
    bus.close()  # LINGER bounds this: what is still queued gets 500 ms
    ctx.term()
    return worker.exit_code


if __name__ == "__main__":
    sys.exit(main())
