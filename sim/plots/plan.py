"""Plots of a plan: cost against risk for the candidates, and what each plan commits over time."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.planning.space import committed_dollars
from sim.plots.style import provider_colors
from sim.scenario.risk import risk_measure


def plan_frontier(result: Any) -> Figure:
    """Expected cost_total (with its 95% interval) against risk, one point per candidate the
    engine checked; the hand plan, the chosen one and its near-optimal alternatives marked,
    the risk bound dashed."""
    table = result.table
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    x = table["risk"].to_numpy(float)
    y = table["cost_total"].to_numpy(float)
    err = np.vstack([y - table["cost_total_low"].to_numpy(float),
                     table["cost_total_high"].to_numpy(float) - y])
    err = np.where(np.isfinite(err), err, 0.0)
    ax.errorbar(x, y, yerr=err, fmt="o", color="#4C72B0", ecolor="#9DB3D9", capsize=3,
                label="candidate (95% interval)")
    for label, xi, yi in zip(table["candidate"], x, y, strict=True):
        ax.annotate(str(label), (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=8)
    hand = table["candidate"] == "hand"
    ax.plot(x[hand], y[hand], "s", color="#7F7F7F", markersize=10, label="hand-written plan",
            zorder=3)
    chosen = table["candidate"] == result.chosen
    ax.plot(x[chosen], y[chosen], "*", color="#D55E00", markersize=16, label="chosen", zorder=4)
    alternatives = result.alternatives
    if not alternatives.empty:
        alt = table["candidate"].isin(alternatives["candidate"])
        ax.plot(x[alt], y[alt], "D", markerfacecolor="none", markeredgecolor="#009E73",
                markersize=12, markeredgewidth=2, label="near-optimal alternative", zorder=3)
        for _, row in alternatives.iterrows():
            ax.annotate(str(row["reason"]), (float(row["risk"]), float(row["cost_total"])),
                        textcoords="offset points", xytext=(5, -12), fontsize=8, color="#009E73")
    if math.isfinite(result.bound):
        ax.axvline(result.bound, color="#D62728", linestyle="--", label="risk bound")
    ax.set_xlabel(risk_measure(result.risk) + ("" if result.risk.kind == "shortfall" else " ($)"))
    ax.set_ylabel("expected cost_total ($)")
    ax.set_title(f"{result.scenario.name}: candidate plans, checked by the engine")
    ax.legend(loc="best", fontsize=8)
    return fig


def commitments_over_time(result: Any) -> Figure:
    """Committed dollars per hour by provider over the run: the hand-written plan above, the
    chosen one below (stacked; what is paid whether used or not)."""
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, sharey=True)
    plans = {"hand-written plan": result.hand, f"chosen plan ({result.chosen})": result.choice}
    series = {name: committed_dollars(result.scenario, result.decisions, choice)
              for name, choice in plans.items()}
    providers = sorted({p for _, per in series.values() for p in per})
    colors = provider_colors(providers)
    start = result.scenario.start
    for ax, (name, (hours, per)) in zip(axes, series.items(), strict=True):
        when = [start + timedelta(hours=float(h)) for h in hours]
        values = [per.get(p, np.zeros_like(hours)) / 1e6 for p in providers]
        ax.stackplot(when, values, labels=providers, colors=[colors[p] for p in providers],
                     step="post", alpha=0.85)
        ax.set_title(name)
        ax.set_ylabel("committed $M per hour")
    axes[0].legend(loc="upper left", fontsize=8, ncols=max(1, len(providers)))
    fig.suptitle(f"{result.scenario.name}: take-or-pay commitments by provider")
    return fig
