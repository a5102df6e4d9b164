"""Training jobs: a timeline of waiting and running, and the distribution of waits per policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.plots.style import (
    WAITING,
    date_axis,
    legend_outside,
    new_axes,
    no_data,
    provider_colors,
    provider_order,
)
from sim.results.shares import format_share


def largest_jobs(jobs: pd.DataFrame, max_jobs: int) -> pd.DataFrame:
    """The `max_jobs` jobs with most work (units × duration), frontier runs always in."""
    size = jobs["units"] * jobs["duration_h"]
    order = jobs.assign(_frontier=jobs["frontier"].astype(bool), _size=size).sort_values(
        ["_frontier", "_size"], ascending=False, kind="stable")
    return order.head(max_jobs).sort_values(["arrival_h", "job"], kind="stable")


def training_timeline(run: Any, ax: Axes | None = None, max_jobs: int = 30,
                      legend: bool = True, title: str | None = None) -> Figure:
    """One row per job (the `max_jobs` largest): waiting from arrival to start in grey, running
    in its provider's colour, interruptions (outages, preemptions, reclaims) as black ticks."""
    jobs = run.jobs
    fig, ax = new_axes(ax, (11, max(3.0, 0.22 * min(len(jobs), max_jobs) + 1.4)))
    if jobs.empty:
        no_data(ax, "no training jobs in this run")
        return fig
    shown = largest_jobs(jobs, max_jobs)
    start = pd.Timestamp(run.meta["start"])
    end_h = float(run.meta["horizon_h"])
    colors = provider_colors(provider_order(run.steps))

    def when(h: np.ndarray) -> np.ndarray:
        return (start + pd.to_timedelta(h, unit="h")).to_numpy()

    y = np.arange(len(shown))[::-1]  # earliest arrival at the top
    arrival = shown["arrival_h"].to_numpy(float)
    began = shown["start_h"].to_numpy(float)
    ended = shown["end_h"].to_numpy(float)
    wait_end = np.where(np.isnan(began), end_h, began)
    run_end = np.where(np.isnan(ended), end_h, ended)
    ev = run.events
    hits = ev[ev["kind"].isin(["job_interrupted", "preemption"])
              & ev["subject"].isin(shown["job"])]
    # a job that started but is back in the queue at the end ran until its last interruption
    last_hit = hits.groupby("subject")["hour"].max()
    requeued = (shown["status"] != "running").to_numpy() & ~np.isnan(began) & np.isnan(ended)
    for i in np.flatnonzero(requeued):
        run_end[i] = float(last_hit.get(shown["job"].iloc[i], end_h))
    if requeued.any():
        ax.barh(y[requeued], when(np.full(requeued.sum(), end_h)) - when(run_end[requeued]),
                left=when(run_end[requeued]), height=0.6, color=WAITING, hatch="//",
                edgecolor="white", linewidth=0, label="back in the queue at the end")
    ax.barh(y, when(wait_end) - when(arrival), left=when(arrival), height=0.6, color=WAITING,
            label="waiting")
    started = ~np.isnan(began)
    for prov in dict.fromkeys(shown["provider"][started]):
        m = started & (shown["provider"].to_numpy() == prov)
        ax.barh(y[m], when(run_end[m]) - when(began[m]), left=when(began[m]), height=0.6,
                color=colors.get(prov, "#555555"), label=f"running at {prov}")
    if len(hits):
        row = dict(zip(shown["job"], y, strict=True))
        ax.scatter(pd.DatetimeIndex(hits["time"]), [row[j] for j in hits["subject"]],
                   marker="|", s=60, color="black", linewidths=1.2, zorder=4,
                   label="interrupted (outage, reclaim, preemption)")
    labels = [f"{j} ({u:,} units)" for j, u in zip(shown["job"], shown["units"], strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, len(shown) - 0.3)
    date_axis(ax)
    ax.set_xlim(start, start + pd.Timedelta(hours=end_h))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    some = f"the {len(shown)} largest of {len(jobs):,} jobs" if len(shown) < len(jobs) \
        else f"all {len(jobs)} jobs"
    ax.set_title(title or f"Training timeline, {some}: waiting (grey) and running (by provider)")
    if legend:
        legend_outside(ax, fontsize=8)
    return fig


WAIT_BINS: tuple[tuple[float, str], ...] = (
    (0.0, "at once"), (6.0, "up to 6 h"), (24.0, "6-24 h"), (48.0, "1-2 days"),
    (168.0, "2-7 days"), (672.0, "1-4 weeks"), (np.inf, "over 4 weeks"))
NEVER = "not started by the end"


def wait_shares(jobs: pd.DataFrame) -> pd.Series:
    """Share of jobs per wait bucket (right-inclusive: a 48 h wait is '1-2 days'); jobs that
    never started are their own bucket."""
    started = jobs["start_h"].notna().to_numpy()
    w = jobs["wait_h"].to_numpy(float)[started]
    upper = np.array([1e-9, *[b for b, _ in WAIT_BINS[1:]]])
    counts = np.bincount(np.searchsorted(upper, w, side="left"), minlength=len(WAIT_BINS))
    out = pd.Series(counts, index=[name for _, name in WAIT_BINS], dtype=float)
    out[NEVER] = float((~started).sum())
    return out / max(len(jobs), 1)


def wait_distribution(runs: Mapping[str, Any] | pd.DataFrame, ax: Axes | None = None,
                      title: str | None = None) -> Figure:
    """How long training jobs waited to start, per policy: a 100% bar of wait buckets each,
    with the mean and p95 wait (of jobs that started) written beside it.

    `runs` maps policy -> `RunResult`, or is a jobs table with a `policy` column.
    """
    if isinstance(runs, pd.DataFrame):
        tables = {str(p): g for p, g in runs.groupby("policy", sort=False)}
    else:
        tables = {p: r.jobs for p, r in runs.items()}
    tables = {p: j for p, j in tables.items() if len(j)}
    own = ax is None
    fig, ax = new_axes(ax, (10, 1.6 + 0.55 * max(len(tables), 1)))
    if not tables:
        no_data(ax, "no training jobs")
        return fig
    shares = pd.DataFrame({p: wait_shares(j) for p, j in tables.items()}).T
    cmap = matplotlib.colormaps["YlOrRd"]
    # no wait in green, then longer waits in deeper oranges and reds
    colors = ["#B7DFB0", *[cmap(x) for x in np.linspace(0.15, 0.95, len(WAIT_BINS) - 1)],
              WAITING]
    y = np.arange(len(shares))[::-1]
    left = np.zeros(len(shares))
    for (bucket, col), color in zip(shares.items(), colors, strict=True):
        v = col.to_numpy(float)
        ax.barh(y, v, left=left, color=color, height=0.6, label=bucket,
                hatch="//" if bucket == NEVER else None, edgecolor="white", linewidth=0.5)
        for yi, li, vi in zip(y, left, v, strict=True):
            if vi >= 0.06:
                dark = color != WAITING and colors.index(color) >= 4
                ax.text(li + vi / 2, yi, format_share(vi), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        left += v
    for yi, jobs in zip(y, tables.values(), strict=True):
        w = jobs.loc[jobs["start_h"].notna(), "wait_h"].to_numpy(float)
        text = f"mean {w.mean():.1f} h\np95 {np.percentile(w, 95):.1f} h" if len(w) else ""
        ax.text(1.01, yi, text, ha="left", va="center", fontsize=8,
                transform=ax.get_yaxis_transform())
    ax.set_yticks(y, list(shares.index))
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    ax.set_xlabel("share of training jobs")
    ax.set_title(title or "Training waits per policy: share of jobs by time from arrival to start")
    if own:
        fig.legend(loc="outside lower center", ncols=len(WAIT_BINS) + 1, frameon=False,
                   fontsize=8)
    else:
        legend_outside(ax, fontsize=8, title="wait")
    return fig
