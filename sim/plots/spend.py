"""Spend by provider per policy: stacked bars of mean spend with the interval of the total."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.metrics import _short
from sim.plots.style import legend_outside, new_axes, provider_colors, si_axis


def _table(source: Any) -> tuple[pd.DataFrame, list[str], int | None]:
    """Interval table, policies and replications from a Comparison or a table DataFrame."""
    if hasattr(source, "table"):
        return source.table, list(source.policies), source.replications
    return source, list(dict.fromkeys(source["policy"])), None


def spend_by_provider(source: Any, ax: Axes | None = None) -> Figure:
    """Mean spend per policy, stacked by provider, with the 95% interval of the total.

    `source` is a `Comparison` or its interval `table` (rows per policy and metric with
    columns mean, ci_low, ci_high; metrics `spend_total` and `spend_by_provider.<name>`).
    """
    table, policies, reps = _table(source)
    fig, ax = new_axes(ax, (9, 4.8))
    spend = table[table["metric"].str.startswith("spend_by_provider.")]
    providers = list(dict.fromkeys(spend["metric"].str.removeprefix("spend_by_provider.")))
    # biggest spend at the bottom of every bar
    mean = spend.pivot(index="policy", columns="metric", values="mean").reindex(policies)
    mean.columns = mean.columns.str.removeprefix("spend_by_provider.")
    providers.sort(key=lambda p: -np.nansum(mean[p].to_numpy(float)))
    colors = provider_colors(providers)
    x = np.arange(len(policies))
    bottom = np.zeros(len(policies))
    for p in providers:
        v = np.nan_to_num(mean[p].to_numpy(float))
        ax.bar(x, v, bottom=bottom, color=colors[p], label=p, width=0.62, edgecolor="white",
               linewidth=0.5)
        bottom += v
    total = table[table["metric"] == "spend_total"].set_index("policy").reindex(policies)
    low = (total["mean"] - total["ci_low"]).to_numpy(float)
    high = (total["ci_high"] - total["mean"]).to_numpy(float)
    has_ci = np.isfinite(low).any()
    if has_ci:
        ax.errorbar(x, total["mean"], yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]),
                    fmt="none", ecolor="black", elinewidth=1.2, capsize=5,
                    label="95% CI of total")
    tops = (total["ci_high"] if has_ci else total["mean"]).fillna(total["mean"]).to_numpy(float)
    for xi, m, t in zip(x, total["mean"], tops, strict=True):
        if np.isfinite(m):
            ax.annotate(f"${_short(m)}", (xi, t), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9)
    top = float(np.nanmax(tops))
    ax.set_ylim(0, top * 1.12)
    ax.set_xticks(x, policies)
    ax.set_ylabel("spend over the horizon (USD)")
    si_axis(ax, money=True)
    over = f"mean of {reps} replications" if reps else "mean over replications"
    ax.set_title(f"Spend by provider per policy ({over}; error bar: 95% CI of the total)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    legend_outside(ax, title="provider")
    return fig
