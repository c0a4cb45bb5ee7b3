"""hbeat.ipc: every bus message decodes to what was encoded, and a malformed
one is refused with an error naming the verb and the field."""

from __future__ import annotations

import json

import pytest

from hbeat.config.model import Resource
from hbeat.ipc import bus
from hbeat.ipc import executor as ex
from hbeat.ipc.keepalive import KeepaliveContent
from linklayer.message import AuthKey, Keyring, Method

CONTENT = KeepaliveContent(st="active", dt_ms=0x2710, protocol=False, src="otter",
                           srcuuid=bytes(range(16)), hg=0x6B066B7A, ttl=3, status_seq=9)
KEYRING = Keyring(keys={1: AuthKey(1, Method.SHA1, b"secret"), 2: AuthKey(2, Method.CRC)},
                  signing_index=1)

LINK_REPORTS = [
    bus.Hello(123, "bcast eth1"),
    bus.LinkReady(123, "netstring"),
    bus.Rx(2**62 + 5, b"###\x00frame"),
    bus.Bad("BAD_AUTH", "bad signature", "10.0.0.2", 4),
    bus.Sent(7, 0x6B066B8E, b"0.00 0.01 0.05 1/99 42\xff", 12, False, CONTENT),
    bus.Junk(10, 30),
    bus.Fatal("cannot open /dev/ttyS0"),
    bus.Error("Unable to set realtime scheduling"),
    bus.Warn("bcast eth1: send to 10.0.0.255: Network is unreachable"),
]
LINK_ORDERS = [
    bus.LinkSetup(bus.MediumSpec("bcast", "bcast eth1", "eth1", 694),
                  KEYRING, "/run/hbeat/seqboard", CONTENT, True, 5),
    bus.LinkSetup(bus.MediumSpec("ucast", "ucast eth1 10.0.0.2", "eth1", 694, peer="10.0.0.2"),
                  KEYRING, "/run/hbeat/seqboard", CONTENT),
    bus.LinkSetup(bus.MediumSpec("mcast", "mcast eth1 225.0.0.1", "eth1", 694,
                                 group="225.0.0.1", ttl=1, loop=0),
                  KEYRING, "/run/hbeat/seqboard", CONTENT),
    bus.LinkSetup(bus.MediumSpec("serial", "serial /dev/ttyS0", "/dev/ttyS0", baud=19200),
                  Keyring(keys={}, signing_index=None), "/run/hbeat/seqboard", CONTENT),
    bus.Status(CONTENT),
    bus.Send(b">>>\nt=status\n<<<\n"),
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
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT).encode(), content=None),
     "bus message 'sent': field 'content': not a JSON object"),
    (body(bus.Sent(1, 2, b"x", 3, True, CONTENT).encode(),
          content={**CONTENT.to_json(), "st": 5}),
     "bus message 'sent': field 'content': field 'st' must be an ASCII string, not 5"),
    (body(bus.Bad("c", "e", "p", 1).encode(), peer=None),
     "bus message 'bad': field 'peer' must be a string, not None"),
    (body(bus.Junk(1, 2).encode(), bytes=True),
     "bus message 'junk': field 'bytes' must be an integer, not True"),
    ([b"hello", b"[1]"], "bus message 'hello': body is not a JSON object"),
    ([b"warn", b"{"], "bus message 'warn': body is not JSON"),
    ([b"rx", b"short", b"frame"], "bus message 'rx' must be: rx <8-byte timestamp> <frame>"),
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
    (body(LINK_ORDERS[0].encode(), board=None),
     "bus message 'setup': field 'board' must be a string, not None"),
    (body(LINK_ORDERS[0].encode(), keys=[[1, "rot13", "AA=="]]),
     "bus message 'setup': bad keyring"),
    (body(LINK_ORDERS[0].encode(), medium={"kind": "pigeon", "name": "x", "dev": "y"}),
     "bus message 'setup': field 'medium.kind' must be one of bcast, ucast, mcast, serial"),
    (body(LINK_ORDERS[1].encode(), medium={"kind": "ucast", "name": "x", "dev": "y",
                                           "port": 694}),
     "bus message 'setup': field 'peer' must be a string, not None"),
    (body(LINK_ORDERS[0].encode(), rtprio="high"),
     "bus message 'setup': field 'rtprio' must be an integer, not 'high'"),
    ([b"send", b"a", b"b"], "bus message 'send' must be: send <frame>"),
    (body(bus.Stop().encode(), kill=1), "bus message 'stop': field 'kill' must be true or false"),
])
def test_malformed_link_orders_name_verb_and_field(parts: list[bytes], error: str) -> None:
    with pytest.raises(bus.BusError) as exc:
        bus.decode_link_order(parts)
    assert str(exc.value).startswith(error)


