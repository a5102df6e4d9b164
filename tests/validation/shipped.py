"""Runs of every shipped scenario under every policy, shared by the validation tests.

Every scenario runs over its full horizon (cutting it short would move dated events out of the
scenario); all of them together take about ten seconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import sim

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
CASES = [pytest.param(path, policy, id=f"{path.stem}-{policy}")
         for path in SCENARIOS for policy in sim.policy_names()]


@cache
def scenario(path: Path) -> sim.Scenario:
    return sim.load(path)


@cache
def run(path: Path, policy: str) -> sim.RunResult:
    return sim.run(scenario(path), policy=policy)
