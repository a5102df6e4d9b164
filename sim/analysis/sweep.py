"""Sweep scenario fields: every combination of values × policies × replications.

Each combination is checked (`with_changes` validates it like a file) before anything runs, so
a bad path or value is reported at once. Replication i uses the same random streams at every
point of the grid and under every policy (common random numbers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from sim.about import provenance
from sim.analysis.collect import Failure, Progress, collect
from sim.analysis.compare import check_policies, run_tasks, save_figures
from sim.analysis.metrics import HEADLINE, Metric, key_metrics, short_path
from sim.analysis.report import metric_rows, render
from sim.analysis.tables import interval_table
from sim.results.atomic import atomic_folder
from sim.runner import RunSpec
from sim.scenario import Scenario, ScenarioError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class SettingError(ValueError):
    """A swept path or value that the scenario cannot take; the message says which and why."""


def split_values(text: str) -> list[str]:
    """`a,b,[c, d],{e: f}` -> ['a', 'b', '[c, d]', '{e: f}']: commas inside brackets stay."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """`PATH=V1,V2,...` -> (PATH, values), each value read as YAML (`2` int, `2.5` float,
    `6h` string, `[1, 2]` list)."""
    path, sep, values = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise SettingError(f"{text!r}: expected PATH=V1,V2,... "
                           f"(e.g. providers.gcp.pools.tpu-v6e.price_per_hour=1.5,2,2.5)")
    items = split_values(values)
    if not values.strip() or any(not v for v in items):
        raise SettingError(f"{text!r}: an empty value; give values separated by commas")
    try:
        parsed = [yaml.safe_load(v) for v in items]
    except yaml.YAMLError as exc:
        raise SettingError(f"{text!r}: not a YAML value ({exc.__class__.__name__})") from None
    return path, parsed


def _label(value: Any) -> Any:
    """What goes in the tidy table's column for a swept value: scalars as they are, dates as ISO
    text, lists and mappings as compact YAML."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    return value


def check_settings(scenario: Scenario, settings: Mapping[str, Sequence[Any]]
                   ) -> list[dict[str, Any]]:
    """Every combination of `settings` as a changes dict, each validated against `scenario`.

    Raises `SettingError` naming the first path or value (or combination) that does not fit.
    """
    from sim.scenario.changes import with_changes

    if not settings:
        raise SettingError("nothing to sweep: give at least one PATH=V1,V2,...")
    for path, values in settings.items():
        if not values:
            raise SettingError(f"{path}: no values")
        for value in values:
            try:
                with_changes(scenario, {path: value})
            except KeyError as exc:
                raise SettingError(f"{path}: {exc.args[0]}") from None
            except ScenarioError as exc:
                raise SettingError(f"{path}={_label(value)}: " + "; ".join(
                    f"{p.path}: {p.message}" if p.path else p.message
                    for p in exc.problems)) from None
    combos = [dict(zip(settings, values, strict=True))
              for values in itertools.product(*settings.values())]
    if len(settings) > 1:
        for combo in combos:
            try:
                with_changes(scenario, combo)
            except ScenarioError as exc:
                raise SettingError(", ".join(f"{k}={_label(v)}" for k, v in combo.items())
                                   + ": " + "; ".join(f"{p.path}: {p.message}"
                                                      for p in exc.problems)) from None
    return combos


