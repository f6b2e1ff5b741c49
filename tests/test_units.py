import math

import pytest

from rampsim.units import Kind, UnitError, format_value, parse


@pytest.mark.parametrize("text, kind, expected", [
    ("15m", Kind.DURATION, 900.0),
    ("1h30m", Kind.DURATION, 5400.0),
    ("250ms", Kind.DURATION, 0.25),
    ("01:20", Kind.DURATION, 4800.0),
    ("0.5%", Kind.RATIO, 0.005),
    ("99.95%", Kind.RATIO, 0.9995),
    (0.005, Kind.RATIO, 0.005),
    ("-2%", Kind.RATIO, -0.02),
    ("50MB/h", Kind.BYTES_PER_HOUR, 50e6),
    ("2GiB", Kind.BYTES, 2 * 2**30),
    ("$2,450/min", Kind.DOLLARS_PER_MINUTE, 2450.0),
    ("1,250/s", Kind.REQUESTS_PER_SECOND, 1250.0),
    ("1.5", Kind.NUMBER, 1.5),
])
def test_parses_human_units(text, kind, expected):
    assert math.isclose(parse(text, kind), expected)


@pytest.mark.parametrize("text, kind, message", [
    ("200 mins", Kind.DURATION, "unknown unit 'mins'"),
    ("200", Kind.DURATION, "has no unit"),
    (200, Kind.DURATION, "has no unit"),
    ("0.5%", Kind.DURATION, "cannot read '0.5%' as a duration"),
    ("200ms", Kind.RATIO, "unknown unit 'ms'"),
    ("fast", Kind.RATIO, "cannot read 'fast'"),
    (True, Kind.RATIO, "expected ratio"),
    ("1e999", Kind.NUMBER, "not a finite number"),
])
def test_rejects_unreadable_quantities(text, kind, message):
    with pytest.raises(UnitError, match=message):
        parse(text, kind)


@pytest.mark.parametrize("value, kind", [
    (900.0, Kind.DURATION), (5400.0, Kind.DURATION), (0.25, Kind.DURATION), (0.005, Kind.RATIO),
    (0.9995, Kind.RATIO), (50e6, Kind.BYTES_PER_HOUR), (2450.0, Kind.DOLLARS_PER_MINUTE),
])
def test_formatted_values_read_back(value, kind):
    assert math.isclose(parse(format_value(value, kind), kind), value)
