"""The attack phase: one node of a running pair flooded from the lab's third host.

`AttackScenario(kind)` is a two-node cluster of hbeat or heartbeat 3.0.6
(fast profile: keepalive 100 ms, deadtime 500 ms, bcast eth1 only,
`realtime on` as both daemons default to) with the
nanosecond capture on the `client` namespace (only the daemons' own frames
are captured: the flood's source is filtered out). `step(attack, rate,
seconds)` floods otter with one kind of hostile datagram at one rate:

* `garbage`: random bytes behind a `###` netstring prefix (no key needed);
* `replay`: weasel's genuine frames, as captured before the step, re-sent
  byte for byte (a recording, no key needed);
* `rexmit`: `NS_rexmit` requests as if from weasel, forged with the lab key
  (`sha1 secret`), asking for ranges of otter's last 100 sequence numbers
  (held in its history when the step starts): 2,000 different requests
  (tests/lab/cluster/attack.py `rexmit_requests`), so a cache of recent
  bytes cannot drop them.

The flooder is bench/cluster/flood.c (sendmmsg, paced on an absolute
schedule, rate 0 = as fast as it goes), compiled with gcc by
`build_flooder()`. Each step records the flooder's achieved rate, what
reached otter's eth1 and what its UDP sockets dropped (the namespace's
/proc/net counters), otter's keepalive jitter on the wire during the flood,
the `is dead` / `Link ... dead` lines of both nodes from the start of the
flood to 1 s after it, otter's log lines per second per reason (a reason
is the line without its timestamp, pid and numbers; when a step logs more
than 100,000 lines, the reasons are those of its first 100,000 lines and
the worst one's rate is scaled to the exact line count) and otter's CPU.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.harness import Lab
from tests.lab.cluster.attack import rexmit_requests

import linklayer
from linklayer import pcap
from linklayer.errors import FrameError
from linklayer.message import AuthKey, Keyring, Method

from . import procstat, stats, wire
from .daemons import FAST, NODES, BenchCluster

HERE = Path(__file__).resolve().parent
FLOOD_C = HERE / "flood.c"
ATTACKS = ("garbage", "replay", "rexmit")
# Datagrams per second; 0 = as fast as the flooder goes (the lab's highest).
RATES = (1_000, 10_000, 50_000, 100_000, 150_000, 200_000, 0)
P99_LIMIT_MS = 5.0
LINK_DEAD = re.compile(rb"Link \S+ dead")
NODE_DEAD = re.compile(rb": is dead")
LOG_PREFIX = re.compile(r"^.*?\[\d+\]:\s*")
NUMBER = re.compile(r"(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*")
TAIL_S = 1.0  # deaths and log lines are counted up to this long after a flood
SAMPLE_LINES = 100_000  # log lines classified by reason per step (log_summary)
TRUNCATE_AT = 64 << 20  # a flooded log larger than this is emptied after its step
FLOODED, PEER = NODES[0], NODES[1]


def build_flooder(out_dir: Path) -> Path:
    """gcc -O2 bench/cluster/flood.c into `out_dir`/flood."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "flood"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(exe), str(FLOOD_C)],
                   check=True, capture_output=True, text=True)
    return exe


def write_payloads(path: Path, payloads: list[bytes]) -> Path:
    """The flooder's input: each payload as a 2-byte big-endian length and its bytes."""
    with path.open("wb") as f:
        for p in payloads:
            if len(p) > 0xFFFF:
                raise ValueError(f"payload of {len(p)} bytes is too long")
            f.write(len(p).to_bytes(2, "big") + p)
    return path


def garbage_payloads(n: int = 256, rng: random.Random | None = None) -> list[bytes]:
    rng = rng or random.Random(694)
    return [b"###\n" + rng.randbytes(rng.randint(40, 300)) for _ in range(n)]


def lab_keyring() -> Keyring:
    return Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret")}, signing_index=1)


def reason_of(line: str) -> str:
    """A log line without its timestamp/pid prefix and with numbers blanked."""
    return NUMBER.sub("#", LOG_PREFIX.sub("", line, count=1)).strip()[:80]


