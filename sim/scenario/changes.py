"""A scenario with some fields changed by dotted path, validated again like a file: what sweeps,
plans and replications with changes run."""

from __future__ import annotations

from typing import Any

from sim.scenario.loader import scenario_from_data
from sim.scenario.paths import set_path
from sim.scenario.scenario import Scenario


def with_changes(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """A copy of `scenario` with fields set by dotted path, validated like a file.

    Example: `with_changes(s, {"providers.gcp.pools.tpu-v6.price_per_hour": 1.2, "seed": 3})`.
    """
    data = scenario.model_dump(mode="json")
    for path, value in changes.items():
        set_path(data, path, value)
    return scenario_from_data(data, file=f"<{scenario.name} with changes>")
