"""Run a grid of specs and gather their metrics into one tidy table, as runs finish.

Only each run's flattened metrics are kept (one row per run and metric), never its full tables,
so memory grows with the number of runs × metrics, not with the horizon. Runs named in `keep`
are simulated in this process first and their full `RunResult` is handed back too (the
representative runs that time-series plots are drawn from).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.results import RunResult
from sim.runner import RunSpec, run_many
from sim.scenario import Scenario

Progress = Callable[[int, int], None]
"""Called with (runs done, runs in all) after every finished run."""


@dataclass
class Failure:
    """A run that raised instead of finishing: which one, and the error."""

    policy: str
    replication: int
    changes: dict[str, Any]
    error: str

    def __str__(self) -> str:
        where = ", ".join([f"policy {self.policy}", f"replication {self.replication}",
                           *(f"{k}={v}" for k, v in self.changes.items())])
        return f"{where}: {self.error}"


@dataclass
class Collected:
    """Tidy metrics of every run, the kept full results, failures, and how long it took."""

    metrics: pd.DataFrame
    kept: dict[int, RunResult]  # index into the specs -> full result
    failures: list[Failure]
    elapsed_s: float


class _Rows:
    """Column lists of the tidy table, appended to run by run."""

    def __init__(self, label_names: Sequence[str]) -> None:
        # a swept `seed` is already the seed column
        self.label_names = [n for n in label_names if n not in ("scenario", "policy",
                                                                "replication", "seed",
                                                                "metric", "value")]
        self.cols: dict[str, list[Any]] = {k: [] for k in ("scenario", "policy", "replication",
                                                           "seed", *self.label_names,
                                                           "metric", "value")}
        self.order: list[int] = []

    def add(self, order: int, scenario: str, spec: RunSpec, seed: int,
            metrics: dict[str, float]) -> None:
        labels = dict(spec.labels)
        n = len(metrics)
        c = self.cols
        self.order += [order] * n
        c["scenario"] += [scenario] * n
        c["policy"] += [spec.policy] * n
        c["replication"] += [spec.replication] * n
        c["seed"] += [seed] * n
        for name in self.label_names:
            c[name] += [labels.get(name)] * n
        c["metric"] += list(metrics)
        c["value"] += [float(v) for v in metrics.values()]

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.cols).astype({"replication": int, "seed": int, "value": float})
        # runs finish in any order: put them back in the order of the specs
        order = pd.Series(self.order, dtype=int)
        return df.iloc[order.argsort(kind="stable").to_numpy()].reset_index(drop=True)


def _run_here(scenario: Scenario, spec: RunSpec) -> tuple[Scenario, RunResult]:
    """One spec simulated in this process with its full result (as `sim.runner.execute`)."""
    from sim.api import run, with_changes

    s = with_changes(scenario, dict(spec.changes)) if spec.changes else scenario
    return s, run(s, policy=spec.policy, replication=spec.replication)


def collect(scenario: Scenario, specs: Sequence[RunSpec], *, keep: Sequence[int] = (),
            label_names: Sequence[str] = (), workers: int = 1, executor: Executor | None = None,
            progress: Progress | None = None, **run_many_options: Any) -> Collected:
    """Run `specs`: those at indices `keep` here, with full results; the rest via `run_many`
    (on `workers` processes or `executor`; `run_many_options` are passed on, e.g. `dask`,
    `store_dir`, `fresh`). A run that fails is recorded in `failures`, not raised."""
    t0 = time.perf_counter()
    rows = _Rows(label_names)
    total, done = len(specs), 0
    kept: dict[int, RunResult] = {}
    failures: list[Failure] = []
    if progress:
        progress(0, total)
    for i in keep:
        spec = specs[i]
        try:
            s, result = _run_here(scenario, spec)
        except Exception as exc:
            failures.append(Failure(spec.policy, spec.replication, dict(spec.changes),
                                    f"{type(exc).__name__}: {exc}"))
        else:
            kept[i] = result
            rows.add(i, scenario.name, spec, s.seed, result.metrics())
        done += 1
        if progress:
            progress(done, total)
    kept_here = set(keep)
    rest = [i for i in range(total) if i not in kept_here]
    if rest:
        outcomes = run_many(scenario, [specs[i] for i in rest], workers=workers,
                            executor=executor, **run_many_options)
        for outcome in outcomes:
            i = rest[outcome.index]
            spec = specs[i]
            if outcome.error is not None:
                failures.append(Failure(spec.policy, spec.replication, dict(spec.changes),
                                        outcome.error))
            else:
                rows.add(i, scenario.name, spec, outcome.seed, outcome.metrics)
            done += 1
            if progress:
                progress(done, total)
    return Collected(rows.frame(), kept, failures, time.perf_counter() - t0)
