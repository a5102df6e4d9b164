"""Waiting in capsim agrees with Erlang C (M/M/c, first come first served).

Model, in capsim's terms: one pool of c identical units (the reference accelerator, no power), a
Poisson stream of training jobs that each need one unit (`units: {dist: fixed, value: 1}`) with
exponential work (`duration: {dist: exponential, mean: 1h}`), all of one priority, so the queue is
first come first served and a unit never idles while a job waits. That is M/M/c with λ = jobs per
hour and μ = 1 per hour, and queueing theory gives exactly:

    P(wait) = C(c, a)            (Erlang C, a = λ/μ)
    E[wait] = C(c, a) / (cμ − λ)
    E[number waiting] = λ · E[wait]   (Little)

Each replication starts empty, so jobs arriving in a warm-up are left out, as are jobs arriving so
close to the end that they might not have started; every job counted has started (asserted).
Replications are independent (their own random streams), so the 95% interval of a figure is
mean ± t(n−1) · sd / √n over replications. The check passes when theory lies inside the 99.9%
interval (a correct model fails on 0.1% of seeds; the report and the slow coverage test use 95%);
each 95% interval must also be narrow enough to mean something (half-width under a stated share
of theory). Replications are sized for that from a pilot's per-replication sd at the CI seed
(`replications_needed`: at most a 0.1% chance, on any seed, of a too-wide interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

import sim
from validation.queueing import (
    SEED,
    Interval,
    arrived_in,
    erlang_c,
    mean_ci,
    mmc_mean_wait,
    one_pool,
    replications_needed,
    report,
    time_average_waiting,
)


@dataclass(frozen=True)
class Setting:
    c: int
    lam: float  # arrivals per hour
    mu: float  # services per hour and unit
    horizon: float  # hours per replication
    warmup: float
    tail: float  # jobs arriving in the last `tail` hours are not counted
    pilot_sd: tuple[float, float, float]  # per-replication sd of wait, P(wait), number waiting
    # (12 replications at seed SEED)

    @property
    def replications(self) -> int:
        """Enough for every metric's half-width cap (see the module's docstring)."""
        t = theory(self)
        return max(replications_needed(sd, 12, LABELS[m][1] * t[m])
                   for m, sd in zip(("wait", "p_wait", "queue"), self.pilot_sd, strict=True))

    @property
    def load(self) -> float:
        return self.lam / (self.c * self.mu)

    def __str__(self) -> str:
        return f"M/M/{self.c}, load {self.load:.2f}"


SETTINGS = [
    Setting(c=10, lam=9.0, mu=1.0, horizon=1000.0, warmup=50.0, tail=20.0,
            pilot_sd=(0.115, 0.030, 1.06)),
    Setting(c=4, lam=2.4, mu=1.0, horizon=800.0, warmup=20.0, tail=10.0,
            pilot_sd=(0.048, 0.024, 0.120)),
]


@cache
def measured(setting: Setting, seed: int = SEED) -> dict[str, Interval]:
    s = one_pool(setting.c, {"jobs": (setting.lam, 0)}, 1.0 / setting.mu, setting.horizon,
                 seed=seed)
    t0, t1 = setting.warmup, setting.horizon - setting.tail
    waits, waited, queue = [], [], []
    for r in range(setting.replications):
        jobs = sim.run(s, replication=r).jobs
        counted = arrived_in(jobs, t0, t1)
        assert counted.start_h.notna().all(), "a counted job never started: lengthen the tail"
        waits.append(counted.wait_h.mean())
        waited.append((counted.wait_h > 0).mean())
        queue.append(time_average_waiting(jobs, setting.horizon, t0, t1))
    return {"wait": mean_ci(waits), "p_wait": mean_ci(waited), "queue": mean_ci(queue)}


def theory(setting: Setting) -> dict[str, float]:
    wq = mmc_mean_wait(setting.c, setting.lam, setting.mu)
    return {"wait": wq, "p_wait": erlang_c(setting.c, setting.lam / setting.mu),
            "queue": setting.lam * wq}


LABELS = {"wait": ("mean wait (h)", 0.20), "p_wait": ("P(wait)", 0.06),
          "queue": ("mean number waiting", 0.20)}


def test_settings_cover_heavy_load() -> None:
    assert any(s.load >= 0.85 for s in SETTINGS) and len(SETTINGS) >= 2


@pytest.mark.parametrize("metric", list(LABELS))
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_agrees_with_erlang_c(setting: Setting, metric: str) -> None:
    got = measured(setting)[metric]
    expected = theory(setting)[metric]
    label, max_half = LABELS[metric]
    report(f"Erlang C: {label}", str(setting), "Erlang C", expected, got)
    assert got.covers(expected), f"{label}: theory {expected:.4f}, capsim {got} (99.9%)"
    assert got.half <= max_half * expected, f"interval too wide to test anything: {got}"


def test_formulas_against_known_values() -> None:
    """The formulas themselves, against textbook figures."""
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = ρ
    assert mmc_mean_wait(1, 0.5, 1.0) == pytest.approx(1.0)  # ρ/(μ − λ)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert np.isclose(erlang_c(10, 9.0), 0.6687, atol=1e-4)
