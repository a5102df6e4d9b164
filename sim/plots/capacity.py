"""Capacity, use and idle per provider over time, with capacity coming online and outages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from sim.plots.style import (
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

OUTAGE_KINDS = ("outage_start", "scheduled_outage_start", "region_outage_start",
                "provider_outage_start")


FAMILY_UNITS = {"gpu": "GPUs", "tpu": "TPU chips", "cpu": "vCPUs"}


def reference_label(run: Any) -> str:
    """'reference units (H100-equivalent)': the axis label of work-weighted capacity."""
    refs = [r.upper() for r in run.meta.get("reference_accelerators", [])]
    return f"reference units ({'/'.join(refs)}-equivalent)" if refs else \
        "reference units (speed-1 accelerators)"


def speeds(run: Any, which: str = "train_speed") -> dict[str, float] | None:
    """Speed of each accelerator relative to the reference, from the run's metadata (None for
    results saved before capsim recorded it)."""
    acc = run.meta.get("accelerators")
    return {name: float(a[which]) for name, a in acc.items()} if acc else None


def capacity_use(run: Any, ax: Axes | None = None, families: tuple[str, ...] = ("gpu", "tpu"),
                 legend: bool = True, title: str | None = None, resample: str | None = "auto",
                 reference: bool = True) -> Figure:
    """Stacked areas per provider: units in use (solid) and idle (pale) up to its capacity.

    With `reference` (the default) each accelerator counts for its training speed, so a GB300
    at 3.2 counts as 3.2 H100-equivalent units and providers are compared by the work they can
    do; else physical units are added as they are (only sensible within one family). Capacity
    coming online (installed units rising) is marked ▲ and outages ▼ along the top, in the
    provider's colour. CPU pools are left out by default (`capacity_by_family` shows them).
    `run` is a `RunResult` (its `steps`, `events`, `meta`). `resample`: "auto" (daily means
    for runs over six weeks), a pandas rule ("1D", "6h"), or None (every step).
    """
    fig, ax = new_axes(ax, (11, 4.8))
    steps = run.steps[run.steps["family"].isin(families)]
    if steps.empty:
        no_data(ax, f"no {'/'.join(families)} pools in this run")
        return fig
    speed = speeds(run) if reference else None
    values = steps[["time", "provider"]].copy()
    weight = (steps["accelerator"].map(speed).fillna(1.0).to_numpy(float) if speed
              else np.ones(len(steps)))
    values["capacity"] = steps["capacity"].to_numpy(float) * weight
    values["in_use"] = steps["in_use"].to_numpy(float) * weight
    providers = provider_order(steps)
    colors = provider_colors(providers)
    hours = float(steps["hour"].max()) + float(run.meta.get("step_h", 1.0))
    rule = resample_rule(hours) if resample == "auto" else resample
    agg = values.groupby(["time", "provider"], sort=False)[["capacity", "in_use"]].sum()
    wide = agg.unstack("provider").fillna(0.0).sort_index()
    wide.index = pd.DatetimeIndex(wide.index)
    if rule:
        wide = wide.resample(rule).mean()
    t = wide.index
    ys, fills, labels = [], [], []
    for p in providers:
        used = wide[("in_use", p)].to_numpy(float)
        cap = wide[("capacity", p)].to_numpy(float)
        ys += [used, np.maximum(cap - used, 0.0)]
        fills += [(colors[p], 0.95), (colors[p], 0.3)]
        labels += [f"{p} in use", f"{p} idle"]
    if not rule:
        t, ys = hold_last(t, float(run.meta.get("step_h", 1.0)), *ys)
    polys = ax.stackplot(t, ys, colors=[c for c, _ in fills], linewidth=0,
                         step=None if rule else "post")
    for poly, (_, alpha), label in zip(polys, fills, labels, strict=True):
        poly.set_alpha(alpha)
        poly.set_label(label)
    top = float(np.sum(ys, axis=0).max()) if ys else 1.0
    ax.set_ylim(0, top * 1.16)  # room for the markers along the top
    _mark_events(ax, run, steps, colors)
    date_axis(ax)
    si_axis(ax)
    ax.set_xlim(t[0], t[-1])
    if speed:
        ax.set_ylabel(reference_label(run))
    elif len(families) == 1:
        ax.set_ylabel(FAMILY_UNITS.get(families[0], "units"))
    else:
        ax.set_ylabel("accelerators (physical units, any speed)")
    ax.grid(axis="y", alpha=0.3)
    what = "work capacity (by training speed)" if speed else "capacity"
    name = "/".join(f.upper() for f in families) if len(families) == 1 else "Accelerator"
    ax.set_title(title or f"{name} {what} per provider: in use (solid) and idle (pale)"
                 f"{rule_text(rule)}")
    if legend:
        legend_outside(ax, reverse=True, fontsize=8)
    return fig


def capacity_by_family(run: Any, resample: str | None = "auto") -> Figure:
    """One panel per family (GPUs, TPU chips, vCPUs) in its own physical units: what each
    provider has and uses, CPUs included."""
    present = [f for f in ("gpu", "tpu", "cpu") if (run.steps["family"] == f).any()]
    fig = Figure(figsize=(12, 0.8 + 2.8 * max(1, len(present))), layout="constrained")
    axes = fig.subplots(max(1, len(present)), 1, sharex=True, squeeze=False)[:, 0]
    if not present:
        no_data(axes[0], "no pools in this run")
        return fig
    for i, (ax, family) in enumerate(zip(axes, present, strict=True)):
        capacity_use(run, ax=ax, families=(family,), reference=False, legend=True,
                     resample=resample,
                     title=f"{FAMILY_UNITS[family]}: in use (solid) and idle (pale)")
        if i < len(present) - 1:
            ax.set_xlabel("")
    fig.suptitle("Capacity per family and provider, in physical units")
    return fig


def _mark_events(ax: Axes, run: Any, steps: pd.DataFrame, colors: dict[str, str]) -> None:
    """▲ where a pool's installed units rise (build-outs, new capacity), ▼ where outages start."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    per_pool = steps.sort_values("step").groupby(["provider", "pool"], sort=False)
    online = []
    for (prov, _pool), g in per_pool:
        rise = g["installed"].diff().fillna(0.0) > 0
        online += [(t, prov) for t in g.loc[rise.to_numpy(), "time"]]
    if online:
        t, prov = zip(*online, strict=True)
        ax.scatter(t, [0.965] * len(t), transform=trans, marker="^", s=28,
                   c=[colors[p] for p in prov], edgecolors="black", linewidths=0.4, zorder=5,
                   clip_on=False)
        ax.scatter([], [], marker="^", s=28, c="white", edgecolors="black", linewidths=0.6,
                   label="capacity comes online")
    ev = run.events
    pools = set(zip(steps["provider"], steps["pool"], strict=True))
    out = ev[ev["kind"].isin(OUTAGE_KINDS)]
    out = out[[(p, q) in pools or (p in colors and not isinstance(q, str)) or q == ""
               for p, q in zip(out["provider"], out["pool"], strict=True)]]
    if len(out):
        ax.scatter(pd.DatetimeIndex(out["time"]), [0.915] * len(out), transform=trans,
                   marker="v", s=24, c=[colors.get(p, "#555555") for p in out["provider"]],
                   edgecolors="black", linewidths=0.4, zorder=5, clip_on=False)
        ax.scatter([], [], marker="v", s=24, c="white", edgecolors="black", linewidths=0.6,
                   label="outage starts")
