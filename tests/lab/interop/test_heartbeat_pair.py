"""Two REAL heartbeat 3.0.6 nodes (Debian package) in the lab, decoded by our codec.

otter and weasel run the real daemon in their own namespaces, joined by
`bcast eth1` on the lab bridge and `serial /run/ttyS0` over a socat pty pair,
with the interop lab's configuration at faster timings. Every UDP payload
tcpdump captures and every serial frame socat records must decode and verify
with the configured key, for sha1, md5 and crc authentication.
"""

from __future__ import annotations

import importlib
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from linklayer.errors import ErrorCode, FrameError
from linklayer.message import AuthKey, Decoded, Form, Keyring, Method
from linklayer.pcap import PcapError
from tests.harness import (
    HeartbeatConfig,
    HeartbeatNode,
    Lab,
    LogWatcher,
    authkeys_text,
    ha_cf,
    require_commands,
    udp_datagrams,
    wait_for,
)
from tests.harness.heartbeat_lab import INTEROP_CONFIG

pytestmark = [pytest.mark.slow, pytest.mark.root]

NODES = ("otter", "weasel")
TTY = "/run/ttyS0"
DEADTIME_MS = 4000
CLASSIC_FRAME = re.compile(rb">>>\n.*?<<<\n", re.DOTALL)

Decoder = Callable[[bytes, Keyring | None], Decoded]


def codec() -> tuple[Decoder, str]:
    """Our C codec if it is built, else the Python reference codec."""
    try:
        importlib.import_module("linklayer._frame_cffi")
        decode: Decoder = importlib.import_module("linklayer").decode
        return decode, "C (linklayer.decode)"
    except (ImportError, AttributeError):
        pass
    reference: Any = importlib.import_module("linklayer.reference")
    return reference.decode, "Python reference (linklayer.reference.decode)"


def keyring(method: str, secret: str) -> Keyring:
    key = b"" if method == "crc" else secret.encode()
    return Keyring(keys={1: AuthKey(1, Method(method), key)}, signing_index=1)


def start_pair(lab: Lab, method: str, secret: str, haresources: str = "") -> dict[str, Any]:
    cable = lab.serial_cable("otter", "weasel")
    config = HeartbeatConfig(
        # heartbeat accepts these timings (it only warns that initdead < 10 s);
        # the interop lab used keepalive 1, deadtime 10, warntime 5, initdead 20.
        ha_cf=ha_cf(
            NODES,
            keepalive="500ms",
            deadtime="4",
            warntime="2",
            initdead="8",
            baud=38400,
            serial=[TTY],
            media=["bcast eth1"],
        ),
        authkeys=authkeys_text(method, secret),
        haresources=haresources,
        resource_scripts={"LabProbe": INTEROP_CONFIG / "LabProbe"},
        env={"HBLAB_EVENTS": str(lab.dir / "events.log")},
    )
    nodes = {n: HeartbeatNode(lab[n], config, ttys={TTY: cable.path(n)}) for n in NODES}
    for hb in nodes.values():
        hb.start()
    return {"cable": cable, **nodes}


@pytest.mark.parametrize("method", ["sha1", "md5", "crc"])
def test_real_heartbeat_frames_decode_and_verify(
    lab_factory: Callable[..., Lab], method: str
) -> None:
    require_commands("heartbeat", "cl_status", "socat", "tcpdump")
    decode, codec_name = codec()
    print(f"codec: {codec_name}")
    secret = f"lab-{method}-key"
    keys = keyring(method, secret)
    lab = lab_factory(2)
    capture = lab.capture("otter", bpf="udp port 694")
    pair = start_pair(lab, method, secret)
    otter, weasel, cable = pair["otter"], pair["weasel"], pair["cable"]

    for hb in (otter, weasel):
        hb.wait_active(NODES, timeout=30)
    # cl_status, as an administrator would ask it, on both nodes
    for hb, peer in ((otter, "weasel"), (weasel, "otter")):
        assert hb.cl_status("nodestatus", peer).stdout == "active\n"
        assert hb.cl_status("hblinkstatus", peer, "eth1").stdout == "up\n"
        assert hb.cl_status("hblinkstatus", peer, TTY).stdout == "up\n"
        assert hb.cl_status("hbparameter", "-p", "deadtime").stdout == "4\n"  # raw ha.cf value

    # capture until each node has sent several keepalives on each medium
    def udp_status_counts() -> Counter[bytes]:
        decoded = [decode(d.payload, keys) for d in udp_datagrams(capture.path, port=694)]
        return Counter(m.get(b"src") or b"" for m in decoded if m.get(b"t") == b"status")

    def serial_frames(by: str) -> list[bytes]:
        return CLASSIC_FRAME.findall(cable.sent(by))

    def enough() -> bool:
        udp = udp_status_counts()
        return all(udp[n.encode()] >= 6 and len(serial_frames(n)) >= 4 for n in NODES)

    wait_for(
        enough,
        timeout=20,
        interval=0.25,
        what="6 UDP and 4 serial frames from each node",
        describe=lambda: {
            n: (udp_status_counts()[n.encode()], len(serial_frames(n))) for n in NODES
        },
        ignore=(PcapError,),  # the pcap's last record may be half written
    )
    pcap = capture.stop()

    udp = udp_datagrams(pcap, port=694)
    decoded_udp = []
    for i, d in enumerate(udp):
        assert d.payload.startswith(b"###\n"), f"UDP datagram {i} is not netstring"
        decoded_udp.append(decode(d.payload, keys))  # raises FrameError if it does not verify
    assert all(m.form is Form.NETSTRING and m.key_index == 1 for m in decoded_udp)
    assert all(m.method is Method(method) for m in decoded_udp)
    by_src = Counter((m[b"src"], m[b"t"]) for m in decoded_udp)
    for n in NODES:
        assert by_src[(n.encode(), b"status")] >= 6, by_src
    dts = {m[b"dt"] for m in decoded_udp if m.get(b"t") == b"status"}
    assert dts <= {b"%x" % DEADTIME_MS, b"%x" % (DEADTIME_MS + 2000)}, dts

    for n in NODES:
        stream = cable.sent(n)
        frames = serial_frames(n)
        assert frames, f"no classic frame from {n} on the serial cable"
        for frame in frames:
            msg = decode(frame, keys)
            assert msg.form is Form.CLASSIC and msg[b"src"] == n.encode()
        # nothing but whole frames on the wire (a partial last frame may still be in flight)
        rest = CLASSIC_FRAME.sub(b"", stream)
        assert rest == b"" or b">>>\n".startswith(rest[:4]), rest[:200]

    # the verification is real: a flipped byte or a wrong key is refused
    sample = udp[-1].payload
    seq_at = sample.index(b"seq=") + 4
    tampered = sample[:seq_at] + bytes([sample[seq_at] ^ 1]) + sample[seq_at + 1 :]
    with pytest.raises(FrameError) as err:
        decode(tampered, keys)
    assert err.value.code == ErrorCode.AUTH_MISMATCH, err.value
    if method != "crc":
        with pytest.raises(FrameError) as err:
            decode(sample, keyring(method, "not-the-key"))
        assert err.value.code == ErrorCode.AUTH_MISMATCH, err.value


