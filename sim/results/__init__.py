"""Results layer: tidy tables and a summary from one run, saved to and loaded from a folder.

Tables are saved as Parquet by default (a year of the flagship scenario: 3 MB and under a
second, against 36 MB and 10 s as CSV; dates stay dates) or as CSV with `format="csv"`;
`RunResult.load` reads either. The unit of every column goes beside them in `columns.csv`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.about import provenance
from sim.engine.procurement import value_by_provider
from sim.engine.simulation import RawRun
from sim.results import tables
from sim.results.atomic import atomic_folder
from sim.results.latency import latency_summary, service_latency
from sim.results.summary import flatten, summarise
from sim.results.units import column_unit

TABLES = ("steps", "jobs", "services", "service_providers", "events")
FORMATS = ("parquet", "csv")
CSV_FLOAT_FORMAT = "%.10g"  # ten significant digits: exact for every input, a third the size
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
            "clipped": list(c.clipped),
            "committed_value_by_provider": value_by_provider(c.contracts),
            **provenance(),
            "reference_accelerators": sorted(
                name for name, a in c.scenario.accelerators.items()
                if a.train_speed == 1.0 and a.infer_speed == 1.0 and a.family != "cpu"),
            "accelerators": {name: {"family": a.family, "train_speed": a.train_speed,
                                    "infer_speed": a.infer_speed}
                             for name, a in c.scenario.accelerators.items()},
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

    def save(self, directory: str | Path, format: str = "parquet", cache: bool = False) -> Path:
        """Write tables (`format` "parquet" or "csv"), their units (`columns.csv`), summary
        and metadata (JSON) and the resolved scenario, atomically.

        Files are written to a temporary folder beside `directory` and moved into place at the
        end, so an interrupted or failed save never leaves a folder that looks complete.
        `cache`: written by the runs cache into itself (elsewhere a runs cache is refused).
        """
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        target = Path(directory)
        with atomic_folder(target, cache=cache) as tmp:
            for name in TABLES:
                write_table(getattr(self, name), tmp / f"{name}.{format}", name)
            units_frame({name: getattr(self, name) for name in TABLES}).to_csv(
                tmp / "columns.csv", index=False)
            (tmp / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")
            if self.scenario_yaml:
                (tmp / "scenario.yaml").write_text(self.scenario_yaml)
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a folder written by `save`, in either format (Parquet first when both exist)."""
        d = Path(directory)
        frames = {name: read_table(d, name) for name in TABLES}
        scenario = (d / "scenario.yaml").read_text() if (d / "scenario.yaml").exists() else ""
        return cls(**frames, summary=json.loads((d / "summary.json").read_text()),
                   meta=json.loads((d / "meta.json").read_text()), scenario_yaml=scenario)


def has_tables(directory: str | Path) -> bool:
    """Whether `directory` holds a saved run (its summary and a steps table in either format)."""
    d = Path(directory)
    return (d / "summary.json").exists() and any((d / f"steps.{f}").exists() for f in FORMATS)


def write_table(frame: pd.DataFrame, path: Path, table: str = "") -> None:
    """One table as Parquet (zstd, each column's unit in its field metadata) or compact CSV,
    by the suffix of `path`. Parquet keeps every float exactly; CSV keeps ten digits."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [f.with_metadata({"unit": column_unit(table, f.name)}) for f in arrow.schema]
    arrow = arrow.cast(pa.schema(fields, metadata=arrow.schema.metadata))
    floats = [f.name for f in arrow.schema if pa.types.is_floating(f.type)]
    # floats split by byte before compression: a tenth smaller than plain zstd on these tables
    pq.write_table(arrow, path, compression="zstd", compression_level=9,
                   use_dictionary=[f.name for f in arrow.schema if f.name not in floats],
                   use_byte_stream_split=floats)


def read_table(directory: Path, name: str) -> pd.DataFrame:
    """Table `name` from `directory`: `name.parquet` if there, else `name.csv` (empty text
    cells back to "", date columns back to dates)."""
    parquet = directory / f"{name}.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet)
    frame = pd.read_csv(directory / f"{name}.csv")
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        frame[column] = frame[column].fillna("")  # CSV reads an empty text cell as NaN
    for column in DATE_COLUMNS.get(name, ()):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def units_frame(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """table, column, unit: one row per column of each table, in column order."""
    rows = [(name, column, column_unit(name, column))
            for name, frame in frames.items() for column in frame.columns]
    return pd.DataFrame(rows, columns=["table", "column", "unit"])


__all__ = ["FORMATS", "TABLES", "RunResult", "flatten", "has_tables", "read_table", "summarise",
           "units_frame", "write_table"]
