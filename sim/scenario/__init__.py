"""Scenario layer: pydantic models of scenario files and the loader that reports problems by line."""

from sim.scenario.loader import load_scenario, scenario_from_data
from sim.scenario.problems import Problem, ScenarioError
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_lines import read_yaml

__all__ = ["Problem", "Scenario", "ScenarioError", "load_scenario", "read_yaml",
           "scenario_from_data"]
