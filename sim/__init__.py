"""capsim: a multi-cloud capacity planning simulator for AI compute.

>>> import sim
>>> result = sim.run("scenarios/tiny.yaml", policy="cheapest_first")
>>> result.steps.head()  # doctest: +SKIP
"""

from sim.api import load, resolved_yaml, run, with_changes
from sim.policies import make_policy, policy_names
from sim.results import RunResult
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load", "load_scenario", "make_policy",
           "policy_names", "resolved_yaml", "run", "with_changes"]
