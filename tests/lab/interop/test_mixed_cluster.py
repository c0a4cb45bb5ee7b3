"""An hbeat node and a real heartbeat 3.0.6 node in one cluster.

otter runs hbeat, weasel runs the Debian heartbeat; one ha.cf for both
(bcast eth1 + a serial cable, keepalive 500ms, deadtime 4, initdead 8, no
resources). For sha1, md5 and crc authentication:

* each sees the other active on both links (real cl_status on weasel, ours
  on otter); weasel's node-list request (`reqnodes`) is answered with
  `repnodes` listing exactly the configured nodes, and both sides ACK;
* the real node's log has no complaint about our traffic (lost packets,
  authentication, replays, retransmissions, late heartbeats) and we
  rejected nothing of its traffic;
* kill -9 of hbeat: weasel logs `node otter: is dead`; hbeat comes back and
  weasel sees it active again (a new generation);
* kill -9 of heartbeat: hbeat logs `node weasel: is dead` and its status
  feed says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import linklayer
from linklayer.pcap import PcapError
from tests.harness import Lab, authkeys_text, require_commands, udp_datagrams, wait_for
from tests.lab.cluster.attack import keyring
from tests.lab.cluster.clusters import TTY, fast_hacf, start_hbeat, start_heartbeat

pytestmark = [pytest.mark.slow, pytest.mark.root]

NODES = ("otter", "weasel")
COMPLAINTS = re.compile(
    r"lost packet|authentication failed|failed authentication|authtoken does not match|"
    r"replay|Cannot rexmit|Irretrievably|bad node|missing|Late heartbeat|is dead|"
    r"ERROR: (?!Cannot lock ourselves into memory)|CRIT"
)


@pytest.mark.parametrize("method", ["sha1", "md5", "crc"])
def test_hbeat_and_heartbeat_see_each_other_and_each_others_death(
    lab_factory: Callable[..., Lab], method: str
) -> None:
    require_commands("heartbeat", "cl_status", "socat", "tcpdump")
    lab = lab_factory(2)
    cable = lab.serial_cable("otter", "weasel")
    capture = lab.capture("otter", bpf="udp port 694")
    hacf = fast_hacf(NODES, ["bcast eth1"], serial=True)
    secret = f"mixed-{method}"
    keys_text = authkeys_text(method, secret)
    real = start_heartbeat(lab, hacf, keys_text, cable=cable, names=["weasel"])["weasel"]
    # hbeat refuses a crc key unless its own ha.cf opts in (heartbeat would
    # reject the hbeat-only directive, so only otter's copy carries it).
    ours_hacf = hacf + ("allow_crc on\n" if method == "crc" else "")
    ours = start_hbeat(lab, ours_hacf, keys_text, cable=cable, names=["otter"])["otter"]
    feed = ours.feed()

    ours.wait_active(NODES, timeout=20)
    ours.wait_links({("weasel", "eth1"): "up", ("weasel", TTY): "up",
                     ("otter", "eth1"): "up"}, timeout=10)
    real.wait_active(NODES, timeout=20)
    wait_for(lambda: all(real.cl_status("hblinkstatus", "otter", link).stdout == "up\n"
                         for link in ("eth1", TTY)), 10,
             what="heartbeat to see both of otter's links up",
             describe=lambda: real.cl_status("listhblinks", "-v", "otter").stdout)
    assert ours.cl_status("nodestatus", "weasel").stdout == "active\n"
    # (at start-up a packet may pass before a link is open: a hole that is
    # filled at once; from here on nothing may be lost)
    steady_log = ours.log_watcher()
    base = ours.counters()
    assert base["lost_packets"] == base["holes_filled"], base

    # Steady phase: until each side has sent 8 keepalives over UDP and serial
    # and weasel has switched to its real deadtime (dt=fa0 after its first 5 s).
    keys = keyring(method, secret)

    def udp_messages() -> list[linklayer.Decoded]:
        return [linklayer.decode(d.payload, keys) for d in udp_datagrams(capture.path, 694)]

    def steady() -> bool:
        msgs = udp_messages()
        status = {n: sum(1 for m in msgs if m.get(b"t") == b"status"
                         and m.get(b"src") == n.encode()) for n in NODES}
        serial = {n: cable.sent(n).count(b"t=status\n") for n in NODES}
        return (min(status.values()) >= 8 and min(serial.values()) >= 8
                and b"\ndt=fa0\n" in cable.sent("weasel"))

    wait_for(steady, 20, interval=0.25, what="8 keepalives each way on every link",
             ignore=(PcapError,))
    pcap = capture.stop()
    msgs = [linklayer.decode(d.payload, keys) for d in udp_datagrams(pcap, 694)]
    by = {(m.get(b"src"), m.get(b"t")) for m in msgs}
    assert (b"weasel", b"reqnodes") in by, sorted(by)
    repnodes = [m for m in msgs if m.get(b"t") == b"repnodes" and m.get(b"src") == b"otter"]
    assert repnodes, sorted(by)
    assert repnodes[0][b"dest"] == b"weasel"
    assert repnodes[0][b"nodelist"] == b"otter weasel ", repnodes[0]
    assert (b"otter", b"NS_ackmsg") in by and (b"weasel", b"NS_ackmsg") in by, sorted(by)

    complaints = [line for line in real.log().splitlines() if COMPLAINTS.search(line)]
    assert not complaints, "heartbeat complained about hbeat:\n" + "\n".join(complaints)
    counters = ours.counters()
    for name in ("rx_rejected", "rx_junk_bytes", "malformed", "unknown_node", "replays",
                 "irretrievable", "late_heartbeats", "deaths", "bus_errors"):
        assert counters[name] == 0, (name, counters)
    assert counters["lost_packets"] == base["lost_packets"], (base, counters)
    assert counters["acks_sent"] > 0 and counters["acks_received"] > 0, counters
    ours_complaints = [line for line in steady_log.text().splitlines()
                       if COMPLAINTS.search(line)]
    assert not ours_complaints, "\n".join(ours_complaints)

    # kill -9 of hbeat: the real node declares it dead, then sees it come back
    real_log = real.log_watcher()
    ours.kill()
    real_log.wait(r"WARN: node otter: is dead", timeout=15)
    ours.start()
    ours.wait_active(NODES, timeout=20)
    wait_for(lambda: real.cl_status("nodestatus", "otter").stdout == "active\n", 15,
             what="heartbeat to see otter active again",
             describe=lambda: real.cl_status("nodestatus", "otter"))

    # kill -9 of the real heartbeat: hbeat declares it dead, on its feed too
    feed = ours.feed()
    ours_log_watch = ours.log_watcher()
    real.kill()
    ours_log_watch.wait(r"WARN: node weasel: is dead", timeout=15)
    feed.wait_topic("node.weasel", 5, lambda body: body["new"] == "dead")
    assert ours.cl_status("nodestatus", "weasel").stdout == "dead\n"
