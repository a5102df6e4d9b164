"""Spare units of a training run and the replacement of failed units, read a second time: waits
worked out by hand from the failure times and a fixed repair time, spare costs by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scenario_edit import job, scenario
from scipy import stats

import sim
from sim.scenario import ScenarioError, scenario_from_data

REPAIR = 5.0  # hours, fixed: every swapped-out unit is back exactly this long after failing


def _failing(rate: float | None = 0.01, **failures: Any) -> dict[str, Any]:
    failures.setdefault("repair", {"dist": "fixed", "value": REPAIR})
    if rate is not None:
        failures["rate"] = rate
    return {"acc": {"family": "gpu", "power_kw": 0, "failures": failures}}


def _down_up(r: sim.Result, name: str) -> tuple[np.ndarray, np.ndarray]:
    ev = r.events
    mine = ev[ev.subject == name]
    return (mine[mine.kind == "job_interrupted"].hour.to_numpy(),
            mine[mine.kind == "job_restart"].hour.to_numpy())


def test_enough_spares_never_wait_and_spares_do_not_fail() -> None:
    """A gang of 8 with 10 spares in a pool of exactly 18: at most a few units are ever in repair
    (5 h each, failures at 0.08 an hour), so every failure swaps in a spare and the run restarts
    the same hour (10 in repair at once is practically impossible). Failures come only from the
    gang's 8 units: the count over the run's span is Poisson(0.08 x span), central 99.9%
    interval. Catches: a run that waits for the repair
    despite its spares, spares not held (the pool's 10 free units mask nothing here: the pool
    is full), spares counted in the failure rate (18/8 as many failures)."""
    s = scenario(18, horizon=30000, accelerators=_failing(),
                 jobs=[job("run", 0, 8, 20000, checkpoint_interval=1, spares=10)])
    r = sim.run(s)
    down, up = _down_up(r, "run")
    assert len(down) > 300
    assert np.array_equal(down, up)  # restarted at the moment of each failure
    row = r.jobs.iloc[0]
    assert row.status == "finished" and row.requeue_wait_h == 0
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], 0.01 * 8 * (row.end_h - row.start_h))
    assert lo <= len(down) <= hi


def test_spares_are_paid_for_while_idle_and_not_while_in_repair() -> None:
    """Price $1 a unit-hour. Over the run's span the gang's 8 units cost 8 x span; each spare
    swapped in leaves the run for exactly 5 h (its repair), so the spares' idle cost is
    4 x span - sum over failures of min(5, end - t). (The run waits only if 5 of ~35 failures
    fall within 5 h: about 1e-4 on any seed.) Catches: spares not billed, billed while in
    repair, the failed unit billed after it left, or never billed again once back."""
    s = scenario(12, horizon=3000, accelerators=_failing(0.002),
                 jobs=[job("run", 0, 8, 2000, checkpoint_interval=1, spares=4)])
    r = sim.run(s)
    row = r.jobs.iloc[0]
    down, up = _down_up(r, "run")
    assert len(down) > 10 and np.array_equal(down, up)
    span = row.end_h - row.start_h
    out = np.minimum(REPAIR, row.end_h - down).sum()
    assert row.spare_idle_cost == pytest.approx(4 * span - out, rel=1e-9)
    assert row.cost_at_list_price == pytest.approx(8 * span + 4 * span - out, rel=1e-9)
    assert row.unit_hours == pytest.approx(12 * span - out, rel=1e-9)


def test_without_spares_a_free_unit_replaces_the_failed_one() -> None:
    """A gang of 8 in a pool of 9, no spares: a failure restarts the run at once on the free
    unit, unless the earlier failed unit is still in repair (pool short); then the run waits
    until that unit is back, 5 h after its failure. Each wait is worked out from the failure
    times. Catches: using a unit still in repair (no wait ever), waiting for its own repair
    instead of the earlier one's (every wait 5 h), the free unit left idle."""
    s = scenario(9, horizon=40000, accelerators=_failing(0.01),
                 jobs=[job("run", 0, 8, 30000, checkpoint_interval=1)])
    down, up = _down_up(sim.run(s), "run")
    n = min(len(down), len(up))
    assert n > 300
    expected = []
    back: list[float] = []  # repair returns still ahead, per failure so far
    for t in down[:n]:
        back = [b for b in back if b > t + 1e-9]
        expected.append(0.0 if not back else min(back) - t)  # one unit in repair: pool short
        back.append(t + REPAIR)
    waits = up[:n] - down[:n]
    assert np.allclose(waits, expected, atol=1e-9)
    assert (np.asarray(expected) > 0).sum() > 10  # both cases seen


