"""Training jobs: a timeline of waiting and running, the distribution of waits per policy, and
effective training time (ETTR) by gang size, of a run and per policy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.plots.style import (
    WAITING,
    date_axis,
    legend_outside,
    new_axes,
    no_data,
    policy_colors,
    provider_colors,
    provider_order,
    si_label,
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


RUNS_COLOR = "#4C72B0"
FRONTIER_COLOR = "#D55E00"


def _ettr_axes(ax: Axes) -> None:
    """Gang size on a log x axis (1k, 10k, 100k), ETTR 0-100% on y."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: si_label(v)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    ax.set_xlabel("gang size (units held at once, log scale)")
    ax.set_ylabel("ETTR (work kept / time from first start to end)")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)


def ettr_by_gang_size(jobs: pd.DataFrame, ax: Axes | None = None, title: str | None = None,
                      legend: bool = True) -> Figure:
    """ETTR of each training run that started against its gang size (a jobs table): one dot
    per run, the mean per gang size as a bar, frontier runs as named stars."""
    fig, ax = new_axes(ax, (10, 5))
    started = jobs[np.isfinite(jobs["ettr"].to_numpy(float))] if "ettr" in jobs else jobs[:0]
    if started.empty:
        no_data(ax, "no training run started")
        return fig
    frontier = started["frontier"].to_numpy(bool)
    rest = started[~frontier]
    if len(rest):
        ax.scatter(rest["units"].to_numpy(float), rest["ettr"].to_numpy(float), s=14, alpha=0.4,
                   color=RUNS_COLOR, linewidths=0, clip_on=False, label="training runs",
                   zorder=2)
        mean = rest.groupby("units")["ettr"].mean()
        ax.scatter(mean.index.to_numpy(float), mean.to_numpy(float), marker="_", s=400,
                   color="black", linewidths=1.5, clip_on=False, label="mean per gang size",
                   zorder=3)
    if frontier.any():
        front = started[frontier]
        ax.scatter(front["units"].to_numpy(float), front["ettr"].to_numpy(float), marker="*",
                   s=180, color=FRONTIER_COLOR, edgecolors="black", linewidths=0.6,
                   clip_on=False, label="frontier runs", zorder=4)
        for name, x, y in zip(front["job"], front["units"], front["ettr"], strict=True):
            ax.annotate(str(name), (float(x), float(y)), xytext=(6, -12),
                        textcoords="offset points", fontsize=8)
    _ettr_axes(ax)
    ax.set_title(title or f"Effective training time ratio by gang size: {len(started):,} runs "
                          f"that started")
    if legend:
        legend_outside(ax, fontsize=8)
    return fig


_ETTR_BIN = re.compile(r"^(training|frontier)_ettr_by_gang_size\.(\d+)\."
                       r"(jobs_started|units_mean|ettr_mean)$")


def ettr_by_gang_size_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per policy, group (training | frontier) and gang-size bin: runs started over all
    replications, and their mean gang size and mean ETTR (each run counted once), from tidy
    metrics (policy, replication, metric, value)."""
    parts = metrics["metric"].astype(str).str.extract(_ETTR_BIN)
    m = metrics.assign(group=parts[0], bin=parts[1], figure=parts[2]).dropna(subset=["figure"])
    cols = ["policy", "group", "bin", "jobs_started", "units", "ettr"]
    if m.empty:
        return pd.DataFrame(columns=cols)
    wide = m.pivot_table(index=["policy", "replication", "group", "bin"], columns="figure",
                         values="value", aggfunc="first").reset_index().rename_axis(columns=None)
    wide = wide[wide["jobs_started"] > 0]
    n = wide["jobs_started"]
    wide = wide.assign(units=wide["units_mean"] * n, ettr=wide["ettr_mean"] * n)
    out = wide.groupby(["policy", "group", "bin"], sort=False)[["jobs_started", "units", "ettr"]].sum()
    out["units"] /= out["jobs_started"]
    out["ettr"] /= out["jobs_started"]
    return out.reset_index()[cols].sort_values(["policy", "group", "units"], kind="stable")


def ettr_by_gang_size_per_policy(source: Any, ax: Axes | None = None,
                                 title: str | None = None) -> Figure:
    """Mean ETTR by gang size, one colour per policy, over every replication of a `Comparison`
    (or its tidy `metrics` table): a line through the other runs' gang-size bins, a star per
    frontier run's."""
    metrics = source.metrics if hasattr(source, "metrics") else source
    policies = list(source.policies) if hasattr(source, "policies") else \
        list(dict.fromkeys(metrics["policy"]))
    reps = metrics["replication"].nunique() if len(metrics) else 0
    table = ettr_by_gang_size_table(metrics)
    fig, ax = new_axes(ax, (10, 5))
    if table.empty:
        no_data(ax, "no training run started")
        return fig
    colors = policy_colors(policies)
    for policy in policies:
        rows = table[table["policy"] == policy]
        runs = rows[rows["group"] == "training"]
        if len(runs):
            ax.plot(runs["units"].to_numpy(float), runs["ettr"].to_numpy(float), marker="o",
                    markersize=5, color=colors[policy], linewidth=1.2, clip_on=False,
                    label=policy)
        front = rows[rows["group"] == "frontier"]
        if len(front):
            ax.plot(front["units"].to_numpy(float), front["ettr"].to_numpy(float), marker="*",
                    markersize=14, linestyle="none", color=colors[policy],
                    markeredgecolor="black", markeredgewidth=0.6, clip_on=False,
                    label=f"{policy}: frontier runs")
    _ettr_axes(ax)
    ax.set_title(title or f"Effective training time ratio by gang size per policy: mean per run "
                          f"over {reps} replication{'s' if reps != 1 else ''} "
                          f"(★ frontier runs)")
    legend_outside(ax, fontsize=8)
    return fig
