"""Durations and dates as scenario files write them, and the messages when they are wrong."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.timeparse import format_hours, hours_between, parse_datetime, parse_duration

UNIT_HOURS = {"s": 1 / 3600, "sec": 1 / 3600, "min": 1 / 60, "m": 1 / 60, "h": 1.0, "d": 24.0,
              "w": 168.0, "mo": 730.0, "y": 8760.0}


@pytest.mark.parametrize(("text", "hours"), [
    ("30min", 0.5), ("90m", 1.5), ("6h", 6.0), ("2d", 48.0), ("2w", 336.0), ("3mo", 2190.0),
    ("1y", 8760.0), ("1.5d", 36.0), (".5h", 0.5), ("1e2h", 100.0), (" 6h ", 6.0), ("6 h", 6.0),
    ("+3d", 72.0), ("0d", 0.0), ("12", 12.0), ("2.5", 2.5), ("36s", 0.01), ("90 sec", 0.025),
    ("3600s", 1.0),
])
def test_durations_with_each_unit(text: str, hours: float) -> None:
    assert parse_duration(text) == pytest.approx(hours)


@pytest.mark.parametrize("value", [0, 5, 2.5, 8760])
def test_numbers_are_hours(value: float) -> None:
    assert parse_duration(value) == float(value)
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize("value", [-1, -0.5, "-3d", "-0.5h", "-12"])
def test_negative_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match=r"^a duration cannot be negative, got "):
        parse_duration(value)


@pytest.mark.parametrize(("value", "hint"), [
    ("5 days", " (write 5d)"), ("6 hours", " (write 6h)"), ("1 year", " (write 1y)"),
    ("2 weeks", " (write 2w)"), ("3 months", " (write 3mo)"), ("45 minutes", " (write 45min)"),
    ("5D", " (write 5d)"), ("10 seconds", " (write 10s)"), ("10S", " (write 10s)"),
    ("soon", ""), ("", ""), ("6x", ""), ("d5", ""), ("6h30min", ""), ("1,5d", ""),
])
def test_bad_strings_say_what_was_expected_and_what_was_found(value: str, hint: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == ("expected a duration such as 20s, 30min, 6h, 90d, 2w, 3mo, 1y or a number "
                               f"of hours, got {value!r}{hint}")


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (False, "false"), (None, "an empty value"),
                                              ([6], "[6]"), ({"h": 6}, "{'h': 6}")])
def test_other_types_are_rejected(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration such as .*, got ") as info:
        parse_duration(value)
    assert str(info.value).endswith(f", got {shown}")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "inf", "nan", "1e400h"])
def test_durations_must_be_finite(value: object) -> None:
    with pytest.raises(ValueError, match=r"finite|negative"):
        parse_duration(value)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(("value", "expected"), [
    (date(2025, 3, 1), datetime(2025, 3, 1)),
    (datetime(2025, 3, 1, 6, 30), datetime(2025, 3, 1, 6, 30)),
    (datetime(2025, 3, 1, 6, tzinfo=UTC), datetime(2025, 3, 1, 6)),
    ("2025-03-01", datetime(2025, 3, 1)),
    ("2025-03-01T06:00", datetime(2025, 3, 1, 6)),
    ("2025-03-01 06:00:30", datetime(2025, 3, 1, 6, 0, 30)),
    (" 2025-03-01 ", datetime(2025, 3, 1)),
])
def test_dates(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected and parsed.tzinfo is None


@pytest.mark.parametrize(("value", "ending"), [
    ("2025-13-01", "got '2025-13-01' (month must be in 1..12)"),
    ("2025-02-30", "got '2025-02-30' (day is out of range for month)"),
    ("2025-01-06T25:00", "got '2025-01-06T25:00' (hour must be in 0..23)"),
    ("tomorrow", "got 'tomorrow'"), ("01/03/2025", "got '01/03/2025'"), (20250301, "got 20250301"),
    (None, "got an empty value"),
])
def test_bad_dates_say_what_was_expected(value: object, ending: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_datetime(value)
    assert str(info.value) == f"expected an ISO date such as 2025-03-01 or 2025-03-01T06:00, {ending}"


def test_hours_between_and_format_hours() -> None:
    start = datetime(2025, 1, 6)
    assert hours_between(start, datetime(2025, 1, 7, 6)) == 30.0
    assert hours_between(start, datetime(2025, 1, 5)) == -24.0
    assert format_hours(start, 30) == "2025-01-07T06:00"
    assert format_hours(start, 0.5) == "2025-01-06T00:30"


# ---------------------------------------------------------------- properties

finite_hours = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1))


@given(finite_hours)
def test_hours_written_with_h_are_themselves(x: float) -> None:
    assert parse_duration(f"{x}h") == x
    assert parse_duration(x) == x
    assert parse_duration(repr(x)) == x


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNIT_HOURS)))
def test_every_unit_scales_by_its_hours(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * UNIT_HOURS[unit])


@given(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
       st.sampled_from(["", *sorted(UNIT_HOURS)]))
def test_negative_anything_is_rejected(x: float, unit: str) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(f"{x}{unit}" if unit else x)


@given(st.text(max_size=20))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        hours = parse_duration(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
    else:
        assert math.isfinite(hours) and hours >= 0


@given(moments, st.integers(min_value=-10**7, max_value=10**7))
def test_formatted_moments_parse_back(start: datetime, minutes: int) -> None:
    start = start.replace(second=0, microsecond=0)
    hours = minutes / 60
    moment = parse_datetime(format_hours(start, hours))
    assert moment == start + timedelta(minutes=minutes)
    assert hours_between(start, moment) == pytest.approx(hours, abs=1e-9)


@given(moments)
def test_iso_text_of_a_moment_parses_back(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat()) == moment
    assert parse_datetime(moment.date()) == datetime.combine(moment.date(), datetime.min.time())
