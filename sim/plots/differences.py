"""Paired differences to the baseline policy: one panel per metric, a point and interval per
policy, so "what does this policy cost against the baseline?" reads off at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.analysis.metrics import describe
from sim.plots.style import policy_colors

DIFF_PANELS = ("cost_total", "spend_total", "shortfall_cost", "delay_cost",
               "committed_idle_cost", "training_wait_mean_h", "frontier_end_h",
               "inference.unmet_unit_hours", "agents.unmet_unit_hours", "peak_power_mw",
               "hhi_spend")


def _scaled(kind: str, largest: float) -> tuple[float, str]:
    """Multiplier and axis unit for differences of this kind whose largest size is `largest`."""
    if kind in ("money", "unit_hours", "cpu_hours"):
        unit = {"money": "USD", "unit_hours": "unit-h", "cpu_hours": "vCPU-h"}[kind]
        for div, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
            if largest >= div:
                return 1 / div, f"{word} {unit}"
        return 1.0, unit
    return {"share": (100.0, "percentage points"), "hours": (1.0, "hours"),
            "date": (1 / 24, "days"), "mw": (1.0, "MW"), "index": (1.0, "HHI (0-1)"),
            "count": (1.0, "count")}.get(kind, (1.0, ""))


def policy_differences(source: Any, metrics: Sequence[str] | None = None) -> Figure:
    """Mean paired difference of each metric to the baseline with its 95% interval, per policy.

    `source` is a `Comparison`. A filled marker means the interval excludes zero.
    """
    table = source.table
    have = set(table["metric"])
    chosen = [m for m in (metrics or DIFF_PANELS) if m in have]
    others = [p for p in source.policies if p != source.baseline]
    ncols = min(4, max(1, len(chosen)))
    nrows = max(1, math.ceil(len(chosen) / ncols))
    fig = Figure(figsize=(3.6 * ncols, 0.5 + (0.42 * len(others) + 1.3) * nrows),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colors = policy_colors(source.policies)
    y = np.arange(len(others))[::-1]
    for ax, name in zip(axes, chosen, strict=False):
        m = describe(name)
        rows = table[(table["metric"] == name)].set_index("policy").reindex(others)
        raw = rows[["diff", "diff_ci_low", "diff_ci_high"]].abs().to_numpy(float)
        mult, unit = _scaled(m.kind, float(np.nanmax(raw)) if np.isfinite(raw).any() else 0.0)
        d = rows["diff"].to_numpy(float) * mult
        lo = rows["diff_ci_low"].to_numpy(float) * mult
        hi = rows["diff_ci_high"].to_numpy(float) * mult
        sig = rows["excludes_zero"].fillna(False).to_numpy(bool)
        ax.axvline(0, color="#888888", linewidth=0.8)
        for yi, di, low, high, s, p in zip(y, d, lo, hi, sig, others, strict=True):
            if not np.isfinite(di):
                ax.text(0, yi, "n/a", ha="center", va="center", fontsize=8, color="#777777")
                continue
            if np.isfinite(low):
                ax.plot([low, high], [yi, yi], color=colors[p], linewidth=2)
            ax.plot([di], [yi], "o", color=colors[p], markersize=6,
                    markerfacecolor=colors[p] if s else "white")
        ax.set_yticks(y, others if ax in axes[::ncols] else [""] * len(others), fontsize=8)
        ax.set_ylim(-0.6, len(others) - 0.4)
        ax.set_title(m.label, fontsize=10)
        ax.set_xlabel(f"Δ {unit}", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.grid(axis="x", alpha=0.3)
        lim = np.nanmax(np.abs(np.concatenate([lo, hi, d]))) if np.isfinite(d).any() else 1.0
        lim = lim if np.isfinite(lim) and lim > 0 else 1.0
        ax.set_xlim(-lim * 1.15, lim * 1.15)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    fig.suptitle(f"Difference to {source.baseline}, paired by replication (mean and 95% CI of "
                 f"{source.replications} replications; filled: interval excludes zero)")
    return fig
