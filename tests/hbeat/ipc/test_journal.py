"""hbeat/ipc/journal.py: the entry, its JSON line, and the journal parser."""

from __future__ import annotations

import json

import pytest

from hbeat.ipc.journal import MAX_TEXT, Entry, JournalError, Kind, make_entry, parse_journal


def test_an_entry_survives_its_line() -> None:
    e = make_entry(7, 1700000000.25, Kind.SCRIPT, 5, node="otter", group="g",
                   detail={"resource": "LVM::vg0", "action": "start", "rc": 1})
    back = Entry.from_json(json.loads(e.to_line()))
    assert back == e and back.decision == 5 and not back.is_cause


def test_a_cause_is_its_own_decision() -> None:
    e = make_entry(9, 1.0, Kind.NODE_DEAD, 3, "no keepalive", node="weasel")
    assert e.decision == 9 and e.is_cause


def test_long_text_is_clipped_and_any_detail_becomes_json() -> None:
    e = make_entry(1, 1.0, Kind.REQUEST, 1, "x" * 5000, detail={"who": "y" * 5000})
    assert len(e.cause) == MAX_TEXT and len(e.detail["who"]) == MAX_TEXT
    e = make_entry(2, 1.0, Kind.GROUP, 1, detail={"kind": Kind.GROUP, "nan": float("nan"),
                                                   "list": list(range(100))})
    assert json.loads(e.to_line())["detail"] == {"kind": "group", "nan": None,
                                                 "list": list(range(32))}


@pytest.mark.parametrize("body, words", [
    ([], "JSON object"),
    ({"v": 2}, "version"),
    ({"v": 1, "kind": "nope"}, "unknown kind"),
    ({"v": 1, "kind": "group", "seq": 0, "decision": 0, "time": 1}, "seq"),
    ({"v": 1, "kind": "group", "seq": 3, "decision": 4, "time": 1}, "decision"),
    ({"v": 1, "kind": "group", "seq": 3, "decision": 1, "time": "x"}, "time"),
    ({"v": 1, "kind": "group", "seq": 3, "decision": 1, "time": 1, "detail": []}, "detail"),
    ({"v": 1, "kind": "group", "seq": 3, "decision": 1, "time": 1, "node": 5}, "node"),
])
def test_bad_entries_are_refused_with_a_reason(body: object, words: str) -> None:
    with pytest.raises(JournalError, match=words):
        Entry.from_json(body)


def lines(n: int) -> bytes:
    return b"".join(make_entry(i, float(i), Kind.STARTUP if i == 1 else Kind.SCRIPT, 1)
                    .to_line() for i in range(1, n + 1))


def test_a_clean_journal_parses_whole() -> None:
    parsed = parse_journal(lines(3))
    assert [e.seq for e in parsed.entries] == [1, 2, 3] and parsed.clean
    assert parsed.problems == []


def test_a_torn_last_line_is_skipped_and_named() -> None:
    data = lines(3)
    parsed = parse_journal(data[:-10], source="j")
    assert [e.seq for e in parsed.entries] == [1, 2]
    assert not parsed.clean
    torn = len(data.split(b"\n")[2]) - 9
    assert parsed.problems == [f"j:3: incomplete last line ({torn} bytes, a write cut "
                               "short by a crash?): skipped"]


def test_garbage_and_out_of_order_lines_are_skipped() -> None:
    data = lines(2) + b"\x00\xffgarbage\n" + make_entry(1, 1.0, Kind.STARTUP, 1).to_line()
    data += make_entry(5, 5.0, Kind.SHUTDOWN, 5).to_line()
    parsed = parse_journal(data, source="j")
    assert [e.seq for e in parsed.entries] == [1, 2, 5]
    assert [p.split(":")[1] for p in parsed.problems] == ["3", "4"]
    assert "not JSON" in parsed.problems[0] and "seq 1 after 2" in parsed.problems[1]
