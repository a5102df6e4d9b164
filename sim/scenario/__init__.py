"""Scenario layer: pydantic models of scenario files and the loader that reports problems by line."""

from sim.scenario.loader import Problem, ScenarioError, load_scenario, read_yaml, scenario_from_data
from sim.scenario.scenario import Scenario

__all__ = ["Problem", "Scenario", "ScenarioError", "load_scenario", "read_yaml",
           "scenario_from_data"]
