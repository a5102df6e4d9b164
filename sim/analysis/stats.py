"""Confidence intervals over replications: t-based means and paired differences.

Replication i of every policy sees the same random streams (common random numbers), so two
policies are compared by the mean of their per-replication differences, whose interval is much
narrower than the difference of two independent intervals.
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


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval over `n` finite values (NaN bounds when n < 2)."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        return bool(self.low > 0 or self.high < 0)


def mean_ci(values: Iterable[float], level: float = 0.95) -> Interval:
    """Mean of the finite `values` with a t-based `level` confidence interval."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, math.nan, math.nan)
    half = t_quantile(n - 1, level) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def paired_diff_ci(values: Iterable[float], baseline: Iterable[float],
                   level: float = 0.95) -> Interval:
    """Interval of the mean of `values[i] - baseline[i]`, over pairs where both are finite."""
    a = np.asarray(list(values), dtype=float)
    b = np.asarray(list(baseline), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    return mean_ci(a - b, level)
