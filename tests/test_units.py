import math
import re

import numpy as np

import pytest
from pydantic import TypeAdapter, ValidationError

from rampsim.units import Kind, PlainNumber, UnitError, count, format_value, parse, plain_number


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


UNICODE_DIGITS = ["\u0660.\u0665", "\uff10.\uff15", "\u0967\u096b", "1\u0665", "\u00b2"]   # Arabic-Indic, fullwidth,
# Devanagari, one ASCII digit and one not, a superscript: Python's float() and Decimal() read all but the last


@pytest.mark.parametrize("kind, unit", [(Kind.RATIO, "%"), (Kind.RATIO, ""), (Kind.NUMBER, ""), (Kind.DURATION, "m"),
                                        (Kind.DURATION, "s30m"), (Kind.BYTES, "MB"), (Kind.DOLLARS_PER_MINUTE, "/min"),
                                        (Kind.REQUESTS_PER_SECOND, "/s")])
@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_numbers_are_written_in_ascii_digits(kind, unit, digits):
    text = f"${digits}{unit}" if kind is Kind.DOLLARS_PER_MINUTE else f"{digits}{unit}"
    with pytest.raises(UnitError, match=r"is not an ASCII digit; write the number with ASCII digits 0-9"):
        parse(text, kind)


def test_a_clock_time_is_written_in_ascii_digits():
    with pytest.raises(UnitError, match=r"'\u0660' \(arabic-indic digit zero\) is not an ASCII digit"):
        parse("\u0660\u0661:\u0662\u0660", Kind.DURATION)


@pytest.mark.parametrize("value, expected", [(5, 5), (5.0, 5), ("500,000", 500_000), ("1e3", 1000), (" 7 ", 7), (0, 0)])
def test_a_count_is_a_whole_number_without_a_unit(value, expected):
    assert count(value) == expected and type(count(value)) is int


@pytest.mark.parametrize("value, message", [
    (True, "expected a whole number such as 5, got the boolean True"), (False, "got the boolean False"),
    (5.5, "got 5.5"), ("5%", "got '5%'"), ("100%", "got '100%'"), ("5 rps", "got '5 rps'"), (None, "got None"),
    (math.inf, "got inf"), ("\uff15", "write the number with ASCII digits 0-9"),
    ("1e999999999", "too large for a count"), (10**400, "too large for a count"),
])
def test_a_count_refuses_anything_else(value, message):
    with pytest.raises(UnitError, match=re.escape(message)):
        count(value)


@pytest.mark.parametrize("value, expected", [(5, 5), (-2.5, -2.5), ("0.95", 0.95), (" 1e3 ", 1000.0), ("-1", -1.0)])
def test_a_plain_number_is_a_number_without_a_unit(value, expected):
    assert plain_number(value) == expected and TypeAdapter(PlainNumber).validate_python(value) == expected


