"""Figures of a plan over a weighted portfolio of worlds: means, paired intervals, CVaR.

A plan is judged over worlds w (weights p_w summing to 1), each run for n_w replications. The
expected value of a figure is Σ_w p_w · mean_w; its variance Σ_w p_w² · s_w² / n_w (independent
worlds), with Welch–Satterthwaite degrees of freedom for the t-interval. A paired difference of
two plans uses the same formula on the per-run differences (same world, same replication, same
seed: common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from sim.analysis.stats import Interval, t_quantile


def weighted_mean_ci(groups: Mapping[str, Sequence[float]], weights: Mapping[str, float],
                     level: float = 0.95) -> Interval:
    """Σ_w p_w · mean(groups[w]) with a t-interval over the worlds' replications.

    Worlds with a single run add no variance estimate; with no estimate at all the bounds are NaN.
    """
    mean = 0.0
    var = 0.0
    df_den = 0.0
    n_total = 0
    estimable = False
    for world, values in groups.items():
        x = np.asarray(values, dtype=float)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return Interval(0, math.nan, math.nan, math.nan)
        p = weights[world]
        mean += p * float(x.mean())
        n_total += len(x)
        if len(x) > 1:
            v = p * p * float(x.var(ddof=1)) / len(x)
            var += v
            df_den += v * v / (len(x) - 1)
            estimable = True
    if not estimable:
        return Interval(n_total, mean, math.nan, math.nan)
    if var == 0.0:
        return Interval(n_total, mean, mean, mean)
    df = max(1, int(var * var / df_den)) if df_den > 0 else n_total - 1
    half = t_quantile(df, level) * math.sqrt(var)
    return Interval(n_total, mean, mean - half, mean + half)


def cvar(values: Sequence[float], weights: Sequence[float], alpha: float) -> float:
    """Conditional value at risk: the weighted mean of the worst (1 − alpha) share of outcomes
    (the largest costs), splitting the outcome at the boundary (Rockafellar–Uryasev).

    alpha = 0 gives the mean, alpha = 1 the worst outcome of positive weight. Both the fast
    model and the engine checks use this one reading.
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if len(x) == 0 or w.sum() <= 0:
        return math.nan
    tail = 1.0 - alpha
    if tail <= 1e-12:
        return float(x[w > 0].max())
    w = w / w.sum()
    order = np.argsort(-x, kind="stable")
    x, w = x[order], w[order]
    taken = np.minimum(w, np.maximum(0.0, tail - (np.cumsum(w) - w)))
    return float((taken * x).sum() / tail)
