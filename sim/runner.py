"""Run many simulations (policies × replications × changes) and collect their metrics.

Each run is described by a `RunSpec`; its random streams depend only on the scenario seed and
the replication index, never on the policy, the order of execution, or the executor, so
replication i of every policy sees the same world (common random numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sim.scenario import Scenario


@dataclass(frozen=True)
class RunSpec:
    """One simulation of a grid: which changes, which policy, which replication."""

    policy: str
    replication: int
    changes: tuple[tuple[str, Any], ...] = ()
    labels: tuple[tuple[str, Any], ...] = field(default=())

    def key(self) -> str:
        """A stable name for this run, used for file names and de-duplication."""
        parts = [f"{k}={v}" for k, v in self.changes]
        return "|".join([*parts, self.policy, f"rep{self.replication}"])


@dataclass
class RunOutcome:
    """What a finished run hands back: its spec, seed and flattened summary metrics."""

    spec: RunSpec
    seed: int
    metrics: dict[str, float]
    summary: dict[str, Any]


def execute(scenario: Scenario, spec: RunSpec) -> RunOutcome:
    """Run one spec in this process."""
    from sim.api import run, with_changes

    s = with_changes(scenario, dict(spec.changes)) if spec.changes else scenario
    result = run(s, policy=spec.policy, replication=spec.replication)
    return RunOutcome(spec, s.seed, result.metrics(), result.summary)


def run_many(scenario: Scenario, specs: Iterable[RunSpec], workers: int = 1,
             executor: Executor | None = None) -> Iterator[RunOutcome]:
    """Outcomes of `specs` as they finish (in any order), on `workers` local processes or
    on a given `concurrent.futures.Executor`."""
    specs = list(specs)
    if executor is None and workers <= 1:
        for spec in specs:
            yield execute(scenario, spec)
        return
    own = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(execute, scenario, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