@pytest.mark.parametrize("value, message", [
    (True, "expected a number such as 1.5, got the boolean True"), (False, "got the boolean False"),
    ("99%", "expected a number such as 1.5, without a unit, got '99%'"), ("fast", "got 'fast'"),
    ("\uff19\uff19", "'\uff19' (fullwidth digit nine) is not an ASCII digit"),
    ("\u0669\u0669.\u0665", "write the number with ASCII digits 0-9"),
])
def test_a_plain_number_refuses_a_boolean_a_unit_and_unicode_digits(value, message):
    """A controller's threshold or weight: a plain float field reads ``true`` as 1.0 and Python's float() reads
    '９９' as 99."""
    with pytest.raises(UnitError, match=re.escape(message)):
        plain_number(value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        TypeAdapter(PlainNumber).validate_python(value)


@pytest.mark.parametrize("value", [math.inf, "inf", "NaN", "1e400"])
def test_a_plain_number_is_finite(value):
    with pytest.raises(ValidationError, match="Input should be a finite number"):
        TypeAdapter(PlainNumber).validate_python(value)


def test_yaml_numbers_and_ascii_text_read_as_before():
    assert parse(5, Kind.NUMBER) == 5.0 and parse(0.005, Kind.RATIO) == 0.005 and parse(1e3, Kind.NUMBER) == 1000.0
    assert parse(" 1,250 rps ", Kind.REQUESTS_PER_SECOND) == 1250.0 and parse("01:20", Kind.DURATION) == 4800.0
    assert parse("+1.5e1%", Kind.RATIO) == 0.15 and parse("-.5", Kind.NUMBER) == -0.5


@pytest.mark.parametrize("value, kind", [
    (900.0, Kind.DURATION), (5400.0, Kind.DURATION), (0.25, Kind.DURATION), (0.005, Kind.RATIO),
    (0.9995, Kind.RATIO), (50e6, Kind.BYTES_PER_HOUR), (2450.0, Kind.DOLLARS_PER_MINUTE),
])
def test_formatted_values_read_back(value, kind):
    assert math.isclose(parse(format_value(value, kind), kind), value)


# -- exact decimals (a threshold and a count ratio that are the same number must tie) ---------

from hypothesis import given, strategies as st  # noqa: E402


@given(st.integers(1, 9999))
def test_every_two_decimal_percentage_is_the_float_nearest_its_value(hundredths):
    text = f"{hundredths // 100}.{hundredths % 100:02d}%"
    assert parse(text, Kind.RATIO) == hundredths / 10000   # int / int is correctly rounded


@pytest.mark.parametrize("text, expected", [("99.9%", 999 / 1000), ("99.99%", 9999 / 10000), ("0.35%", 35 / 10000),
                                            ("0.45%", 45 / 10000), ("0.55%", 55 / 10000), ("0.7%", 7 / 1000),
                                            ("1.1s", 11 / 10), ("0.3m", 18.0), ("$0.1/s", 6.0)])
def test_units_are_applied_exactly(text, expected):
    kind = Kind.DOLLARS_PER_MINUTE if text.startswith("$") else Kind.DURATION if text[-1] in "sm" else Kind.RATIO
    assert parse(text, kind) == expected


def test_an_availability_tie_holds_instead_of_advancing():
    """7,497 passed checks of 7,500 is exactly 99.96%: `availability > 99.96%` must fail, and the gate hold."""
    from rampsim.engine import DecisionEngine
    from rampsim.engine.events import Decision, DecisionKind
    from rampsim.plan import plan_from_text
    from tests.builders import run, steady

    plan = plan_from_text("""\
name: tie
phases: [{weight: 10%, duration: 15m}]
final_gate:
  at: 15m
  criteria:
    availability: {metric: availability, op: ">", threshold: 99.96%, window: cumulative}
slo:
  objectives:
    errors: {metric: error_rate, op: ">", threshold: 1%, window: 5m, sustain: 5m}
""", "tie.yaml")
    ticks = 61
    failed = np.zeros(ticks)
    failed[[10, 20, 30]] = 1
    telemetry = steady(plan.layout, minutes=15, checks_per_scrape=125, failed_checks=failed)
    checks, ok = telemetry.health_checks[-1, 1], telemetry.health_checks_ok[-1, 1]
    assert (checks, ok) == (7500, 7497)
    decision = [e for e in run(DecisionEngine(plan), telemetry) if isinstance(e, Decision)][-1]
    assert decision.kind is DecisionKind.HOLD


# -- unit field types: Annotated[float, Unit(...)] reads exactly what parse reads, in its range ---------

from typing import get_args  # noqa: E402

from pydantic import TypeAdapter, ValidationError  # noqa: E402

from rampsim.units import UNIT_TYPES, Unit  # noqa: E402

_ADAPTERS = {name: TypeAdapter(annotated) for name, annotated in UNIT_TYPES.items()}
_UNITS = {name: next(m for m in get_args(annotated)[1:] if isinstance(m, Unit)) for name, annotated in UNIT_TYPES.items()}
_SPELLINGS = {   # each kind written with every unit it takes ("{}" is the number)
    Kind.DURATION: ["{}s", "{}m", "{}h", "{}ms", "{}d", "{} s"],
    Kind.RATIO: ["{}%", "{}"],
    Kind.BYTES: ["{}B", "{}MB", "{}GiB", "{}KiB"],
    Kind.BYTES_PER_HOUR: ["{}MB/h", "{}GiB/min", "{}KB/s"],
    Kind.DOLLARS: ["${}"],
    Kind.DOLLARS_PER_MINUTE: ["${}/min", "${}/h", "${}/s"],
    Kind.REQUESTS_PER_SECOND: ["{}/s", "{} rps", "{} req/s"],
    Kind.NUMBER: ["{}", "{}%"],
}


def test_every_kind_has_a_unit_type():
    assert {unit.kind for unit in _UNITS.values()} == set(Kind)


@pytest.mark.parametrize("name", sorted(UNIT_TYPES))
@given(hundredths=st.one_of(st.integers(-10**4, 10**4), st.integers(-10**15, 10**15)), spelling=st.integers(0, 5),
       grouped=st.booleans())
def test_unit_types_read_every_two_decimal_value_exactly_as_parse(name, hundredths, spelling, grouped):
    unit = _UNITS[name]
    grouped = grouped and unit.kind is not Kind.DURATION   # durations take no thousands separators
    whole, cents = divmod(abs(hundredths), 100)
    number = f"{'-' if hundredths < 0 else ''}{whole:{',' if grouped else ''}}.{cents:02d}"
    spellings = _SPELLINGS[unit.kind]
    text = spellings[spelling % len(spellings)].format(number)
    expected = parse(text, unit.kind)
    in_range = unit.low <= expected <= unit.high and (expected > unit.low or unit.allow_low)
    if in_range:
        assert _ADAPTERS[name].validate_python(text) == expected   # the same float, to the last bit
    else:
        with pytest.raises(ValidationError, match="out of range|must be"):
            _ADAPTERS[name].validate_python(text)


@pytest.mark.parametrize("name", sorted(UNIT_TYPES))
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "inf", "nan", ".inf", "1e999", "-1e999", None, True])
def test_unit_types_refuse_non_finite_values(name, value):
    with pytest.raises(ValidationError):
        _ADAPTERS[name].validate_python(value)