RESULT = ex.RunResult(
    id=4, group="IPaddr::10.0.0.1", index=1, action="status", rc=0, signal=None,
    status="running", heartbeat_status="stopped", timed_out=False, duration_s=0.25,
    error=None, argv=("/etc/ha.d/resource.d/IPaddr", "10.0.0.1", "status"),
    command="/etc/ha.d/resource.d/IPaddr 10.0.0.1 status", output_lines=1,
    output_bytes=12, truncated=False)


@pytest.mark.parametrize("message", [
    RESULT,
    ex.Started(4, "g", 0, "start", 999, ("/bin/true", "start"), "/bin/true start"),
    ex.Output("c1", "stderr", "oops"),
    ex.ExecutorReady(99, ex.OutputLimits(max_lines=1, max_bytes=2, max_line_bytes=3), 5.0, 300.0),
    ex.Bye((1, "c2"), (3,)),
], ids=lambda m: type(m).__name__)
def test_executor_reports_round_trip(message: ex.RunResult) -> None:
    assert type(message).decode(message.encode()) == message


def test_run_request_round_trip() -> None:
    rsc = Resource("IPaddr::10.0.0.1", "IPaddr", ("10.0.0.1",), 0, "/x/IPaddr")
    for request in (ex.RunRequest(3, "g", 0, "stop", 20.0, resource=rsc),
                    ex.RunRequest("a", "g", None, "start", argv=("/bin/true", "start"))):
        parts = request.encode()
        assert parts[0] == b"run"
        assert ex.RunRequest.from_json(json.loads(parts[1])) == request


@pytest.mark.parametrize(("changes", "error"), [
    ({"id": True}, "run: 'id' must be a string or integer"),
    ({"group": ""}, "run: 'group' must be a non-empty string"),
    ({"action": "restart"}, "unknown action 'restart'"),
    ({"timeout_s": 0}, "run: timeout_s must be a positive number of seconds, not 0"),
    ({"argv": ["/bin/true"]}, "run: give exactly one of 'resource' and 'argv'"),
    ({"index": "0"}, "run: 'index' must be an integer or null, not '0'"),
    ({"resource": None, "argv": []}, "run: 'argv' must be a non-empty list of strings"),
    ({"resource": "IPaddr"}, "run: 'resource' must be an object"),
])
def test_malformed_run_requests_name_the_field(changes: dict[str, object], error: str) -> None:
    request = json.loads(ex.RunRequest(1, "g", 0, "start", resource=Resource(
        "apache", "apache", (), 0)).encode()[1])
    request.update(changes)
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ex.CallError) as exc:
        ex.RunRequest.from_json(request)
    assert str(exc.value).startswith(error)


@pytest.mark.parametrize(("changes", "error"), [
    ({"status": "fine"}, "bus message 'result': field 'status' must be one of ok, failed"),
    ({"id": None}, "bus message 'result': field 'id' must be a string or integer"),
    ({"rc": "0"}, "bus message 'result': field 'rc' must be an integer, not '0'"),
    ({"argv": "x"}, "bus message 'result': field 'argv' must be a list of strings"),
])
def test_malformed_results_name_the_field(changes: dict[str, object], error: str) -> None:
    data = json.loads(RESULT.encode()[1])
    data.update(changes)
    with pytest.raises(bus.BusError) as exc:
        ex.RunResult.decode([b"result", json.dumps(data).encode()])
    assert str(exc.value).startswith(error)