def read_from(path: Path, offset: int) -> bytes:
    """The complete lines of `path` from byte `offset`."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b""
    return data[:data.rfind(b"\n") + 1]


def log_summary(data: bytes, sample: int = SAMPLE_LINES) -> tuple[int, Counter[str], int]:
    """(lines, reasons of the first `sample` lines, how many lines that is):
    heartbeat 3.0.6 writes over 100,000 lines a second under some floods,
    more than is worth classifying one by one; the count is exact."""
    total = data.count(b"\n")
    head = data[:sample * 200].split(b"\n")[:sample] if total > sample else data.splitlines()
    reasons = Counter(reason_of(ln.decode(errors="replace")) for ln in head if ln)
    return total, reasons, len(head)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def netns_counters(pid: int) -> dict[str, int]:
    """eth1 rx packets and the UDP drop counters of the namespace `pid` lives in."""
    out = {}
    for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines():
        if line.strip().startswith("eth1:"):
            out["eth1_rx"] = int(line.split(":", 1)[1].split()[1])
    snmp = [ln.split() for ln in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
            if ln.startswith("Udp:")]
    if len(snmp) == 2:
        udp = dict(zip(snmp[0][1:], (int(v) for v in snmp[1][1:]), strict=True))
        out["udp_in"] = udp.get("InDatagrams", 0)
        out["udp_rcvbuf_errors"] = udp.get("RcvbufErrors", 0)
    return out


def cpu_ns(pids: list[int]) -> dict[int, int]:
    out = {}
    for p in pids:
        with contextlib.suppress(OSError):
            out[p] = procstat.cpu_ns(p)
    return out


class AttackScenario:
    """A pair of `kind` in its own lab, otter flooded step by step."""

    def __init__(self, kind: str, flooder: Path, *, realtime: bool = True) -> None:
        self.kind = kind
        self.realtime = realtime
        self.flooder = flooder
        self.profile = FAST
        self.lab = Lab(list(NODES), client=True).start()
        assert self.lab.client is not None
        self.client = self.lab.client
        self.cluster = BenchCluster(kind, self.lab, FAST, realtime=realtime)
        self.capture = wire.NanoCapture(
            self.client, self.lab.dir / "attack.pcap",
            bpf=f"udp port 694 and not src host {self.client.ip}")
        self.steps: list[dict[str, Any]] = []
        self.rng = random.Random(694)

    def begin(self) -> None:
        self.capture.start()
        self.cluster.start()
        self.cluster.wait_active()
        time.sleep(8.0)  # past the start-up dt window; weasel's frames to replay pile up

    def close(self) -> None:
        self.lab.close()

    def _captured(self) -> list[tuple[str, bytes]]:
        return [(d.src.rsplit(":", 1)[0], d.payload) for d in pcap.read_udp(self.capture.path)]

    def _status_fields(self, src_ip: str, captured: list[tuple[str, bytes]]
                       ) -> tuple[dict[bytes, tuple[int, bytes]], bool]:
        for ip, payload in reversed(captured):
            if ip != src_ip:
                continue
            try:
                decoded = linklayer.decode(payload, None)
            except FrameError:
                continue
            fields = {n: (k, v) for n, k, v in decoded.fields}
            if fields.get(b"t", (0, b""))[1] == b"status":
                return fields, payload.startswith(b">>>")
        raise RuntimeError(f"{self.kind}: no status frame from {src_ip} captured")

    def payloads(self, attack: str) -> list[bytes]:
        if attack == "garbage":
            return garbage_payloads(rng=self.rng)
        captured = self._captured()
        if attack == "replay":
            peer_ip = self.lab[PEER].ip
            frames = list(dict.fromkeys(p for ip, p in captured if ip == peer_ip))
            return frames[-8000:]
        if attack == "rexmit":
            peer, classic = self._status_fields(self.lab[PEER].ip, captured)
            own, _ = self._status_fields(self.lab[FLOODED].ip, captured)
            return rexmit_requests(peer, own, lab_keyring(), classic=classic)
        raise ValueError(f"unknown attack {attack!r}")

    def step(self, attack: str, rate: int, seconds: float) -> dict[str, Any]:
        payload_file = write_payloads(self.lab.dir / f"payloads-{attack}", self.payloads(attack))
        n_payloads = sum(1 for _ in _records(payload_file))
        logs = {n: self.cluster.nodes[n].logfile for n in NODES}
        offsets = {n: file_size(p) for n, p in logs.items()}
        pids = self.cluster.pids(FLOODED)
        cpu0 = cpu_ns(pids)
        holder = self.lab[FLOODED].holder_pid  # outlives the daemon's processes
        net0 = netns_counters(holder)
        t0_ns, t0 = time.time_ns(), time.monotonic()
        res = subprocess.run(
            self.client.netns_argv([str(self.flooder), self.lab[FLOODED].ip, "694",
                                    str(rate), f"{seconds:g}", str(payload_file)]),
            capture_output=True, text=True, timeout=seconds + 30, check=False)
        t1_ns, t1 = time.time_ns(), time.monotonic()
        cpu1 = cpu_ns(pids)
        net1 = netns_counters(holder)
        pids_after = self.cluster.pids(FLOODED)
        time.sleep(TAIL_S)
        m = re.search(r"sent (\d+) failed (\d+) seconds ([\d.]+)", res.stdout)
        if res.returncode != 0 or m is None:
            raise RuntimeError(f"flooder failed ({res.returncode}): {res.stdout} {res.stderr}")
        sent, failed, flood_s = int(m[1]), int(m[2]), float(m[3])
        elapsed = t1 - t0
        data = {n: read_from(p, offsets[n]) for n, p in logs.items()}
        n_lines, reasons, sampled = log_summary(data[FLOODED])
        scale = n_lines / sampled if sampled else 0.0
        dead = {n: len(NODE_DEAD.findall(d)) for n, d in data.items()}
        link_dead = {n: len(LINK_DEAD.findall(d)) for n, d in data.items()}
        examples = [ln.decode(errors="replace")[:200] for ln in data[FLOODED].split(b"\n", 3)[:3]
                    if ln]
        log_bytes = len(data[FLOODED])
        del data
        if file_size(logs[FLOODED]) > TRUNCATE_AT:
            os.truncate(logs[FLOODED], 0)
        row: dict[str, Any] = {
            "daemon": self.kind, "attack": attack, "rate_asked": rate, "seconds": elapsed,
            "payloads": n_payloads, "sent": sent, "send_failed": failed,
            "sent_per_s": sent / flood_s if flood_s else 0.0,
            "eth1_rx_per_s": (net1.get("eth1_rx", 0) - net0.get("eth1_rx", 0)) / elapsed,
            "udp_in_per_s": (net1.get("udp_in", 0) - net0.get("udp_in", 0)) / elapsed,
            "rcvbuf_drops_per_s": (net1.get("udp_rcvbuf_errors", 0)
                                   - net0.get("udp_rcvbuf_errors", 0)) / elapsed,
            "cpu_pct": 100 * sum(cpu1.get(p, v) - v for p, v in cpu0.items()) / 1e9 / elapsed,
            "node_dead": dead, "link_dead": link_dead,
            "flooded_processes_replaced": sorted(set(pids) - set(pids_after)) != [],
            "log_lines": n_lines,
            "log_lines_per_s": n_lines / (elapsed + TAIL_S),
            "log_lines_classified": sampled,
            "reasons": len(reasons),
            "worst_reason": reasons.most_common(1)[0][0] if reasons else "",
            "worst_reason_per_s": (reasons.most_common(1)[0][1] * scale / (elapsed + TAIL_S)
                                   if reasons else 0.0),
            "log_examples": examples,
            "log_bytes": log_bytes,
            "window_ns": (t0_ns, t1_ns),
        }
        self.steps.append(row)
        return row

    def finish(self) -> list[dict[str, Any]]:
        """Otter's keepalive jitter during each flood, from the capture."""
        frames = wire.frames(self.capture.stop())
        period = self.profile.keepalive_ms * 1_000_000
        for row in self.steps:
            t0, t1 = row.pop("window_ns")
            # Within the window only: a daemon that restarted reuses its seqs.
            times = wire.status_times([f for f in frames if t0 <= f.time_ns <= t1], FLOODED)
            try:
                kept, extra = stats.drop_extra_sends(times, period)
                row["jitter"] = asdict(stats.summarize_jitter(kept, period)) | {"extra": extra}
                own = row["jitter"]["grid_p99_ms" if self.kind == "hbeat" else "interval_p99_ms"]
                row["p99_ms"] = own
            except stats.StatsError as exc:
                row["jitter"] = {"error": str(exc), "sends": len(times)}
                row["p99_ms"] = None
            expected = (t1 - t0) / period
            row["keepalives_seen"] = len(times)
            row["keepalives_expected"] = round(expected)
            deaths = sum(row["node_dead"].values())
            row["ok"] = (row["p99_ms"] is not None and row["p99_ms"] < P99_LIMIT_MS
                         and deaths == 0)
        return self.steps


