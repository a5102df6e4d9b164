"""Inference demand against what was served, by provider, with the unmet part shaded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.plots.capacity import reference_label
from sim.plots.style import (
    DEMAND,
    UNMET,
    date_axis,
    hold_last,
    legend_outside,
    new_axes,
    no_data,
    provider_colors,
    provider_order,
    resample_rule,
    rule_text,
    si_axis,
)


def inference_served(run: Any, ax: Axes | None = None, kind: str = "inference",
                     services: list[str] | None = None, legend: bool = True,
                     title: str | None = None, resample: str | None = "auto") -> Figure:
    """Demand (line) against served (stacked by provider) over time; unmet demand shaded.

    `kind` is "inference" (reference accelerator units) or "agents" (vCPUs); `services`
    narrows it to some services. `run` is a `RunResult` (its `services`, `service_providers`).
    `resample`: "auto" (daily means for runs over six weeks), a pandas rule ("1D", "6h"), or
    None (every step).
    """
    fig, ax = new_axes(ax, (11, 4.5))
    svc = run.services[run.services["kind"] == kind]
    if services:
        svc = svc[svc["service"].isin(services)]
    if svc.empty:
        no_data(ax, f"no {kind} demand in this run")
        return fig
    names = list(dict.fromkeys(svc["service"]))
    step_h = float(run.meta.get("step_h", 1.0))
    rule = resample_rule(float(svc["hour"].max()) + step_h) if resample == "auto" else resample
    total = svc.groupby("time", sort=True)[["demand", "served"]].sum()
    total.index = pd.DatetimeIndex(total.index)
    sp = run.service_providers[run.service_providers["service"].isin(names)]
    times = total.index
    by_prov = (sp.assign(time=times[sp["step"].to_numpy()])
               .pivot_table(index="time", columns="provider", values="served", aggfunc="sum",
                            fill_value=0.0)
               .reindex(times, fill_value=0.0))
    if rule:
        total = total.resample(rule).mean()
        by_prov = by_prov.resample(rule).mean()
    providers = [p for p in provider_order(run.steps) if p in by_prov.columns]
    colors = provider_colors(provider_order(run.steps))
    step = None if rule else "post"
    stack = [by_prov[p].to_numpy(float) for p in providers]
    served = total["served"].to_numpy(float)
    demand = total["demand"].to_numpy(float)
    t = total.index
    if step:
        t, (served, demand, *stack) = hold_last(t, step_h, served, demand, *stack)
    ax.stackplot(t, stack, colors=[colors[p] for p in providers],
                 labels=[f"served at {p}" for p in providers], linewidth=0, alpha=0.9, step=step)
    unmet_h = float(svc["unmet"].sum() * step_h)
    demand_h = float(svc["demand"].sum() * step_h)
    share = unmet_h / demand_h if demand_h > 0 else 0.0
    ax.fill_between(t, served, np.maximum(demand, served), step=step, facecolor="none",
                    edgecolor=UNMET, hatch="////", linewidth=0,
                    label="unmet demand")
    if step:
        ax.step(t, demand, where="post", color=DEMAND, linewidth=1.0, label="demand")
    else:
        ax.plot(t, demand, color=DEMAND, linewidth=1.0, label="demand")
    date_axis(ax)
    si_axis(ax)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(0, float(np.nanmax(demand)) * 1.08)
    ax.set_ylabel(f"{reference_label(run)}, step mean" if kind == "inference"
                  else "vCPUs, step mean")
    ax.grid(axis="y", alpha=0.3)
    what = ", ".join(names)
    unmet = "no demand unmet" if share < 1e-9 else f"unmet: {_share(share)} of demand"
    ax.set_title(f"{title} · {unmet}" if title else
                 f"{'Agent' if kind == 'agents' else kind.capitalize()} demand against served "
                 f"by provider ({what})"
                 f"{rule_text(rule)} · {unmet}")
    if legend:
        legend_outside(ax, reverse=True, fontsize=8)
    return fig


def agents_served(run: Any, ax: Axes | None = None, **kwargs: Any) -> Figure:
    """Agent demand (vCPUs) against what was served by provider, unmet hatched: as
    `inference_served` with `kind="agents"`."""
    return inference_served(run, ax=ax, kind="agents", **kwargs)


def _share(x: float) -> str:
    """0.000123 -> '0.01 %' (the one share format); 0 -> 'none'."""
    from sim.results.shares import format_share

    return "none" if x < 1e-9 else format_share(x)
