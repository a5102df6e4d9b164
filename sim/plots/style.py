"""Shared look of every plot: one colour per provider, one per policy, axes and legends.

Figures are made with `matplotlib.figure.Figure` directly (no pyplot state); a function that
draws one panel takes `ax=None` and makes its own figure when none is given.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Brand-like colours for the shipped providers; other names get the palette below, in order.
PROVIDER_COLORS: dict[str, str] = {
    "azure": "#0078D4", "microsoft": "#0078D4",
    "gcp": "#34A853", "google": "#34A853",
    "aws": "#FF9900", "amazon": "#FF9900",
    "oracle": "#C74634", "stargate": "#C74634",
    "coreweave": "#7B61FF",
}
EXTRA_COLORS = ("#17BECF", "#8C564B", "#E377C2", "#BCBD22", "#7F7F7F", "#1F3A5F", "#9EDAE5",
                "#C49C94")
# Okabe-Ito colours for policies (lines, not areas), fixed for the built-in ones.
POLICY_COLORS: dict[str, str] = {
    "cheapest_first": "#000000", "microsoft_first": "#D55E00", "perf_per_dollar": "#0072B2",
    "diversified": "#009E73",
}
EXTRA_POLICY_COLORS = ("#CC79A7", "#E69F00", "#56B4E9", "#999999", "#F0E442")
WAITING = "#BFBFBF"
UNMET = "#D62728"
DEMAND = "#000000"


def provider_colors(providers: Iterable[str]) -> dict[str, str]:
    """A colour for each provider: fixed for known names, then the extra palette by name."""
    names = list(dict.fromkeys(providers))
    out = {p: PROVIDER_COLORS[p.lower()] for p in names if p.lower() in PROVIDER_COLORS}
    for i, p in enumerate(sorted(p for p in names if p not in out)):
        out[p] = EXTRA_COLORS[i % len(EXTRA_COLORS)]
    return out


def policy_colors(policies: Iterable[str]) -> dict[str, str]:
    """A colour for each policy: fixed for the built-in ones, then a palette in order."""
    names = list(dict.fromkeys(policies))
    out = {p: POLICY_COLORS[p] for p in names if p in POLICY_COLORS}
    for i, p in enumerate(p for p in names if p not in out):
        out[p] = EXTRA_POLICY_COLORS[i % len(EXTRA_POLICY_COLORS)]
    return out


def provider_order(steps: pd.DataFrame) -> list[str]:
    """Providers by accelerator capacity, most first (the bottom of stacks); CPU-only last."""
    acc = steps[steps["family"] != "cpu"]
    cap = acc.groupby("provider", sort=False)["capacity"].sum()
    order = list(cap.sort_values(ascending=False, kind="stable").index)
    return order + [p for p in dict.fromkeys(steps["provider"]) if p not in order]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (10, 4.5)) -> tuple[Figure, Axes]:
    """`ax` and its figure, or a fresh figure with one axes."""
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def legend_outside(ax: Axes, reverse: bool = False, **kwargs: object) -> None:
    """A legend to the right of the axes, so it never covers data (`reverse` for stacks, so the
    legend reads top to bottom like the stack)."""
    handles, labels = ax.get_legend_handles_labels()
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, borderaxespad=0.0, **kwargs)  # type: ignore[arg-type]


def date_axis(ax: Axes) -> None:
    """Concise date ticks on the x axis."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def si_label(x: float) -> str:
    """150000 -> '150k', 1200000 -> '1.2M'."""
    return _si(x)


def _si(x: float, _pos: object = None) -> str:
    a = abs(x)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:g}{suffix}"
    return f"{x:g}"


def si_axis(ax: Axes, axis: str = "y", money: bool = False) -> None:
    """Tick labels like 150k, 1.2M, $3B."""
    fmt = ticker.FuncFormatter((lambda x, p: ("-$" if x < 0 else "$") + _si(abs(x))) if money
                               else _si)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def resample_rule(hours: float) -> str | None:
    """Daily means for runs longer than six weeks (hourly cycles would hide the trend)."""
    return "1D" if hours > 24 * 42 else None


def rule_text(rule: str | None) -> str:
    """', daily mean' for "1D", ', mean per 6h' for "6h", nothing when not resampled."""
    if not rule:
        return ""
    return ", daily mean" if rule in ("1D", "D") else f", mean per {rule}"


def hold_last(t: pd.DatetimeIndex, step_h: float, *ys: np.ndarray
              ) -> tuple[pd.DatetimeIndex, list[np.ndarray]]:
    """Times and values with the last value held for one more step, so that `step="post"`
    drawing shows the last step too."""
    t2 = t.append(pd.DatetimeIndex([t[-1] + pd.Timedelta(hours=step_h)]))
    return t2, [np.append(y, y[-1:]) for y in ys]


def no_data(ax: Axes, text: str) -> None:
    """A readable note in place of an empty plot."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])
