"""From tidy per-run metrics to a table of means, intervals and paired differences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.analysis.metrics import UNIT_NAMES, describe
from sim.analysis.stats import mean_ci, paired_diff_ci, spread

TABLE_COLUMNS = ["unit", "n", "mean", "ci_low", "ci_high", "ci_cut", "min", "p95", "max",
                 "baseline", "diff", "diff_ci_low", "diff_ci_high", "excludes_zero"]


def interval_table(tidy: pd.DataFrame, baseline: str | None, by: Sequence[str] = (),
                   level: float = 0.95) -> pd.DataFrame:
    """Mean and `level` interval of each metric per policy (and per `by` group), with the
    difference to the `baseline` policy paired by replication.

    `tidy` has one row per run and metric (columns policy, replication, metric, value and `by`).
    The result has one row per `by` group, policy and metric: its unit, the mean with its
    interval cut to the metric's range (`ci_cut` when that cut it), the min, p95 and max over
    replications, and the paired difference; `excludes_zero` says whether the interval of the
    difference lies on one side of zero (False for the baseline itself).
    """
    described = {m: describe(m) for m in dict.fromkeys(tidy["metric"])}
    by = list(by)
    policies = list(dict.fromkeys(tidy["policy"]))
    metrics = list(dict.fromkeys(tidy["metric"]))
    rows = []
    groups = tidy.groupby(by, sort=False, dropna=False) if by else [((), tidy)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        # one column per policy, one row per (metric, replication): pairs line up by replication
        wide = group.pivot(index=["metric", "replication"], columns="policy", values="value")
        for metric in metrics:
            if metric not in wide.index.get_level_values(0):
                continue
            block = wide.loc[metric]
            info = described[metric]
            bounds = info.bounds
            base = block[baseline].to_numpy(float) if baseline in block else None
            for policy in policies:
                if policy not in block:
                    continue
                x = block[policy].to_numpy(float)
                ci = mean_ci(x, level, bounds)
                spr = spread(x)
                row = dict(zip(by, key, strict=True))
                row.update(policy=policy, metric=metric, unit=UNIT_NAMES[info.kind], n=ci.n,
                           mean=ci.mean, ci_low=ci.low, ci_high=ci.high, ci_cut=ci.cut,
                           min=spr.min, p95=spr.p95, max=spr.max, baseline=baseline)
                if base is not None and policy != baseline:
                    d = paired_diff_ci(x, base, level, bounds)
                    row.update(diff=d.mean, diff_ci_low=d.low, diff_ci_high=d.high,
                               excludes_zero=d.excludes_zero)
                else:
                    row.update(diff=np.nan, diff_ci_low=np.nan, diff_ci_high=np.nan,
                               excludes_zero=False)
                rows.append(row)
    columns = [*by, "policy", "metric", *TABLE_COLUMNS]
    return pd.DataFrame(rows, columns=columns)
