"""Interruption results worked out by hand on small scenarios: a run's mean time to interrupt
(MTTI), and the summary's, the CLI's and compare's ETTR figures.

Provider a: 8 units, scripted outages of all of it at hours 10-12 and 25-27. Provider b: 8 units,
one outage at 3-4. Runs (cheapest_first, each held to its provider):
  f  (frontier): 8 units on a, 30 h of work, a checkpoint every 2 h, 0.5 h to restart.
     0-10 works, saved 10 (5 checkpoints), lost 0; back at 12, restarts 12-12.5, works 12.5-25
     (12.5 h: 6 checkpoints, saved 12, lost 0.5); back at 27, restarts 27-27.5, 8 h left, ends
     35.5. Span 35.5 h, 2 interruptions: MTTI 17.75 h, ETTR 30 / 35.5; restarting 1 h.
  s1: 4 units on b, 5 h, no checkpoints: 0-3 lost, back at 4, ends 9: ETTR 5 / 9, MTTI 9.
  s2: 4 units on b, 10 h, a checkpoint every hour: saved 3 at 3, back at 4, ends 11: ETTR 10 / 11.
  s3: 2 units on b, 2 h from hour 20: never interrupted, ETTR 1, no MTTI.
  n:  16 units on b (8 there): never starts, no ETTR, no MTTI.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scenario_edit import at, job

import sim
from sim.analysis import compare
from sim.analysis.metrics import describe, key_metrics
from sim.cli.run import main_causes, summary_text
from sim.results.summary import gang_bin
from sim.scenario import scenario_from_data


def _scenario(horizon: float = 60.0) -> sim.Scenario:
    pools = {name: {"pools": {"gpu": {"accelerator": "acc", "price_per_hour": price,
                                      "capacity": [{"at": "2025-01-01", "units": 8}]}}}
             for name, price in (("a", 1.0), ("b", 2.0))}
    return scenario_from_data({
        "name": "hits", "start": "2025-01-01", "horizon": horizon, "seed": 1,
        "accelerators": {"acc": {"family": "gpu", "power_kw": 0}}, "providers": pools,
        "training": {"jobs": [
            job("f", 0, 8, 30, providers=["a"], frontier=True, checkpoint_interval=2,
                restart_overhead=0.5),
            job("s1", 0, 4, 5, providers=["b"]),
            job("s2", 0, 4, 10, providers=["b"], checkpoint_interval=1),
            job("s3", 20, 2, 2, providers=["b"]),
            job("n", 0, 16, 2, providers=["b"])]},
        "policy": {"default": "cheapest_first"},
        "outages": [{"provider": "a", "start": at(10), "duration": 2},
                    {"provider": "a", "start": at(25), "duration": 2},
                    {"provider": "b", "start": at(3), "duration": 1}]})


@pytest.fixture(scope="module")
def result() -> sim.RunResult:
    return sim.run(_scenario())


def test_mtti_is_the_span_from_first_start_to_end_per_interruption(result: sim.RunResult) -> None:
    """f: 35.5 h from its first start to its end over 2 outages = 17.75 h; s1: 9 h over one.
    Catches: MTTI over the work time (30 / 2 = 15) or over the span from arrival, dividing by
    interruptions + 1, or counting the restarts' overhead out of the span."""
    j = result.jobs.set_index("job")
    assert j.loc["f", "interrupts_outage"] == 2 and j.loc["f", "restarts"] == 2
    assert (j.loc["f", "start_h"], j.loc["f", "end_h"]) == pytest.approx((0.0, 35.5))
    assert j.loc["f", "mtti_h"] == pytest.approx(35.5 / 2)
    assert j.loc["f", "ettr"] == pytest.approx(30 / 35.5)
    assert j.loc["f", "work_lost_h"] == pytest.approx(0.5)  # the work recomputed
    assert j.loc["f", "hours_restarting"] == pytest.approx(1.0)
    assert j.loc["s1", "mtti_h"] == pytest.approx(9.0)
    assert j.loc["s2", "mtti_h"] == pytest.approx(11.0)


def test_mtti_is_empty_for_a_run_never_interrupted_or_never_started(result: sim.RunResult) -> None:
    """s3 ran without interruption, n never started: no MTTI (NaN, as ETTR of a run that never
    started). Catches: MTTI = span / 0 (inf), or 0 for an uninterrupted run, or the horizon."""
    j = result.jobs.set_index("job")
    assert j.loc["s3", "restarts"] == 0 and math.isnan(j.loc["s3", "mtti_h"])
    assert j.loc["s3", "ettr"] == pytest.approx(1.0)
    assert math.isnan(j.loc["n", "mtti_h"]) and math.isnan(j.loc["n", "ettr"])


def test_mtti_of_a_run_still_going_counts_up_to_the_horizon() -> None:
    """Cut at hour 30, f has been interrupted twice and is running again: MTTI = 30 / 2 = 15 h.
    Catches: an unfinished run's span taken as NaN (no end) or to its last interruption."""
    j = sim.run(_scenario(horizon=30)).jobs.set_index("job")
    assert j.loc["f", "status"] == "running" and j.loc["f", "restarts"] == 2
    assert j.loc["f", "mtti_h"] == pytest.approx(15.0)


