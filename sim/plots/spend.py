"""Spend and total cost per policy: stacked bars of means with the interval of the total."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.analysis.metrics import short_number
from sim.plots.style import UNMET, legend_outside, new_axes, provider_colors, si_axis

SPEND_PARTS: tuple[tuple[str, str, float, str | None], ...] = (
    # summary name, label, opacity, hatch: used commitments solid, idle ones hatched (paid
    # for nothing), on demand paler, spot dotted
    ("spend_committed_used", "committed, used", 1.0, None),
    ("committed_idle_cost", "committed, idle", 0.35, "////"),
    ("spend_on_demand", "on demand", 0.6, None),
    ("spend_spot", "spot", 0.6, "..."),
)
COST_PARTS: tuple[tuple[str, str, str], ...] = (
    ("spend_total", "spend", "#4C72B0"),
    ("shortfall_cost", "shortfall (value of demand unserved)", UNMET),
    ("delay_cost", "delay (training finishing late)", "#E69F00"),
)


def _table(source: Any) -> tuple[pd.DataFrame, list[str], int | None]:
    """Interval table, policies and replications from a Comparison or a table DataFrame."""
    if hasattr(source, "table"):
        return source.table, list(source.policies), source.replications
    return source, list(dict.fromkeys(source["policy"])), None


def _means(table: pd.DataFrame, policies: list[str], metric: str) -> np.ndarray | None:
    """Mean of `metric` per policy (NaN where missing), or None if the table lacks it."""
    rows = table[table["metric"] == metric]
    if rows.empty:
        return None
    return rows.set_index("policy")["mean"].reindex(policies).to_numpy(float)


def _total_with_interval(ax: Axes, table: pd.DataFrame, policies: list[str], metric: str,
                         x: np.ndarray, floor: float = 0.0) -> None:
    """Error bar of `metric`'s interval on each bar, the mean written above it, y limits."""
    total = table[table["metric"] == metric].set_index("policy").reindex(policies)
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
            ax.annotate(f"${short_number(m)}", (xi, t), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9)
    top = float(np.nanmax(tops)) if np.isfinite(tops).any() else 1.0
    ax.set_ylim(min(0.0, floor * 1.12), max(top, 1.0) * 1.12)


def spend_by_provider(source: Any, ax: Axes | None = None) -> Figure:
    """Mean spend per policy, stacked by provider and, within each provider, by what it paid
    for: commitments used, commitments idle, on demand, spot; with the 95% interval of the total.

    `source` is a `Comparison` or its interval `table` (rows per policy and metric with
    columns mean, ci_low, ci_high; metrics `spend_total`, `spend_by_provider.<name>` and
    `<part>_by_provider.<name>`; tables without the parts draw one segment per provider).
    """
    table, policies, reps = _table(source)
    fig, ax = new_axes(ax, (10, 5))
    spend = table[table["metric"].str.startswith("spend_by_provider.")]
    providers = list(dict.fromkeys(spend["metric"].str.removeprefix("spend_by_provider.")))
    mean = spend.pivot(index="policy", columns="metric", values="mean").reindex(policies)
    mean.columns = mean.columns.str.removeprefix("spend_by_provider.")
    providers.sort(key=lambda p: -np.nansum(mean[p].to_numpy(float)))  # biggest at the bottom
    colors = provider_colors(providers)
    x = np.arange(len(policies))
    bottom = np.zeros(len(policies))
    shown: set[str] = set()
    for p in providers:
        parts = [(label, alpha, hatch, _means(table, policies, f"{name}_by_provider.{p}"))
                 for name, label, alpha, hatch in SPEND_PARTS]
        if any(v is None for *_, v in parts):  # saved before spend was split: one segment
            parts = [("spend", 1.0, None, mean[p].to_numpy(float))]
        for label, alpha, hatch, v in parts:
            assert v is not None
            v = np.nan_to_num(v)
            if not v.any():
                continue
            ax.bar(x, v, bottom=bottom, color=colors[p], alpha=alpha, hatch=hatch, width=0.62,
                   edgecolor="white", linewidth=0.5, label=f"{p}: {label}")
            shown.add(label)
            bottom += v
    _total_with_interval(ax, table, policies, "spend_total", x)
    ax.set_xticks(x, policies)
    ax.set_ylabel("spend over the horizon (USD)")
    si_axis(ax, money=True)
    over = f"mean of {reps} replications" if reps else "mean over replications"
    ax.set_title(f"Spend by provider per policy ({over}; error bar: 95% CI of the total)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=colors[p], label=p) for p in providers]
    handles += [Patch(facecolor="#777777", alpha=alpha, hatch=hatch, edgecolor="white",
                      label=label)
                for _, label, alpha, hatch in SPEND_PARTS if label in shown]
    handles += [h for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)
                if lab.startswith("95%")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              borderaxespad=0.0, title="provider; part")
    return fig


def cost_by_policy(source: Any, ax: Axes | None = None) -> Figure:
    """Mean total cost per policy as spend + shortfall + delay (less any early-finish credit,
    drawn below zero), with the 95% interval of the total: a policy that spends less by
    serving less shows its saving eaten by what went unserved.

    `source` is a `Comparison` or its interval `table` (metrics `cost_total` and its parts).
    """
    table, policies, reps = _table(source)
    fig, ax = new_axes(ax, (9, 4.8))
    x = np.arange(len(policies))
    bottom = np.zeros(len(policies))
    for name, label, color in COST_PARTS:
        v = _means(table, policies, name)
        if v is None:
            continue
        v = np.nan_to_num(v)
        ax.bar(x, v, bottom=bottom, color=color, label=label, width=0.62, edgecolor="white",
               linewidth=0.5)
        bottom += v
    credit = _means(table, policies, "early_finish_credit")
    floor = 0.0
    if credit is not None and np.nan_to_num(credit).any():
        c = np.nan_to_num(credit)
        ax.bar(x, -c, color="#55A868", label="credit for finishing early", width=0.62,
               edgecolor="white", linewidth=0.5)
        ax.axhline(0, color="black", linewidth=0.8)
        floor = -float(c.max())
    _total_with_interval(ax, table, policies, "cost_total", x, floor)
    ax.set_xticks(x, policies)
    ax.set_ylabel("cost over the horizon (USD)")
    si_axis(ax, money=True)
    over = f"mean of {reps} replications" if reps else "mean over replications"
    ax.set_title(f"Total cost per policy: spend + shortfall + delay\n({over}; error bar: 95% "
                 f"CI of the total)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    legend_outside(ax, reverse=True)
    return fig
