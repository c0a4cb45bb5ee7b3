"""Heartbeat's time syntax (docs/heartbeat-protocol.md §4.2), as a pure function.

A number of digits with at most one `.`, optional blanks, then an optional
unit: none means seconds, `ms`/`msec` milliseconds, `us`/`usec`
microseconds (units case-insensitive). The result is rounded to the nearest
millisecond, halves up, as heartbeat does. `s`, `sec`, `m` and anything else
are rejected; so are signs and exponents.
"""

from __future__ import annotations

import re

_TIME = re.compile(r"\s*([0-9.]*)\s*([A-Za-z]*)\s*")
# Milliseconds per unit, as a fraction (numerator, denominator): the value is
# computed exactly in integers (no float, and no `decimal`, which would cost
# the daemon a third of a MiB: docs/processes.md, "Memory").
_SCALE = {"": (1000, 1), "ms": (1, 1), "msec": (1, 1), "us": (1, 1000), "usec": (1, 1000)}


class TimeSyntaxError(ValueError):
    """The text is not a heartbeat time; str() says why."""


def parse_msec(text: str) -> int:
    """Milliseconds meant by `text`; raises TimeSyntaxError."""
    match = _TIME.fullmatch(text)
    if match is None or not match.group(1):
        raise TimeSyntaxError(
            f"[{text}] is not a time: expected a number of seconds, or a number "
            "followed by ms or us (e.g. 2, 1.5, 500ms)"
        )
    number, unit = match.group(1), match.group(2)
    if number.count(".") > 1 or not any(c.isdigit() for c in number):
        raise TimeSyntaxError(f"[{text}] is not a time: [{number}] is not a number")
    scale = _SCALE.get(unit.lower())
    if scale is None:
        raise TimeSyntaxError(
            f"[{text}] is not a time: unit [{unit}] is not understood; heartbeat "
            "takes plain seconds (2, 1.5), ms or us -- not s, sec or m"
        )
    whole, _, fraction = number.partition(".")
    numerator = int(whole + fraction or "0") * scale[0]
    denominator: int = 10 ** len(fraction) * scale[1]
    ms, rest = divmod(numerator, denominator)
    return ms + 1 if 2 * rest >= denominator else ms  # halves up


def format_ms(ms: int) -> str:
    """How derived timer values are recorded for hbparameter (`5000ms`)."""
    return f"{ms}ms"
