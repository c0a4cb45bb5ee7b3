"""The persisted heartbeat generation number and the node UUID (docs/heartbeat-protocol.md §3).

`hb_generation` holds the generation as decimal, right-aligned in 15 columns
plus a newline (16 bytes, e.g. `     1795581269\\n`); it goes up by one at every
start so peers can tell a restart from a replay. `hb_uuid` holds the node's
16 raw UUID bytes. The parse/format functions are pure; `bump_generation`
and `load_or_create_uuid` are the only I/O here (temp file + fsync + rename,
then an fsync of the directory, so a crash never leaves a torn file).

Where heartbeat 3.0.6 resets a *broken* (unparsable) file to generation 1
(a value every peer then rejects as a replay), we start from the clock the
same way as for a missing file; the log line keeps heartbeat's words.
"""

from __future__ import annotations

import os
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hbeat.logfmt import Level

GENERATION_FILE = "hb_generation"
UUID_FILE = "hb_uuid"
GENLEN = 16
MAX_GENERATION = 10**15 - 1
UUID_LEN = 16


class GenerationError(ValueError):
    """A generation or UUID file that cannot be used, with the reason."""


def format_generation(generation: int) -> bytes:
    """The 16-byte on-disk form: decimal right-aligned in 15 columns + newline."""
    if not 0 < generation <= MAX_GENERATION:
        raise GenerationError(f"generation {generation} does not fit in 15 decimal columns")
    return f"{generation:>15d}\n".encode("ascii")


def parse_generation(data: bytes, *, source: str = GENERATION_FILE) -> int:
    """Parse a generation file's content; raise GenerationError saying what is wrong."""
    if not data:
        raise GenerationError(f"{source}: file is empty")
    if len(data) > 64:
        raise GenerationError(f"{source}: {len(data)} bytes, expected {GENLEN}")
    text = data.strip(b" \t\n")
    if not text:
        raise GenerationError(f"{source}: holds only blanks")
    if not text.isdigit():
        bad = next(i for i, b in enumerate(data) if b not in b" \t\n0123456789")
        raise GenerationError(f"{source}: byte {bad} ({data[bad : bad + 1]!r}) is not a digit")
    value = int(text)
    if value == 0:
        raise GenerationError(f"{source}: generation is 0")
    if value > MAX_GENERATION:
        raise GenerationError(f"{source}: generation {value} is too large")
    return value


@dataclass(frozen=True, slots=True)
class GenerationStep:
    """The outcome of `next_generation`: the new value and what to log."""

    generation: int
    logs: tuple[tuple[Level, str], ...] = ()


def next_generation(previous: bytes | None, wall_s: float) -> GenerationStep:
    """Pure: the generation for this start, given the file content (None: no file)."""
    time_based = int(wall_s)
    if previous is None or previous == b"":
        gen = time_based + 1
        return GenerationStep(gen, ((Level.WARN, f"No Previous generation - starting at {gen}"),))
    try:
        old = parse_generation(previous)
    except GenerationError as exc:
        gen = time_based + 1
        return GenerationStep(
            gen,
            (
                (Level.ERROR, str(exc)),
                (Level.WARN, f"BROKEN previous generation - starting at {gen}"),
            ),
        )
    return GenerationStep(old + 1)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read_optional(path: Path) -> bytes | None:
    try:
        with path.open("rb") as f:
            return f.read(64 + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GenerationError(f"{path}: cannot read: {exc.strerror}") from exc


def bump_generation(
    state_dir: Path | str,
    *,
    wall_s: float | None = None,
    log: Callable[[Level, str], None] | None = None,
) -> int:
    """Read `<state_dir>/hb_generation`, store and return the next generation.

    `wall_s` defaults to the current epoch time (only used when the file is
    missing or broken). Every log line goes to `log` if given.
    """
    path = Path(state_dir) / GENERATION_FILE
    content = _read_optional(path)
    step = next_generation(content, wall_s if wall_s is not None else _wall_now())
    for level, text in step.logs:
        if log is not None:
            log(level, text)
    try:
        _write_atomically(path, format_generation(step.generation), 0o644)
    except OSError as exc:
        raise GenerationError(f"{path}: cannot write: {exc.strerror}") from exc
    return step.generation


def _wall_now() -> float:
    return time.time()


def parse_uuid(data: bytes, *, source: str = UUID_FILE) -> bytes:
    """Check a `hb_uuid` file's content: exactly 16 raw bytes, not all zero."""
    if len(data) != UUID_LEN:
        raise GenerationError(f"{source}: {len(data)} bytes, expected {UUID_LEN} raw UUID bytes")
    if data == bytes(UUID_LEN):
        raise GenerationError(f"{source}: the UUID is all zero")
    return data


def load_or_create_uuid(
    state_dir: Path | str,
    *,
    new_uuid: Callable[[], bytes] = lambda: uuidlib.uuid4().bytes,
    log: Callable[[Level, str], None] | None = None,
) -> bytes:
    """The node UUID from `<state_dir>/hb_uuid`, creating it when missing.

    A file that exists but is not 16 bytes is an error (the peers know this
    node by it), never silently replaced.
    """
    path = Path(state_dir) / UUID_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        value = parse_uuid(new_uuid(), source="new UUID")
        try:
            _write_atomically(path, value, 0o644)
        except OSError as exc:
            raise GenerationError(f"{path}: cannot write: {exc.strerror}") from exc
        if log is not None:
            log(Level.INFO, f"Creating UUID file {path}")
        return value
    except OSError as exc:
        raise GenerationError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_uuid(data, source=str(path))
