"""The heard board: its file, its layout and its torn-read rule (the C writer's
tests, tests/linklayer/test_quiet.py, write it through hb_quiet_*)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from hbeat.ipc.heardboard import (
    MAGIC,
    PEERS,
    SIZE,
    SLOT,
    SLOT0,
    HeardBoard,
    HeardBoardError,
    QuietRun,
)

FIELDS = struct.Struct("<QqqqqqqB64s")


def write_slot(path: Path, slot: int, lock: int, rx_before: int, first: int, last: int,
               ts: int, heard: int, count: int, src: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(SLOT0 + slot * SLOT)
        f.write(FIELDS.pack(lock, rx_before, first, last, ts, heard, count, len(src), src))


def test_create_makes_an_empty_private_board(tmp_path: Path) -> None:
    board = HeardBoard.create(tmp_path / "heard0")
    st = os.stat(tmp_path / "heard0")
    assert st.st_size == SIZE and st.st_mode & 0o777 == 0o600
    assert (tmp_path / "heard0").read_bytes()[:16] == MAGIC + struct.pack("<Q", PEERS)
    assert board.runs() == []
    assert not list(tmp_path.glob("*.new"))


def test_create_replaces_an_old_board_with_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "heard0"
    HeardBoard.create(path)
    write_slot(path, 2, 4, 1, 5, 9, 0x100, 77, 5, b"weasel")
    assert HeardBoard.attach(path).run(2) is not None
    assert HeardBoard.create(path).runs() == []


def test_a_run_is_read_with_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "heard0"
    board = HeardBoard.create(path)
    write_slot(path, 3, 8, 2, 0x41, 0x4F, 0x6B066B8E, 123456789, 15, b"weasel")
    assert board.run(3) == QuietRun(2, 0x41, 0x4F, 0x6B066B8E, 123456789, 15, "weasel")
    assert board.runs() == [(3, QuietRun(2, 0x41, 0x4F, 0x6B066B8E, 123456789, 15, "weasel"))]
    assert board.run(0) is None


def test_a_slot_being_written_reads_as_no_run(tmp_path: Path) -> None:
    path = tmp_path / "heard0"
    board = HeardBoard.create(path)
    write_slot(path, 1, 5, 0, 3, 4, 1, 1, 2, b"weasel")  # odd: the worker is writing
    assert board.run(1) is None
    # Not "no run": the supervisor must know a slot went unread (it then
    # judges no peer silent for a moment: supervisor/daemon.py).
    assert board.runs() == [] and board.torn == 1
    write_slot(path, 1, 6, 0, 3, 4, 1, 1, 2, b"weasel")  # written
    assert [slot for slot, _ in board.runs()] == [1] and board.torn == 0


def test_a_slot_without_a_run_reads_as_none_even_with_a_peer(tmp_path: Path) -> None:
    path = tmp_path / "heard0"
    board = HeardBoard.create(path)
    write_slot(path, 0, 2, 0, 0, 0, 0, 0, 0, b"weasel")
    assert board.run(0) is None


@pytest.mark.parametrize(("data", "error"), [
    (b"x" * 10, "not a heard board (size)"),
    (b"HBSEQBD4" + bytes(SIZE - 8), "not a heard board (magic b'HBSEQBD4', 0 slots)"),
    (MAGIC + struct.pack("<Q", 3) + bytes(SIZE - 16), "not a heard board (magic"),
])
def test_attach_refuses_what_is_not_a_board(tmp_path: Path, data: bytes, error: str) -> None:
    path = tmp_path / "heard0"
    path.write_bytes(data)
    with pytest.raises(HeardBoardError, match=error.replace("(", r"\(").replace(")", r"\)")):
        HeardBoard.attach(path)


def test_attach_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HeardBoardError, match="heard9: No such file"):
        HeardBoard.attach(tmp_path / "heard9")
