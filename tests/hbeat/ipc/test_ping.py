"""hbeat.ipc.ping: the ping worker's verbs decode to what was encoded, and a
malformed one is refused with an error naming the verb and the field."""

from __future__ import annotations

import json

import pytest

from hbeat.ipc import bus
from hbeat.ipc.ping import (
    MAX_HOSTS,
    PingSetup,
    PingState,
    PingTarget,
    decode_ping_report,
)

SETUP = PingSetup((PingTarget("10.0.0.254", ("10.0.0.254",)),
                   PingTarget("uplinks", ("10.0.1.1", "10.0.2.1"))), 500, 2000)


@pytest.mark.parametrize("message", [PingState("uplinks", True, "10.0.2.1"),
                                     PingState("10.0.0.254", False), bus.Hello(7, "ping"),
                                     bus.Warn("ping: ignored 3 ICMP packets"),
                                     bus.Fatal("ping: cannot open an ICMP socket")])
def test_reports_round_trip(message: object) -> None:
    assert decode_ping_report(message.encode()) == message  # type: ignore[attr-defined]


def test_setup_round_trips() -> None:
    assert PingSetup.decode(SETUP.encode()) == SETUP


@pytest.mark.parametrize(("body", "error"), [
    ({"targets": [], "interval_ms": 1, "deadping_ms": 1}, "'targets'"),
    ({"targets": [{"name": "a", "hosts": []}], "interval_ms": 1, "deadping_ms": 1}, "'hosts'"),
    ({"targets": [{"name": "a", "hosts": ["h"] * (MAX_HOSTS + 1)}], "interval_ms": 1,
      "deadping_ms": 1}, "'hosts'"),
    ({"targets": [{"name": "a", "hosts": [1]}], "interval_ms": 1, "deadping_ms": 1}, "'hosts'"),
    ({"targets": [{"name": 5, "hosts": ["h"]}], "interval_ms": 1, "deadping_ms": 1}, "'name'"),
    ({"targets": [{"name": "a", "hosts": ["h"]}], "interval_ms": 0, "deadping_ms": 1},
     "positive"),
    ({"targets": ["a"], "interval_ms": 1, "deadping_ms": 1}, "not a JSON object"),
])
def test_malformed_setup_is_refused(body: dict[str, object], error: str) -> None:
    with pytest.raises(bus.BusError, match=error):
        PingSetup.decode([PingSetup.VERB, json.dumps(body).encode()])


@pytest.mark.parametrize(("parts", "error"), [
    ([b"ping-state", b'{"node": "a", "up": "yes"}'], "'up'"),
    ([b"ping-state", b'{"up": true}'], "'node'"),
    ([b"ping-state", b"\xff"], "not JSON"),
    ([b"rx", b"{}"], "unknown verb"),
    ([], "unknown verb"),
])
def test_malformed_report_is_refused(parts: list[bytes], error: str) -> None:
    with pytest.raises(bus.BusError, match=error):
        decode_ping_report(parts)
