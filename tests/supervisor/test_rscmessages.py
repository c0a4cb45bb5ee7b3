"""Resource messages against the frames real heartbeat 3.0.6 sent (tests/data/interop/frames)."""

from __future__ import annotations

import pytest

from supervisor import rscmessages as rm
from supervisor.messages import MessageError, parse_envelope
from tests import interop_vectors as iv

DEFAULTS = {b"src", b"srcuuid", b"seq", b"hg", b"ts", b"ld", b"ttl", b"destuuid"}


def captured() -> dict[str, tuple]:
    out = {}
    for v in iv.udp_vectors():
        assert v.fields is not None
        out[v.kind] = v.fields
    return out


def own_fields(fields: tuple) -> tuple:
    return tuple(f for f in fields if f[0] not in DEFAULTS)


@pytest.mark.parametrize(
    ("kind", "built"),
    [
        ("starting", rm.starting_fields()),
        ("resource rsc_hold=none rtype=full", rm.resource_fields(rm.Hold.NONE, False)),
        ("resource rsc_hold=local rtype=full", rm.resource_fields(rm.Hold.LOCAL, True)),
        (
            "resource rsc_hold=local info=req_our_resources() rtype=full",
            rm.resource_fields(rm.Hold.LOCAL, True, rm.INFO_REQ_OUR),
        ),
        (
            "resource rsc_hold=none info=shutdown rtype=full",
            rm.resource_fields(rm.Hold.NONE, False, rm.INFO_SHUTDOWN),
        ),
        ("resource rsc_hold=all rtype=full", rm.resource_fields(rm.Hold.ALL, True)),
        (
            "resource rsc_hold=all info=req_our_resources() rtype=full",
            rm.resource_fields(rm.Hold.ALL, True, rm.INFO_REQ_OUR),
        ),
        ("resource rsc_hold=foreign info=mach_down", rm.mach_down_fields()),
        ("ask_resources rsc_hold=all info=done", rm.ask_resources_fields(rm.Hold.ALL, "done")),
        ("shutdone st=dead", rm.shutdone_fields()),
        ("stonith", rm.stonith_fields("weasel", "unneeded")),
        (
            "ip-request-resp",
            rm.ip_request_resp_fields("weasel", "IPaddr2::10.99.0.100/24/eth1", True),
        ),
    ],
)
def test_builders_match_3_0_6_field_for_field(kind: str, built: tuple) -> None:
    assert own_fields(captured()[kind]) == built


def test_every_captured_resource_frame_parses() -> None:
    seen = {}
    for kind, fields in captured().items():
        msg = rm.parse_resource_message(parse_envelope(fields))
        if msg is not None:
            seen[kind] = msg
    assert seen["resource rsc_hold=none info=shutdown rtype=full"] == rm.ResourceReport(
        "weasel", rm.Hold.NONE, True, False, "shutdown"
    )
    assert seen["resource rsc_hold=foreign info=mach_down"] == rm.ResourceReport(
        "otter", rm.Hold.FOREIGN, False, False, "mach_down"
    )
    assert seen["ask_resources rsc_hold=all info=done"] == rm.AskResources(
        "otter", rm.Hold.ALL, "done"
    )
    assert seen["stonith"] == rm.Stonith("otter", "weasel", "unneeded")
    assert seen["ip-request-resp"] == rm.IpRequestResp(
        "weasel", "weasel", "IPaddr2::10.99.0.100/24/eth1", True, True
    )
    assert seen["starting"] == rm.Starting("otter")
    assert seen["shutdone st=dead"] == rm.Shutdone("weasel")
    assert len(seen) == 12


def env(*pairs: tuple[bytes, bytes]):
    fields = (
        *tuple((n, 0, v) for n, v in pairs),
        (b"src", 0, b"weasel"),
        (b"seq", 0, b"1"),
        (b"ts", 0, b"6b066b7a"),
    )
    return parse_envelope(fields)


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        (
            ((b"t", b"resource"), (b"rsc_hold", b"most"), (b"rtype", b"full")),
            "resource message from weasel: bad rsc_hold [most]: expected none, local, foreign",
        ),
        (
            ((b"t", b"resource"), (b"rsc_hold", b"all"), (b"rtype", b"full"), (b"isstable", b"2")),
            "bad isstable [2]: expected 0 or 1",
        ),
        (((b"t", b"resource"),), "has no rsc_hold field"),
        (
            ((b"t", b"ask_resources"), (b"rsc_hold", b"none"), (b"info", b"me")),
            "bad rsc_hold [none]: expected local, foreign or all",
        ),
        (
            ((b"t", b"ask_resources"), (b"rsc_hold", b"all"), (b"info", b"please")),
            "bad info [please]: expected me, other or done",
        ),
        (((b"t", b"hb_takeover"), (b"rsc_hold", b"some")), "bad rsc_hold [some]"),
        (((b"t", b"ip-request-resp"), (b"ipaddr", b"k")), "has no dest field"),
        (
            ((b"t", b"stonith"), (b"node", b"otter"), (b"result", b"maybe")),
            "unknown stonith result",
        ),
    ],
)
def test_bad_messages_name_sender_and_field(pairs: tuple, error: str) -> None:
    with pytest.raises(MessageError, match=error.replace("[", r"\[").replace("]", r"\]")):
        rm.parse_resource_message(env(*pairs))


def test_other_types_are_not_resource_messages() -> None:
    assert rm.parse_resource_message(env((b"t", b"status"), (b"st", b"active"))) is None


def test_hold_words_and_mirror() -> None:
    assert [rm.Hold(i).word for i in range(4)] == ["none", "local", "foreign", "all"]
    assert rm.Hold.LOCAL.mirrored() is rm.Hold.FOREIGN
    assert rm.Hold.ALL.mirrored() is rm.Hold.ALL
    with pytest.raises(ValueError, match="bad resource holding"):
        rm.hold_from_word("most")


def test_refusing_ip_request_resp_differs_from_3_0_6_only_in_ok() -> None:
    """Ours: `ok=no` refuses a group we could not stop. 3.0.6's rc.d/ip-request-resp
    runs takegroup only for `ok=OK`, so only that value may change."""
    captured_resp = own_fields(captured()["ip-request-resp"])
    key = "IPaddr2::10.99.0.100/24/eth1"
    refused = rm.ip_request_resp_fields("weasel", key, True, ok=False)
    assert [f for f in refused if f[0] != rm.F_OK] == [f for f in captured_resp if f[0] != rm.F_OK]
    assert dict((n, v) for n, _t, v in refused)[rm.F_OK] == b"no"
    stamp = ((b"src", 0, b"otter"), (b"seq", 0, b"1"), (b"ts", 0, b"6a000000"))
    env = parse_envelope((*refused, *stamp))
    msg = rm.parse_resource_message(env)
    assert msg == rm.IpRequestResp("otter", "weasel", key, True, False)
    ok = rm.parse_resource_message(
        parse_envelope((*rm.ip_request_resp_fields("weasel", key, True), *stamp))
    )
    assert isinstance(ok, rm.IpRequestResp) and ok.ok
