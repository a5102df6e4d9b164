"""The public Python API: load a scenario, change it, run it under a policy, get DataFrames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.engine import Simulation, compile_scenario
from sim.policies import make_policy
from sim.results import RunResult
from sim.scenario import Scenario, load_scenario, scenario_from_data
from sim.scenario.paths import set_path


def load(source: str | Path | Scenario) -> Scenario:
    """A validated scenario from a YAML path (or the scenario itself)."""
    return source if isinstance(source, Scenario) else load_scenario(source)


def with_changes(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """A copy of `scenario` with fields set by dotted path, validated like a file.

    Example: `with_changes(s, {"providers.gcp.pools.tpu-v6.price_per_hour": 1.2, "seed": 3})`.
    """
    data = scenario.model_dump(mode="json")
    for path, value in changes.items():
        set_path(data, path, value)
    return scenario_from_data(data, file=f"<{scenario.name} with changes>")


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def run(scenario: str | Path | Scenario, policy: str | None = None, seed: int | None = None,
        replication: int = 0) -> RunResult:
    """Simulate one replication of `scenario` under `policy` (default: the scenario's)."""
    s = load(scenario)
    name = policy or s.policy.default
    pol = make_policy(name, s.policy.params.get(name))
    raw = Simulation(compile_scenario(s, replication=replication, seed=seed), pol).run()
    return RunResult.from_raw(raw, resolved_yaml(s))
