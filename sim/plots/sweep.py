"""A metric against a swept scenario field: one line per policy, with its confidence band."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.metrics import HEADLINE, Metric, describe, short_path
from sim.plots.style import new_axes, no_data, policy_colors, si_axis

SWEEP_PANELS = HEADLINE
"""The metrics `sweep_figure` draws by default (those the sweep has)."""


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _scale(metric: Metric) -> tuple[float, str]:
    """Multiply values by this to plot them, and the y label unit."""
    if metric.kind == "share":
        return 100.0, "%"
    if metric.kind == "date":
        return 1 / 24, "date"
    return 1.0, metric.unit


def sweep_metric(source: Any, metric: str, ax: Axes | None = None, param: str | None = None,
                 legend: bool = True) -> Figure:
    """`metric` (mean and 95% band) against the swept `param` (default: the first), a line per
    policy; with more swept fields, a line per policy and value of the others.

    `source` is a `Sweep` (its `table`, `params`, `policies`).
    """
    fig, ax = new_axes(ax, (6, 4))
    table: pd.DataFrame = source.table
    params: dict[str, list[Any]] = source.params
    param = param or next(iter(params))
    others = [p for p in params if p != param]
    m = describe(metric)
    rows = table[table["metric"] == metric]
    if rows.empty:
        no_data(ax, f"no metric {metric!r} in this sweep")
        return fig
    values = list(params[param])
    numeric = _numeric(values)
    position = {str(v): (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    colors = policy_colors(source.policies)
    styles = ["-", "--", ":", "-."]
    mult, unit = _scale(m)
    # dates: hours after the start drawn as matplotlib date numbers (days)
    offset = float(mdates.date2num(pd.Timestamp(source.start))) if m.kind == "date" else 0.0
    groups = rows.groupby(["policy", *others], sort=False, dropna=False)
    other_keys = list(dict.fromkeys(tuple(k)[1:] if isinstance(k, tuple) else ()
                                    for k, _ in groups))
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        policy = key[0]
        x = (g[param].astype(float).to_numpy() if numeric
             else np.array([position[str(v)] for v in g[param]]))
        order = np.argsort(x)
        mean = g["mean"].to_numpy(float)[order] * mult + offset
        low = g["ci_low"].to_numpy(float)[order] * mult + offset
        high = g["ci_high"].to_numpy(float)[order] * mult + offset
        label = policy + "".join(f", {short_path(o)}={v}" for o, v in zip(others, key[1:],
                                                                          strict=True))
        style = styles[other_keys.index(key[1:]) % len(styles)]
        ax.plot(x[order], mean, style, marker="o", markersize=4, color=colors[policy],
                label=label)
        if m.kind != "date":  # no negative spend or waits, no share above 100%: clip the band
            low, high = np.maximum(low, 0.0), np.maximum(high, 0.0)
            if m.kind == "share":
                low, high = np.minimum(low, 100.0), np.minimum(high, 100.0)
        if np.isfinite(low).any():
            ax.fill_between(x[order], low, high, color=colors[policy],
                            alpha=0.15 if not others else 0.08, linewidth=0)
    if not numeric:
        ax.set_xticks(list(position.values()), [str(v) for v in values])
    elif max(abs(float(v)) for v in values) >= 1e4:
        si_axis(ax, "x")
    ax.set_xlabel(short_path(param))
    ax.set_ylabel({"money": "USD", "hours": "hours", "index": "index (0-1)",
                   "count": "count"}.get(m.kind, unit))
    if m.kind in ("money", "unit_hours", "cpu_hours"):
        si_axis(ax, money=m.kind == "money")
    elif m.kind == "date":
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.yaxis.set_major_locator(locator)
        ax.yaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_title(m.label)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8, frameon=False)
    return fig


def sweep_figure(source: Any, metrics: Sequence[str] | None = None,
                 param: str | None = None) -> Figure:
    """One panel per metric (default: the headline ones) against the swept field, one shared
    legend of policies."""
    have = set(source.table["metric"])
    chosen = [x for x in (metrics or SWEEP_PANELS) if x in have]
    ncols = min(4, max(1, len(chosen)))
    nrows = max(1, math.ceil(len(chosen) / ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.3 * nrows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, metric in zip(axes, chosen, strict=False):
        sweep_metric(source, metric, ax=ax, param=param, legend=False)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    param = param or next(iter(source.params))
    fig.suptitle(f"{source.scenario}: metrics against {param} (mean of {source.replications} "
                 f"replications, band: 95% CI)")
    handles, labels = axes[0].get_legend_handles_labels()
    others = [short_path(p) for p in source.params if p != param]
    fig.legend(handles, labels, loc="outside lower center",
               ncols=min(len(labels), len(source.policies) if others else 6), frameon=False,
               title=", ".join(["policy", *others]))
    return fig
