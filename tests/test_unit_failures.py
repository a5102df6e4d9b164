"""Unit failures of training gangs, read a second time: counts from the Poisson law, completion
times from the renewal formula for checkpointed work, repair times from their distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scenario_edit import job, scenario
from scipy import optimize, stats

import sim

Z999 = 3.2905  # two-sided 99.9% normal quantile


def _failing(rate: float, repair: float = 0.1, **failures: Any) -> dict[str, Any]:
    return {"acc": {"family": "gpu", "power_kw": 0,
                    "failures": {"rate": rate, "repair": repair, **failures}}}


def test_llama3_gang_is_interrupted_poisson_419_times_in_54_days() -> None:
    """20 gangs of 16,384 units run 54 days (1,296 h) at lambda = 419 / (16,384 x 1,296) per
    unit-hour (Llama 3's unexpected interruptions): each count is Poisson(419). Their total must
    lie in the central 99.9% Poisson(20 x 419) interval and the variance-to-mean ratio in the
    99.9% interval of chi2(19) / 19. Catches: a rate per gang instead of per unit (g times too
    few), failures at fixed spacing (variance 0), one gang's failure stopping another."""
    lam = 419 / (16384 * 1296)
    n = 20
    s = scenario(n * 16384 + 500, horizon=1296,
                 jobs=[job(f"g{i}", 0, 16384, 1e9, checkpoint_interval=1) for i in range(n)],
                 accelerators=_failing(lam, repair=24))
    jobs = sim.run(s).jobs
    counts = jobs["interrupts_unit_failure"].to_numpy() + jobs["interrupts_planned"].to_numpy()
    assert (jobs["restarts"] == counts).all()  # nothing else interrupts them
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], n * 419)
    assert lo <= counts.sum() <= hi, counts
    ratio = counts.var(ddof=1) / counts.mean()
    rlo, rhi = stats.chi2.ppf([0.0005, 0.9995], n - 1) / (n - 1)
    assert rlo <= ratio <= rhi, ratio


def _expected_completion(work: float, tau: float, lam: float, restart: float, write: float = 0.0) -> float:
    """Checkpointed work under exponential failures (restarts and writes can fail too)."""
    return (work / tau) * math.exp(lam * restart) * math.expm1(lam * (tau + write)) / lam


def _completion_times(work: float, tau: float, lam: float, restart: float, n: int,
                      write: float = 0.0, **traits: Any) -> np.ndarray:
    """n one-unit runs side by side in a pool with room to restart each at once."""
    s = scenario(3 * n, horizon=50 * _expected_completion(work, tau, lam, restart, write),
                 jobs=[job(f"j{i}", 0, 1, work, checkpoint_interval=tau, restart_overhead=restart,
                           checkpoint_write=write, **traits) for i in range(n)],
                 accelerators=_failing(lam, repair=0.05))
    jobs = sim.run(s).jobs
    assert (jobs["status"] == "finished").all()
    return (jobs["end_h"] - jobs["start_h"]).to_numpy()


def test_completion_time_follows_the_checkpoint_restart_formula() -> None:
    """E[T] = (W / tau) e^{lambda R} (e^{lambda tau} - 1) / lambda (no write cost): the mean of
    400 runs must lie within its own 99.9% interval (CLT) of it, on four parameter sets, one
    with lambda tau = 1 and one with lambda R > 0.5. Catches: restarts that cannot fail, work
    since the last checkpoint kept, restart overhead skipped or paid on the first start."""
    for work, tau, lam, restart in ((20.0, 2.0, 0.5, 0.5), (12.0, 1.0, 0.2, 0.2),
                                    (6.0, 0.5, 1.0, 0.7), (30.0, 3.0, 0.1, 1.0)):
        t = _completion_times(work, tau, lam, restart, 400)
        expected = _expected_completion(work, tau, lam, restart)
        half = Z999 * t.std(ddof=1) / math.sqrt(len(t))
        assert abs(t.mean() - expected) <= half, (work, tau, lam, restart, t.mean(), expected, half)