def test_real_heartbeat_runs_resource_scripts_and_takes_over(
    lab_factory: Callable[..., Lab],
) -> None:
    require_commands("heartbeat", "cl_status", "socat")
    lab = lab_factory(2)
    pair = start_pair(lab, "sha1", "secret", haresources="weasel LabProbe::svc1\n")
    otter, weasel = pair["otter"], pair["weasel"]
    for hb in (otter, weasel):
        hb.wait_active(NODES, timeout=30)
    events = LogWatcher(lab.dir / "events.log", from_start=True)
    events.wait(r" weasel probe svc1 start ok$", timeout=30)
    # heartbeat says `transition` until its acquisition child has reported back
    wait_for(
        lambda: weasel.cl_status("rscstatus").stdout.strip() in ("local", "all"),
        timeout=15,
        what="weasel's rscstatus to leave transition",
        describe=lambda: weasel.cl_status("rscstatus").stdout.strip(),
    )

    otter_log = otter.log_watcher(from_start=True)
    weasel.stop(timeout=30)  # graceful: releases svc1, otter takes it over
    events.wait(r" otter probe svc1 start ok$", timeout=30)
    otter_log.wait(r"info: Received shutdown notice from 'weasel'", timeout=10)
    wait_for(
        lambda: otter.cl_status("nodestatus", "weasel").stdout.strip() == "dead",
        timeout=15,
        what="otter to see weasel dead",
        describe=lambda: otter.nodestatus("weasel"),
    )
    wait_for(
        lambda: otter.cl_status("rscstatus").stdout.strip() == "all",
        timeout=15,
        what="otter's rscstatus to say all",
        describe=lambda: otter.cl_status("rscstatus").stdout.strip(),
    )
    stops = [line for line in events.seen if "weasel probe svc1 stop ok" in line]
    starts = [line for line in events.seen if "otter probe svc1 start ok" in line]
    assert len(stops) == 1 and len(starts) == 1
    assert float(stops[0].split()[0]) <= float(starts[0].split()[0])  # never held twice


def test_real_heartbeat_sees_a_crashed_peer_dead_after_deadtime(
    lab_factory: Callable[..., Lab],
) -> None:
    require_commands("heartbeat", "cl_status", "socat")
    lab = lab_factory(2)
    pair = start_pair(lab, "md5", "secret")
    otter, weasel, cable = pair["otter"], pair["weasel"], pair["cable"]
    for hb in (otter, weasel):
        hb.wait_active(NODES, timeout=30)
    # for its first 5 s a node advertises dt = deadtime + 2 s, and peers wait that
    # long (docs/heartbeat-protocol.md §4.4): wait until weasel advertises the real 4 s (0xfa0)
    wait_for(
        lambda: b"\ndt=fa0\n" in cable.sent("weasel"),
        timeout=15,
        what="weasel to advertise dt=fa0 on the serial cable",
    )
    otter_log = otter.log_watcher()
    killed_at = time.monotonic()
    weasel.kill()  # kill -9 of every process of the node
    assert not weasel.pids() and not lab["weasel"].processes()
    wait_for(
        lambda: otter.cl_status("nodestatus", "weasel").stdout == "dead\n",
        timeout=15,
        interval=0.1,
        what="otter to see weasel dead",
        describe=lambda: otter.nodestatus("weasel"),
    )
    elapsed = time.monotonic() - killed_at
    otter_log.wait(r"WARN: node weasel: is dead", timeout=5)
    # deadtime 4 s after the last keepalive, which left at most 0.5 s before the kill
    assert 3.5 <= elapsed <= 4 + 1.5, f"weasel seen dead {elapsed:.2f} s after kill -9"
    print(f"weasel seen dead {elapsed:.2f} s after kill -9 (deadtime 4 s)")
