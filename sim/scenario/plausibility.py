"""Plausibility: values that validate but are most likely mistakes (issue 11), as warnings.

`capsim validate`, `run`, `compare` and `sweep` print them and go on; `--strict` makes them
errors (exit code 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sim.scenario.loader import scenario_from_data
from sim.scenario.problems import Problem
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_lines import PathT, dotted, line_for, read_yaml
from sim.timeparse import hours_between

POWER_KW_RANGE = (0.001, 5.0)
"""Power per accelerator or CPU unit outside this range is most likely a unit mistake (W as kW)."""


def plausibility(s: Scenario) -> Iterator[tuple[PathT, str]]:
    """Values that are valid but most likely mistakes: worth a warning, not a refusal."""
    low, high = POWER_KW_RANGE
    for name, acc in s.accelerators.items():
        if acc.power_kw and not low <= acc.power_kw <= high:
            yield ("accelerators", name, "power_kw"), (
                f"{acc.power_kw:g} kW per unit is outside the usual {low:g}-{high:g} kW "
                "(watts written as kW?)")
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            for i, c in enumerate(pool.commitments):
                most = _most_installed(s, pool, hours_between(s.start, c.start),
                                       hours_between(s.start, c.start) + c.term)
                if most is not None and c.units > most:
                    yield ("providers", pname, "pools", poolname, "commitments", i, "units"), (
                        f"commits {c.units:,.0f} units, but the pool has at most {most:,.0f} "
                        f"installed during the term; it bills "
                        f"${c.units * c.price_per_hour:,.0f} an hour for units that do not exist")
    base_kw = _base_power_kw(s)
    for i, step in enumerate(s.power.ceiling if s.power else []):
        if step.mw * 1000 < base_kw:
            yield ("power", "ceiling", i, "mw"), (
                f"{step.mw:g} MW is below the {base_kw / 1000:,.4g} MW that the base inference "
                "and agent demand alone draws at the start (units × kW of the most efficient "
                "accelerator that may serve it)")
    for section in ("inference", "agents"):
        for name, svc in getattr(s, section).items():
            if not svc.value_per_unit_hour and not svc.penalty_per_step_below_target:
                yield (section, name), ("no value_per_unit_hour: its unmet demand costs nothing "
                                        "in the results; give what an hour of a unit served is "
                                        "worth")
    for kind, items in (("jobs", list(enumerate(s.training.jobs))),
                        ("generators", list(s.training.generators.items()))):
        for key, job in items:
            if not job.delay_cost_per_hour:
                yield ("training", kind, key), ("no delay_cost_per_hour: waiting costs nothing in "
                                                "the results; give what an hour of delay costs")


def _most_installed(s: Scenario, pool: Any, t0: float, t1: float) -> float | None:
    """Most units the pool could have installed between hours t0 and t1 (inside the horizon):
    capacity steps plus every build-out site at full size from its planned date."""
    t0, t1 = max(t0, 0.0), min(t1, s.horizon)
    if t1 < t0:
        return None
    steps = [(hours_between(s.start, c.at), c.units) for c in pool.capacity]
    sites = [(hours_between(s.start, site.online), site.units)
             for site in (pool.buildout.sites if pool.buildout else [])]
    moments = {t0, *(t for t, _ in [*steps, *sites] if t0 <= t <= t1)}

    def installed(t: float) -> float:
        level = max([(at, units) for at, units in steps if at <= t], default=(0.0, 0.0))[1]
        return level + sum(units for at, units in sites if at <= t)

    return max(installed(t) for t in moments)


def _base_power_kw(s: Scenario) -> float:
    """kW that inference and agents draw at the start, each unit served by the accelerator that
    needs the least power per unit of its work (a lower bound)."""
    total = 0.0
    for section, families in (("inference", ("gpu", "tpu")), ("agents", ("cpu",))):
        for svc in getattr(s, section).values():
            if svc.base_units is None:
                continue
            fams = svc.families or families
            per_unit = [a.power_kw / a.infer_speed for a in s.accelerators.values()
                        if a.family in fams]
            # with a latency model base_units is the load; the fleet asked for has headroom
            fleet = svc.base_units / (svc.latency.target_utilisation if svc.latency else 1.0)
            total += fleet * min(per_unit, default=0.0)
    return total


def load_with_warnings(source: str | Path
                       ) -> tuple[Scenario, list[Problem], dict[PathT, int]]:
    """The validated scenario in a YAML file, its plausibility warnings (with lines), and the
    line of every key."""
    data, lines = read_yaml(source)
    scenario = scenario_from_data(data, str(source), lines, base_dir=Path(source).parent)
    return scenario, [Problem(str(source), line_for(path, lines), dotted(path), msg)
                      for path, msg in plausibility(scenario)], lines
