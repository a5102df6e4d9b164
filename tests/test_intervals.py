"""Intervals that stay in the metric's range and still cover the mean at their stated rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.analysis import interval_table, mean_ci, paired_diff_ci
from sim.analysis.metrics import describe, metric_bounds
from sim.analysis.report import metric_rows
from sim.analysis.stats import spread

T_9_975 = 2.262157  # Student t, 9 degrees of freedom, 97.5 % quantile (printed tables)
REPEATS = 2000


def coverage(draw: object, mean: float, n: int, bounds: tuple[float, float]) -> tuple[int, int]:
    """How often the plain and the cut interval contain `mean`, over REPEATS samples."""
    plain = cut = 0
    for _ in range(REPEATS):
        x = draw(n)  # type: ignore[operator]
        a = mean_ci(x)
        b = mean_ci(x, bounds=bounds)
        assert bounds[0] <= b.low <= b.mean <= b.high <= bounds[1]
        plain += a.low <= mean <= a.high
        cut += b.low <= mean <= b.high
    return plain, cut


def test_t_interval_covers_a_normal_mean_95_percent_of_the_time() -> None:
    # Theory: exactly 95 %. Over 2000 repeats the binomial s.d. is 0.49 pp: the band 93-97 %
    # is four s.d. wide each side, so it fails with probability below 1e-4 on any seed.
    rng = np.random.default_rng(7)
    plain, cut = coverage(lambda n: rng.normal(0.9, 0.05, n), 0.9, 10, (0.0, 1.0))
    assert 0.93 <= plain / REPEATS <= 0.97
    assert cut == plain  # cutting to a range that holds the mean never loses a hit


def test_cut_to_the_range_keeps_coverage_of_skewed_shares_near_one() -> None:
    # served shares: mostly near 1, sometimes far below (Beta(20, 0.4): mean 20/20.4)
    rng = np.random.default_rng(11)
    plain, cut = coverage(lambda n: rng.beta(20, 0.4, n), 20 / 20.4, 10, (0.0, 1.0))
    assert cut == plain
    # and rare large amounts: zero in 90 % of runs (mean 0.1 × 2.67M)
    plain, cut = coverage(lambda n: (rng.random(n) < 0.1) * 2.67e6, 2.67e5, 10, (0.0, math.inf))
    assert cut == plain


def test_rare_event_interval_is_cut_at_zero_by_hand() -> None:
    x = [0.0] * 9 + [2.67e6]
    mean = 2.67e5
    sd = math.sqrt((9 * mean**2 + (2.67e6 - mean) ** 2) / 9)
    ci = mean_ci(x, bounds=(0.0, math.inf))
    assert ci.mean == pytest.approx(mean)
    assert ci.low == 0.0 and ci.cut  # the t-interval's low end, mean - 603k, is negative
    assert ci.high == pytest.approx(mean + T_9_975 * sd / math.sqrt(10), rel=1e-6)
    assert not mean_ci([10.0, 11.0, 12.0], bounds=(0.0, math.inf)).cut


def test_share_interval_never_passes_one() -> None:
    x = [1.0] * 9 + [0.9987]
    ci = mean_ci(x, bounds=(0.0, 1.0))
    assert ci.high == 1.0 and ci.cut and ci.low < ci.mean < 1.0


def test_paired_difference_of_shares_stays_within_minus_one_to_one() -> None:
    d = paired_diff_ci([1.0, 1.0, 0.0], [0.0, 0.0, 1.0], bounds=(0.0, 1.0))
    assert d.low >= -1.0 and d.high <= 1.0 and d.cut
    assert not paired_diff_ci([5.0, 1.0, 9.0], [1.0, 8.0, 2.0], bounds=(0.0, math.inf)).cut


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30))
def test_share_bounds_stay_in_range(values: list[float]) -> None:
    ci = mean_ci(values, bounds=(0.0, 1.0))
    assert 0.0 <= ci.low <= ci.mean + 1e-12 and ci.mean - 1e-12 <= ci.high <= 1.0


def test_spread_is_min_p95_max_by_hand() -> None:
    s = spread([float(v) for v in range(10, 0, -1)] + [math.nan])
    # p95 of 1..10 by linear interpolation: rank 0.95 × 9 = 8.55 -> 9 + 0.55 × (10 - 9)
    assert (s.min, s.p95, s.max) == (1.0, pytest.approx(9.55), 10.0)


def test_metric_ranges() -> None:
    assert metric_bounds("inference.served_share") == (0.0, 1.0)
    assert metric_bounds("provider_share_of_spend.azure") == (0.0, 1.0)
    assert metric_bounds("hhi_spend") == (0.0, 1.0)
    assert metric_bounds("committed_utilisation") == (0.0, 1.0)
    assert metric_bounds("training_wait_p95_h") == (0.0, math.inf)
    assert metric_bounds("agents.unmet_unit_hours") == (0.0, math.inf)
    assert metric_bounds("spend_by_provider.aws") == (0.0, math.inf)
    assert metric_bounds("min_power_headroom_mw") == (-math.inf, math.inf)  # breach: < 0
    assert describe("agents.unmet_unit_hours").unit == "vCPU-h"
    assert describe("inference.demand_unit_hours").unit == "ref-unit-h"


def tidy(metric: str, values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"policy": p, "replication": i, "metric": metric, "value": v}
            for p, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_table_cuts_intervals_and_reports_the_spread_of_rare_events() -> None:
    share = tidy("inference.served_share", {"a": [1.0] * 9 + [0.99], "b": [1.0] * 10})
    wait = tidy("training_wait_p95_h", {"a": [0.0] * 9 + [40.0], "b": [1.0, 2.0] * 5})
    unmet = tidy("agents.unmet_unit_hours", {"a": [0.0] * 9 + [2.67e6], "b": [0.0] * 10})
    table = interval_table(pd.concat([share, wait, unmet]), "a")
    assert (table["ci_low"] >= 0).all() and table.query("metric.str.contains('share')")[
        "ci_high"].le(1.0).all()
    row = table.set_index(["metric", "policy"]).loc[("agents.unmet_unit_hours", "a")]
    assert (row["min"], row["max"], row["unit"]) == (0.0, 2.67e6, "vCPU hours")
    assert row["p95"] == pytest.approx(2.67e6 * 0.55)  # rank 8.55: 0 + 0.55 × 2.67M
    lines = {r[0].strip(): r[1:] for r in metric_rows(
        table, [describe(m) for m in dict.fromkeys(table["metric"])], ["a", "b"], "a", None, 10)}
    unmet_line = next(v for k, v in lines.items() if k.startswith("Agent demand unmet"))
    assert unmet_line[0].startswith("267k [0, ")  # cut: no negative lower bound, no ± shown
    assert lines["min / p95 / max"][0] == "0 / 1.47M / 2.67M"
