"""Durations (`90d`, `6h`, `2w`, `1y`) and calendar dates, turned into simulation hours."""

from __future__ import annotations

import re
from datetime import date, datetime, time

_UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0, "mo": 730.0, "y": 8760.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(min|mo|m|h|d|w|y)\s*$")


def parse_duration(value: object) -> float:
    """Hours in a duration: a number (already hours) or a string like `90d`, `6h`, `2w`, `3mo`, `1y`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 6h, 90d, 2w, 1y or a number of hours")
    if isinstance(value, int | float):
        hours = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            try:
                hours = float(value)
            except ValueError:
                raise ValueError(
                    f"expected a duration such as 6h, 90d, 2w, 3mo, 1y or a number of hours, "
                    f"got {value!r}"
                ) from None
        else:
            hours = float(match.group(1)) * _UNIT_HOURS[match.group(2)]
    else:
        raise ValueError("expected a duration such as 6h, 90d, 2w, 1y or a number of hours")
    if hours < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return hours


def parse_datetime(value: object) -> datetime:
    """A calendar date or date-time (ISO 8601) as a naive `datetime`."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            pass
    raise ValueError(f"expected an ISO date such as 2025-03-01 or 2025-03-01T06:00, got {value!r}")


def hours_between(start: datetime, moment: datetime) -> float:
    """Simulation hours from `start` to `moment`."""
    return (moment - start).total_seconds() / 3600.0


def format_hours(start: datetime, hours: float) -> str:
    """The calendar moment `hours` after `start`, ISO formatted to the minute."""
    from datetime import timedelta

    return (start + timedelta(hours=float(hours))).isoformat(timespec="minutes")
