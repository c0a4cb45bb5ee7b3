"""Splitting a configuration file's bytes into numbered lines, comments removed.

Shared by the ha.cf and haresources parsers. Lenient where heartbeat is: a
CR before the newline is dropped (with one WARN per file), bytes that are
not UTF-8 are allowed inside comments. Strict where leniency would hide a
mistake: a CR or NUL inside a line, or a non-UTF-8 byte outside a comment,
is an error naming the line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.config.model import Level, Problem


@dataclass(frozen=True, slots=True)
class SourceLine:
    number: int
    text: str
    """The line with its comment (from the first `#`) and line ending removed."""


def split_lines(data: bytes, path: str) -> tuple[list[SourceLine], list[Problem]]:
    lines: list[SourceLine] = []
    problems: list[Problem] = []
    crlf_warned = False
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, start=1):
        if raw.endswith(b"\r"):
            if not crlf_warned:
                problems.append(Problem(path, number, Level.WARN,
                                        "file has CRLF (DOS) line endings; "
                                        "the carriage returns are ignored"))
                crlf_warned = True
            raw = raw[:-1]
        code = raw.split(b"#", 1)[0]
        bad = _first_bad(code, path, number)
        if bad is not None:
            problems.append(bad)
            continue
        lines.append(SourceLine(number, code.decode("utf-8")))
    return lines, problems


def _first_bad(code: bytes, path: str, number: int) -> Problem | None:
    if b"\r" in code:
        column = code.index(b"\r") + 1
        return Problem(path, number, Level.ERROR,
                       f"carriage return (\\r) in the middle of the line (column {column})")
    if b"\0" in code:
        column = code.index(b"\0") + 1
        return Problem(path, number, Level.ERROR, f"NUL byte in the line (column {column})")
    try:
        code.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(path, number, Level.ERROR,
                       f"byte 0x{code[exc.start]:02X} at column {exc.start + 1} is not "
                       "valid UTF-8 (only comments may hold other encodings)")
    return None
