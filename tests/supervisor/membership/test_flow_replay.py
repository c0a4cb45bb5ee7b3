"""Replay the seq/gen/type sequences of real 3.0.6 captures through our machine.

The flows (tests/data/interop/flows) list every frame one per line. We play
the peer's frames into a `Membership` for the other node, with the
capture's timing, and check we end where the real node did.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from linklayer.message import Field
from supervisor import membership as mb
from supervisor import messages as m
from tests import interop_vectors as iv

from .helpers import logs, of, uuid_of

FLOWS = iv.INTEROP / "flows"

_LINE = re.compile(r"^\S+ \+\s*([\d.]+)\s+(\S+)\s+\d+B\s+(.*)$")
_SPLIT = re.compile(r" (?=[A-Za-z_]+=)")


@dataclass(frozen=True)
class Frame:
    at_ms: int
    src: str
    fields: tuple[tuple[bytes, bytes], ...]

    def get(self, name: bytes) -> bytes | None:
        return dict(self.fields).get(name)


def parse_flow(path: Path) -> list[Frame]:
    frames = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if re.match(r"^\S+ \+\s*[\d.]+\s+ARP ", line):
            continue
        match = _LINE.match(line)
        assert match, f"{path.name}: cannot parse line {line!r}"
        rel, src, rest = match.groups()
        pairs = []
        for tok in _SPLIT.split(rest):
            name, _, val = tok.partition("=")
            pairs.append((name.encode(), val.encode()))
        frames.append(Frame(round(float(rel) * 1000), src, tuple(pairs)))
    return frames


def to_fields(frame: Frame, gen: int, wall0: int) -> tuple[Field, ...]:
    own = [m.s(n, v) for n, v in frame.fields if n != b"seq"]
    if frame.get(b"t") == b"status":
        own.append(m.s(b"protocol", b"1"))  # omitted from the flow listing
    tail = [m.s(b"src", frame.src), (b"srcuuid", 1, uuid_of(frame.src))]
    if frame.get(b"seq") is not None:
        tail.append(m.s(b"seq", frame.get(b"seq") or b""))
    tail += [
        m.s(b"hg", m.hexnum(gen)),
        m.s(b"ts", m.hexnum(wall0 + frame.at_ms // 1000)),
        m.s(b"ttl", b"3"),
    ]
    return (*own, *tail)


def drive(ms: mb.Membership, until: int) -> list[mb.Action]:
    acts: list[mb.Action] = []
    while (d := ms.next_deadline(until)) is not None and d <= until:
        acts += ms.tick(d)
    return acts


def membership(local: str, now: int, wall_s: float = 1795582841.0) -> mb.Membership:
    """`wall_s`: the wall clock at `now`, matching the ts the frames are given
    (the clock-skew rules compare them)."""
    cfg = mb.MembershipConfig(
        local=local,
        nodes=("otter", "weasel"),
        media=("eth1", "/run/ttyS0"),
        keepalive_ms=1000,
        deadtime_ms=10000,
        warntime_ms=5000,
        initdead_ms=20000,
    )
    return mb.Membership(
        cfg,
        generation=0x6B066B7A,
        uuid=uuid_of(local),
        now=now,
        wall_s=wall_s,
        rng=random.Random(3),
    )


def test_startup_flow_reaches_active_like_the_real_otter() -> None:
    frames = parse_flow(FLOWS / "01-startup.flow.txt")
    otter_start = next(f.at_ms for f in frames if f.src == "otter")
    ms = membership("otter", otter_start)
    acts = ms.start(otter_start)
    comm_up_at = None
    weasel_types = []
    for fr in frames:
        if fr.src != "weasel" or fr.at_ms < otter_start:
            continue  # otter was not running yet
        acts += drive(ms, fr.at_ms)
        new = ms.receive(to_fields(fr, 0x6B066B7A, 1795582841), "eth1", fr.at_ms)
        if of(new, mb.CommUp):
            comm_up_at = fr.at_ms
        acts += new
        weasel_types.append(fr.get(b"t"))
    acts += drive(ms, frames[-1].at_ms)

    # The real otter went active at +1.015, after weasel's repnodes (+1.005).
    assert comm_up_at is not None and comm_up_at <= 1015
    assert ms.local_status == "active" and ms.comm_up
    assert ms.node_status("weasel") == "active"
    assert ms.link_status("weasel", "eth1") == "up"
    # We asked weasel for the node list, as the real otter did.
    req = [a for a in of(acts, mb.SendMessage) if m.field_value(a.fields, b"t") == b"reqnodes"]
    assert [r.dest for r in req] == ["weasel"]
    # No loss, no replay, no death; the only complaint allowed is weasel ACKing
    # a seq we never sent (the real otter sent more messages than we do).
    bad = [(lv, tx) for lv, tx in logs(acts) if lv in ("WARN", "ERROR", "CRIT")]
    assert all("corrupted ackseq" in tx for _, tx in bad), bad
    assert ms.counters.replays == 0 and ms.counters.lost_packets == 0
    assert ms.counters.deaths == 0
    # Our own dt: 2ee0 during the first 5 s, 2710 after, as in the capture.
    dts = [
        (a, m.field_value(a.fields, b"dt"))
        for a in of(acts, mb.SendMessage)
        if m.field_value(a.fields, b"t") == b"status"
    ]
    assert {dt for _, dt in dts[:3]} == {b"2ee0"} and dts[-1][1] == b"2710"
    # Resource messages were handed up; the one addressed to weasel itself was not.
    delivered = [d.message.type for d in of(acts, mb.Deliver) if not d.local]
    assert delivered.count(b"resource") == weasel_types.count(b"resource")
    assert b"starting" in delivered and b"ip-request-resp" not in delivered
    assert ms.counters.not_for_us >= 1


def test_crash_flow_death_is_detected_at_the_deadline_not_a_poll_later() -> None:
    frames = parse_flow(FLOWS / "05-crash-takeover.flow.txt")
    ms = membership("weasel", -30000, wall_s=1795583000.0 - 30)
    ms.start(-30000)
    otter_frames = [f for f in frames if f.src == "otter"]
    first_seq = int(otter_frames[0].get(b"seq") or b"0", 16)
    # Earlier history: otter was up and active before the capture starts.
    warm = Frame(
        -29000,
        "otter",
        (
            (b"t", b"status"),
            (b"st", b"active"),
            (b"dt", b"2710"),
            (b"seq", m.hexnum(first_seq - 1)),
        ),
    )
    ms.receive(to_fields(warm, 0x6B066B7A, 1795583000), "eth1", warm.at_ms)
    ms.receive(
        to_fields(
            Frame(
                -28990,
                "otter",
                (
                    (b"t", b"repnodes"),
                    (b"dest", b"weasel"),
                    (b"nodelist", b"otter weasel "),
                    (b"delnodelist", b" "),
                    (b"seq", m.hexnum(first_seq)),
                ),
            ),
            0x6B066B7A,
            1795583000,
        ),
        "eth1",
        -28990,
    )
    assert ms.comm_up
    # Keep otter alive until the capture, then play its last two frames.
    seq = first_seq
    for t in range(-28000, 0, 1000):
        drive(ms, t)
        seq += 1
        fr = Frame(
            t,
            "otter",
            ((b"t", b"status"), (b"st", b"active"), (b"dt", b"2710"), (b"seq", m.hexnum(seq))),
        )
        ms.receive(to_fields(fr, 0x6B066B7A, 1795583000), "eth1", t)
    acts: list[mb.Action] = []
    for fr in otter_frames:
        renum = Frame(
            fr.at_ms,
            "otter",
            tuple((n, m.hexnum(seq + 1) if n == b"seq" else v) for n, v in fr.fields),
        )
        seq += 1
        acts += drive(ms, fr.at_ms)
        acts += ms.receive(to_fields(renum, 0x6B066B7A, 1795583000), "eth1", fr.at_ms)
    last = otter_frames[-1].at_ms
    assert ms.next_deadline(last) == last + 10000
    acts += drive(ms, last + 20000)
    dead = [a for a in acts if isinstance(a, mb.NodeDead)]
    assert dead == [mb.NodeDead("otter")]
    # The real weasel acted (stonith) at +11.272, 10.27 s after otter's last frame
    # (+1.001): its 250 ms poll. We decide at exactly +11.001.
    stonith = next(f.at_ms for f in frames if f.get(b"t") == b"stonith")
    assert last + 10000 == 11001 < stonith
    assert ("WARN", "node otter: is dead") in logs(acts)
