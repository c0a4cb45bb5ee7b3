"""Heartbeat's time syntax (docs/heartbeat-protocol.md §4.2), as a pure function.

A number of digits with at most one `.`, optional blanks, then an optional
unit: none means seconds, `ms`/`msec` milliseconds, `us`/`usec`
microseconds (units case-insensitive). The result is rounded to the nearest
millisecond, halves up, as heartbeat does. `s`, `sec`, `m` and anything else
are rejected; so are signs and exponents.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

_TIME = re.compile(r"\s*([0-9.]*)\s*([A-Za-z]*)\s*")
_SCALE = {"": Decimal(1000), "ms": Decimal(1), "msec": Decimal(1),
          "us": Decimal("0.001"), "usec": Decimal("0.001")}


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
    value = Decimal(number if number != "." else "0") * scale
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_ms(ms: int) -> str:
    """How derived timer values are recorded for hbparameter (`5000ms`)."""
    return f"{ms}ms"
