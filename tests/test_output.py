"""What a saved run says about itself: format, units, version and code digest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import sim
from sim.about import version
from sim.cli import main
from sim.results import TABLES, RunResult

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"


@pytest.fixture(scope="module")
def run() -> RunResult:
    return sim.run(TINY)


def test_csv_format_loads_back_the_same_as_parquet(tmp_path: Path, run: RunResult) -> None:
    csv = RunResult.load(run.save(tmp_path / "csv", format="csv"))
    parquet = RunResult.load(run.save(tmp_path / "pq"))
    assert not list((tmp_path / "csv").glob("*.parquet"))
    for name in TABLES:
        a, b = getattr(csv, name), getattr(parquet, name)
        assert list(a.columns) == list(b.columns)
        for column in a.columns:
            if pd.api.types.is_float_dtype(b[column]):  # CSV keeps ten significant digits
                pd.testing.assert_series_equal(a[column], b[column], check_dtype=False,
                                               rtol=1e-9, obj=f"{name}.{column}")
            elif pd.api.types.is_datetime64_any_dtype(b[column]):
                pd.testing.assert_series_equal(a[column].astype("datetime64[ns]"),
                                               b[column].astype("datetime64[ns]"))
            else:
                assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    with pytest.raises(ValueError, match="format must be one of parquet, csv"):
        run.save(tmp_path / "x", format="xlsx")
    assert not (tmp_path / "x").exists()


def test_parquet_is_the_smaller_format(tmp_path: Path, run: RunResult) -> None:
    def size(d: Path) -> int:
        return sum(p.stat().st_size for p in d.glob("steps.*"))

    assert size(run.save(tmp_path / "pq")) < size(run.save(tmp_path / "csv", format="csv")) / 2


def test_every_column_has_its_unit(tmp_path: Path, run: RunResult) -> None:
    out = run.save(tmp_path / "r")
    units = pd.read_csv(out / "columns.csv", keep_default_na=False)
    for name in TABLES:
        listed = units[units["table"] == name]
        assert listed["column"].tolist() == list(getattr(run, name).columns)
    unit = dict(zip(zip(units["table"], units["column"], strict=True), units["unit"], strict=True))
    assert unit[("steps", "spend")] == "$ in the step"
    assert unit[("steps", "power_mw")].startswith("MW")
    assert unit[("services", "demand")].startswith("reference units")
    assert unit[("jobs", "wait_h")] == "h"
    field = pq.read_schema(out / "steps.parquet").field("capacity")
    assert field.metadata[b"unit"].decode().startswith("units (accelerators or vCPUs")


def test_meta_records_version_code_digest_and_accelerators(run: RunResult) -> None:
    meta = run.meta
    assert meta["capsim_version"] == version() and version() != "0+unknown"
    assert re.fullmatch(r"[0-9a-f]{12}", meta["code_digest"])
    assert meta["reference_accelerators"] == ["h100"]  # tiny.yaml: speed 1 in both
    assert meta["accelerators"]["tpu-v5"] == {"family": "tpu", "train_speed": 0.9,
                                              "infer_speed": 1.1}


def test_version_prints_version_and_digest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"capsim \d+\.\d+\.\d+\S* \(code [0-9a-f]{12}\)\n", out)


def test_digest_changes_with_the_model_code_only(tmp_path: Path) -> None:
    import shutil

    import sim.about as about

    copy = tmp_path / "sim"
    shutil.copytree(about.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = about.source_digest(copy)
    assert before == about.source_digest(about.PACKAGE)  # the digest is of content, not place
    for model in ("engine/pools.py", "policies/base.py", "runner/job.py", "scenario/models.py"):
        (copy / model).write_text((copy / model).read_text() + "\n#")
        changed = about.source_digest(copy)
        assert changed != before, model  # model code: a different digest
        before = changed
    for other in ("plots/style.py", "planning/planner.py", "cli/run.py", "analysis/compare.py",
                  "runner/schedule.py", "runner/backends.py"):
        (copy / other).write_text((copy / other).read_text() + "\n#")
        assert about.source_digest(copy) == before, other  # cannot change a run's numbers


def test_every_module_named_in_the_digest_exists() -> None:
    import sim.about as about

    for name in about.RUN_CODE:
        assert (about.PACKAGE / name).exists(), name


def test_policies_lists_parameters_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"decision_window = 48 h \(2 d\)\s+the latest the holder answers", out)
    assert "release = 720 h (30 d)" in out
    assert "share_cap = 0.4 (fraction 0-1)" in out
    assert "provider = 'azure'" in out


def test_run_writes_csv_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(TINY), "--out", str(tmp_path / "r"), "--format", "csv"]) == 0
    assert (tmp_path / "r" / "steps.csv").exists() and (tmp_path / "r" / "columns.csv").exists()
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert "code_digest" in meta