def test_summary_gives_the_frontier_runs_ettr_interruptions_and_mtti(result: sim.RunResult) -> None:
    """The frontier entry of f: ETTR 30 / 35.5, 2 interruptions, both outages, MTTI 17.75 h;
    frontier_ettr (mean over frontier runs) the same, frontier_interruptions 2. Catches: the
    frontier figures taken over every run (the mean ETTR of f, s1, s2, s3 is 0.83), causes
    mislabelled, or MTTI of the wrong run."""
    s = result.summary
    (f,) = s["frontier"]
    assert f["ettr"] == pytest.approx(30 / 35.5, rel=1e-9)
    assert f["interruptions"] == 2 and f["mtti_h"] == pytest.approx(17.75)
    assert f["interruptions_by_cause"] == {"unit_failure": 0, "planned": 0, "outage": 2,
                                           "preemption": 0, "power": 0, "reclaim": 0,
                                           "capacity": 0}
    assert s["frontier_ettr"] == pytest.approx(30 / 35.5, rel=1e-9)
    assert s["frontier_interruptions"] == 2


def test_summary_ettr_by_gang_size_keeps_frontier_runs_apart(result: sim.RunResult) -> None:
    """Runs that started, by gang size: 4 units: s1 and s2, mean (5/9 + 10/11) / 2; 2 units: s3,
    1; the frontier run f (8 units) only among the frontier runs; n (never started) nowhere.
    Catches: a run that never started counted with ETTR 0, frontier runs mixed into the rest,
    the mean weighted by units or by span."""
    s = result.summary
    assert s["training_ettr_by_gang_size"] == {
        "2": {"jobs_started": 1, "units_mean": 2.0, "ettr_mean": 1.0},
        "4": {"jobs_started": 2, "units_mean": 4.0,
              "ettr_mean": pytest.approx((5 / 9 + 10 / 11) / 2, rel=1e-9)}}
    assert s["frontier_ettr_by_gang_size"] == {
        "8": {"jobs_started": 1, "units_mean": 8.0, "ettr_mean": pytest.approx(30 / 35.5, rel=1e-9)}}


def test_gang_sizes_share_a_bin_within_a_quarter_octave() -> None:
    """4 log2(units), rounded down: 1 -> 0, 2 -> 4, 3 -> 6 (4 x 1.585), 8 and 9 -> 12 (9 is
    12.68), 10 -> 13 (13.29), 16 -> 16, 196,608 (1.5 x 2^17) -> 70 (70.34). Catches: bins an
    octave wide (196,608 with 131,072), rounding to nearest (9 with 10), powers of two
    split off their bin by float error."""
    import numpy as np

    assert gang_bin(np.array([1, 2, 3, 8, 9, 10, 16, 131072, 196608])).tolist() == [
        0, 4, 6, 12, 12, 13, 16, 68, 70]


def test_cli_prints_the_frontier_runs_ettr_interruptions_mtti_and_causes(
        result: sim.RunResult) -> None:
    """`capsim run` shows for f: ETTR 84.5 %, 2 interruptions, MTTI 17.8 h, all outages.
    Catches: the rows missing, a share printed as a fraction, MTTI of another run."""
    text = summary_text(result.summary)
    assert "ETTR / interruptions / MTTI          84.5 % / 2 / 17.8 h" in text
    assert "interruptions by cause               outage 2" in text


def test_main_causes_lists_the_commonest_three_and_sums_the_rest() -> None:
    """Catches: causes in dictionary order rather than by count, zero counts listed, the rest
    dropped instead of summed."""
    counts = {"capacity": 1, "unit_failure": 412, "planned": 47, "outage": 5, "power": 2,
              "reclaim": 0}
    assert main_causes(counts) == "unit_failure 412 · planned 47 · outage 5 · other 3"
    assert main_causes({"outage": 2, "power": 0}) == "outage 2"


def _by_policy(cmp: Any, metric: str) -> dict[str, Any]:
    return cmp.table[cmp.table["metric"] == metric].set_index("policy").to_dict("index")


def test_compare_reports_the_frontier_ettr_per_policy_higher_better() -> None:
    """Scripted outages only, so every replication gives f the same ETTR, 30 / 35.5, under both
    policies: mean 30 / 35.5 with an interval of zero width, no difference. Catches: the metric
    left out of compare's table, judged lower-better, or shown as a count."""
    cmp = compare(_scenario(), ["cheapest_first", "perf_per_dollar"], replications=2)
    assert describe("frontier_ettr").better == "higher"
    assert describe("frontier_ettr").kind == "share"
    assert "frontier_ettr" in [m.name for m in key_metrics(set(cmp.metrics["metric"]))]
    rows = _by_policy(cmp, "frontier_ettr")
    for policy in ("cheapest_first", "perf_per_dollar"):
        assert rows[policy]["mean"] == pytest.approx(30 / 35.5, rel=1e-9)
        assert rows[policy]["ci_low"] == pytest.approx(rows[policy]["ci_high"])
    assert rows["perf_per_dollar"]["diff"] == pytest.approx(0.0, abs=1e-12)
    assert "Frontier run ETTR" in cmp.report()
