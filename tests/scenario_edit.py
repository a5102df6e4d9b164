"""Scenarios the tests share: small bases (one pool; Azure and one other provider), a base with fields
changed by dotted path, and jobs dated by simulation hour."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd

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


START = pd.Timestamp("2025-01-01")


def at(hours: float) -> str:
    """ISO date-time of a simulation hour (scenario start 2025-01-01)."""
    return (START + pd.Timedelta(hours=hours)).isoformat(timespec="minutes")


def scenario(units: float, *, train_speed: float = 1.0, horizon: float = 100.0,
             jobs: list[dict[str, Any]] | None = None, pool: dict[str, Any] | None = None,
             **extra: Any) -> sim.Scenario:
    """One provider, one pool of `units` accelerators (no power), the given jobs."""
    data: dict[str, Any] = {
        "name": "rule", "start": "2025-01-01", "horizon": horizon, "seed": 1,
        "accelerators": {"acc": {"family": "gpu", "train_speed": train_speed, "power_kw": 0}},
        "providers": {"cloud": {"pools": {"pool": {
            "accelerator": "acc", "price_per_hour": 1.0,
            "capacity": [{"at": "2025-01-01", "units": units}], **(pool or {})}}}},
        "training": {"jobs": jobs or []},
        "policy": {"default": "cheapest_first"},
        **extra,
    }
    return scenario_from_data(data)


def job(name: str, arrival: float, units: int, duration: float, **traits: Any) -> dict[str, Any]:
    return {"name": name, "arrival": at(arrival), "units": units, "duration": duration, **traits}


FIRST_REFUSAL: dict[str, Any] = {  # Azure (the holder, $3/h, 100 units) and other ($2/h, 300)
    "name": "rofr",
    "start": "2025-01-01",
    "horizon": "40d",
    "step": "1h",
    "accelerators": {"gpu": {"family": "gpu", "power_kw": 1.0}},
    "providers": {
        "azure": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 3.0,
                                    "capacity": [{"at": "2025-01-01", "units": 100}]}}},
        "other": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 2.0,
                                    "capacity": [{"at": "2025-01-01", "units": 300}]}}},
    },
    "policy": {"default": "microsoft_first",
               "params": {"microsoft_first": {"decision_window": "48h", "answer_delay": 0,
                                              "release": "30d"}}},
    "scheduling": {"inference_reserve": "1h"},
}


TWO_CLOUDS: dict[str, Any] = {  # azure ($2/h) and other ($1/h), 100 units each, open market
    "name": "labels", "start": "2025-01-01", "horizon": "3d", "step": "1h",
    "accelerators": {"g": {"family": "gpu", "power_kw": 1.0}},
    "providers": {
        "azure": {"pools": {"g": {"accelerator": "g", "price_per_hour": 2.0,
                                  "capacity": [{"at": "2025-01-01", "units": 100}]}}},
        "other": {"pools": {"g": {"accelerator": "g", "price_per_hour": 1.0,
                                  "capacity": [{"at": "2025-01-01", "units": 100}]}}}},
    "policy": {"default": "open_market"},
}
