"""The public Python API: load a scenario, change it, run it under a policy, get DataFrames."""

from __future__ import annotations

from pathlib import Path

import yaml

from sim.engine import Simulation, compile_scenario
from sim.policies import make_policy
from sim.results import RunResult
from sim.scenario import Scenario, load_scenario
from sim.scenario.changes import with_changes


def load(source: str | Path | Scenario) -> Scenario:
    """A validated scenario from a YAML path (or the scenario itself)."""
    return source if isinstance(source, Scenario) else load_scenario(source)


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


__all__ = ["load", "resolved_yaml", "run", "with_changes"]