@pytest.mark.parametrize("name", sorted(UNIT_TYPES))
def test_unit_types_refuse_a_quantity_that_overflows(name):
    spelling = _SPELLINGS[_UNITS[name].kind][0]
    with pytest.raises(ValidationError, match="not a finite number"):
        _ADAPTERS[name].validate_python(spelling.format("1" + "0" * 400))


@given(st.floats(0.001, 40 * 86_400.0))
def test_every_printed_duration_has_one_form_and_reads_back(seconds):
    """Detection times, sustains and windows print alike (``1m45s``, never ``105s`` beside ``3m``)."""
    text = format_value(seconds, Kind.DURATION)
    assert re.fullmatch(r"\d+(\.\d+)?(ms|s)|(\d+h)?(\d+m)?(\d+s)?", text), text
    tolerance = 0.05 if seconds < 60 else 0.5   # a tenth of a second below a minute, whole seconds above
    assert abs(parse(text, Kind.DURATION) - seconds) <= tolerance * (1 + 1e-9) + seconds * 5e-4 * (seconds < 1)
    if seconds >= 60:
        assert not re.search(r"\d{2,}s$", text) or int(re.search(r"(\d+)s$", text).group(1)) < 60


def test_negative_and_unbounded_durations_print_as_such():
    assert format_value(-15.0, Kind.DURATION) == "-15s" and format_value(-105.0, Kind.DURATION) == "-1m45s"
    assert format_value(math.inf, Kind.DURATION) == "∞" and format_value(math.nan, Kind.DURATION) == "n/a"


def test_numpy_numbers_are_counts_and_numpy_booleans_are_not():
    """A notebook's override holds numpy's types: its integers were refused as counts once Python's int alone was
    one, and numpy's boolean passed as a plain number (1.0)."""
    import numpy as np

    from rampsim.units import UnitError, count, plain_number

    assert count(np.int64(4)) == 4 and count(np.float64(5.0)) == 5 and plain_number(np.float64(0.5)) == 0.5
    for read in (count, plain_number):
        with pytest.raises(UnitError, match="the boolean"):
            read(np.True_)
