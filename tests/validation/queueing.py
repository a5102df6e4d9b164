"""Shared pieces of the validation tests: queueing formulas, confidence intervals over
replications, capsim's one-pool queueing model, and the table of figures printed after the run.

Time is in hours throughout; a unit of work is one reference-accelerator hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import sim
from sim.scenario import scenario_from_data

LEVEL = 0.95
REPORT: list[dict[str, Any]] = []
"""Rows of the closing table: one per check, filled in by the tests as they run."""


def report(check: str, model: str, reference: str, expected: float, got: Interval | float,
           note: str = "") -> None:
    """Record one figure for the table printed at the end of the test session."""
    if isinstance(got, Interval):
        REPORT.append({"check": check, "model": model, "reference": reference,
                       "expected": expected, "capsim": got.mean, "lo": got.lo, "hi": got.hi,
                       "n": got.n, "note": note})
    else:
        REPORT.append({"check": check, "model": model, "reference": reference,
                       "expected": expected, "capsim": got, "lo": math.nan, "hi": math.nan,
                       "n": 1, "note": note})


# ---------------------------------------------------------------- confidence intervals


def t_quantile(df: float, level: float = LEVEL) -> float:
    """Two-sided Student t critical value (scipy)."""
    return float(stats.t.ppf((1 + level) / 2, df))


CHECK_LEVEL = 0.999
"""Level of the intervals the assertions use: a correct model fails a check on 0.1% of seeds.
The figures reported (and the coverage measured by the slow test) use 95% intervals."""
WIDE_RISK = 0.001
"""Largest chance, on any seed, that a check fails because its 95% interval is too wide."""


def replications_needed(sd: float, n_pilot: int, max_half: float, risk: float = WIDE_RISK,
                        pilot_confidence: float = 0.95) -> int:
    """Replications n so that the 95% half-width t(n−1)·s/√n stays under `max_half` with
    probability at least 1 − `risk`, for a per-replication sd estimated as `sd` from `n_pilot`
    replications (its upper `pilot_confidence` bound is used, as the pilot is itself a sample).

    With normal replication means, (n−1)s²/σ² is χ²(n−1), so the half-width exceeds h with
    probability P(χ²(n−1) > (n−1)·n·h² / (t²σ²)).
    """
    sigma = sd * math.sqrt((n_pilot - 1) / stats.chi2.ppf(1 - pilot_confidence, n_pilot - 1))
    for n in range(6, 100_000):
        t = t_quantile(n - 1)
        if stats.chi2.sf((n - 1) * n * max_half**2 / (t**2 * sigma**2), n - 1) <= risk:
            return n
    raise ValueError("no sample size up to 100000 replications is enough")


@dataclass(frozen=True)
class Interval:
    """A mean over independent replications and its 95% confidence half-width."""

    mean: float
    half: float
    n: int
    se: float
    df: float = math.nan  # degrees of freedom of its t interval (n − 1 unless Welch)

    @property
    def lo(self) -> float:
        return self.mean - self.half

    @property
    def hi(self) -> float:
        return self.mean + self.half

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def covers(self, x: float, level: float = CHECK_LEVEL) -> bool:
        """Whether x lies in the interval of this level (same mean and standard error)."""
        df = self.n - 1 if math.isnan(self.df) else self.df
        return abs(x - self.mean) <= t_quantile(df, level) * self.se

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.lo:.4f}, {self.hi:.4f}] (n={self.n})"


def mean_ci(values: Any) -> Interval:
    x = np.asarray(values, dtype=float)
    se = float(x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(float(x.mean()), t_quantile(len(x) - 1) * se, len(x), se, len(x) - 1)


def difference_ci(a: Interval, b: Interval) -> Interval:
    """Interval of mean(a) − mean(b) for independent samples (Welch's degrees of freedom)."""
    se = math.hypot(a.se, b.se)
    df = se**4 / (a.se**4 / (a.n - 1) + b.se**4 / (b.n - 1))
    return Interval(a.mean - b.mean, t_quantile(df) * se, a.n + b.n, se, df)


# ---------------------------------------------------------------- queueing theory


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c with offered load a = λ/μ (stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c, a = λ/μ < c."""
    b = erlang_b(c, a)
    rho = a / c
    return b / (1 - rho * (1 - b))


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/c FCFS: C(c, a) / (cμ − λ)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def priority_mean_waits(c: int, lams: list[float], mu: float) -> list[float]:
    """Mean waits of M/M/c with non-preemptive priority classes (highest first), one service rate.

    Cobham's formula for c servers: W_k = C(c, a) / (cμ) / ((1 − σ_{k−1})(1 − σ_k)), where σ_k
    is the load of classes 1..k on the c servers.
    """
    w0 = erlang_c(c, sum(lams) / mu) / (c * mu)
    out, sigma = [], 0.0
    for lam in lams:
        before, sigma = sigma, sigma + lam / (c * mu)
        out.append(w0 / ((1 - before) * (1 - sigma)))
    return out


# ---------------------------------------------------------------- capsim's one-pool model


SEED = 20250101
"""The scenario seed of the checks CI runs; the slow coverage test runs seeds 1..20."""


def one_pool(c: int, classes: dict[str, tuple[float, int]], mean_service_h: float,
             horizon_h: float, max_wait: float | None = None, seed: int = SEED) -> sim.Scenario:
    """c identical units at one provider; each class a Poisson stream of one-unit jobs.

    classes: name -> (arrivals per hour, priority). Work is exponential with mean
    `mean_service_h` on the reference accelerator (speed 1). No power draw, no inference, no
    outages: a plain multi-server queue, FCFS within a priority level.
    """
    generators = {}
    for name, (rate, priority) in classes.items():
        generators[name] = {
            "arrivals_per_day": rate * 24, "priority": priority,
            "units": {"dist": "fixed", "value": 1},
            "duration": {"dist": "exponential", "mean": mean_service_h},
        }
        if max_wait is not None:
            generators[name]["max_wait"] = max_wait
    return scenario_from_data({
        "name": "queue", "start": "2025-01-01", "horizon": horizon_h, "seed": seed,
        "accelerators": {"ref": {"family": "gpu", "power_kw": 0}},
        "providers": {"cloud": {"pools": {"pool": {
            "accelerator": "ref", "price_per_hour": 1.0,
            "capacity": [{"at": "2025-01-01", "units": c}]}}}},
        "training": {"generators": generators},
        "policy": {"default": "cheapest_first"},
    })


def arrived_in(jobs: pd.DataFrame, t0: float, t1: float) -> pd.DataFrame:
    return jobs[(jobs.arrival_h >= t0) & (jobs.arrival_h < t1)]


def waiting_intervals(jobs: pd.DataFrame, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """When each job joined and left the queue, from its event times (not its wait column).

    A job waits from arrival until its first start, until it gives up (abandoned: its end), or to
    the end of the run; a job no pool can ever take is turned away at once (never waits).
    """
    arrive = jobs.arrival_h.to_numpy(dtype=float)
    status = jobs.status.to_numpy()
    leave = np.full(len(jobs), float(horizon))
    started = jobs.start_h.notna().to_numpy()
    leave[started] = jobs.start_h.to_numpy(dtype=float)[started]
    gave_up = status == "abandoned"
    leave[gave_up] = jobs.end_h.to_numpy(dtype=float)[gave_up]
    turned_away = status == "unplaceable"
    leave[turned_away] = arrive[turned_away]
    return arrive, leave


def time_average_waiting(jobs: pd.DataFrame, horizon: float, t0: float, t1: float) -> float:
    """Mean number of jobs waiting over [t0, t1): the integral of the queue length, divided."""
    arrive, leave = waiting_intervals(jobs, horizon)
    overlap = np.clip(np.minimum(leave, t1) - np.maximum(arrive, t0), 0.0, None)
    return float(overlap.sum() / (t1 - t0))
