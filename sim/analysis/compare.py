"""Compare placement policies on one scenario over replications with common random numbers.

Replication i of every policy runs on the same random streams (outages, slips, arrivals, demand
noise), so the paired difference of a metric to the baseline policy measures the policy, not
the luck of the draw.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.about import provenance
from sim.analysis.collect import Failure, Progress, collect
from sim.analysis.metrics import Metric, key_metrics
from sim.analysis.report import metric_rows, render
from sim.analysis.tables import interval_table
from sim.results import RunResult, has_tables
from sim.results.atomic import atomic_folder
from sim.runner import RunSpec
from sim.scenario import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_POLICIES = ("open_market", "microsoft_first", "perf_per_dollar", "diversified")
"""The default comparison; the first is the baseline: `open_market`, so the row of
`microsoft_first` reads directly as the cost of the right of first refusal (paired).
`cheapest_first` ranks exactly as `open_market` does, so it is left out (`--policies all`)."""


def check_policies(policies: Sequence[str], baseline: str | None) -> tuple[list[str], str]:
    """Known, distinct policy names and a baseline among them (default: the first)."""
    from sim.policies import REGISTRY, policy_names

    names = list(dict.fromkeys(policies))
    if not names:
        raise ValueError("no policies to compare")
    unknown = [p for p in names if p not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown polic{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(map(repr, unknown))}; known: {', '.join(policy_names())}")
    baseline = baseline or names[0]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not among the policies compared "
                         f"({', '.join(names)})")
    return names, baseline


@dataclass
class Comparison:
    """Policies compared on one scenario: tidy metrics per run, the interval table, and one
    full representative run (replication 0) per policy for time-series plots. Runs that
    failed are listed in `failures` (their metrics are missing, their pairs left out).
    `run_paths` says where the store keeps each representative run's tables."""

    scenario: str
    start: str
    seed: int
    policies: list[str]
    baseline: str
    replications: int
    metrics: pd.DataFrame  # scenario, policy, replication, seed, metric, value
    table: pd.DataFrame  # policy, metric, n, mean, ci_low, ci_high, baseline, diff, ...
    runs: dict[str, RunResult] = field(default_factory=dict)
    level: float = 0.95
    elapsed_s: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    simulated: int = 0  # runs simulated to make this comparison
    reused: int = 0  # runs read back from the store
    run_paths: dict[str, str] = field(default_factory=dict)  # policy -> stored tables folder
    scenario_yaml: str = ""  # the compared scenario, resolved (saved as scenario.yaml)

    def key_metrics(self) -> list[Metric]:
        """The catalogue metrics this comparison has, in report order."""
        m = self.metrics
        return key_metrics(set(m["metric"]), set(m.loc[m["value"].fillna(0) != 0, "metric"]))

    def report(self) -> str:
        """The comparison as a text table: mean ± half-width per policy, difference to baseline."""
        start = datetime.fromisoformat(self.start)
        rows = metric_rows(self.table, self.key_metrics(), self.policies, self.baseline, start,
                           self.replications)
        several = len(self.policies) > 1
        head = (f"capsim compare · {self.scenario} · {len(self.policies)} "
                f"polic{'ies' if several else 'y'} × {self.replications} "
                f"replication{'s' if self.replications > 1 else ''} (seed {self.seed})"
                + (f" · baseline {self.baseline}" if several else ""))
        note = (f"mean ± half-width of the {self.level:.0%} confidence interval over "
                f"replications, or mean [low, high] where the interval was cut to the "
                f"metric's range (shares 0-100%, amounts ≥ 0); min / p95 / max: spread over "
                f"replications of rare events; ref-unit-h: hours of reference-speed "
                f"accelerators (H100-equivalent in the shipped scenarios)")
        if several:
            note += (f"; Δ: paired difference to {self.baseline} (same random streams in each "
                     f"replication); * its interval excludes zero")
        note = textwrap.fill(note + ".", 100)
        return f"{head}\n\n{render(rows, ['', *self.policies])}\n\n{note}"

    def overview(self) -> pd.DataFrame:
        """The report as a DataFrame of strings (metric label × policy), for notebooks."""
        start = datetime.fromisoformat(self.start)
        rows = metric_rows(self.table, self.key_metrics(), self.policies, self.baseline, start,
                           self.replications)
        return pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows],
                            columns=self.policies)

    def save(self, directory: str | Path, plots: Mapping[str, Callable[[], Figure]] | None = None,
             workers: int = 1, progress: Progress | None = None, tables: Sequence[str] = (),
             format: str = "parquet") -> Path:
        """Write metrics.csv (tidy: every run's summary figures), table.csv, table.txt,
        compare.json, scenario.yaml (resolved) and the plots drawn by `plots` (file stem ->
        maker, e.g. `sim.plots.figure_makers(cmp)`; analysis draws none itself); the tables of
        replication 0 only for the policies in `tables` (tables/<policy>/, loadable with
        `RunResult.load`, in `format`).

        The full tables are what makes a results folder large (a year of the flagship
        scenario: 3 MB per run as Parquet, 36 MB as CSV), so they are written only on request;
        the store keeps every representative run for `capsim plot`. Tables and plots are
        written by `workers` processes (forked, nothing copied to them) where the platform
        allows; `progress(done, total)` follows.
        """
        unknown = [p for p in tables if p not in self.runs]
        if unknown:
            raise ValueError(f"no full run of {', '.join(map(repr, unknown))} to write; have: "
                             f"{', '.join(self.runs) or 'none'}")
        target = Path(directory)
        with atomic_folder(target) as tmp:
            self.metrics.to_csv(tmp / "metrics.csv", index=False)
            self.table.to_csv(tmp / "table.csv", index=False)
            (tmp / "table.txt").write_text(self.report() + "\n")
            (tmp / "compare.json").write_text(json.dumps(self._meta(target), indent=2) + "\n")
            if self.scenario_yaml:
                (tmp / "scenario.yaml").write_text(self.scenario_yaml)
            tasks: list[Callable[[], object]] = [
                lambda p=policy: self.runs[p].save(tmp / "tables" / p, format=format)
                for policy in dict.fromkeys(tables)]
            tasks += [lambda n=name, m=make: save_figures({n: m()}, tmp)
                      for name, make in (plots or {}).items()]
            run_tasks(tasks, workers, progress)
        return target

    def _meta(self, target: Path) -> dict[str, Any]:
        # where the store keeps each representative run, relative to the results folder, so
        # `capsim plot` finds them from any working directory (and after moving both together)
        paths = {p: os.path.relpath(Path(path).resolve(), target.resolve())
                 for p, path in self.run_paths.items()}
        return {"kind": "compare", "scenario": self.scenario, "start": self.start,
                "seed": self.seed, "policies": self.policies, "baseline": self.baseline,
                "replications": self.replications, "level": self.level,
                "elapsed_s": round(self.elapsed_s, 3),
                "representative_replication": 0, "representative": list(self.runs),
                "representative_paths": paths,
                "simulated": self.simulated, "reused": self.reused,
                "failures": [str(f) for f in self.failures], **provenance()}

    @classmethod
    def load(cls, directory: str | Path) -> Comparison:
        """Read a folder written by `save`; each representative run is read from its tables
        in the folder, else from the store where the comparison found it (if still there)."""
        d = Path(directory)
        meta = json.loads((d / "compare.json").read_text())
        paths = meta.get("representative_paths", {})
        runs = {}
        for p in meta["representative"]:
            for folder in (d / "tables" / p, d / "representative" / p, d / paths.get(p, p)):
                if has_tables(folder):
                    runs[p] = RunResult.load(folder)
                    break
        return cls(meta["scenario"], meta["start"], meta["seed"], meta["policies"],
                   meta["baseline"], meta["replications"], pd.read_csv(d / "metrics.csv"),
                   pd.read_csv(d / "table.csv"), runs, meta["level"], meta["elapsed_s"],
                   simulated=meta.get("simulated", 0), reused=meta.get("reused", 0),
                   run_paths={p: str(d / rel) for p, rel in paths.items()},
                   scenario_yaml=(d / "scenario.yaml").read_text()
                   if (d / "scenario.yaml").is_file() else "")

    def __repr__(self) -> str:
        return (f"<Comparison {self.scenario}: {', '.join(self.policies)} × {self.replications} "
                f"replications, baseline {self.baseline}>")


