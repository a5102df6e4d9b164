"""Sweeping scenario fields: parsing --set, clear errors before anything runs, common random
numbers across the grid, tables and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import SettingError, Sweep, parse_setting, sweep
from sim.analysis.sweep import check_settings, split_values
from sim.cli import main

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
PRICE = "providers.gcp.pools.tpu-v5.price_per_hour"
WINDOW = "policy.params.microsoft_first.decision_window"


@pytest.fixture(scope="module")
def scenario() -> sim.Scenario:
    return sim.with_changes(sim.load(TINY), {"horizon": "3d", "outages": []})


@pytest.fixture(scope="module")
def swept(scenario: sim.Scenario) -> Sweep:
    return sweep(scenario, {PRICE: [1.5, 3.0]}, ["cheapest_first", "microsoft_first"],
                 replications=2)


# ---------------------------------------------------------------- parsing --set


def test_values_are_read_as_yaml() -> None:
    path, values = parse_setting(f"{PRICE}=1,2.5,6h,true,2025-03-01")
    assert path == PRICE
    assert values[:4] == [1, 2.5, "6h", True]
    assert str(values[4]) == "2025-03-01"
    assert [type(v) for v in values[:2]] == [int, float]


def test_commas_inside_brackets_stay_together() -> None:
    assert split_values("[{at: 2025-01-06, units: 200}],[{at: 2025-01-06, units: 400}]") == [
        "[{at: 2025-01-06, units: 200}]", "[{at: 2025-01-06, units: 400}]"]
    _, values = parse_setting("a.tenant_cap=[{at: 2025-01-06, units: 200}],[]")
    assert values == [[{"at": pytest.approx(values[0][0]["at"]), "units": 200}], []]


@pytest.mark.parametrize(("text", "message"), [
    ("no-equals-sign", "expected PATH=V1,V2"),
    ("=1,2", "expected PATH=V1,V2"),
    (f"{PRICE}=", "an empty value"),
    (f"{PRICE}=1,,2", "an empty value"),
    (f"{PRICE}=[1, 2", "not a YAML value"),
])
def test_malformed_settings_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        parse_setting(text)


# ---------------------------------------------------------------- checking before running


def test_a_path_that_does_not_exist_names_the_known_fields(scenario: sim.Scenario) -> None:
    with pytest.raises(SettingError) as exc:
        check_settings(scenario, {"providers.gcp.pools.tpu-v6.price_per_hour": [1.0]})
    assert "no field 'tpu-v6' here; known: tpu-v5, cpu" in str(exc.value)


def test_a_value_the_field_cannot_take_is_refused(scenario: sim.Scenario) -> None:
    with pytest.raises(SettingError, match=rf"{PRICE}=-1: .*cannot be negative"):
        check_settings(scenario, {PRICE: [1.0, -1]})
    with pytest.raises(SettingError, match="expected a number, got 'cheap'"):
        check_settings(scenario, {PRICE: ["cheap"]})


def test_every_combination_is_checked(scenario: sim.Scenario) -> None:
    combos = check_settings(scenario, {PRICE: [1.0, 2.0], WINDOW: ["1h", "2h", "3h"]})
    assert len(combos) == 6
    assert combos[0] == {PRICE: 1.0, WINDOW: "1h"} and combos[-1] == {PRICE: 2.0, WINDOW: "3h"}


def test_nothing_runs_when_a_setting_is_bad(scenario: sim.Scenario) -> None:
    calls: list[int] = []
    with pytest.raises(SettingError):
        sweep(scenario, {PRICE: [1.0, -2.0]}, progress=lambda d, t: calls.append(d))
    assert calls == []


# ---------------------------------------------------------------- results


def test_tidy_table_has_the_swept_field_as_a_column(swept: Sweep) -> None:
    m = swept.metrics
    assert list(m.columns) == ["scenario", "policy", "replication", "seed", PRICE, "metric",
                               "value"]
    runs = m.drop_duplicates(["policy", "replication", PRICE])
    assert len(runs) == 2 * 2 * 2
    assert sorted(m[PRICE].unique()) == [1.5, 3.0]


def test_common_random_numbers_across_the_grid(swept: Sweep) -> None:
    m = swept.metrics
    seeds = m.groupby(["replication"])["seed"].nunique()
    assert (seeds == 1).all()
    demand = m[m["metric"] == "inference.demand_unit_hours"].pivot_table(
        index="replication", columns=["policy", PRICE], values="value")
    assert np.allclose(demand.to_numpy(), demand.to_numpy()[:, :1])  # same world everywhere
    assert demand.iloc[:, 0].nunique() == 2  # one world per replication


def test_the_swept_value_changes_what_it_should(swept: Sweep) -> None:
    # doubling the TPU price: cheapest_first pays gcp more, even though it moves some work off
    t = swept.table.query("policy == 'cheapest_first' and metric == 'spend_by_provider.gcp'")
    low, high = t.sort_values(PRICE)["mean"]
    assert high > low * 1.1


def test_table_means_match_the_tidy_rows(swept: Sweep) -> None:
    m = swept.metrics.query("metric == 'spend_total'")
    means = m.groupby(["policy", PRICE])["value"].mean()
    t = swept.table.query("metric == 'spend_total'").set_index(["policy", PRICE])["mean"]
    pd.testing.assert_series_equal(t.sort_index(), means.sort_index(), check_names=False)


def test_report_and_round_trip(tmp_path: Path, swept: Sweep) -> None:
    text = swept.report()
    assert "tpu-v5.price_per_hour=1.5" in text and "Spend, total" in text
    swept.save(tmp_path / "s")
    back = Sweep.load(tmp_path / "s")
    assert back.params == {PRICE: [1.5, 3.0]}
    assert back.report() == text


# ---------------------------------------------------------------- command line


def test_cli_sweep_writes_a_table_and_a_plot(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    small = tmp_path / "small.yaml"
    small.write_text(TINY.read_text().replace("horizon: 7d", "horizon: 3d")
                     .replace("2025-01-09T12:00", "2025-01-08T12:00"))
    code = main(["sweep", str(small), "--set", f"{PRICE}=1.5,3", "--policies",
                 "cheapest_first,microsoft_first", "-n", "2", "--out", str(out), "-q"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stderr == ""
    assert "tpu-v5.price_per_hour=3" in stdout and "Spend, total" in stdout
    tidy = pd.read_csv(out / "metrics.csv")
    assert sorted(tidy[PRICE].unique()) == [1.5, 3.0]
    assert (out / "sweep.png").stat().st_size > 10_000
    assert main(["plot", str(out), "--out", str(tmp_path / "redo")]) == 0
    assert (tmp_path / "redo" / "sweep.png").exists()


@pytest.mark.parametrize(("setting", "message"), [
    ("providers.gcp.pools.tpu-v6.price_per_hour=1,2",
     "error: --set providers.gcp.pools.tpu-v6.price_per_hour: "),
    (f"{PRICE}=1,-2", f"error: --set {PRICE}=-2: "),
    (f"{PRICE}", "error: --set "),
    ("horizon=0", "error: --set horizon=0: horizon: must be greater than 0"),
])
def test_cli_bad_set_is_one_clear_line_and_nothing_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str) -> None:
    out = tmp_path / "out"
    code = main(["sweep", str(TINY), "--set", setting, "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.startswith(message), stderr
    assert stderr.count("\n") == 1 and stdout == ""
    assert not out.exists()


def test_cli_the_same_path_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(TINY), "--set", f"{PRICE}=1", "--set", f"{PRICE}=2"]) == 2
    assert "given twice" in capsys.readouterr().err
