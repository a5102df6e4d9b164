"""A test scenario built from a base dict with some fields changed by dotted path."""

from __future__ import annotations

import copy
from typing import Any

import sim
from sim.scenario import scenario_from_data


def build(base: dict[str, Any], **changes: Any) -> sim.Scenario:
    """`base` with each `a.b.c=value` of `changes` set (missing levels made), validated."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return scenario_from_data(data)
