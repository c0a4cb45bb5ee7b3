"""hbeat.ipc.bus and hbeat.ipc.keepalive: every link-worker message decodes
to what was encoded, and a malformed one is refused with an error naming the
verb and the field."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from hbeat.ipc import bus
from hbeat.ipc.heardboard import QuietRun
from hbeat.ipc.keepalive import KeepaliveContent, content_key

CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=False, src="otter",
                           srcuuid=bytes(range(16)), hg=0x6B066B7A, ttl=3, status_seq=9)

LINK_REPORTS = [
    bus.Hello(123, "bcast eth1"),
    bus.LinkReady(123, "netstring"),
    bus.Rx(2**62 + 5, b"###\x00frame"),
    bus.Rx(7, b"###\x00frame", QuietRun(3, 0x41, 0x4F, 0x6B066B8E, 2**61, 15)),
    bus.Rejected((bus.RejectCount("BAD_AUTH", "10.0.0.2:694", 4, "bad signature"),
                  bus.RejectCount("TRUNCATED", bus.OTHER_SOURCES, 1, "cut")), 5, 2),
    bus.Rejected((), 0, 3),
    bus.Sent(7, 0x6B066B8E, b"0.00 0.01 0.05 1/99 42\xff", 12, False, CONTENT),
    bus.Sent(8, 0x6B066B8F, b"0.00", 13, True, CONTENT, 137),
    bus.Junk(10, 30),
    bus.Fatal("cannot open /dev/ttyS0"),
    bus.Error("Unable to set realtime scheduling"),
    bus.Warn("bcast eth1: send to 10.0.0.255: Network is unreachable"),
]
LINK_ORDERS = [
    bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                  "/run/hbeat/seqboard", CONTENT, True, 5),
    bus.LinkSetup(bus.MediumSpec("ucast", "ucast eth1 10.0.0.2", "eth1", 694, peer="10.0.0.2",
                                 accept_from=("10.0.0.2", "10.0.0.3")),
                  "/run/hbeat/seqboard", CONTENT),
    bus.LinkSetup(bus.MediumSpec("mcast", "mcast eth1 225.0.0.1", "eth1", 694,
                                 group="225.0.0.1", ttl=1, loop=0),
                  "/run/hbeat/seqboard", CONTENT),
    bus.LinkSetup(bus.MediumSpec("serial", "serial /dev/ttyS0", "/dev/ttyS0", baud=19200),
                  "/run/hbeat/seqboard", CONTENT),
    bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                  "/run/hbeat/seqboard", CONTENT, report_all=False),
    bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                  "/run/hbeat/seqboard", CONTENT, messages_before=41),
    bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                  "/run/hbeat/seqboard", CONTENT, report_all=False,
                  heard="/run/hbeat/private/heard0", quiet_gap_ms=1500),
    bus.Status(CONTENT),
    bus.Send(b">>>\nt=status\n<<<\n"),
    bus.Send(b">>>\nt=reqnodes\n<<<\n", 2**59),
    bus.Reschedule(),
    bus.Reschedule(1500),
    bus.Warm(),
    bus.Stop(),
]


@pytest.mark.parametrize("message", LINK_REPORTS, ids=lambda m: type(m).__name__)
def test_link_reports_round_trip(message: bus.LinkReport) -> None:
    assert bus.decode_link_report(message.encode()) == message


@pytest.mark.parametrize("message", LINK_ORDERS, ids=lambda m: type(m).__name__)
def test_link_orders_round_trip(message: bus.LinkOrder) -> None:
    assert bus.decode_link_order(message.encode()) == message


def test_sent_fields_are_the_content_it_carries() -> None:
    sent = bus.Sent(7, 0x10, b"0.00", 1, True, CONTENT)
    fields = {name: value for name, _, value in sent.fields()}
    assert fields[b"st"] == b"active" and fields[b"seq"] == b"7" and fields[b"ld"] == b"0.00"
    assert b"protocol" not in fields


def test_setup_without_report_all_means_every_report() -> None:
    # An older supervisor's setup (no `report_all`): the worker reports every
    # keepalive and forwards every echo, as it always did.
    setup = bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                          "/run/hbeat/seqboard", CONTENT, report_all=False)
    assert bus.LinkSetup.decode(body(setup.encode(), report_all=None)).report_all is True
    with pytest.raises(bus.BusError, match="report_all"):
        bus.LinkSetup.decode(body(setup.encode(), report_all="no"))


def test_setup_without_heard_means_no_quiet_keepalives() -> None:
    # An older supervisor's setup: no heard board, every frame forwarded.
    setup = next(o for o in LINK_ORDERS if isinstance(o, bus.LinkSetup) and o.heard)
    decoded = bus.LinkSetup.decode(body(setup.encode(), heard=None, quiet_gap_ms=None))
    assert decoded.heard == "" and decoded.quiet_gap_ms == 0


def test_reschedule_without_a_gap_keeps_it() -> None:
    assert bus.Reschedule.decode([b"reschedule", b"{}"]) == bus.Reschedule(0)


def body(message: list[bytes], **changes: object) -> list[bytes]:
    data = json.loads(message[1])
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return [message[0], json.dumps(data).encode()]


@pytest.mark.parametrize(("parts", "error"), [
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT).encode(), seq="1"),
     "bus message 'sent': field 'seq' must be an integer, not '1'"),
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT, 5).encode(), late_us="5"),
     "bus message 'sent': field 'late_us' must be an integer, not '5'"),
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT).encode(), content=None),
     "bus message 'sent': field 'content': not a JSON object"),
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT).encode(),
          content={**CONTENT.to_json(), "st": 5}),
     "bus message 'sent': field 'content': field 'st' must be an ASCII string, not 5"),
    (body(bus.Rejected((), 1, 0).encode(), counts=None),
     "bus message 'rejected': field 'counts' must be a list"),
    (body(bus.Rejected((), 1, 0).encode(), counts=[["c", "p", 0, "e"]]),
     "bus message 'rejected': each count must be [code, peer, count >= 1, example]"),
    (body(bus.Rejected((), 1, 0).encode(), total="1"),
     "bus message 'rejected': field 'total' must be an integer"),
    (body(bus.Junk(1, 2).encode(), bytes=True),
     "bus message 'junk': field 'bytes' must be an integer, not True"),
    ([b"hello", b"[1]"], "bus message 'hello': body is not a JSON object"),
    ([b"warn", b"{"], "bus message 'warn': body is not JSON"),
    ([b"rx", b"short", b"frame"], "bus message 'rx' must be: rx <8-byte timestamp> <frame>"),
    ([b"rx", bytes(8), b"frame", bytes(47)],
     "bus message 'rx' must be: rx <8-byte timestamp> <frame> [<48-byte quiet run>]"),
    ([b"rx", bytes(8), b"frame", bytes(48)],
     "bus message 'rx': quiet run 0..0 of 0 after 0 rx is not a run"),
    ([*bus.Rx(1, b"f", QuietRun(0, 9, 8, 0, 0, 1)).encode()],
     "bus message 'rx': quiet run 9..8 of 1 after 0 rx is not a run"),
    ([b"ready"], "bus message 'ready': expected [verb, JSON object], got 1 part(s)"),
    ([b"gossip", b"{}"], "unknown verb b'gossip'"),
])
def test_malformed_link_reports_name_verb_and_field(parts: list[bytes], error: str) -> None:
    with pytest.raises(bus.BusError) as exc:
        bus.decode_link_report(parts)
    assert str(exc.value).startswith(error)


@pytest.mark.parametrize(("parts", "error"), [
    (body(bus.Status(CONTENT).encode(), dt="zz"), "bus message 'status': 'dt' or 'srcuuid'"),
    (body(bus.Status(CONTENT).encode(), protocol="yes"),
     "bus message 'status': field 'protocol' must be true or false"),
    (body(bus.Reschedule(1).encode(), quiet_gap_ms=-2),
     "bus message 'reschedule': field 'quiet_gap_ms' must be an integer >= 0, not -2"),
    (body(LINK_ORDERS[0].encode(), quiet_gap_ms=-1),
     "bus message 'setup': field 'quiet_gap_ms' must be an integer >= 0, not -1"),
    (body(LINK_ORDERS[0].encode(), heard=3),
     "bus message 'setup': field 'heard' must be a string, not 3"),
    (body(LINK_ORDERS[0].encode(), board=None),
     "bus message 'setup': field 'board' must be a string, not None"),
    (body(LINK_ORDERS[0].encode(), medium={"kind": "pigeon", "name": "x", "dev": "y"}),
     "bus message 'setup': field 'medium.kind' must be one of bcast, ucast, mcast, serial"),
    (body(LINK_ORDERS[1].encode(), medium={"kind": "ucast", "name": "x", "dev": "y",
                                           "port": 694}),
     "bus message 'setup': field 'peer' must be a string, not None"),
    (body(LINK_ORDERS[0].encode(), rtprio="high"),
     "bus message 'setup': field 'rtprio' must be an integer, not 'high'"),
    (body(LINK_ORDERS[0].encode(), messages_before="7"),
     "bus message 'setup': field 'messages_before' must be an integer, not '7'"),
    ([b"send", b"a"], "bus message 'send' must be: send <frame> <seq>"),
    ([b"send", b"a", b"1", b"b"], "bus message 'send' must be: send <frame> <seq>"),
    ([b"send", b"a", b"-1"], "bus message 'send': seq must be a decimal number of at most 18 "
                            "digits, not b'-1'"),
    ([b"send", b"a", b"9" * 19], "bus message 'send': seq must be a decimal number of at most "
                                "18 digits, not b'9999999999999999999'"),
    (body(bus.Stop().encode(), kill=1), "bus message 'stop': field 'kill' must be true or false"),
    ([b"reschedule", b"[]"], "bus message 'reschedule': body is not a JSON object"),
])
def test_malformed_link_orders_name_verb_and_field(parts: list[bytes], error: str) -> None:
    with pytest.raises(bus.BusError) as exc:
        bus.decode_link_order(parts)
    assert str(exc.value).startswith(error)


def test_no_secret_ever_travels_on_the_bus() -> None:
    """Keys go to a link worker on its private key channel, never the bus."""
    for message in LINK_ORDERS:
        body = message.encode()[-1]
        assert b"secret" not in body and b"c2VjcmV0" not in body  # plain or base64
        assert b'"keys"' not in body


def test_content_key_names_a_content_the_same_way_in_every_process() -> None:
    key = content_key(CONTENT)
    assert 0 <= key < 2**64
    assert content_key(dataclasses.replace(CONTENT)) == key
    for change in ({"st": "dead"}, {"dt_ms": CONTENT.dt_ms + 1}, {"protocol": not CONTENT.protocol},
                   {"status_seq": CONTENT.status_seq + 1}, {"hg": CONTENT.hg + 1},
                   {"ttl": CONTENT.ttl + 1}):
        assert content_key(dataclasses.replace(CONTENT, **change)) != key, change
    # not Python's per-process hash: a worker started as a new interpreter agrees
    code = ("import json; from hbeat.ipc.keepalive import KeepaliveContent, content_key; "
            "print(content_key(KeepaliveContent.from_json(json.loads("
            f"{json.dumps(CONTENT.to_json())!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert int(out.stdout) == key


def test_drain_reads_every_waiting_message_whole_and_never_blocks() -> None:
    import zmq

    ctx = zmq.Context()
    try:
        router = ctx.socket(zmq.ROUTER)
        router.bind("inproc://drain-test")
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, b"bcast eth1")
        dealer.connect("inproc://drain-test")
        assert list(bus.drain(router)) == []  # nothing waiting: no wait, no exception
        sent = [[b"rx", b"\x00" * 300], [b"sent"], [b"", b"a", b"", b"b"]]
        for parts in sent:
            dealer.send_multipart(parts)
        got: list[list[bytes]] = []
        deadline = 100
        while len(got) < len(sent) and deadline:
            got += bus.drain(router)
            deadline -= 1
            zmq.select([router], [], [], 0.05)
        assert got == [[b"bcast eth1", *parts] for parts in sent]
        assert list(bus.drain(router)) == []
        dealer.close(0)
        router.close(0)
    finally:
        ctx.term()
