"""The peers file in the state directory (src/supervisor/peerstate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.logfmt import Level
from supervisor.peerstate import (
    PEERS_FILE,
    SAVE_EVERY_MS,
    PeerStateError,
    PeerStore,
    format_peers,
    parse_peers,
)
from supervisor.replayguard import PeerRecord

PEERS = ("weasel", "ferret")


def test_round_trip() -> None:
    records = {"weasel": PeerRecord(1795582841, 1795583000), "ferret": PeerRecord(7, 0)}
    data = format_peers(records)
    assert data == b"ferret 7 0\nweasel 1795582841 1795583000\n"
    assert parse_peers(data, PEERS) == records
    assert parse_peers(b"", PEERS) == {}


@pytest.mark.parametrize(("data", "message"), [
    (b"weasel 1 2 3\n", "hb_peers:1: expected `node generation ts`, got 'weasel 1 2 3'"),
    (b"\nstoat 1 2\n", "hb_peers:2: node 'stoat' is not a peer in ha.cf"),
    (b"weasel 1 2\nweasel 3 4\n", "hb_peers:2: node weasel is listed twice"),
    (b"weasel -1 2\n", "hb_peers:1: generation and ts must be decimal numbers"),
    (b"weasel 0x10 2\n", "hb_peers:1: generation and ts must be decimal numbers"),
    (b"weasel 0 2\n", "hb_peers:1: generation 0 is out of range (1..999999999999999)"),
    (b"weasel 1 " + b"9" * 30 + b"\n", "hb_peers:1: ts " + "9" * 30 + " is out of range"),
    (b"weasel 1 " + b"9" * 60 + b"\n", "hb_peers:1: generation and ts must be decimal numbers"),
    (b"weasel 1 2\n\xff\n", "hb_peers: byte 11 is not ASCII"),
    (b"#" * 70000, "hb_peers: 70000 bytes, more than 65536"),
])
def test_hostile_contents_are_errors_naming_the_line(data: bytes, message: str) -> None:
    with pytest.raises(PeerStateError) as info:
        parse_peers(data, PEERS)
    assert str(info.value) == message


def _store(tmp_path: Path) -> tuple[PeerStore, list[tuple[Level, str]]]:
    logged: list[tuple[Level, str]] = []
    return PeerStore(tmp_path, lambda lv, tx: logged.append((lv, tx))), logged


def test_a_broken_file_is_reported_and_ignored(tmp_path: Path) -> None:
    (tmp_path / PEERS_FILE).write_bytes(b"weasel one two\n")
    store, logged = _store(tmp_path)
    assert store.load(PEERS) == {}
    assert logged == [(Level.ERROR, f"{tmp_path}/hb_peers:1: generation and ts must be decimal "
                                    "numbers; starting without the peers' last generations "
                                    "(the file is rewritten)")]


def test_a_missing_file_is_no_record(tmp_path: Path) -> None:
    store, logged = _store(tmp_path)
    assert store.load(PEERS) == {} and logged == []


def test_saves_on_a_new_generation_at_once_and_on_ts_at_most_every_period(
    tmp_path: Path,
) -> None:
    store, logged = _store(tmp_path)
    path = tmp_path / PEERS_FILE
    store.update({"weasel": PeerRecord(5, 100)}, 0)
    assert path.read_bytes() == b"weasel 5 100\n"
    store.update({"weasel": PeerRecord(5, 101)}, 1000)
    assert path.read_bytes() == b"weasel 5 100\n"  # ts only: not yet
    store.update({"weasel": PeerRecord(5, 101)}, 1000, force=True)  # a death
    assert path.read_bytes() == b"weasel 5 101\n"
    store.update({"weasel": PeerRecord(6, 102)}, 1001)  # a restart: at once
    assert path.read_bytes() == b"weasel 6 102\n"
    store.update({"weasel": PeerRecord(6, 110)}, 1001 + SAVE_EVERY_MS)
    assert path.read_bytes() == b"weasel 6 110\n"
    assert PeerStore(tmp_path, print).load(PEERS) == {"weasel": PeerRecord(6, 110)}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert logged == [] and sorted(p.name for p in tmp_path.iterdir()) == [PEERS_FILE]


def test_a_write_error_is_logged_once(tmp_path: Path) -> None:
    store, logged = _store(tmp_path / "missing")
    store.update({"weasel": PeerRecord(5, 100)}, 0)
    store.update({"weasel": PeerRecord(6, 100)}, 1)
    assert [lv for lv, _ in logged] == [Level.ERROR]
    assert "cannot write" in logged[0][1]
