"""Comparing policies: interval arithmetic, common random numbers, tables, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import Comparison, compare, interval_table, mean_ci, paired_diff_ci, t_quantile
from sim.cli import main
from sim.results import RunResult

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
POLICIES = ["cheapest_first", "microsoft_first"]
# metrics that depend on the random world, never on where the policy placed things
WORLD = ["inference.demand_unit_hours", "agents.demand_unit_hours", "jobs_total", "outages"]


@pytest.fixture(scope="module")
def scenario() -> sim.Scenario:
    return sim.with_changes(sim.load(TINY), {"horizon": "4d", "outages": []})


@pytest.fixture(scope="module")
def cmp(scenario: sim.Scenario) -> Comparison:
    return compare(scenario, POLICIES, replications=3)


# ---------------------------------------------------------------- interval arithmetic


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (2, 4.3027), (4, 2.7764),
                                              (9, 2.2622), (29, 2.0452), (100, 1.9840),
                                              (5000, 1.9604)])
def test_t_quantile_matches_the_printed_table(df: int, expected: float) -> None:
    assert t_quantile(df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_matches_scipy_for_any_level() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7, 30, 999, 1001, 20000):
        for level in (0.8, 0.9, 0.95, 0.99):
            assert t_quantile(df, level) == pytest.approx(stats.t.ppf((1 + level) / 2, df),
                                                          rel=1e-9)


def test_mean_ci_by_hand() -> None:
    # mean 3, sd sqrt(2.5), se sqrt(0.5), t(4) = 2.776445: half-width 1.963243
    ci = mean_ci([1, 2, 3, 4, 5])
    assert (ci.n, ci.mean) == (5, 3.0)
    assert ci.low == pytest.approx(3 - 2.776445 * math.sqrt(0.5), abs=1e-6)
    assert ci.high == pytest.approx(3 + 2.776445 * math.sqrt(0.5), abs=1e-6)
    assert ci.excludes_zero


def test_mean_ci_ignores_missing_values_and_has_no_interval_from_one() -> None:
    assert mean_ci([2.0, float("nan"), 4.0]).n == 2
    one = mean_ci([7.0, float("nan")])
    assert one.mean == 7.0 and math.isnan(one.low) and not one.excludes_zero
    assert mean_ci([]).n == 0


def test_paired_difference_by_hand() -> None:
    # differences 2, 3, 2, 3: mean 2.5, sd 0.57735, se 0.288675, t(3) = 3.182446
    d = paired_diff_ci([3, 5, 4, 6], [1, 2, 2, 3])
    assert d.mean == pytest.approx(2.5)
    assert d.half_width == pytest.approx(3.182446 * 0.288675, abs=1e-5)
    assert d.excludes_zero
    # the pairing matters: unpaired, the two intervals overlap
    assert mean_ci([3, 5, 4, 6]).low < mean_ci([1, 2, 2, 3]).high
    # a pair with a missing side is left out
    assert paired_diff_ci([3, 5, float("nan")], [1, 2, 2]).n == 2


def test_interval_table_by_hand() -> None:
    tidy = pd.DataFrame({
        "policy": ["a"] * 3 + ["b"] * 3, "replication": [0, 1, 2] * 2, "metric": "m",
        "value": [1.0, 2.0, 3.0, 2.0, 4.0, 5.0]})
    t = interval_table(tidy, baseline="a").set_index("policy")
    # a: mean 2, sd 1, se 1/sqrt(3), t(2) = 4.302653
    assert t.loc["a", "mean"] == 2.0
    assert t.loc["a", "ci_high"] == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    assert math.isnan(t.loc["a", "diff"]) and not t.loc["a", "excludes_zero"]
    # b - a per replication: 1, 2, 2 -> mean 5/3, sd 0.57735
    assert t.loc["b", "diff"] == pytest.approx(5 / 3)
    assert t.loc["b", "diff_ci_low"] == pytest.approx(5 / 3 - 4.302653 * 0.57735 / math.sqrt(3),
                                                      abs=1e-5)
    assert t.loc["b", "excludes_zero"]


# ---------------------------------------------------------------- compare


def test_common_random_numbers_across_policies(cmp: Comparison) -> None:
    m = cmp.metrics
    seeds = m.groupby(["replication", "policy"])["seed"].first().unstack()
    assert (seeds.nunique(axis=1) == 1).all()  # same seed for every policy in a replication
    world = m[m["metric"].isin(WORLD)].pivot_table(index=["metric", "replication"],
                                                   columns="policy", values="value")
    assert np.allclose(world[POLICIES[0]], world[POLICIES[1]])  # same world, every policy
    demand = world.loc["inference.demand_unit_hours", POLICIES[0]]
    assert demand.nunique() == 3  # but a different world in each replication


def test_compare_metrics_are_those_of_single_runs(scenario: sim.Scenario, cmp: Comparison) -> None:
    for policy, rep in [("microsoft_first", 2), ("cheapest_first", 0)]:
        expected = sim.run(scenario, policy=policy, replication=rep).metrics()
        got = cmp.metrics.query("policy == @policy and replication == @rep")
        assert dict(zip(got["metric"], got["value"], strict=True)) == pytest.approx(
            expected, nan_ok=True)


def test_tidy_table_has_one_row_per_policy_replication_metric(cmp: Comparison) -> None:
    m = cmp.metrics
    assert list(m.columns) == ["scenario", "policy", "replication", "seed", "metric", "value"]
    assert not m.duplicated(["policy", "replication", "metric"]).any()
    assert m.groupby(["policy", "replication"]).size().nunique() == 1
    assert len(m.drop_duplicates(["policy", "replication"])) == 2 * 3


def test_table_agrees_with_the_tidy_rows(cmp: Comparison) -> None:
    spend = cmp.metrics[cmp.metrics["metric"] == "spend_total"].pivot(
        index="replication", columns="policy", values="value")
    row = cmp.table.query("metric == 'spend_total' and policy == 'microsoft_first'").iloc[0]
    assert row["mean"] == pytest.approx(spend["microsoft_first"].mean())
    d = paired_diff_ci(spend["microsoft_first"], spend["cheapest_first"])
    assert (row["diff"], row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (d.mean, d.low, d.high))
    assert row["baseline"] == "cheapest_first"


def test_representative_runs_are_replication_zero(cmp: Comparison) -> None:
    assert list(cmp.runs) == POLICIES
    for policy, run in cmp.runs.items():
        assert run.meta["replication"] == 0 and run.meta["policy"] == policy
        rows = cmp.metrics.query("policy == @policy and replication == 0")
        assert dict(zip(rows["metric"], rows["value"], strict=True)) == pytest.approx(
            run.metrics(), nan_ok=True)


def test_report_names_policies_metrics_and_differences(cmp: Comparison) -> None:
    text = cmp.report()
    for word in ("cheapest_first", "microsoft_first", "Spend, total", "Training wait, mean",
                 "Δ vs cheapest_first", "Concentration of spend", "95%"):
        assert word in text
    assert list(cmp.overview().columns) == POLICIES


def test_progress_counts_every_run(scenario: sim.Scenario) -> None:
    seen: list[tuple[int, int]] = []
    compare(scenario, POLICIES, replications=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_parallel_workers_give_the_same_numbers(scenario: sim.Scenario,
                                                cmp: Comparison) -> None:
    par = compare(scenario, POLICIES, replications=3, workers=2, keep_runs=False)
    pd.testing.assert_frame_equal(par.metrics, cmp.metrics)


def test_bad_policies_are_refused(scenario: sim.Scenario) -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'; known: "):
        compare(scenario, ["cheapest_first", "nope"])
    with pytest.raises(ValueError, match="baseline 'diversified' is not among"):
        compare(scenario, POLICIES, baseline="diversified")


def test_save_writes_full_tables_only_when_asked(tmp_path: Path, cmp: Comparison) -> None:
    cmp.save(tmp_path / "plain")
    assert not list((tmp_path / "plain").rglob("steps.*"))  # summaries only
    assert Comparison.load(tmp_path / "plain").runs == {}  # no store: no time series to load
    with pytest.raises(ValueError, match="no full run of 'nope'"):
        cmp.save(tmp_path / "bad", tables=["nope"])
    assert not (tmp_path / "bad").exists()


def test_save_and_load_round_trip(tmp_path: Path, cmp: Comparison) -> None:
    cmp.save(tmp_path / "c", tables=POLICIES)
    back = Comparison.load(tmp_path / "c")
    pd.testing.assert_frame_equal(back.metrics, cmp.metrics)
    assert back.policies == cmp.policies and list(back.runs) == POLICIES
    cols = ["job", "arrival_h", "start_h", "wait_h", "status"]
    pd.testing.assert_frame_equal(back.runs["microsoft_first"].jobs[cols],
                                  cmp.runs["microsoft_first"].jobs[cols], check_dtype=False)
    assert back.report() == cmp.report()


# ---------------------------------------------------------------- command line


def write_small(tmp_path: Path) -> Path:
    text = TINY.read_text().replace("horizon: 7d", "horizon: 3d")
    text = text.replace("2025-01-09T12:00", "2025-01-08T12:00")  # the outage inside 3 days
    path = tmp_path / "small.yaml"
    path.write_text(text)
    return path


def test_cli_compare_prints_the_table_and_writes_tables_and_plots(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["compare", str(write_small(tmp_path)), "--policies",
                 "cheapest_first,microsoft_first", "-n", "2", "--out", str(out), "--quiet"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stderr == ""  # --quiet: no progress bar
    assert "Spend, total" in stdout and "Δ vs cheapest_first" in stdout and str(out) in stdout
    tidy = pd.read_csv(out / "metrics.csv")
    assert len(tidy.drop_duplicates(["policy", "replication"])) == 4
    meta = json.loads((out / "compare.json").read_text())
    assert meta["baseline"] == "cheapest_first" and meta["replications"] == 2
    for name in ("spend", "differences", "capacity", "inference", "power", "waits",
                 "training-microsoft_first", "first-refusal-microsoft_first"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name
    # the full tables of a run only on request; plots redraw from the store's copy
    assert not list(out.rglob("steps.*"))
    assert len(list((tmp_path / "runs").glob("*/steps.parquet"))) == 2  # replication 0 of each

    # capsim plot redraws from the saved folder without running anything
    redo = tmp_path / "redo"
    assert main(["plot", str(out), "--out", str(redo)]) == 0
    assert (redo / "spend.png").exists() and (redo / "capacity.png").exists()


def test_cli_compare_shows_progress_unless_quiet(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(write_small(tmp_path)), "--policies", "cheapest_first",
                 "-n", "2", "--out", str(tmp_path / "o"), "--no-plots"])
    _, stderr = capsys.readouterr()
    assert code == 0
    assert "2/2 runs" in stderr and "runs/s" in stderr and "left" in stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--policies", "cheapest_first,nope"], "error: --policies: unknown policy 'nope'"),
    (["--policies", "cheapest_first,microsoft_first", "--baseline", "diversified"],
     "error: --baseline: baseline 'diversified' is not among"),
])
def test_cli_compare_mistakes_exit_2_before_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    out = tmp_path / "out"
    code = main(["compare", str(TINY), *args, "--out", str(out)])
    _, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.startswith(message) and stderr.count("\n") == 1
    assert not out.exists()


def test_cli_compare_needs_at_least_one_replication(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(TINY), "--replications", "0"])
    assert exc.value.code == 2
    assert "--replications must be at least 1, got 0" in capsys.readouterr().err


def test_cli_plot_refuses_a_folder_that_is_not_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a capsim results folder" in capsys.readouterr().err


def test_cli_plot_redraws_a_single_run(tmp_path: Path) -> None:
    sim.run(write_small(tmp_path)).save(tmp_path / "run")
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert {p.name for p in (tmp_path / "run").glob("*.png")} >= {
        "capacity.png", "inference.png", "training.png", "power.png", "first-refusal.png"}


def test_results_are_written_by_several_processes_with_progress(tmp_path: Path,
                                                                cmp: Comparison) -> None:
    seen: list[tuple[int, int]] = []
    cmp.save(tmp_path / "c", plots=sim.plots.figure_makers(cmp), workers=2,
             progress=lambda d, t: seen.append((d, t)))
    total = seen[-1][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert total == len(sim.plots.comparison_figure_makers(cmp))
    assert len(list((tmp_path / "c").glob("*.png"))) == total
    assert not list(tmp_path.glob(".c.*"))  # the temporary folder was moved into place


def test_cli_compare_writes_tables_of_the_policies_asked_in_either_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = write_small(tmp_path)
    args = ["compare", str(small), "--policies", "cheapest_first,microsoft_first", "-n", "1",
            "--quiet", "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "a"), "--tables"]) == 0  # the baseline
    assert [p.name for p in (tmp_path / "a" / "tables").iterdir()] == ["cheapest_first"]
    assert main([*args, "--out", str(tmp_path / "b"), "--tables", "microsoft_first",
                 "--format", "csv"]) == 0
    run = RunResult.load(tmp_path / "b" / "tables" / "microsoft_first")
    assert (tmp_path / "b" / "tables" / "microsoft_first" / "steps.csv").exists()
    assert run.meta["policy"] == "microsoft_first" and run.meta["replication"] == 0
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "c"), "--tables", "diversified"]) == 2
    assert "--tables: 'diversified' not among the policies compared" in capsys.readouterr().err


def test_rerun_reuses_every_run_and_counts_only_new_ones(tmp_path: Path) -> None:
    scenario = sim.load(write_small(tmp_path))
    store = tmp_path / "store"
    seen: list[tuple[int, int]] = []
    first = compare(scenario, POLICIES, replications=2, store_dir=store,
                    progress=lambda d, t: seen.append((d, t)))
    assert (first.simulated, first.reused) == (4, 0) and seen[-1] == (4, 4)
    seen.clear()
    skipped: list[int] = []
    again = compare(scenario, POLICIES, replications=3, store_dir=store, on_skip=skipped.append,
                    progress=lambda d, t: seen.append((d, t)))
    # replication 0 included: only the two runs of the new replication are simulated
    assert (again.simulated, again.reused) == (2, 4) and skipped == [4]
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert list(again.runs) == POLICIES  # representative runs read back with their tables
    cols = ["job", "start_h", "wait_h", "status"]
    for p in POLICIES:
        pd.testing.assert_frame_equal(again.runs[p].jobs[cols], first.runs[p].jobs[cols],
                                      check_dtype=False)
    assert again.runs[p].summary == first.runs[p].summary
    pd.testing.assert_frame_equal(again.metrics.query("replication < 2").reset_index(drop=True),
                                  first.metrics)
    fresh = compare(scenario, POLICIES, replications=2, store_dir=store, fresh=True)
    assert (fresh.simulated, fresh.reused) == (4, 0)


def test_cli_rerun_reports_only_new_runs(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    small = write_small(tmp_path)
    args = ["compare", str(small), "--policies", "cheapest_first", "-n", "2", "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert "2 run(s) already done are reused" in err and "0/0 runs" not in err  # no empty bar
    assert "0 of 2 runs simulated" in out and "2 reused from the store" in out
    assert "runs/s" not in out


def test_saved_compare_finds_its_runs_in_the_store_from_anywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = write_small(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # relative --out: the store is work/results/runs
    assert main(["compare", str(small), "--policies", "cheapest_first", "-n", "1", "--quiet",
                 "--no-plots", "--out", "results/cmp"]) == 0
    monkeypatch.chdir(tmp_path)
    back = Comparison.load(work / "results" / "cmp")
    assert list(back.runs) == ["cheapest_first"] and back.runs["cheapest_first"].meta[
        "replication"] == 0
