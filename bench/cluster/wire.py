"""What the benchmarks see on the wire: a nanosecond tcpdump in a namespace, and
the heartbeat frames of a pcap as (time, sender, fields).

`NanoCapture` runs `tcpdump --time-stamp-precision=nano` (and `-j
adapter_unsynced` when the interface offers it; veth interfaces only offer
`host`, the kernel's receive timestamp) inside a lab node's network namespace,
so timestamps are taken by a process that is neither daemon. `frames()`
decodes every UDP payload with the link layer's decoder, without verifying
signatures (both daemons sign with the lab key; the benchmark only needs
the fields).
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness import Node, Proc, wait_for
from tests.harness.procs import HarnessError
from tests.harness.waiting import LogWatcher

import linklayer
from linklayer import pcap
from linklayer.errors import FrameError


@dataclass(frozen=True)
class Frame:
    time_ns: int  # capture timestamp, CLOCK_REALTIME of the capturing kernel
    src_ip: str
    fields: dict[str, str]

    @property
    def kind(self) -> str:
        return self.fields.get("t", "")

    @property
    def src(self) -> str:
        return self.fields.get("src", "")

    @property
    def seq(self) -> int | None:
        value = self.fields.get("seq")
        return int(value, 16) if value else None


def timestamp_options(node: Node, iface: str) -> list[str]:
    """`-j adapter_unsynced` when the interface supports it (it never does on veth)."""
    res = subprocess.run(node.netns_argv(["tcpdump", "-J", "-i", iface]),
                         capture_output=True, text=True, timeout=10, check=False)
    return ["-j", "adapter_unsynced"] if "adapter_unsynced" in res.stdout else []


class NanoCapture:
    """tcpdump with nanosecond timestamps on `iface` of `node` (its netns only)."""

    def __init__(self, node: Node, path: Path, *, iface: str = "eth1",
                 bpf: str = "udp port 694") -> None:
        self.node = node
        self.path = path
        self.iface = iface
        self.bpf = bpf
        self.tstamp_opts: list[str] = []
        self.proc: Proc | None = None
        node.lab.add_closeable(self)

    def start(self, timeout: float = 15.0) -> NanoCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tstamp_opts = timestamp_options(self.node, self.iface)
        argv = ["tcpdump", "-U", "--immediate-mode", "-n", "-Z", "root",
                "--time-stamp-precision=nano", *self.tstamp_opts,
                "-i", self.iface, "-w", str(self.path), self.bpf]
        log = self.path.with_suffix(".log")
        watcher = LogWatcher(log, from_start=False)
        proc = self.proc = Proc(self.node.netns_argv(argv), log, name=f"tcpdump {self.path.name}")

        def listening() -> object:
            proc.check_alive(f"starting capture {self.path}")
            return watcher.poll(r"listening on")

        wait_for(listening, timeout, what=f"tcpdump listening ({self.path})",
                 describe=proc.output)
        return self

    def stop(self) -> Path:
        if self.proc is None:
            raise HarnessError(f"capture {self.path} was never started")
        if self.proc.alive():
            self.proc.stop(signal.SIGINT, 15)
        return self.path

    def close(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.stop(signal.SIGINT, 15)


def frames(path: Path, port: int = 694) -> list[Frame]:
    """Every decodable heartbeat frame of the pcap, in capture order."""
    out = []
    for d in pcap.read_udp(path):
        src_ip, sport = d.src.rsplit(":", 1)
        _, dport = d.dst.rsplit(":", 1)
        if port not in (int(sport), int(dport)):
            continue
        try:
            decoded = linklayer.decode(d.payload, None)
        except FrameError:
            continue
        fields = {name.decode(errors="replace"): value.decode("latin-1")
                  for name, _type, value in decoded.fields}
        out.append(Frame(d.timestamp_ns, src_ip, fields))
    return out


def status_times(all_frames: list[Frame], src: str) -> list[int]:
    """Capture times of `src`'s status frames, one per sequence number (first copy)."""
    seen: set[int] = set()
    out = []
    for f in all_frames:
        if f.kind != "status" or f.src != src:
            continue
        seq = f.seq
        if seq is not None:
            if seq in seen:
                continue
            seen.add(seq)
        out.append(f.time_ns)
    return out
