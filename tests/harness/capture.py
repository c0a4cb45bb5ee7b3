"""Packet capture inside a namespace with tcpdump, and reading UDP back from the pcap.

`Capture` runs `tcpdump -U -w FILE` on an interface of a namespace, waits
until it is really listening, and on `stop()` hands back the pcap path.
`udp_datagrams()` returns the UDP datagrams of a pcap, read with the link
layer's own reader (`linklayer.pcap`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .procs import HarnessError, Proc
from .waiting import LogWatcher, wait_for


@dataclass(frozen=True)
class UdpDatagram:
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


class Capture:
    """tcpdump on `iface`, started by `launch(argv)` (e.g. inside a netns)."""

    def __init__(
        self,
        path: Path,
        *,
        iface: str = "eth1",
        bpf: str = "",
        launch: Callable[[list[str]], list[str]] = lambda argv: argv,
    ) -> None:
        self.path = path
        self.iface = iface
        self.bpf = bpf
        self._launch = launch
        self._proc: Proc | None = None

    def start(self, timeout: float = 10.0) -> Capture:
        """Start tcpdump and wait until it reports it is listening."""
        argv = ["tcpdump", "-U", "--immediate-mode", "-n", "-Z", "root"]
        argv += ["-i", self.iface, "-w", str(self.path)]
        if self.bpf:
            argv.append(self.bpf)
        log = self.path.with_suffix(".tcpdump.log")
        watcher = LogWatcher(log, from_start=False)
        self._proc = Proc(self._launch(argv), log, name=f"tcpdump {self.iface}")
        proc = self._proc

        def listening() -> object:
            proc.check_alive(f"starting capture on {self.iface}")
            return watcher.poll(r"listening on")

        wait_for(
            listening,
            timeout,
            what=f"tcpdump listening on {self.iface}",
            describe=proc.output,
        )
        return self

    def stop(self, timeout: float = 10.0) -> Path:
        """Stop tcpdump (SIGINT, so it flushes) and return the pcap path."""
        if self._proc is None:
            raise HarnessError(f"capture {self.path} was never started")
        if self._proc.alive():
            code = self._proc.stop(signal.SIGINT, timeout)
            if code not in (0, -signal.SIGINT):
                raise HarnessError(f"tcpdump exited with {code}: {self._proc.output()[-1500:]}")
        if not self.path.exists():
            raise HarnessError(f"tcpdump wrote no file at {self.path}: {self._proc.output()}")
        return self.path

    def close(self) -> None:
        if self._proc is not None and self._proc.alive():
            self._proc.stop(signal.SIGINT)


def udp_datagrams(path: Path, port: int | None = None) -> list[UdpDatagram]:
    """The UDP datagrams of a pcap file (to or from `port` if given), in order,
    read with the link layer's pcap reader (`linklayer.pcap.read_udp`)."""
    try:
        from linklayer import pcap
    except ImportError as exc:
        raise HarnessError(f"cannot read {path}: linklayer.pcap is not available ({exc})") from exc
    out = []
    for d in pcap.read_udp(path):
        src, sport = d.src.rsplit(":", 1)
        dst, dport = d.dst.rsplit(":", 1)
        dgram = UdpDatagram(d.timestamp_ns / 1e9, src, int(sport), dst, int(dport), d.payload)
        if port is None or port in (dgram.sport, dgram.dport):
            out.append(dgram)
    return out