def test_without_spares_in_a_full_pool_the_run_waits_exactly_for_the_repair() -> None:
    """A gang filling its pool, no spares: every failure stops it until the failed unit is
    back, exactly 5 h (fixed repair). Catches: restarting before the unit is back, or waiting
    longer (the unit kept out, the restart missed when it returns)."""
    s = scenario(8, horizon=20000, accelerators=_failing(0.01),
                 jobs=[job("full", 0, 8, 1e9, checkpoint_interval=1)])
    down, up = _down_up(sim.run(s), "full")
    n = len(up)
    assert n > 300
    assert np.allclose(up - down[:n], REPAIR, atol=1e-9)


def test_a_run_needs_room_for_its_spares_to_start() -> None:
    """A pool of 10: a gang of 8 with 2 spares starts at once; with 3 spares it never can (its
    11 units do not fit), and a gang of 8 without spares behind it starts instead. Catches:
    spares ignored at placement (started without them), or spares taken opportunistically."""
    fits = scenario(10, horizon=50, jobs=[job("a", 0, 8, 10, spares=2)])
    assert sim.run(fits).jobs["start_h"].tolist() == [0.0]
    big = scenario(10, horizon=50, jobs=[job("a", 0, 8, 10, spares=3), job("b", 1, 8, 10)],
                   scheduling={"backfill": True})
    jobs = sim.run(big).jobs.set_index("job")
    assert jobs.loc["a", "status"] == "waiting" and jobs.loc["b", "start_h"] == 1.0


def test_mtbf_is_the_inverse_of_the_rate() -> None:
    """`mtbf: 100h` per unit is `rate: 0.01` per unit-hour: the same run to the last digit.
    Catches: mtbf read as a gang's MTBF, or in other units."""
    jobs = [job("run", 0, 8, 500, checkpoint_interval=1)]
    by_rate = sim.run(scenario(9, horizon=3000, accelerators=_failing(0.01), jobs=jobs)).jobs
    by_mtbf = sim.run(scenario(9, horizon=3000, accelerators=_failing(None, mtbf="100h"),
                               jobs=jobs)).jobs
    assert by_rate["restarts"].iloc[0] > 10
    assert by_rate.drop(columns=["scenario"], errors="ignore").equals(
        by_mtbf.drop(columns=["scenario"], errors="ignore"))


@pytest.mark.parametrize("failures", [{"repair": 5}, {"rate": 0.01, "mtbf": 100, "repair": 5}])
def test_rate_or_mtbf_exactly_one(failures: dict[str, Any]) -> None:
    """Neither or both of rate and mtbf is refused, naming the field and what was expected."""
    data = {"name": "x", "start": "2025-01-01", "horizon": 10,
            "accelerators": {"acc": {"family": "gpu", "power_kw": 0, "failures": failures}},
            "providers": {"c": {"pools": {"p": {"accelerator": "acc", "price_per_hour": 1,
                                                "capacity": [{"at": "2025-01-01", "units": 1}]}}}}}
    with pytest.raises(ScenarioError, match=r"accelerators\.acc\.failures.*exactly one of `rate`"):
        scenario_from_data(data)


def test_summary_and_cli_show_a_frontier_runs_spares_and_their_idle_cost() -> None:
    """A frontier run of 8 units with 2 spares runs 10 h without a failure at $1 a unit-hour:
    its spares sat idle 2 x 10 unit-hours, $20, shown beside the count in `capsim run`.
    Catches: the spares' cost left out, or their count shown as the gang's."""
    from sim.cli.run import summary_text

    s = scenario(10, horizon=50, jobs=[job("f", 0, 8, 10, spares=2, frontier=True)])
    front = sim.run(s).summary["frontier"][0]
    assert (front["spares"], front["spare_idle_cost"]) == (2, pytest.approx(20.0))
    assert "  spares / their idle cost             2 / 20 $" in summary_text(sim.run(s).summary)


def test_units_in_repair_are_the_steps_mean_on_a_six_hour_step() -> None:
    """Six-hour steps, a gang filling its pool of 8, fixed 5 h repairs: each failure at t keeps
    one unit out over [t, t + 5], so a step's `in_repair` is that overlap summed over failures,
    divided by 6 h, and its capacity is 8 minus it. Worked out from the failure times. Catches:
    the step length left out (a one-hour step cannot tell), the last value in the step instead
    of its mean, repairs not ending."""
    s = scenario(8, horizon=2000, step="6h", accelerators=_failing(0.01),
                 jobs=[job("full", 0, 8, 1e9, checkpoint_interval=1)])
    r = sim.run(s)
    down, _ = _down_up(r, "full")
    assert len(down) > 20
    steps = r.steps.sort_values("step")
    starts = steps["step"].to_numpy() * 6.0
    expected = np.zeros(len(starts))
    for t in down:
        expected += np.clip(np.minimum(starts + 6.0, t + REPAIR) - np.maximum(starts, t), 0, None)
    expected /= 6.0
    assert np.allclose(steps["in_repair"].to_numpy(), expected, atol=1e-9)
    assert np.allclose(steps["capacity"].to_numpy(), 8.0 - expected, atol=1e-9)
