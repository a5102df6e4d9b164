"""capsim: a multi-cloud capacity planning simulator for AI compute.

>>> import sim
>>> result = sim.run("scenarios/tiny.yaml", policy="cheapest_first")
>>> result.steps.head()  # doctest: +SKIP
>>> cmp = sim.compare("scenarios/tiny.yaml", ["cheapest_first", "microsoft_first"], 5)
>>> print(cmp.report())  # doctest: +SKIP
>>> sim.plots.spend_by_provider(cmp)  # doctest: +SKIP
>>> chosen = sim.plan("scenarios/openai_2025.yaml")  # doctest: +SKIP
>>> chosen.table  # candidates the engine checked  # doctest: +SKIP

Names are imported on first use, so `capsim validate` does not pay for pandas and simpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load": "sim.api",
    "resolved_yaml": "sim.api",
    "run": "sim.api",
    "with_changes": "sim.api",
    "make_policy": "sim.policies",
    "policy_names": "sim.policies",
    "RunResult": "sim.results",
    "Scenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
    "load_scenario": "sim.scenario",
    "compare": "sim.analysis",
    "sweep": "sim.analysis",
    "Comparison": "sim.analysis",
    "Sweep": "sim.analysis",
    "plan": "sim.planning.planner",
    "PlanResult": "sim.planning.planner",
}
# subpackages reachable as attributes: sim.plots.spend_by_provider(...), sim.analysis.mean_ci(...)
_SUBMODULES = ("analysis", "plots")

__all__ = [  # noqa: RUF022 - grouped as in _EXPORTS
    "load", "resolved_yaml", "run", "with_changes", "make_policy", "policy_names", "RunResult",
    "Scenario", "ScenarioError", "load_scenario", "compare", "sweep", "Comparison", "Sweep",
    "plan", "PlanResult", "analysis", "plots",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"sim.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])


if TYPE_CHECKING:
    from sim import analysis, plots
    from sim.analysis import Comparison, Sweep, compare, sweep
    from sim.api import load, resolved_yaml, run, with_changes
    from sim.planning.planner import PlanResult, plan
    from sim.policies import make_policy, policy_names
    from sim.results import RunResult
    from sim.scenario import Scenario, ScenarioError, load_scenario
