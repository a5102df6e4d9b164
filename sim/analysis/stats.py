"""Confidence intervals over replications: t-based means and paired differences.

Replication i of every policy sees the same random streams (common random numbers), so two
policies are compared by the mean of their per-replication differences, whose interval is much
narrower than the difference of two independent intervals.

A metric with a known range (a share in [0, 1], a spend or a wait that cannot be negative) gets
the t-interval cut to that range (`mean_ci(..., bounds=(0, 1))`). The true mean lies in the
range, so every time the t-interval covers it the cut one does too: coverage is exactly that
of the t-interval, and no bound is impossible (no served share above 100 %, no negative wait).
A bootstrap percentile interval would also stay in range but covers less than its level with
ten replications; a Wilson interval needs counts of independent events, which per-run shares
of correlated steps are not. Rare events (most replications zero, a few large) are skewed
beyond what any interval over ten runs describes well: `spread` gives their min, p95 and max.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


def _t_abs_cdf(theta: float, df: int) -> float:
    """P(|T| < sqrt(df)·tan(theta)) for Student's t with integer `df` (Abramowitz & Stegun 26.7.3-4)."""
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2:  # odd
        if df == 1:
            return 2 * theta / math.pi
        term, total = math.cos(theta), math.cos(theta)
        for k in range(3, df - 1, 2):  # coefficients 2/3, 2·4/(3·5), ...
            term *= (k - 1) / k * c2
            total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):  # coefficients 1/2, 1·3/(2·4), ...
        term *= (k - 1) / k * c2
        total += term
    return s * total


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided critical value t with P(|T| < t) = `level` for Student's t with `df` ≥ 1."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if df > 1000:  # Cornish-Fisher expansion around the normal quantile: exact to ~1e-12 here
        z = NormalDist().inv_cdf((1 + level) / 2)
        return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
                + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z)
                / (92160 * df**4))
    lo, hi = 0.0, math.pi / 2
    for _ in range(200):  # bisection on the angle: tan maps it onto [0, inf)
        mid = (lo + hi) / 2
        if _t_abs_cdf(mid, df) < level:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return math.sqrt(df) * math.tan((lo + hi) / 2)


Bounds = tuple[float, float]
"""The range a metric's values (and so its mean) cannot leave: (low, high), ±inf for none."""
UNBOUNDED: Bounds = (-math.inf, math.inf)


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval over `n` finite values (NaN bounds when n < 2);
    `cut` says the t-interval reached past the metric's range and was cut to it."""

    n: int
    mean: float
    low: float
    high: float
    cut: bool = False

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        return bool(self.low > 0 or self.high < 0)


def mean_ci(values: Iterable[float], level: float = 0.95,
            bounds: Bounds = UNBOUNDED) -> Interval:
    """Mean of the finite `values` with a t-based `level` confidence interval, cut to
    `bounds` (the range the metric cannot leave)."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, math.nan, math.nan)
    half = t_quantile(n - 1, level) * float(x.std(ddof=1)) / math.sqrt(n)
    lo, hi = bounds
    low, high = mean - half, mean + half
    cut = low < lo or high > hi
    return Interval(n, mean, max(low, lo), min(high, hi), cut)


def paired_diff_ci(values: Iterable[float], baseline: Iterable[float],
                   level: float = 0.95, bounds: Bounds = UNBOUNDED) -> Interval:
    """Interval of the mean of `values[i] - baseline[i]`, over pairs where both are finite.

    `bounds` is the range of the metric itself: a difference of two values in (lo, hi) lies in
    (lo - hi, hi - lo), which cuts the interval only for bounded metrics such as shares.
    """
    a = np.asarray(list(values), dtype=float)
    b = np.asarray(list(baseline), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    lo, hi = bounds
    return mean_ci(a - b, level, (lo - hi, hi - lo))


@dataclass(frozen=True)
class Spread:
    """How the values of a metric spread over replications: min, 95th percentile, max."""

    min: float
    p95: float
    max: float


def spread(values: Iterable[float]) -> Spread:
    """Min, p95 (linear interpolation between order statistics) and max of the finite values."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Spread(math.nan, math.nan, math.nan)
    return Spread(float(x.min()), float(np.percentile(x, 95)), float(x.max()))
