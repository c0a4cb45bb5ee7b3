"""supervisor/outdate.py (both sides of a peer outdating, time as a parameter) and
hbeat/drbdfence.py (drbdadm status -> fence-peer code)."""

from __future__ import annotations

from hbeat import drbdfence as df
from linklayer.message import Field
from supervisor import outdate as od
from supervisor.messages import Envelope, field_value


def envelope(src: str, fields: tuple[Field, ...]) -> Envelope:
    t = field_value(fields, b"t") or b""
    dest = field_value(fields, b"dest")
    return Envelope(t, src, 0, 1, 1, None, dest.decode() if dest else None, None, fields)


def sends(effects: list[od.Effect]) -> list[tuple[Field, ...]]:
    return [e.fields for e in effects if isinstance(e, od.Send)]


def test_round_trip_outdated() -> None:
    otter, weasel = od.Outdater("otter"), od.Outdater("weasel")
    reqid, effects = otter.ask("r0", "weasel", True, 5000, now=0)
    (request,) = sends(effects)
    msg = od.parse(envelope("otter", request))
    assert msg == od.Request("otter", "r0", reqid)
    assert isinstance(msg, od.Request)
    run = weasel.on_request(msg)
    (job,) = [e for e in run if isinstance(e, od.RunOutdate)]
    assert job.op_id < 0 and job.resource == "r0"
    assert weasel.on_request(msg) == []  # retransmitted while running: not run twice
    (answer,) = sends(weasel.outdate_done(job.op_id, 0))
    assert sends(weasel.on_request(msg)) == [answer]  # asked again: same answer, no new run
    reply = od.parse(envelope("weasel", answer))
    assert isinstance(reply, od.Answer)
    assert otter.result(reqid, 100) is not None and otter.result(reqid, 100).code is None
    otter.on_answer(reply, now=200)
    entry = otter.result(reqid, 300)
    assert entry is not None and entry.code == df.PEER_OUTDATED


def test_dead_peer_timeout_and_foreign_answers() -> None:
    otter = od.Outdater("otter")
    reqid, effects = otter.ask("r0", "weasel", False, 5000, now=0)
    assert sends(effects) == []
    assert otter.result(reqid, 0).code == df.PEER_UNREACHABLE  # type: ignore[union-attr]
    reqid, _ = otter.ask("r0", "weasel", True, 5000, now=0)
    assert otter.on_answer(od.Answer("ferret", "r0", reqid, 4), 10) == []  # not asked
    assert otter.on_answer(od.Answer("weasel", "r1", reqid, 4), 10) == []  # other resource
    assert otter.result(reqid, 4999).code is None  # type: ignore[union-attr]
    entry = otter.result(reqid, 5000)
    assert entry is not None and entry.code == df.PEER_UNREACHABLE
    assert otter.on_answer(od.Answer("weasel", "r0", reqid, 4), 5001) == []  # too late


def test_invalid_resource_is_refused_without_running_anything() -> None:
    weasel = od.Outdater("weasel")
    effects = weasel.on_request(od.Request("otter", "--force r0", 7))
    assert not [e for e in effects if isinstance(e, od.RunOutdate)]
    (answer,) = sends(effects)
    assert field_value(answer, b"rc") == b"1"


def test_drbdadm_codes() -> None:
    assert [df.code_for_drbdadm(rc) for rc in (0, 5, 17, 20, None)] == [4, 3, 6, 1, 1]
    assert df.valid_resource("r0") and df.valid_resource("data_1.x")
    assert not df.valid_resource("-r0") and not df.valid_resource("a b")
    assert not df.valid_resource("../etc")
