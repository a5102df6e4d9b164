"""One run in this process, and a batch of them on a worker: where a spec meets the engine."""

from __future__ import annotations

import pickle
import time
import traceback
from typing import Any

from sim.runner.spec import RunOutcome, RunSpec
from sim.scenario import Scenario
from sim.scenario.changes import with_changes


def _scenario_for(scenario: Scenario, spec: RunSpec,
                  cache: dict[tuple[tuple[str, Any], ...], Scenario] | None = None) -> Scenario:
    if not spec.changes:
        return scenario
    key = spec.changes
    try:
        if cache is not None and key in cache:
            return cache[key]
    except TypeError:  # unhashable change values (lists): no caching
        cache = None
    s = with_changes(scenario, dict(spec.changes))
    if cache is not None:
        cache[key] = s
    return s


def execute(scenario: Scenario, spec: RunSpec, index: int = -1,
            cache: dict[tuple[tuple[str, Any], ...], Scenario] | None = None) -> RunOutcome:
    """Run one spec in this process; an exception becomes an outcome with `error` set."""
    from sim.engine import Simulation, compile_scenario
    from sim.policies import make_policy
    from sim.results import RunResult

    t0 = time.perf_counter()
    c0 = time.process_time()
    seed = scenario.seed
    try:
        s = _scenario_for(scenario, spec, cache)
        seed = s.seed
        policy = make_policy(spec.policy, s.policy.params.get(spec.policy))
        raw = Simulation(compile_scenario(s, replication=spec.replication), policy).run()
        result = RunResult.from_raw(raw)  # no resolved YAML: only the summary is kept
        return RunOutcome(spec, seed, result.metrics(), result.summary, index=index,
                          scenario=scenario.name, elapsed_s=time.perf_counter() - t0,
                          cpu_s=time.process_time() - c0, events=raw.event_count)
    except Exception as exc:
        return RunOutcome(spec, seed, {}, {}, error=f"{type(exc).__name__}: {exc}", index=index,
                          scenario=scenario.name, elapsed_s=time.perf_counter() - t0,
                          trace=traceback.format_exc())


def run_batch(scenario_blob: bytes, items: list[tuple[int, RunSpec]]) -> list[RunOutcome]:
    """Worker side: run a batch of specs of one (pickled) scenario."""
    scenario = pickle.loads(scenario_blob)
    cache: dict[tuple[tuple[str, Any], ...], Scenario] = {}
    return [execute(scenario, spec, index, cache) for index, spec in items]


# ---------------------------------------------------------------- the store of finished runs
