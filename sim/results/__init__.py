"""Results layer: tidy tables and a summary from one run, saved to and loaded from a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.simulation import RawRun
from sim.results import tables
from sim.results.atomic import atomic_folder
from sim.results.latency import latency_summary, service_latency
from sim.results.summary import flatten, summarise

TABLES = ("steps", "jobs", "services", "service_providers", "events")
# Columns that hold dates: CSV keeps them as text, `RunResult.load` reads them back as dates.
DATE_COLUMNS = {"steps": ("time",), "jobs": ("arrival", "start", "end"), "services": ("time",),
                "events": ("time",)}


@dataclass
class RunResult:
    """One run's tables (pandas DataFrames), summary and the metadata that made them."""

    steps: pd.DataFrame
    jobs: pd.DataFrame
    services: pd.DataFrame
    service_providers: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    scenario_yaml: str = ""

    @classmethod
    def from_raw(cls, raw: RawRun, scenario_yaml: str = "") -> RunResult:
        c = raw.compiled
        meta = {
            "scenario": c.scenario.name, "policy": raw.policy, "replication": c.replication,
            "seed": c.seed, "start": c.scenario.start.isoformat(), "horizon_h": c.end,
            "step_h": c.step, "events_processed": raw.event_count,
        }
        steps = tables.steps_table(raw)
        jobs = tables.jobs_table(raw)
        latency = service_latency(raw)
        services = tables.services_table(raw, latency)
        events = tables.events_table(raw)
        summary = summarise(steps, jobs, services, events, meta,
                            latency_summary(latency, c.step))
        return cls(steps, jobs, services, tables.service_providers_table(raw), events,
                   summary, meta, scenario_yaml)

    def metrics(self) -> dict[str, float]:
        """Numeric summary figures, flattened (`spend_by_provider.azure`, ...)."""
        return flatten(self.summary)

    def save(self, directory: str | Path) -> Path:
        """Write tables (CSV), summary and metadata (JSON) and the resolved scenario, atomically.

        Files are written to a temporary folder beside `directory` and moved into place at the
        end, so an interrupted or failed save never leaves a folder that looks complete.
        """
        target = Path(directory)
        with atomic_folder(target) as tmp:
            for name in TABLES:
                getattr(self, name).to_csv(tmp / f"{name}.csv", index=False)
            (tmp / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")
            if self.scenario_yaml:
                (tmp / "scenario.yaml").write_text(self.scenario_yaml)
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a folder written by `save`."""
        d = Path(directory)
        frames = {name: pd.read_csv(d / f"{name}.csv") for name in TABLES}
        for frame in frames.values():  # CSV reads an empty text cell as NaN; it was ""
            for column in frame.select_dtypes(include=["object", "string"]).columns:
                frame[column] = frame[column].fillna("")
        for name, columns in DATE_COLUMNS.items():
            for column in columns:
                frames[name][column] = pd.to_datetime(frames[name][column])
        scenario = (d / "scenario.yaml").read_text() if (d / "scenario.yaml").exists() else ""
        return cls(**frames, summary=json.loads((d / "summary.json").read_text()),
                   meta=json.loads((d / "meta.json").read_text()), scenario_yaml=scenario)


__all__ = ["TABLES", "RunResult", "flatten", "summarise"]
