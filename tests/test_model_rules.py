"""Model rules of MODEL.md and the README, each checked on a small scenario whose answer is worked
out by hand from the rule's text (or, for random rules, from the distribution the rule names).

Each test names the plausible one-line modelling bug it is there to catch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scenario_edit import at, job, scenario
from scipy import stats

import sim
from sim.scenario import scenario_from_data


def test_checkpointed_work_counts_at_the_accelerators_speed() -> None:
    """A run on accelerators twice as fast keeps the work of its checkpoints at that speed.

    Hand-worked: 20 reference hours on speed 2 = 10 h wall. Checkpoints every 2 h (wall). The
    whole pool fails at hour 5 for 3 h: 2 checkpoints saved = 4 h wall = 8 reference hours;
    5 h wall = 10 reference hours done, 2 lost. Restart at hour 8 (outage over), 0.5 h reload,
    12 reference hours left = 6 h: ends at 14.5.
    Catches: saved work taken as checkpoints x interval without the speed (ends at 16.5, 6 lost).
    """
    s = scenario(8, train_speed=2.0, horizon=48,
                 jobs=[job("run", 0, 4, 20, checkpoint_interval=2, restart_overhead=0.5)],
                 outages=[{"provider": "cloud", "start": at(5), "duration": 3, "share": 1.0}])
    result = sim.run(s)
    assert result.summary["outages"] == 1 and result.summary["training_restarts"] == 1
    r = result.jobs.set_index("job").loc["run"]
    assert r.status == "finished" and r.restarts == 1
    assert r.start_h == pytest.approx(0.0)
    assert r.work_lost_h == pytest.approx(2.0)
    assert r.end_h == pytest.approx(14.5)
    # held: 5 h before the outage, 6.5 h after (reload included), 4 units
    assert r.unit_hours == pytest.approx(4 * (5 + 6.5))


def test_without_checkpoints_an_interrupted_run_starts_over() -> None:
    """No checkpoint interval: the 10 reference hours done by hour 5 are all lost; the run
    restarts at hour 8 from scratch (20 reference hours = 10 h on speed 2): ends at 18.
    Catches: a restart that keeps the work done (ends at 13), or keeps the checkpoint rule."""
    s = scenario(8, train_speed=2.0, horizon=48, jobs=[job("run", 0, 4, 20)],
                 outages=[{"provider": "cloud", "start": at(5), "duration": 3, "share": 1.0}])
    r = sim.run(s).jobs.set_index("job").loc["run"]
    assert r.work_lost_h == pytest.approx(10.0)
    assert r.end_h == pytest.approx(18.0)


def _preemption_case(job_priority: int) -> sim.RunResult:
    """10 units; inference of priority 10 needs 5 until hour 10, then 10 (a spike that fades
    over 1000 h, so it stays near 10); a training run of 5 units starts at hour 1 for 50 h."""
    s = scenario(10, horizon=30, jobs=[job("train", 1, 5, 50, priority=job_priority)],
                 inference={"chat": {"base_units": 5, "priority": 10, "spikes": [
                     {"at": at(10), "multiplier": 2.0, "duration": 1000}]}},
                 scheduling={"inference_reserve": 1})
    return sim.run(s)


def test_inference_does_not_preempt_training_of_equal_priority() -> None:
    """Preemption evicts *lower*-priority training only (MODEL.md, Policies). With equal
    priorities the run keeps its units and the spike is unmet; one priority lower, it is evicted
    at hour 10 and the demand served.
    Catches: `<=` instead of `<` when choosing victims (equal priority evicted)."""
    equal = _preemption_case(10)
    r = equal.jobs.set_index("job").loc["train"]
    assert r.restarts == 0 and r.status == "running"
    assert not (equal.events.kind == "preemption").any()
    assert equal.summary["preemptions"] == 0
    unmet = equal.services.set_index("step").unmet
    assert unmet.loc[12:].min() > 4.0  # about 5 of the 10 units of demand find no room
    lower = _preemption_case(9)
    evicted = lower.events[lower.events.kind == "preemption"]
    assert list(evicted.subject) == ["train"] and evicted.hour.iloc[0] == pytest.approx(10.0)
    assert lower.summary["preemptions"] == 1 and lower.summary["outages"] == 0
    assert lower.services.set_index("step").unmet.loc[10:20].max() == pytest.approx(0.0, abs=1e-9)


def _outage_hits(units: float, gangs: dict[str, int], share: float, n: int
                 ) -> tuple[dict[str, set[float]], set[float], pd.DataFrame]:
    """Gangs (name: units) run all the time in a pool of `units` (long runs with checkpoints;
    a hit one restarts as soon as it fits); `n` scripted outages of `share`, one every 10 h
    for 1 h. Per gang the hours of the outages that hit it, the outage hours, all interruptions."""
    s = scenario(units, horizon=10 * n + 10,
                 jobs=[job(name, 0, g, 1e7, checkpoint_interval=1) for name, g in gangs.items()],
                 outages=[{"provider": "cloud", "start": at(10 * i + 5), "duration": 1,
                           "share": share} for i in range(n)])
    ev = sim.run(s).events
    starts = set(ev[ev.kind == "scheduled_outage_start"].hour)
    assert len(starts) == n
    stops = ev[ev.kind == "job_interrupted"]
    hit = stops[stops.detail.str.startswith("scheduled_outage")]
    return {name: set(hit[hit.subject == name].hour) for name in gangs}, starts, stops


def test_an_outage_hits_a_gang_if_it_takes_one_of_its_units() -> None:
    """An outage takes k of a pool's N units, drawn among all N (busy and idle) without
    replacement: a gang of g is hit with probability 1 − C(N − g, k) / C(N, k).

    N = 10, share 0.4 (k = 4), gangs of 2 and 4 (4 idle units: the gangs fit beside the outage
    and restart at once): p = 1 − C(8,4)/C(10,4) = 2/3 and 1 − C(6,4)/C(10,4) = 13/14. Over
    1000 outages each gang's hits must fall in the central 99.9% binomial interval (fails
    wrongly with probability < 0.1% per gang, on any seed).
    Catches: the old independent 1 − (1 − share)^g (0.870 for the 4-gang: caught with
    probability ~1), drawing with replacement 1 − (1 − g/N)^k (0.590, 0.870: ~0.95, ~1), or
    drawing among busy units only (0.933, 1: ~1).
    """
    n, total, k = 1000, 10, 4
    hits, starts, stops = _outage_hits(total, {"two": 2, "four": 4}, 0.4, n)
    assert set(stops.hour) <= starts  # only outages stop runs
    for name, g in (("two", 2), ("four", 4)):
        p = 1 - math.comb(total - g, k) / math.comb(total, k)
        lo, hi = stats.binom.ppf([0.0005, 0.9995], n, p)
        assert lo <= len(hits[name]) <= hi, (name, len(hits[name]), n, p, lo, hi)


def test_an_outage_hits_a_gang_that_fills_the_pool_and_one_of_two_that_do() -> None:
    """Every unit of the pool belongs to a gang, so every outage hits one, exactly:
    a gang of 20 in a pool of 20 is hit by each of 200 outages of 1.4 units (share 0.07: one
    whole unit to hit); gangs of 12 and 8 in a pool of 20 are never both missed by an outage
    of 2 units (share 0.1), and none is stopped for capacity (what a missed gang would be).
    Catches: the old independent 1 − (1 − share)^g (0.77 for the full gang; 0.12 that both
    of the two are missed), or a fractional outage that hits nothing (k rounded down to 0)."""
    n = 200
    hits, starts, stops = _outage_hits(20, {"all": 20}, 0.07, n)
    assert hits["all"] == starts and len(stops) == n
    hits, starts, stops = _outage_hits(20, {"a": 12, "b": 8}, 0.1, n)
    assert hits["a"] | hits["b"] == starts
    assert stops.detail.str.startswith("scheduled_outage").all()


def test_outages_last_mttr_and_come_every_mtbf() -> None:
    """Random outages: exponential up times (mean MTBF) and repairs (mean MTTR), at step
    boundaries. n repairs sum to Gamma(n, MTTR); the mean repair must lie in its central
    99.9% interval, widened by one step either side for the snapping to step boundaries.
    Catches: repair drawn with the MTBF (mean 200 h instead of 20 h), or up time with the MTTR.
    """
    mtbf, mttr, horizon = 200.0, 20.0, 40000.0
    s = scenario(10, horizon=horizon, pool={"outages": {"mtbf": mtbf, "mttr": mttr,
                                                        "share": 0.5}})
    ev = sim.run(s).events
    begin = ev[ev.kind == "outage_start"].hour.to_numpy()
    end = ev[ev.kind == "outage_end"].hour.to_numpy()
    n = min(len(begin), len(end)) - 1  # the last may be cut short by the horizon
    assert n > 100
    durations = end[:n] - begin[:n]
    lo, hi = stats.gamma.ppf([0.0005, 0.9995], n, scale=mttr) / n
    assert lo - 1.0 <= durations.mean() <= hi + 1.0, (durations.mean(), lo, hi)
    # Cycles of up time + repair: the renewal count by T is about normal with mean T/m and
    # variance T·σ²/m³ (m = MTBF + MTTR, σ² = MTBF² + MTTR²); 4.5 sd either side.
    cycle = mtbf + mttr
    sd = np.hypot(mtbf, mttr) * np.sqrt(horizon / cycle**3)
    assert abs(len(begin) - horizon / cycle) <= 4.5 * sd + 1, (len(begin), horizon / cycle)


def test_run_as_large_as_the_pool_blocks_it_from_backfill() -> None:
    """A waiting run of exactly the pool's size could hold the pool once its training ends, so
    the pool is kept for it: a later small run may not backfill into it (README, engine).

    8 units: A (4 units, 0-10 h) runs; B (8 units) arrives at 1 and waits for A; C (2 units,
    2 h) arrives at 2: 4 units are free, but they are kept for B. B runs 10-15, then C 15-17.
    Catches: an off-by-one in "could this pool ever hold the run" (`>` for `>=`, or units + 1),
    which leaves B without a block and lets C start at hour 2.
    """
    s = scenario(8, horizon=40, jobs=[job("A", 0, 4, 10), job("B", 1, 8, 5),
                                      job("C", 2, 2, 2)])
    r = sim.run(s).jobs.set_index("job")
    assert r.loc["A", "start_h"] == pytest.approx(0.0)
    assert r.loc["B", "start_h"] == pytest.approx(10.0)
    assert r.loc["C", "start_h"] == pytest.approx(15.0)


def test_buildout_ramps_in_equal_tranches_from_its_online_date() -> None:
    """A site of 90 units online at hour 10 with a 30 h ramp in 3 tranches adds 30 units at
    hours 10, 25 and 40: the first on its online date, the last at online + ramp (issue 11: the
    ramp used to end a tranche early); no slip. A second site (60 units, online 40) whose last
    tranche would come after the horizon (hour 60) adds only the tranches at 40 and 55.
    Catches: tranches placed before the online date, a ramp that ends early or adds all units
    at once, or tranches counted past the horizon."""
    s = scenario(0, horizon=60, pool={"buildout": {"ramp_increments": 3, "sites": [
        {"name": "a", "online": at(10), "units": 90, "ramp": 30},
        {"name": "b", "online": at(40), "units": 60, "ramp": 30}]}})
    steps = sim.run(s).steps.set_index("hour").installed
    expected = {0: 0, 9: 0, 10: 30, 24: 30, 25: 60, 39: 60, 40: 110, 54: 110, 55: 130, 59: 130}
    for hour, units in expected.items():
        assert steps.loc[hour] == pytest.approx(units), (hour, steps.loc[hour], units)


def test_sites_slip_by_an_exponential_delay_with_the_stated_mean() -> None:
    """200 sites planned at hour 0 with slip_mean 24 h, no ramp: each comes online after an
    exponential delay (snapped to the hour). The mean delay of n sites is Gamma(n, 24)/n, within
    its central 99.9% interval widened by half a step for the snapping; never early.
    Catches: no slip, a slip drawn with the wrong mean, or sites brought forward."""
    sites = [{"name": f"s{i}", "online": at(0), "units": 1} for i in range(200)]
    s = scenario(0, horizon=24 * 20, pool={"buildout": {"slip_mean": 24, "sites": sites}})
    steps = sim.run(s).steps.set_index("hour").installed
    online = np.diff(np.concatenate([[0.0], steps.to_numpy()]))  # sites online per step
    hours = steps.index.to_numpy()
    assert online.sum() <= 200 and (online >= -1e-9).all()
    late = 200 - online.sum()  # slipped past the horizon (20 days: P = e^-20 each)
    assert late <= 1
    mean = float((online * hours).sum() / online.sum())
    lo, hi = stats.gamma.ppf([0.0005, 0.9995], 200, scale=24.0) / 200
    assert lo - 0.5 <= mean <= hi + 0.5, (mean, lo, hi)


def test_job_keeps_to_its_accelerators_and_providers() -> None:
    """Two providers, each with a cheap and a dear pool of different accelerators. A run
    restricted to the dear accelerator, and one restricted to the dear provider, run there
    (cheapest_first would otherwise take the cheap pool); unrestricted, the cheap one.
    Catches: the accelerator or provider filter inverted or ignored."""
    data = scenario(8).model_dump(mode="json")
    data["accelerators"]["other"] = {"family": "gpu", "power_kw": 0}
    data["providers"] = {
        "cheap": {"pools": {"p": {"accelerator": "acc", "price_per_hour": 1.0,
                                  "capacity": [{"at": "2025-01-01", "units": 8}]}}},
        "dear": {"pools": {"q": {"accelerator": "other", "price_per_hour": 5.0,
                                 "capacity": [{"at": "2025-01-01", "units": 8}]}}},
    }
    data["training"]["jobs"] = [job("free", 0, 2, 5), job("by_acc", 0, 2, 5, accelerators=["other"]),
                                job("by_provider", 0, 2, 5, providers=["dear"])]
    r = sim.run(scenario_from_data(data)).jobs.set_index("job")
    assert r.loc["free", "provider"] == "cheap"
    assert r.loc["by_acc", "accelerator"] == "other" and r.loc["by_acc", "provider"] == "dear"
    assert r.loc["by_provider", "provider"] == "dear"


def test_declined_inference_is_offered_again_before_its_release_lapses() -> None:
    """First refusal on rate demand (README, "First refusal, precisely"): chat needs a constant
    20; Azure has 20 units until hour 200, then 15. What chat used elsewhere in its first week
    is grandfathered (nothing), so the 5 short from hour 200 are offered, declined when the 2 h
    window ends (unmet for hours 200-201 only) and released for 10 h. A release that was used
    is offered again a window before it lapses, and what runs elsewhere keeps running until
    the answer: renewals at 210, 220, ... and nothing unmet after hour 201.
    Catches: no renewal offer (demand unmet for a window every release period), renewals at
    the wrong time, or a grant of the wrong size."""
    data = scenario(10, horizon=260).model_dump(mode="json")
    data["providers"] = {
        "azure": {"pools": {"p": {"accelerator": "acc", "price_per_hour": 1.0,
                                  "capacity": [{"at": "2025-01-01", "units": 20},
                                               {"at": "2025-01-09T08:00", "units": 15}]}}},
        "other": {"pools": {"q": {"accelerator": "acc", "price_per_hour": 1.0,
                                  "capacity": [{"at": "2025-01-01", "units": 100}]}}}}
    data["inference"] = {"chat": {"base_units": 20}}
    data["policy"] = {"default": "microsoft_first",
                      "params": {"microsoft_first": {"decision_window": 2, "release": 10}}}
    r = sim.run(scenario_from_data(data))
    unmet = r.services.set_index("step").unmet
    assert unmet.loc[:199].max() == pytest.approx(0.0, abs=1e-9)
    assert unmet.loc[200:201].to_numpy() == pytest.approx([5.0, 5.0])  # until the answer
    assert unmet.loc[202:].max() == pytest.approx(0.0, abs=1e-9)
    ev = r.events
    renewals = ev[(ev.kind == "rofr_offer") & ev.detail.str.endswith("renewal")]
    assert list(renewals.hour) == [210.0, 220.0, 230.0, 240.0, 250.0]
    assert set(renewals.units) == {5.0}
    answers = ev[ev.kind == "rofr_answer"]
    assert set(answers.detail) == {"declined"}


def test_training_waits_for_power_under_the_ceiling() -> None:
    """A 20 kW ceiling, accelerators of 2 kW: run A (8 units, 16 kW, hours 0-10) leaves room
    for 2 more units of power, not for B's 4 (8 kW): B waits for A, though the pool has room.
    C (2 units, 4 kW) would fit beside A, but the pool is kept for the blocked B (backfill
    rule); at 10 B and C start together (12 kW).
    Catches: power of a start counted as units ÷ kW (B would start at once), or no power test."""
    data = scenario(100, horizon=40, jobs=[job("A", 0, 8, 10), job("B", 1, 4, 5),
                                           job("C", 2, 2, 1)]).model_dump(mode="json")
    data["accelerators"]["acc"]["power_kw"] = 2.0
    data["accelerators"]["acc"]["idle_power_share"] = 0.0  # busy units only (idle draw:
    # tests/test_power.py)
    data["power"] = {"ceiling": [{"at": "2025-01-01", "mw": 0.02}]}
    r = sim.run(scenario_from_data(data)).jobs.set_index("job")
    assert r.loc["A", "start_h"] == pytest.approx(0.0)
    assert r.loc["B", "start_h"] == pytest.approx(10.0)
    assert r.loc["C", "start_h"] == pytest.approx(10.0)
