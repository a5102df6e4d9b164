"""Right-of-first-refusal offers: how many were accepted or declined, by week and by kind of
request, and how long the holder took to answer."""

from __future__ import annotations

from typing import Any

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
)

OPEN = "#FFFFFF"


def _offers(run: Any) -> pd.DataFrame:
    """One row per offer: time, kind of request, holder, answer (or 'open'), delay."""
    ev = run.events
    offers = ev[ev["kind"] == "rofr_offer"].copy()
    answers = ev[ev["kind"] == "rofr_answer"]
    # the k-th answer about a subject answers its k-th offer
    offers["k"] = offers.groupby("subject").cumcount()
    answers = answers.assign(k=answers.groupby("subject").cumcount())
    merged = offers.merge(answers[["subject", "k", "detail", "delay_h"]], on=["subject", "k"],
                          how="left", suffixes=("", "_answer"))
    return pd.DataFrame({
        "time": pd.DatetimeIndex(merged["time"]), "request": merged["detail"],
        "holder": merged["provider"], "answer": merged["detail_answer"].fillna("open"),
        "delay_h": merged["delay_h_answer"],
    })


def _colors(run: Any, offers: pd.DataFrame) -> dict[str, str]:
    holder = str(offers["holder"].iloc[0])
    return {"accepted": provider_colors(run.steps["provider"])[holder], "declined": WAITING,
            "open": OPEN}


def first_refusal_offers(run: Any, ax: Axes | None = None, legend: bool = True) -> Figure:
    """Offers to the first-refusal holder per week, stacked by answer."""
    fig, ax = new_axes(ax, (9, 4))
    offers = _offers(run)
    if offers.empty:
        no_data(ax, f"no first-refusal offers (policy {run.meta.get('policy')})")
        return fig
    colors = _colors(run, offers)
    daily = float(run.meta.get("horizon_h", 0.0)) <= 21 * 24  # short runs: a bar per day
    rule, width, per = ("1D", pd.Timedelta(hours=20), "day") if daily else \
        ("W-MON", pd.Timedelta(days=6), "week")
    weekly = (offers.assign(n=1).pivot_table(index="time", columns="answer", values="n",
                                              aggfunc="sum", fill_value=0)
              .resample(rule, label="left", closed="left").sum())
    bottom = np.zeros(len(weekly))
    for answer in ("accepted", "declined", "open"):
        if answer in weekly:
            v = weekly[answer].to_numpy(float)
            ax.bar(weekly.index, v, bottom=bottom, width=width, align="edge",
                   color=colors[answer], edgecolor="#555555" if answer == "open" else "none",
                   linewidth=0.6, label=answer if answer != "open" else "no answer by the end")
            bottom += v
    ax.set_ylabel(f"offers per {per}")
    ax.set_ylim(0, float(bottom.max()) * 1.1)
    date_axis(ax)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"Offers to {offers['holder'].iloc[0]} per {per}, by answer")
    if legend:
        legend_outside(ax, reverse=True, fontsize=8)
    return fig


def first_refusal_by_request(run: Any, ax: Axes | None = None) -> Figure:
    """Share of offers accepted and declined per kind of request (training, inference, agents)."""
    fig, ax = new_axes(ax, (5, 3))
    offers = _offers(run)
    if offers.empty:
        no_data(ax, "no first-refusal offers")
        return fig
    colors = _colors(run, offers)
    counts = offers.groupby(["request", "answer"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[c for c in ("accepted", "declined", "open") if c in counts])
    total = counts.sum(axis=1)
    y = np.arange(len(counts))[::-1]
    left = np.zeros(len(counts))
    for answer in counts.columns:
        share = (counts[answer] / total).to_numpy(float)
        ax.barh(y, share, left=left, height=0.6, color=colors[answer],
                edgecolor="#555555" if answer == "open" else "none", linewidth=0.6)
        for yi, li, si, n in zip(y, left, share, counts[answer], strict=True):
            if si >= 0.12:
                ax.text(li + si / 2, yi, f"{n:,}", ha="center", va="center", fontsize=8,
                        color="white" if answer == "accepted" else "black")
        left += share
    ax.set_yticks(y, [f"{r}\n({n:,} offer{'s' if n != 1 else ''})" for r, n in total.items()],
                  fontsize=8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    ax.set_xlabel("share of offers")
    ax.set_title("Answers by kind of request")
    return fig


def first_refusal_delays(run: Any, ax: Axes | None = None) -> Figure:
    """How long the holder took to answer (histogram of answer delays, hours)."""
    fig, ax = new_axes(ax, (5, 3))
    offers = _offers(run)
    delays = offers["delay_h"].dropna().to_numpy(float)
    if len(delays) == 0:
        no_data(ax, "no answers")
        return fig
    colors = _colors(run, offers)
    lo, hi = float(delays.min()), float(delays.max())
    if hi - lo < 1e-9:
        ax.bar([lo], [len(delays)], width=max(lo * 0.15, 0.5), color=colors["accepted"])
        ax.set_xlim(0, lo * 1.6 + 1)
        ax.text(lo, len(delays), f"all {len(delays):,} after {lo:g} h", ha="center",
                va="bottom", fontsize=8)
        ax.set_ylim(0, len(delays) * 1.15)
    else:
        ax.hist(delays, bins=30, color=colors["accepted"])
        ax.axvline(delays.mean(), color="black", linewidth=1,
                   label=f"mean {delays.mean():.1f} h")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel("time to answer (hours)")
    ax.set_ylabel("answers")
    ax.set_title("Time to answer")
    return fig


def first_refusal(run: Any) -> Figure:
    """The three first-refusal panels side by side: per week, by request, time to answer."""
    fig = Figure(figsize=(14, 4), layout="constrained")
    offers = _offers(run)
    if offers.empty:
        no_data(fig.add_subplot(), f"no first-refusal offers in this run "
                                   f"(policy {run.meta.get('policy')})")
        return fig
    a, b, c = fig.subplots(1, 3, width_ratios=[2.6, 1.3, 1.0])
    first_refusal_offers(run, a, legend=False)
    first_refusal_by_request(run, b)
    first_refusal_delays(run, c)
    holder = offers["holder"].iloc[0]
    fig.suptitle(f"Right of first refusal: {len(offers):,} offers to {holder} "
                 f"(policy {run.meta.get('policy')})")
    handles, labels = a.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False,
               fontsize=8)
    return fig
