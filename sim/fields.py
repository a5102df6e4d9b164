"""Field types shared by the scenario models and the policies' parameter models: durations and
dates as scenario files write them. Below both, so a policy's parameters need no scenario import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from sim.timeparse import parse_datetime, parse_duration

DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+\s*(sec|min|mo|m|h|d|w|y|s)\s*$"},
    ],
    "description": "hours, or a duration with a unit: 20s, 30min, 6h, 90d, 2w, 3mo, 1y",
}
DATE_SCHEMA = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$",
    "description": "ISO date or date-time: 2025-03-01 or 2025-03-01T06:00",
}

Hours = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]
"""A duration in hours; scenario files may write `90d`, `6h`, `2w`, `3mo`, `1y`."""
When = Annotated[datetime, BeforeValidator(parse_datetime), WithJsonSchema(DATE_SCHEMA)]
"""A calendar moment; converted to simulation hours from the scenario start at build time."""
