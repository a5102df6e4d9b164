"""Durations (`20s`, `90d`, `6h`, `2w`, `1y`) and calendar dates, turned into simulation hours."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time

_UNIT_HOURS = {"s": 1 / 3600, "sec": 1 / 3600, "m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0,
               "w": 168.0, "mo": 730.0, "y": 8760.0}
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_DURATION = re.compile(rf"^\s*{_NUMBER}\s*(sec|min|mo|m|h|d|w|y|s)\s*$")
_WORDY = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-z]+)\s*$")
_WORDS = {"minute": "min", "minutes": "min", "mins": "min", "hour": "h", "hours": "h", "hr": "h",
          "hrs": "h", "day": "d", "days": "d", "week": "w", "weeks": "w", "month": "mo",
          "months": "mo", "year": "y", "years": "y", "yr": "y", "yrs": "y", "secs": "s",
          "second": "s", "seconds": "s"}
_EXPECTED = "expected a duration such as 20s, 30min, 6h, 90d, 2w, 3mo, 1y or a number of hours"


def parse_duration(value: object) -> float:
    """Hours in a duration: a number (already hours) or a string like `20s`, `90d`, `6h`, `2w`, `3mo`, `1y`.

    Raises ValueError with a message meant for the person who wrote the value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        shown = str(value).lower() if isinstance(value, bool) else (
            "an empty value" if value is None else repr(value))
        raise ValueError(f"{_EXPECTED}, got {shown}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is not None:
            hours = float(match.group(1)) * _UNIT_HOURS[match.group(2)]
        else:
            try:
                hours = float(value)
            except ValueError:
                raise ValueError(f"{_EXPECTED}, got {value!r}{_hint(value)}") from None
    else:
        hours = float(value)
    if math.isnan(hours):
        raise ValueError(f"a duration must be a finite number of hours, got {value!r} (not a number)")
    if hours < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if not math.isfinite(hours):
        raise ValueError(f"a duration must be a finite number of hours, got {value!r}")
    return hours


def _hint(text: str) -> str:
    """How to write a duration spelt out in words (`5 days` -> `5d`), if it is one."""
    match = _WORDY.match(text)
    if match is None:
        return ""
    word = match.group(2).lower()
    unit = _WORDS.get(word, word if word in _UNIT_HOURS else None)
    if unit is None:
        return ""
    return f" (write {match.group(1)}{unit})"


def parse_datetime(value: object) -> datetime:
    """A calendar date or date-time (ISO 8601) as a naive `datetime`."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    reason = ""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError as exc:
            if re.match(r"^\s*\d{4}-\d{2}-\d{2}", value) and "isoformat" not in str(exc):
                reason = f" ({exc})"  # looks like a date but is not one: `month must be in 1..12`
    shown = "an empty value" if value is None else repr(value)
    raise ValueError(f"expected an ISO date such as 2025-03-01 or 2025-03-01T06:00, "
                     f"got {shown}{reason}")


def hours_between(start: datetime, moment: datetime) -> float:
    """Simulation hours from `start` to `moment`."""
    return (moment - start).total_seconds() / 3600.0


def format_hours(start: datetime, hours: float) -> str:
    """The calendar moment `hours` after `start`, ISO formatted to the minute."""
    from datetime import timedelta

    try:
        return (start + timedelta(hours=float(hours))).isoformat(timespec="minutes")
    except OverflowError:  # a contract of 2^63 hours is valid input; no calendar holds its end
        return "beyond the year 9999" if hours > 0 else "before the year 1"
