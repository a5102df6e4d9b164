"""Run a grid of specs and gather their metrics into one tidy table, as runs finish.

Only each run's flattened metrics are kept (one row per run and metric), never its full tables,
so memory grows with the number of runs × metrics, not with the horizon. Runs named in `keep`
are simulated in this process first and their full `RunResult` is handed back too (the
representative runs that time-series plots are drawn from).

With a store (`store_dir`), every run is looked up there first, kept runs included (their
tables are stored beside their metrics, as Parquet): a re-run simulates nothing it has, and
progress counts only the runs it simulates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.results import RunResult
from sim.runner import RunOutcome, RunSpec, RunStore, run_many
from sim.scenario import Scenario

Progress = Callable[[int, int], None]
"""Called with (runs done, runs to do) after every finished run; runs reused from the store
are not counted in either."""


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
    simulated: int = 0  # runs simulated by this call
    reused: int = 0  # runs read back from the store
    kept_paths: dict[int, str] = field(default_factory=dict)  # index -> stored tables folder


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
            progress: Progress | None = None, store_dir: str | Path | None = None,
            fresh: bool = False, on_skip: Callable[[int], None] | None = None,
            **run_many_options: Any) -> Collected:
    """Run `specs`: those at indices `keep` here, with full results; the rest via `run_many`
    (on `workers` processes or `executor`; `run_many_options` are passed on, e.g. `dask`).

    With `store_dir`, runs finished earlier are read back instead of run (`fresh=True` forgets
    them first; `on_skip(count)` says how many were reused), and every run this call
    simulates is stored, kept ones with their tables. A run that fails is recorded in
    `failures`, not raised.
    """
    t0 = time.perf_counter()
    rows = _Rows(label_names)
    total = len(specs)
    kept: dict[int, RunResult] = {}
    kept_paths: dict[int, str] = {}
    failures: list[Failure] = []
    store = RunStore(store_dir, scenario) if store_dir is not None else None
    if store is not None and fresh:
        store.forget(specs)
    keep_set = set(keep)
    reused: dict[int, RunOutcome] = {}
    if store is not None:
        for i, spec in enumerate(specs):
            if i in keep_set:
                result = store.load_tables(spec)
                if result is not None:
                    kept[i] = result
                    kept_paths[i] = str(store.tables_path(spec))
                    rows.add(i, scenario.name, spec, int(result.summary["seed"]), result.metrics())
                    reused[i] = RunOutcome(spec, int(result.summary["seed"]), {}, {})
                continue
            outcome = store.load(spec, i)
            if outcome is not None:
                reused[i] = outcome
                rows.add(i, scenario.name, spec, outcome.seed, outcome.metrics)
        if on_skip is not None:
            on_skip(len(reused))
    todo, done = total - len(reused), 0
    if progress:
        progress(0, todo)
    for i in keep:
        if i in reused:
            continue
        spec = specs[i]
        try:
            s, result = _run_here(scenario, spec)
        except Exception as exc:
            failures.append(Failure(spec.policy, spec.replication, dict(spec.changes),
                                    f"{type(exc).__name__}: {exc}"))
        else:
            kept[i] = result
            rows.add(i, scenario.name, spec, s.seed, result.metrics())
            if store is not None:
                store.save(RunOutcome(spec, s.seed, result.metrics(), result.summary,
                                      scenario=scenario.name, events=result.meta.get(
                                          "events_processed", 0)))
                kept_paths[i] = str(store.save_tables(spec, result))
        done += 1
        if progress:
            progress(done, todo)
    rest = [i for i in range(total) if i not in keep_set and i not in reused]
    if rest:
        outcomes = run_many(scenario, [specs[i] for i in rest], workers=workers,
                            executor=executor, store_dir=store_dir, **run_many_options)
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
                progress(done, todo)
    return Collected(rows.frame(), kept, failures, time.perf_counter() - t0, done, len(reused),
                     kept_paths)
