"""hb_generation / hb_uuid files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbeat.logfmt import Level
from supervisor import generation as g


def test_format_and_parse_round_trip() -> None:
    data = g.format_generation(1795581269)
    assert data == b"     1795581269\n" and len(data) == 16
    assert g.parse_generation(data) == 1795581269
    assert g.parse_generation(b"42") == 42
    with pytest.raises(g.GenerationError, match="15 decimal columns"):
        g.format_generation(10**15)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "only blanks"),
        (b"  12x4\n", "byte 4 (b'x') is not a digit"),
        (b"0\n", "generation is 0"),
        (b"9" * 70, "expected 16"),
    ],
)
def test_parse_errors(data: bytes, needle: str) -> None:
    with pytest.raises(g.GenerationError) as exc:
        g.parse_generation(data)
    assert needle in str(exc.value)


def test_bump_creates_then_increments(tmp_path: Path) -> None:
    seen: list[tuple[Level, str]] = []
    gen = g.bump_generation(tmp_path, wall_s=1000.7, log=lambda lv, tx: seen.append((lv, tx)))
    assert gen == 1001
    assert seen == [(Level.WARN, "No Previous generation - starting at 1001")]
    assert (tmp_path / "hb_generation").read_bytes() == b"           1001\n"
    assert g.bump_generation(tmp_path, wall_s=5.0) == 1002
    assert g.parse_generation((tmp_path / "hb_generation").read_bytes()) == 1002
    assert [p.name for p in tmp_path.iterdir()] == ["hb_generation"]  # no temp files left


def test_bump_over_a_broken_file_starts_from_the_clock(tmp_path: Path) -> None:
    (tmp_path / "hb_generation").write_bytes(b"garbage!\n")
    seen: list[tuple[Level, str]] = []
    gen = g.bump_generation(tmp_path, wall_s=2000.0, log=lambda lv, tx: seen.append((lv, tx)))
    assert gen == 2001
    assert seen[-1] == (Level.WARN, "BROKEN previous generation - starting at 2001")
    assert "byte 0" in seen[0][1]
    (tmp_path / "hb_generation").write_bytes(b"")
    seen.clear()
    gen = g.bump_generation(tmp_path, wall_s=3000.0, log=lambda lv, tx: seen.append((lv, tx)))
    assert gen == 3001
    assert seen == [(Level.WARN, "No Previous generation - starting at 3001")]


def test_uuid_created_once_and_checked(tmp_path: Path) -> None:
    u = g.load_or_create_uuid(tmp_path, new_uuid=lambda: bytes(range(1, 17)))
    assert u == bytes(range(1, 17)) and (tmp_path / "hb_uuid").read_bytes() == u
    assert g.load_or_create_uuid(tmp_path, new_uuid=lambda: b"z" * 16) == u
    (tmp_path / "hb_uuid").write_bytes(b"short")
    with pytest.raises(g.GenerationError, match="5 bytes, expected 16"):
        g.load_or_create_uuid(tmp_path)
    (tmp_path / "hb_uuid").write_bytes(bytes(16))
    with pytest.raises(g.GenerationError, match="all zero"):
        g.load_or_create_uuid(tmp_path)