def test_completion_time_with_checkpoint_writes_that_can_fail() -> None:
    """With a write of C hours after every tau hours of work (the last too), failures striking
    during writes: E[T] = (W / tau) e^{lambda R} (e^{lambda (tau + C)} - 1) / lambda, 99.9%
    interval of 400 runs. An asynchronous share of 0.75 stalls only C / 4. Catches: writes not
    stalling, a checkpoint counted saved before its write ends, the async share ignored."""
    for work, tau, lam, restart, write in ((20.0, 2.0, 0.4, 0.5, 0.5), (6.0, 0.5, 1.0, 0.6, 0.25)):
        t = _completion_times(work, tau, lam, restart, 400, write)
        expected = _expected_completion(work, tau, lam, restart, write)
        half = Z999 * t.std(ddof=1) / math.sqrt(len(t))
        assert abs(t.mean() - expected) <= half, (work, tau, lam, restart, write, t.mean(), expected)
    t = _completion_times(10.0, 1.0, 0.3, 0.5, 400, 1.0, checkpoint_async=0.75)
    expected = _expected_completion(10.0, 1.0, 0.3, 0.5, 0.25)
    assert abs(t.mean() - expected) <= Z999 * t.std(ddof=1) / math.sqrt(len(t))


def test_auto_interval_is_within_2_percent_of_the_numerical_optimum() -> None:
    """`auto` picks tau for the gang's rate g * lambda and its write cost: a bounded numerical
    minimisation of the expected time above (independent of the engine's root finding) must
    agree within 2%, for gangs from 1 to 100,000 units. Catches: the rate of one unit used
    for the gang, the write cost ignored, Young's sqrt(2 C / rate) where lambda C is not small."""
    for units, lam, write in ((1, 0.01, 0.5), (1000, 2e-5, 0.1), (100_000, 2e-5, 5 / 60), (10, 0.1, 1.0)):
        rate = units * lam

        def per_hour(tau: float, rate: float = rate, write: float = write) -> float:
            return math.expm1(rate * (tau + write)) / tau

        best = optimize.minimize_scalar(per_hour, bounds=(1e-6, 20 / rate), method="bounded",
                                        options={"xatol": 1e-9}).x
        s = scenario(units + 10, horizon=100, accelerators=_failing(lam),
                     jobs=[job("a", 0, units, 1e6, checkpoint_interval="auto", checkpoint_write=write)])
        tau = sim.run(s).jobs["checkpoint_interval_h"].iloc[0]
        assert abs(tau / best - 1) <= 0.02, (units, tau, best)


def test_failed_unit_is_out_for_its_repair_time() -> None:
    """A gang filling its pool loses a unit and cannot restart until it is repaired: each wait
    to restart is one exponential repair (mean 5 h), so the mean of the waits lies in the 99.9%
    interval of Gamma(n, 5) / n. Catches: the unit never leaving the pool (waits 0), repair drawn
    with the failure rate, or a unit never coming back (one wait to the horizon)."""
    s = scenario(8, horizon=20000, jobs=[job("full", 0, 8, 1e9, checkpoint_interval=1)],
                 accelerators=_failing(0.01, repair=5.0))
    r = sim.run(s)
    ev = r.events
    down = ev[ev.kind == "job_interrupted"].hour.to_numpy()
    up = ev[ev.kind == "job_restart"].hour.to_numpy()
    n = len(up)
    assert n > 300
    waits = up - down[:n]
    lo, hi = stats.gamma.ppf([0.0005, 0.9995], n, scale=5.0) / n
    assert lo <= waits.mean() <= hi, waits.mean()


def test_no_failure_rate_no_unit_failures() -> None:
    """Without a failure rate nothing changes: no interruption, a run takes its duration."""
    jobs = sim.run(scenario(8, horizon=200, jobs=[job("a", 0, 8, 100, checkpoint_interval=1)])).jobs
    assert jobs["restarts"].tolist() == [0]
    assert jobs["end_h"].tolist() == [100.0]


def test_a_run_still_going_at_the_horizon_keeps_its_work() -> None:
    """A run that never fails and is cut by the horizon lost nothing: ETTR 1 (its work since
    the last checkpoint goes on past the horizon). With a checkpoint write stalling 0.5 h after
    every 2 h of work, 30 h hold 12 cycles of 2.5 h: 24 h of work, ETTR 0.8. Catches: only
    saved checkpoints counted at the horizon (ETTR 0 without interruptions), stalls as work."""
    jobs = sim.run(scenario(8, horizon=30, jobs=[
        job("plain", 0, 4, 100, checkpoint_interval=2),
        job("writes", 0, 4, 100, checkpoint_interval=2, checkpoint_write=0.5)])).jobs
    assert jobs["status"].tolist() == ["running", "running"]
    assert jobs["ettr"].tolist() == [1.0, 0.8]
