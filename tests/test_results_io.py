"""A saved run reads back as the same tables: same columns, dates as dates, same values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import sim
from sim.results import TABLES, RunResult


def test_saved_run_loads_back_the_same(tmp_path: Path) -> None:
    run = sim.run(sim.load("scenarios/tiny.yaml"), policy="microsoft_first")
    loaded = RunResult.load(run.save(tmp_path / "run"))
    assert loaded.summary == run.summary and loaded.meta == run.meta
    assert loaded.scenario_yaml == run.scenario_yaml
    for name in TABLES:
        before, after = getattr(run, name), getattr(loaded, name)
        assert list(after.columns) == list(before.columns), name
        for column in before.columns:
            if pd.api.types.is_datetime64_any_dtype(before[column]):
                assert pd.api.types.is_datetime64_any_dtype(after[column]), (name, column)
                pd.testing.assert_series_equal(after[column].astype("datetime64[ns]"),
                                               before[column].astype("datetime64[ns]"))
            else:
                pd.testing.assert_series_equal(after[column], before[column], check_dtype=False,
                                               obj=f"{name}.{column}")