def _records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, i = [], 0
    while i + 2 <= len(data):
        n = int.from_bytes(data[i:i + 2], "big")
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


def highest_ok(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest-rate step of one daemon and attack such that it and every
    slower step kept p99 < 5 ms with no false death (rate 0 counts as the top)."""
    best = None
    for row in sorted(rows, key=lambda r: r["rate_asked"] or float("inf")):
        if not row["ok"]:
            break
        best = row
    return best


def highest_without_death(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest-rate step of one daemon and attack such that it and every
    slower step had no false death (`is dead` on either node), whatever the
    keepalive p99 (rate 0 counts as the top)."""
    best = None
    for row in sorted(rows, key=lambda r: r["rate_asked"] or float("inf")):
        if sum(row["node_dead"].values()):
            break
        best = row
    return best


def lab_max_rate(flooder: Path, seconds: float = 3.0) -> float:
    """What the flooder reaches, unpaced, into a lab host nobody listens on."""
    with Lab(["sink"], client=True) as lab:
        assert lab.client is not None
        payloads = write_payloads(lab.dir / "payloads", garbage_payloads(64))
        res = subprocess.run(lab.client.netns_argv(
            [str(flooder), lab["sink"].ip, "694", "0", f"{seconds:g}", str(payloads)]),
            capture_output=True, text=True, timeout=seconds + 30, check=True)
        m = re.search(r"sent (\d+) failed \d+ seconds ([\d.]+)", res.stdout)
        assert m is not None, res.stdout
        return int(m[1]) / float(m[2])


if __name__ == "__main__":  # quick manual check: python -m bench.cluster.attack
    exe = build_flooder(Path(os.environ.get("TMPDIR", "/tmp")) / "hbeat-flood")
    print(f"{lab_max_rate(exe):,.0f} datagrams/s")
