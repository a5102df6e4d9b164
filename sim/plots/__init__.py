"""Plots of capsim results: functions of result tables that return a matplotlib `Figure`.

Panels take `ax=None` (draw into your axes, or get a new figure); nothing touches pyplot's
global state and nothing is saved unless you call `fig.savefig`. One colour per provider
(`provider_colors`) and one per policy (`policy_colors`) throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from matplotlib.figure import Figure

from sim.plots.capacity import capacity_by_family, capacity_use
from sim.plots.differences import policy_differences
from sim.plots.first_refusal import (
    first_refusal,
    first_refusal_by_request,
    first_refusal_delays,
    first_refusal_offers,
)
from sim.plots.inference import agents_served, inference_served
from sim.plots.latency import latency_over_time, latency_services
from sim.plots.power import power_use
from sim.plots.spend import cost_by_policy, spend_by_provider
from sim.plots.style import policy_colors, provider_colors
from sim.plots.sweep import sweep_figure, sweep_metric
from sim.plots.training import (
    ettr_by_gang_size,
    ettr_by_gang_size_per_policy,
    training_timeline,
    wait_distribution,
)


def per_policy(runs: Mapping[str, Any], draw: Callable[..., Figure], title: str,
               row_height: float = 2.6, **kwargs: Any) -> Figure:
    """One row per policy, each drawn by `draw(run, ax=..., legend=..., title=policy)`, with a
    shared time axis and the legend once, beside the first row."""
    fig = Figure(figsize=(12, 0.8 + row_height * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for i, (ax, (policy, run)) in enumerate(zip(axes, runs.items(), strict=True)):
        draw(run, ax=ax, legend=i == 0, title=policy, **kwargs)
        if i < len(runs) - 1:
            ax.set_xlabel("")
    fig.suptitle(title)
    return fig


def run_figures(run: Any) -> dict[str, Figure]:
    """Every single-run plot of a `RunResult`, by file name stem."""
    figs = {
        "capacity": capacity_use(run),
        "capacity-by-family": capacity_by_family(run),
        "inference": inference_served(run),
        "training": training_timeline(run),
        "waits": wait_distribution({run.meta.get("policy", "run"): run}),
        "ettr-by-gang-size": ettr_by_gang_size(run.jobs),
        "power": power_use(run),
    }
    if (run.services["kind"] == "agents").any():
        figs["agents"] = agents_served(run)
    if (run.events["kind"] == "rofr_offer").any():
        figs["first-refusal"] = first_refusal(run)
    for service in latency_services(run):
        figs[f"latency-{service}"] = latency_over_time(run, service=service)
    return figs


def comparison_figure_makers(cmp: Any) -> dict[str, Callable[[], Figure]]:
    """How to draw each plot of a `Comparison`, by file name stem (drawn when called)."""
    makers: dict[str, Callable[[], Figure]] = {"cost": lambda: cost_by_policy(cmp),
                                               "spend": lambda: spend_by_provider(cmp)}
    if len(cmp.policies) > 1:
        makers["differences"] = lambda: policy_differences(cmp)
    if cmp.metrics["metric"].astype(str).str.contains("_ettr_by_gang_size.", regex=False).any():
        makers["ettr-by-gang-size"] = lambda: ettr_by_gang_size_per_policy(cmp)
    runs = {p: cmp.runs[p] for p in cmp.policies if p in cmp.runs}
    if not runs:
        return makers
    rep = "replication 0 of each policy"
    makers["waits"] = lambda: wait_distribution(
        runs, title=f"Training waits per policy: share of jobs by time from arrival to start "
                    f"({rep})")
    makers["capacity"] = lambda: per_policy(
        runs, capacity_use,
        f"Accelerator work capacity per provider (each chip counted at its training speed): "
        f"in use (solid) and idle (pale); ▲ capacity online, ▼ outage ({rep})")
    makers["inference"] = lambda: per_policy(
        runs, inference_served,
        f"Inference demand (line) against served by provider; unmet hatched ({rep})")
    if any((r.services["kind"] == "agents").any() for r in runs.values()):
        makers["agents"] = lambda: per_policy(
            runs, agents_served,
            f"Agent demand in vCPUs (line) against served by provider; unmet hatched ({rep})")
    makers["power"] = lambda: per_policy(
        runs, power_use, f"Power in use by provider against the ceiling ({rep})",
        row_height=2.2)
    for service in latency_services(next(iter(runs.values()))):
        makers[f"latency-{service}"] = lambda s=service: per_policy(
            runs, latency_over_time,
            f"Time to first token of {s} per policy: p50, p95, p99 against the target ({rep})",
            service=s)
    for policy, run in runs.items():
        makers[f"training-{policy}"] = lambda p=policy, r=run: training_timeline(
            r, title=f"Training timeline under {p}: the largest jobs, waiting (grey) "
                     f"and running (by provider); replication 0")
        if (run.events["kind"] == "rofr_offer").any():
            makers[f"first-refusal-{policy}"] = lambda r=run: first_refusal(r)
    return makers


def comparison_figures(cmp: Any) -> dict[str, Figure]:
    """Every plot of a `Comparison`, by file name stem: spend and differences over all
    replications; time series from each policy's representative run (replication 0)."""
    return {name: make() for name, make in comparison_figure_makers(cmp).items()}


def figure_makers(result: Any) -> dict[str, Callable[[], Figure]]:
    """How to draw each plot of a `Comparison`, a `Sweep` or a `PlanResult` (file stem -> maker),
    for their `save` and `capsim plot`."""
    from sim.analysis import Sweep
    from sim.planning.planner import PlanResult

    if isinstance(result, Sweep):
        return {"sweep": lambda: sweep_figure(result)}
    if isinstance(result, PlanResult):
        from sim.plots.plan import commitments_over_time, plan_frontier

        return {"frontier": lambda: plan_frontier(result),
                "commitments": lambda: commitments_over_time(result)}
    return comparison_figure_makers(result)


__all__ = [
    "agents_served", "capacity_by_family", "capacity_use", "comparison_figure_makers",
    "comparison_figures", "cost_by_policy", "ettr_by_gang_size", "ettr_by_gang_size_per_policy",
    "figure_makers",
    "first_refusal", "first_refusal_by_request", "first_refusal_delays", "first_refusal_offers",
    "inference_served", "latency_over_time", "latency_services", "per_policy", "policy_colors",
    "policy_differences", "power_use",
    "provider_colors", "run_figures", "spend_by_provider", "sweep_figure", "sweep_metric",
    "training_timeline", "wait_distribution",
]
