"""heartbeat's time syntax (docs/heartbeat-protocol.md §4.2)."""

import pytest

from hbeat.config.timeparse import TimeSyntaxError, parse_msec


@pytest.mark.parametrize(("text", "ms"), [
    ("1", 1000), ("10", 10000), ("0.5", 500), ("1.5", 1500), (".5", 500), ("0.001", 1),
    ("500ms", 500), ("500 ms", 500), ("500MS", 500), ("500msec", 500), ("1000us", 1),
    ("1000000us", 1000), ("499us", 0), ("500us", 1), ("501us", 1), ("1500usec", 2),
    ("0", 0), ("1.", 1000), ("0.0005", 1), ("0.0004", 0),
])
def test_valid_times(text: str, ms: int) -> None:
    assert parse_msec(text) == ms


@pytest.mark.parametrize(("text", "why"), [
    ("2s", "unit [s] is not understood"), ("2sec", "unit [sec] is not understood"),
    ("1m", "unit [m] is not understood"), ("10msx", "unit [msx] is not understood"),
    ("", "is not a time"), ("ms", "is not a time"), ("-1", "is not a time"),
    ("1e3", "is not a time"), ("1.2.3", "[1.2.3] is not a number"),
    (".", "[.] is not a number"),
])
def test_invalid_times(text: str, why: str) -> None:
    with pytest.raises(TimeSyntaxError, match=rf"^\[{__import__('re').escape(text)}\].*"):
        parse_msec(text)
    with pytest.raises(TimeSyntaxError) as info:
        parse_msec(text)
    assert why in str(info.value)


def test_exact_and_rounded_halves_up_like_decimal_arithmetic() -> None:
    """Every number of up to 3 + 4 digits in every unit gives what exact decimal
    arithmetic rounded halves up gives (the parser itself uses integers)."""
    from decimal import ROUND_HALF_UP, Decimal

    per_unit = {"": Decimal(1000), "ms": Decimal(1), "us": Decimal("0.001")}
    for whole in ("", "0", "7", "12", "999"):
        for fraction in ("", "0", "5", "49", "4999", "5000", "0005", "9995"):
            text = f"{whole}.{fraction}" if fraction else whole
            if not text.strip("."):
                continue
            for unit, scale in per_unit.items():
                want = int((Decimal(text) * scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                assert parse_msec(text + unit) == want, text + unit
