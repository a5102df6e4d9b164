"""The sample-size rule of the validation checks, against a direct simulation of it: normal
replication means with the sd the rule assumes give a too-wide 95% interval at most `risk` of
the time at the n it returns, and more often than that at n − 1 (so n is the smallest)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from validation.queueing import replications_needed, t_quantile


def wide_share(n: int, sigma: float, max_half: float, trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, sigma, size=(trials, n))
    half = t_quantile(n - 1) * x.std(axis=1, ddof=1) / math.sqrt(n)
    return float((half > max_half).mean())


def test_replications_needed_is_the_smallest_n_with_that_risk() -> None:
    sd, pilot, cap, risk = 0.048, 12, 0.036, 0.01
    n = replications_needed(sd, pilot, cap, risk=risk)
    sigma = sd * math.sqrt((pilot - 1) / stats.chi2.ppf(0.05, pilot - 1))  # the rule's sd
    trials = 40_000
    # Binomial(trials, risk) upper 99.99% quantile: a correct rule exceeds it on 1e-4 of seeds.
    assert wide_share(n, sigma, cap, trials, 1) * trials <= stats.binom.ppf(0.9999, trials, risk)
    assert wide_share(n - 1, sigma, cap, trials, 2) > risk
    # more spread, or a tighter cap, needs more replications
    assert replications_needed(2 * sd, pilot, cap, risk=risk) > n
    assert replications_needed(sd, pilot, cap / 2, risk=risk) > n
