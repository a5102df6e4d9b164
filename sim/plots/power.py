"""Power drawn per provider against the power ceiling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.plots.style import (
    date_axis,
    hold_last,
    legend_outside,
    new_axes,
    provider_colors,
    provider_order,
    resample_rule,
    rule_text,
)


def power_use(run: Any, ax: Axes | None = None, legend: bool = True,
              title: str | None = None, resample: str | None = "auto") -> Figure:
    """Power in use stacked by provider (MW) with the ceiling as a dashed line; for long runs
    the areas are daily means and a thin line shows each day's peak. `resample`: "auto" (daily
    for runs over six weeks), a pandas rule ("1D", "6h"), or None (every step)."""
    fig, ax = new_axes(ax, (11, 4.2))
    steps = run.steps
    step_h = float(run.meta.get("step_h", 1.0))
    rule = resample_rule(float(steps["hour"].max()) + step_h) if resample == "auto" else resample
    providers = provider_order(steps)
    colors = provider_colors(providers)
    wide = steps.pivot_table(index="time", columns="provider", values="power_mw", aggfunc="sum",
                             fill_value=0.0).reindex(columns=providers, fill_value=0.0)
    wide.index = pd.DatetimeIndex(wide.index)
    wide = wide.sort_index()
    ceiling = steps.groupby("time")["power_ceiling_mw"].first()
    ceiling.index = pd.DatetimeIndex(ceiling.index)
    total = wide.sum(axis=1)
    peak = float(total.max())
    if rule:
        mean = wide.resample(rule).mean()
        daily_peak = total.resample(rule).max()
        ceiling = ceiling.resample(rule).min()
        ax.stackplot(mean.index, [mean[p].to_numpy(float) for p in providers],
                     colors=[colors[p] for p in providers], labels=providers, linewidth=0,
                     alpha=0.9)
        ax.plot(daily_peak.index, daily_peak.to_numpy(float), color="black", linewidth=0.7,
                label="daily peak" if rule in ("1D", "D") else "peak")
        t_end = mean.index[-1]
    else:
        t, ys = hold_last(wide.index, step_h, *[wide[p].to_numpy(float) for p in providers])
        ax.stackplot(t, ys, colors=[colors[p] for p in providers], labels=providers,
                     linewidth=0, alpha=0.9, step="post")
        t_end = t[-1]
    c = ceiling.to_numpy(float)
    if np.isfinite(c).any():
        last = pd.Timedelta(rule).total_seconds() / 3600 if rule else step_h
        tc, (cc,) = hold_last(ceiling.index, last, c)
        ax.step(tc, cc, where="post", color="#B00000", linestyle="--", linewidth=1.5,
                label="power ceiling")
    top = np.nanmax([peak, np.nanmax(c) if np.isfinite(c).any() else 0.0])
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(wide.index[0], t_end)
    date_axis(ax)
    ax.set_ylabel("power (MW)")
    ax.grid(axis="y", alpha=0.3)
    peak_text = f"peak {peak:,.0f} MW" if peak >= 100 else f"peak {peak:.3g} MW"
    ax.set_title(f"{title} · {peak_text}" if title else
                 f"Power in use by provider against the ceiling ({peak_text})"
                 f"{rule_text(rule)}")
    if legend:
        legend_outside(ax, reverse=True, fontsize=8)
    return fig