_TASKS: list[Callable[[], object]] = []  # what forked writers run, by index


def _run_task(i: int) -> None:
    _TASKS[i]()


def run_tasks(tasks: list[Callable[[], object]], workers: int = 1,
              progress: Progress | None = None) -> None:
    """Call every task, on `workers` forked processes when there are several (they inherit the
    results in memory, nothing is pickled), else here; `progress(done, total)` after each."""
    total = len(tasks)
    if progress:
        progress(0, total)
    fork = "fork" in multiprocessing.get_all_start_methods()
    if workers > 1 and total > 1 and fork:
        _TASKS[:] = tasks
        try:
            from sim.runner.backends import init_worker  # writers end when this process ends

            with multiprocessing.get_context("fork").Pool(
                    min(workers, total), initializer=init_worker, initargs=(os.getpid(),)) as pool:
                for done, _ in enumerate(pool.imap_unordered(_run_task, range(total)), 1):
                    if progress:
                        progress(done, total)
        finally:
            _TASKS.clear()
        return
    for done, task in enumerate(tasks, 1):
        task()
        if progress:
            progress(done, total)


def save_figures(figures: dict[str, Figure], directory: Path) -> list[Path]:
    """Each figure as `<name>.png` in `directory`."""
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


def compare(scenario: str | Path | Scenario, policies: Sequence[str] = DEFAULT_POLICIES,
            replications: int = 10, baseline: str | None = None, *, workers: int = 1,
            executor: Executor | None = None, progress: Progress | None = None,
            keep_runs: bool = True, level: float = 0.95, **run_many_options: Any) -> Comparison:
    """Run every policy × replication of `scenario` and compare their summary metrics.

    Replication i of every policy uses the same random streams. `baseline` (default: the first
    policy) is what differences are taken against. With `keep_runs`, replication 0 of each
    policy is simulated in this process and kept whole, for the time-series plots; every other
    run contributes only its metrics. Runs go to `run_many` (`workers` processes, or
    `executor`; other `run_many_options` such as `dask`, `store_dir`, `fresh` are passed on).
    """
    from sim.api import load, resolved_yaml

    s = load(scenario)
    names, baseline = check_policies(policies, baseline)
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    specs = [RunSpec(p, r) for p in names for r in range(replications)]
    keep = [i for i, spec in enumerate(specs) if keep_runs and spec.replication == 0]
    done = collect(s, specs, keep=keep, workers=workers, executor=executor, progress=progress,
                   **run_many_options)
    table = interval_table(done.metrics, baseline, level=level)
    runs = {specs[i].policy: done.kept[i] for i in keep if i in done.kept}
    paths = {specs[i].policy: path for i, path in done.kept_paths.items()}
    return Comparison(s.name, s.start.isoformat(), s.seed, names, baseline, replications,
                      done.metrics, table, runs, level, done.elapsed_s, done.failures,
                      done.simulated, done.reused, paths, resolved_yaml(s))