@dataclass
class Sweep:
    """Metrics over a grid of scenario fields × policies × replications, with intervals."""

    scenario: str
    start: str
    seed: int
    params: dict[str, list[Any]]  # path -> values, as swept (labels as in the tables)
    policies: list[str]
    baseline: str
    replications: int
    metrics: pd.DataFrame  # scenario, policy, replication, seed, <paths>, metric, value
    table: pd.DataFrame  # <paths>, policy, metric, n, mean, ci_low, ci_high, diff, ...
    level: float = 0.95
    elapsed_s: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    simulated: int = 0  # runs simulated to make this sweep
    reused: int = 0  # runs read back from the store
    scenario_yaml: str = ""  # the swept scenario, resolved (saved as scenario.yaml)

    def key_metrics(self) -> list[Metric]:
        """The catalogue metrics this sweep has, in report order."""
        m = self.metrics
        return key_metrics(set(m["metric"]), set(m.loc[m["value"].fillna(0) != 0, "metric"]))

    def report(self, metrics: Sequence[str] | None = None) -> str:
        """Per metric (default: the headline ones), a block with a row per swept point and a
        column per policy."""
        start = dt.datetime.fromisoformat(self.start)
        wanted = HEADLINE if metrics is None else metrics
        chosen = [m for m in self.key_metrics() if m.name in wanted]
        head = (f"capsim sweep · {self.scenario} · {' × '.join(self.params)} · "
                f"{len(self.policies)} polic{'y' if len(self.policies) == 1 else 'ies'} × "
                f"{self.replications} replications (seed {self.seed})")
        blocks = [head]
        paths = list(self.params)
        for m in chosen:
            rows = []
            for key, group in self.table.groupby(paths, sort=False, dropna=False):
                key = key if isinstance(key, tuple) else (key,)
                point = ", ".join(f"{short_path(p)}={v}" for p, v in zip(paths, key,
                                                                         strict=True))
                r = metric_rows(group, [m], self.policies, None, start, self.replications)
                if r:
                    rows.append([point, *r[0][1:]])
            if rows:
                unit = f" ({m.unit})" if m.kind in ("hours", "mw", "unit_hours",
                                                    "cpu_hours") else ""
                blocks.append(render(rows, [f"{m.label}{unit}", *self.policies]))
        blocks.append(textwrap.fill(
            f"mean ± half-width of the {self.level:.0%} confidence interval over "
            f"replications, or mean [low, high] where the interval was cut to the metric's "
            f"range; ref-unit-h: hours of reference-speed accelerators (H100-equivalent in "
            f"the shipped scenarios).", 100))
        return "\n\n".join(blocks)

    def save(self, directory: str | Path, plots: Mapping[str, Callable[[], Figure]] | None = None,
             workers: int = 1, progress: Progress | None = None) -> Path:
        """Write metrics.csv (tidy), table.csv, table.txt, sweep.json, scenario.yaml and the
        plots drawn by `plots` (as in `Comparison.save`; `sim.plots.figure_makers(sweep)`)."""
        target = Path(directory)
        with atomic_folder(target) as tmp:
            self.metrics.to_csv(tmp / "metrics.csv", index=False)
            self.table.to_csv(tmp / "table.csv", index=False)
            (tmp / "table.txt").write_text(self.report() + "\n")
            meta = {"kind": "sweep", "scenario": self.scenario, "start": self.start,
                    "seed": self.seed, "params": self.params, "policies": self.policies,
                    "baseline": self.baseline, "replications": self.replications,
                    "level": self.level, "elapsed_s": round(self.elapsed_s, 3),
                    "simulated": self.simulated, "reused": self.reused,
                    "failures": [str(f) for f in self.failures], **provenance()}
            (tmp / "sweep.json").write_text(json.dumps(meta, indent=2) + "\n")
            if self.scenario_yaml:
                (tmp / "scenario.yaml").write_text(self.scenario_yaml)
            run_tasks([lambda n=name, m=make: save_figures({n: m()}, tmp)
                       for name, make in (plots or {}).items()], workers, progress)
        return target

    @classmethod
    def load(cls, directory: str | Path) -> Sweep:
        """Read a folder written by `save`."""
        d = Path(directory)
        meta = json.loads((d / "sweep.json").read_text())
        return cls(meta["scenario"], meta["start"], meta["seed"], meta["params"],
                   meta["policies"], meta["baseline"], meta["replications"],
                   pd.read_csv(d / "metrics.csv"), pd.read_csv(d / "table.csv"), meta["level"],
                   meta["elapsed_s"], simulated=meta.get("simulated", 0),
                   reused=meta.get("reused", 0), scenario_yaml=_text(d / "scenario.yaml"))

    def __repr__(self) -> str:
        grid = " × ".join(f"{p} ({len(v)})" for p, v in self.params.items())
        return (f"<Sweep {self.scenario}: {grid}; {', '.join(self.policies)} × "
                f"{self.replications} replications>")


def _text(path: Path) -> str:
    """A file's text, or '' where it is missing (folders saved before it was written)."""
    return path.read_text() if path.is_file() else ""


def sweep(scenario: str | Path | Scenario, settings: Mapping[str, Sequence[Any]],
          policies: Sequence[str] | None = None, replications: int = 5,
          baseline: str | None = None, *, workers: int = 1, executor: Executor | None = None,
          progress: Progress | None = None, level: float = 0.95,
          **run_many_options: Any) -> Sweep:
    """Run `scenario` at every combination of `settings` (dotted path -> values) under each
    policy (default: the scenario's) for `replications` replications, and tabulate metrics.

    Every combination is validated first (`SettingError` if one does not fit). Runs go to
    `run_many` (`workers`, `executor`, and `run_many_options` such as `dask`, `store_dir`).
    """
    from sim.api import load, resolved_yaml

    s = load(scenario)
    # By default the scenario's policy against `open_market`, the baseline that prices the right.
    names, baseline = check_policies(
        list(policies or dict.fromkeys(["open_market", s.policy.default])), baseline)
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    combos = check_settings(s, settings)
    paths = list(settings)
    specs = [RunSpec(p, r, tuple(combo.items()),
                     tuple((k, _label(v)) for k, v in combo.items()))
             for combo in combos for p in names for r in range(replications)]
    done = collect(s, specs, label_names=paths, workers=workers, executor=executor,
                   progress=progress, **run_many_options)
    table = interval_table(done.metrics, baseline, by=paths, level=level)
    params = {k: [_label(v) for v in values] for k, values in settings.items()}
    return Sweep(s.name, s.start.isoformat(), s.seed, params, names, baseline, replications,
                 done.metrics, table, level, done.elapsed_s, done.failures, done.simulated,
                 done.reused, resolved_yaml(s))
