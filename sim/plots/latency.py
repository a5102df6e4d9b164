"""Time to first token over time: p50, p95 and p99 per step against the service's target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.plots.style import UNMET, date_axis, hold_last, legend_outside, new_axes, no_data

PERCENTILE_COLORS = {"p50": "#56B4E9", "p95": "#E69F00", "p99": "#D55E00"}


def latency_services(run: Any) -> list[str]:
    """Services of a run with a latency model (their TTFT columns are filled)."""
    svc = run.services
    if "ttft_p99_s" not in svc.columns:
        return []
    have = svc[svc["ttft_p99_s"].notna()]
    return list(dict.fromkeys(have["service"]))


def latency_over_time(run: Any, ax: Axes | None = None, service: str | None = None,
                      legend: bool = True, title: str | None = None,
                      resample: str | None = "auto") -> Figure:
    """p50/p95/p99 time to first token of one service per step (log scale), the latency target
    as a dashed line, and steps where requests were never served (or failed) marked in red.

    `service`: default the first with a latency model. `resample`: "auto" (for runs over six
    weeks, the worst step of each day), a pandas rule ("6h"), or None (every step).
    """
    fig, ax = new_axes(ax, (11, 4.0))
    names = latency_services(run)
    service = service or (names[0] if names else None)
    if service is None or service not in names:
        no_data(ax, f"no latency model for {service}" if service else
                "no service in this run has a latency model")
        return fig
    rows = run.services[run.services["service"] == service]
    step_h = float(run.meta.get("step_h", 1.0))
    span_h = float(rows["hour"].max()) + step_h
    rule = ("1D" if span_h > 24 * 42 else None) if resample == "auto" else resample
    cols = {f"p{p}": f"ttft_p{p}_s" for p in (50, 95, 99)}
    frame = pd.DataFrame({k: rows[c].to_numpy(float) for k, c in cols.items()},
                         index=pd.DatetimeIndex(rows["time"]))
    lost = pd.Series((rows["failed_share"] + rows["refused_share"]).to_numpy(float) > 1e-3,
                     index=frame.index)
    never = ~np.isfinite(frame["p99"].to_numpy())
    finite = frame.replace([np.inf, -np.inf], np.nan)
    if rule:
        finite = finite.resample(rule).max()
        lost = lost.resample(rule).max().astype(bool)
        never = frame["p99"].resample(rule).apply(lambda s: bool(np.isinf(s).any())).to_numpy()
    t = finite.index
    step = None if rule else "post"
    values = [finite[k].to_numpy(float) for k in cols]
    if step:
        t, values = hold_last(t, step_h, *values)
    for k, y in zip(cols, values, strict=True):
        if step:
            ax.step(t, y, where="post", color=PERCENTILE_COLORS[k], linewidth=1.0, label=k)
        else:
            ax.plot(t, y, color=PERCENTILE_COLORS[k], linewidth=1.0, label=k)
    ax.set_yscale("log")  # waits span decades: a prefill's 0.1 s to an outage's minutes
    target = rows["ttft_target_s"].dropna()
    hours_above = float((~rows["latency_met"].astype(bool)).sum() * step_h)
    if len(target):
        ax.axhline(float(target.iloc[0]), color="#000000", linestyle="--", linewidth=1.0,
                   label=f"target {_target_label(run, service)}")
    if lost.any() or never.any():
        marks = finite.index[lost.to_numpy() | np.asarray(never, dtype=bool)]
        ax.plot(marks, np.full(len(marks), 1.0), transform=ax.get_xaxis_transform(),
                linestyle="none", marker="|", markersize=10, color=UNMET,
                label="requests refused, failed or unserved", clip_on=False)
    date_axis(ax)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylabel("time to first token (s)")
    ax.grid(axis="y", which="both", alpha=0.25)
    every = ", worst step per day" if rule in ("1D", "D") else (f", worst per {rule}" if rule
                                                                 else "")
    above = f" · {hours_above:,.0f} h above target" if len(target) else ""
    ax.set_title(f"{title} · {service}{above}" if title else
                 f"Time to first token of {service}: p50, p95, p99 per step{every}{above}")
    if legend:
        legend_outside(ax, fontsize=8)
    return fig


def _target_label(run: Any, service: str) -> str:
    """'p99 ≤ 2 s' from the services table."""
    rows = run.services[run.services["service"] == service]
    target = float(rows["ttft_target_s"].dropna().iloc[0])
    pct = rows["ttft_target_pct"].dropna() if "ttft_target_pct" in rows else pd.Series([])
    return f"p{float(pct.iloc[0]):g} ≤ {target:g} s" if len(pct) else f"≤ {target:g} s"
