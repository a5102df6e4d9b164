"""Rate demand per step (inference, agents) as numpy arrays: growth, cycles, noise, spikes."""

from __future__ import annotations

import numpy as np

from sim.scenario.models import Service
from sim.scenario.traces import replay

HOURS_PER_MONTH = 730.0


def demand_series(
    svc: Service, times: np.ndarray, start_hour_of_day: float, start_weekday: int,
    spike_hours: list[float], rng: np.random.Generator,
) -> np.ndarray:
    """Demand in reference units at each step start time `times` (hours from the scenario start)."""
    level = svc.base_units * np.power(1.0 + svc.growth_per_month, times / HOURS_PER_MONTH)
    clock = (times + start_hour_of_day) % 24.0
    level = level * (1.0 + svc.daily_amplitude * np.cos(2 * np.pi * (clock - svc.peak_hour) / 24))
    if svc.weekly_amplitude:
        weekday = (start_weekday + np.floor((times + start_hour_of_day) / 24.0)) % 7
        level = level * np.where(weekday >= 5, 1.0 - svc.weekly_amplitude, 1.0)
    for at, spike in zip(spike_hours, svc.spikes, strict=True):
        since = times - at
        fade = np.clip(1.0 - since / spike.duration, 0.0, 1.0) * (since >= 0)
        level = level * (1.0 + (spike.multiplier - 1.0) * fade)
    if svc.noise:
        # Mean-one lognormal noise, so noise does not shift average demand.
        sigma = svc.noise
        level = level * rng.lognormal(-0.5 * sigma * sigma, sigma, size=times.shape)
    return level


def service_demand(svc: Service, times: np.ndarray, step: float, start_hour_of_day: float,
                   start_weekday: int, spike_hours: list[float],
                   rng: np.random.Generator) -> np.ndarray:
    """Demand per step of a service that replays a trace (alone, or on top of its own curve)."""
    assert svc.trace is not None
    demand = np.array(replay(svc.trace, step, len(times)).demand, dtype=np.float64)
    if svc.trace.mode == "on_top":
        shape = svc.model_copy(update={"base_units": 1.0})
        demand *= demand_series(shape, times, start_hour_of_day, start_weekday, spike_hours, rng)
    return demand
