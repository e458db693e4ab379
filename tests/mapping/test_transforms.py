"""Field transforms: exact Decimals, aware datetimes, and a TransformError for bad values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.mapping.transforms import Memo, TransformError, build_chain

PARIS = ZoneInfo("Europe/Paris")


def run(steps: list[Any], value: Any) -> Any:
    result = value
    for fn in build_chain(steps, "fields.x.transforms"):
        result = fn(result)
    return result


FR_DECIMAL = {"decimal": {"decimal_separator": ",", "thousands_separator": " "}}


@pytest.mark.parametrize(("text", "expected"), [
    ("12,000", Decimal("12.000")),
    ("1 234,56", Decimal("1234.56")),
    ("1 234 567,8", Decimal("1234567.8")),
    ("-0,5", Decimal("-0.5")),
    ("7", Decimal("7")),
])
def test_decimal_with_comma_and_thousands(text: str, expected: Decimal) -> None:
    result = run([FR_DECIMAL], text)
    assert type(result) is Decimal
    assert result == expected
    assert str(result) == str(expected)  # exponent kept: "12.000", not "12"


def test_decimal_with_dot_thousands() -> None:
    steps = [{"decimal": {"decimal_separator": ",", "thousands_separator": "."}}]
    assert run(steps, "1.234.567,89") == Decimal("1234567.89")


def test_decimal_default_separator_is_dot() -> None:
    result = run(["decimal"], "0.1")
    assert type(result) is Decimal
    assert result == Decimal("0.1")
    assert result + run(["decimal"], "0.2") == Decimal("0.3")  # exact, unlike float


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "not a number"),
    ("1,2,3", "not a number"),
    ("12.5", "expected a decimal with ',' as separator"),
    ("NaN", "not a number"),
    ("Infinity", "not a number"),
    ("1e5", "not a number"),
    ("1_000", "not a number"),
])
def test_bad_numbers_raise_transform_error(text: str, message: str) -> None:
    with pytest.raises(TransformError) as info:
        run([{"decimal": {"decimal_separator": ","}}], text)
    assert str(info.value) == message


def test_decimal_passes_empty_and_decimal_values_through() -> None:
    assert run([FR_DECIMAL], "") == ""
    assert run([FR_DECIMAL], None) is None
    d = Decimal("3.50")
    assert run([FR_DECIMAL], d) is d


def test_datetime_with_format_and_zone_is_aware() -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    dt = run(steps, "28/11/2026 09:15")
    assert dt == datetime(2026, 11, 28, 9, 15, tzinfo=PARIS)
    assert dt.utcoffset() == timedelta(hours=1)
    assert dt.isoformat() == "2026-11-28T09:15:00+01:00"
    assert dt.astimezone(UTC) == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)


def test_datetime_in_summer_takes_the_summer_offset() -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    assert run(steps, "28/07/2026 09:15").isoformat() == "2026-07-28T09:15:00+02:00"


def test_datetime_without_zone_is_utc() -> None:
    dt = run([{"datetime": {"format": "%Y-%m-%d"}}], "2026-11-28")
    assert dt == datetime(2026, 11, 28, tzinfo=UTC)
    assert dt.utcoffset() == timedelta(0)


def test_datetime_keeps_an_offset_given_in_the_text() -> None:
    steps = [{"datetime": {"format": "%Y-%m-%dT%H:%M%z", "timezone": "Europe/Paris"}}]
    assert run(steps, "2026-11-28T09:15-0500").isoformat() == "2026-11-28T09:15:00-05:00"


@pytest.mark.parametrize("text", ["31/11/2026 09:15", "29/02/2026 10:00", "28/11/2026",
                                  "2026-11-28 09:15", "28/11/2026 25:00"])
def test_invalid_dates_are_rejected(text: str) -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    with pytest.raises(TransformError) as info:
        run(steps, text)
    assert str(info.value) == "not a date/time in the form '%d/%m/%Y %H:%M'"


def test_datetime_needs_a_format_and_a_known_zone() -> None:
    with pytest.raises(ValueError) as info:
        build_chain([{"datetime": {"timezone": "Europe/Paris"}}], "fields.as_of.transforms")
    assert str(info.value).startswith("fields.as_of.transforms[0]: datetime: datetime needs a "
                                      "format")
    with pytest.raises(ValueError) as info:
        build_chain(["strip", {"datetime": {"format": "%Y", "timezone": "Mars/Olympus"}}],
                    "fields.as_of.transforms")
    assert str(info.value) == ("fields.as_of.transforms[1]: datetime: unknown time zone "
                               "'Mars/Olympus'")


def test_required() -> None:
    assert run(["required"], "A") == "A"
    for empty in ("", None):
        with pytest.raises(TransformError) as info:
            run(["required"], empty)
        assert str(info.value) == "value is required"
    with pytest.raises(TransformError):
        run(["strip", "required"], "   ")


def test_default() -> None:
    assert run([{"default": {"value": "MAIN"}}], "") == "MAIN"
    assert run([{"default": "MAIN"}], None) == "MAIN"
    assert run([{"default": "MAIN"}], "EAST") == "EAST"


def test_strip_upper_lower() -> None:
    assert run(["strip"], "  ab c \t") == "ab c"
    assert run(["strip", "upper"], " abc-1 ") == "ABC-1"
    assert run(["lower"], "MAIN") == "main"
    assert run(["upper"], None) is None


def test_constant() -> None:
    assert run([{"constant": {"value": "EUR"}}], "USD") == "EUR"
    assert run([{"constant": "EUR"}], "") == "EUR"


def test_integer() -> None:
    result = run(["integer"], "42")
    assert type(result) is int and result == 42
    assert run(["integer"], "") == ""
    for bad in ("4.2", "x", "4,2"):
        with pytest.raises(TransformError) as info:
            run(["integer"], bad)
        assert str(info.value) == "not a whole number"


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("15.999"), "15"), (Decimal("15"), "15"), (Decimal("0.5"), "0"),
    (Decimal("-0.5"), "-1"), ("2.5", "2"), (None, ""), ("", ""),
])
def test_decimal_format_floor(value: Any, expected: str) -> None:
    assert run([{"decimal_format": {"places": 0, "rounding": "floor"}}], value) == expected


@pytest.mark.parametrize(("rounding", "value", "expected"), [
    ("half_up", "2.345", "2,35"), ("half_up", "2.335", "2,34"),
    ("half_even", "2.345", "2,34"), ("half_even", "2.355", "2,36"),
    ("down", "-2.349", "-2,34"), ("floor", "-2.341", "-2,35"),
])
def test_decimal_format_rounding_and_separator(rounding: str, value: str, expected: str
                                               ) -> None:
    steps = [{"decimal_format": {"places": 2, "rounding": rounding, "decimal_separator": ","}}]
    assert run(steps, Decimal(value)) == expected


def test_decimal_format_defaults_to_two_places_half_up() -> None:
    assert run(["decimal_format"], Decimal("1.005")) == "1.01"
    assert run(["decimal_format"], Decimal("3")) == "3.00"


def test_decimal_format_unknown_rounding() -> None:
    with pytest.raises(ValueError) as info:
        build_chain([{"decimal_format": {"rounding": "up"}}], "columns[1].transforms")
    assert str(info.value) == ("columns[1].transforms[0]: decimal_format: rounding must be one "
                               "of half_up, half_even, floor, down")


def test_datetime_format_converts_to_the_zone() -> None:
    dt = datetime(2026, 11, 28, 9, 15, tzinfo=PARIS)
    assert run([{"datetime_format": {"format": "%Y-%m-%d %H:%M", "timezone": "UTC"}}],
               dt) == "2026-11-28 08:15"
    assert run([{"datetime_format": {"format": "%d/%m/%Y %H:%M"}}], dt) == "28/11/2026 09:15"
    assert run([{"datetime_format": {"format": "%Y"}}], None) == ""


def test_parse_then_format_round_trip() -> None:
    parsed = run([{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}],
                 "28/07/2026 23:30")
    out = run([{"datetime_format": {"format": "%Y-%m-%dT%H:%M%z", "timezone": "UTC"}}], parsed)
    assert out == "2026-07-28T21:30+0000"


def test_unknown_transform_and_bad_step_shape() -> None:
    with pytest.raises(ValueError) as info:
        build_chain(["strip", "requird"], "fields.sku.transforms")
    assert str(info.value).startswith("fields.sku.transforms[1]: unknown transform 'requird' "
                                      "(known: constant, datetime,")
    with pytest.raises(ValueError) as info:
        build_chain([{"strip": None, "upper": None}], "fields.sku.transforms")
    assert str(info.value).startswith("fields.sku.transforms[0]: a transform is a name or a "
                                      "one-key table")


def test_memo_gives_the_same_result_and_the_same_failure_every_time() -> None:
    memo = Memo(build_chain(["strip", FR_DECIMAL], "k"))
    assert memo(" 1 234,5 ") == Decimal("1234.5")
    assert memo(" 1 234,5 ") == Decimal("1234.5")
    assert len(memo.cache) == 1
    for _ in range(2):
        with pytest.raises(TransformError) as info:
            memo("x")
        assert str(info.value) == "not a number"
    assert len(memo.cache) == 2


def test_memo_is_bounded() -> None:
    memo = Memo(build_chain(["integer"], "k"), limit=3)
    assert [memo(str(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(memo.cache) <= 3
