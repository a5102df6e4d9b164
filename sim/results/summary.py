"""The run summary: answers to the planner's questions, computed from the result tables."""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd


def _num(x: float) -> float | None:
    """JSON-friendly float: NaN and infinities become None; values rounded to 10 significant."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.10g}")


def hhi(shares: dict[str, float]) -> float:
    """Herfindahl–Hirschman index of shares (0..1): 1 means everything at one provider."""
    return float(sum(s * s for s in shares.values()))


def spend_parts(steps: pd.DataFrame, committed_used: np.ndarray) -> pd.DataFrame:
    """Spend per provider in four parts that add up to its spend: committed and used,
    committed and idle (take-or-pay paid for nothing), on demand, and spot.

    `committed_used` is the committed charge of each row that paid for units in use.
    """
    spot = steps["spot"].to_numpy(bool) if "spot" in steps else np.zeros(len(steps), bool)
    over = steps["spend_on_demand"].to_numpy(dtype=float)
    charge = steps["spend_committed"].to_numpy(dtype=float)
    parts = pd.DataFrame({
        "spend_committed_used": committed_used,
        "committed_idle_cost": charge - committed_used,
        "spend_on_demand": np.where(spot, 0.0, over),
        "spend_spot": np.where(spot, over, 0.0),
    })
    return parts.groupby(steps["provider"].to_numpy(), sort=False).sum()
OUTAGE_STARTS = ("outage_start", "scheduled_outage_start", "region_outage_start",
                 "provider_outage_start")


def installed_mw_by_year(steps: pd.DataFrame, start: datetime, step_h: float) -> dict[str, Any]:
    """Power of the accelerators installed for this customer at the last step of each year."""
    per_step = steps.groupby("step", sort=True)["installed_mw"].sum()
    if per_step.empty:
        return {}
    steps = per_step.index.to_numpy()

    def year(i: int) -> int:
        return (start + timedelta(hours=float(steps[i]) * step_h)).year

    # Steps are in time order, so years only grow: the last step of each year is found by
    # bisection, not by dating every step.
    out: dict[str, Any] = {}
    i = 0
    while i < len(steps):
        y = year(i)
        i = bisect_right(range(len(steps)), y, lo=i, key=year)
        out[str(y)] = _num(per_step.iloc[i - 1])
    return out


GANG_BINS_PER_OCTAVE = 4
"""Gang sizes are grouped for ETTR by size in bins a quarter-octave wide (sizes within 19% of
each other), so a run's summary has a bounded number of them whatever its size distribution."""


def gang_bin(units: np.ndarray) -> np.ndarray:
    """The bin of each gang size: floor(4 log2 units) (a power of two starts its bin)."""
    return np.floor(np.log2(np.maximum(units, 1)) * GANG_BINS_PER_OCTAVE + 1e-9).astype(np.int64)


def ettr_figures(jobs: pd.DataFrame) -> dict[str, Any]:
    """ETTR of the runs that started: the frontier runs' mean, their interruptions, and the
    mean ETTR and gang size per gang-size bin (keyed by the bin's smallest size), of the other
    runs and of the frontier runs apart."""
    ettr = jobs["ettr"].to_numpy(dtype=float)
    started = np.isfinite(ettr)
    is_frontier = jobs["frontier"].to_numpy(dtype=bool)
    units = jobs["units"].to_numpy(dtype=float)
    bins = gang_bin(units)
    front = started & is_frontier

    def by_size(mask: np.ndarray) -> dict[str, dict[str, Any]]:
        out = {}
        for b in np.unique(bins[mask]):
            m = mask & (bins == b)
            out[str(round(2 ** (b / GANG_BINS_PER_OCTAVE)))] = {
                "jobs_started": int(m.sum()), "units_mean": _num(units[m].mean()),
                "ettr_mean": _num(ettr[m].mean())}
        return out

    return {
        "frontier_ettr": _num(ettr[front].mean()) if front.any() else None,
        "frontier_interruptions": int(jobs["restarts"].to_numpy()[is_frontier].sum()),
        "training_ettr_by_gang_size": by_size(started & ~is_frontier),
        "frontier_ettr_by_gang_size": by_size(front),
    }


def summarise(steps: pd.DataFrame, jobs: pd.DataFrame, services: pd.DataFrame,
              events: pd.DataFrame, meta: dict[str, Any],
              latency: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Key figures of one run: total cost and its parts, spend, commitments, training,
    inference, power, concentration. `latency`: per service, the year's latency figures
    (`results.latency.latency_summary`)."""
    start = datetime.fromisoformat(meta["start"])
    step_h = float(meta["step_h"])

    def when(h: float) -> str | None:
        return None if not math.isfinite(h) else (start + timedelta(hours=h)).isoformat(
            timespec="minutes")

    out: dict[str, Any] = {k: meta[k] for k in ("scenario", "policy", "replication", "seed",
                                                  "start", "horizon_h", "step_h")}
    spend_by = steps.groupby("provider", sort=False)["spend"].sum()
    total = float(spend_by.sum())
    # Utilisation of commitments weighted by what they cost, so millions of committed CPUs do
    # not drown out a few thousand committed GPUs.
    committed = steps["committed"].to_numpy(dtype=float)
    charge = steps["spend_committed"].to_numpy(dtype=float)
    used_frac = np.divide(steps["committed_used"].to_numpy(dtype=float), committed,
                          out=np.zeros_like(committed), where=committed > 0)
    paid = float(charge.sum())
    parts = spend_parts(steps, used_frac * charge)
    shortfall = float(services["shortfall_cost"].sum()) if "shortfall_cost" in services else 0.0
    delay = float(jobs["delay_cost"].sum()) if "delay_cost" in jobs else 0.0
    credit = float(jobs["early_credit"].sum()) if "early_credit" in jobs else 0.0
    # What the plan costs in total: a plan that serves less or finishes later must not look
    # cheaper than one that spends more to serve it.
    out["cost_total"] = _num(total + shortfall + delay - credit)
    out["spend_total"] = _num(total)
    out["shortfall_cost"] = _num(shortfall)
    out["delay_cost"] = _num(delay)
    out["early_finish_credit"] = _num(credit)
    for name in ("spend_committed_used", "committed_idle_cost", "spend_on_demand", "spend_spot"):
        out[name] = _num(parts[name].sum())
    out["spend_by_provider"] = {k: _num(v) for k, v in spend_by.items()}
    for name in ("spend_committed_used", "committed_idle_cost", "spend_on_demand", "spend_spot"):
        out[f"{name}_by_provider"] = {k: _num(v) for k, v in parts[name].items()}
    out["spend_committed"] = _num(paid)
    out["committed_unit_hours"] = _num(float((committed * step_h).sum()))
    out["committed_utilisation"] = _num(float((used_frac * charge).sum()) / paid) if paid > 0 \
        else None

    started = jobs[jobs["start_h"].notna()]
    waits = started["wait_h"].to_numpy(dtype=float)
    out["jobs_total"] = len(jobs)
    out["jobs_finished"] = int((jobs["status"] == "finished").sum())
    out["jobs_running_at_end"] = int((jobs["status"] == "running").sum())
    out["jobs_waiting_at_end"] = int((jobs["status"] == "waiting").sum())
    waiting = jobs[jobs["status"] == "waiting"]
    out["jobs_waiting_at_end_by_reason"] = {
        r: int((waiting["waiting_for"] == r).sum())
        for r in ("capacity", "power", "stockout", "first_refusal")}
    out["jobs_unplaceable"] = int((jobs["status"] == "unplaceable").sum())
    out["jobs_abandoned"] = int((jobs["status"] == "abandoned").sum())
    out["training_wait_mean_h"] = _num(waits.mean()) if len(waits) else None
    out["training_wait_p95_h"] = _num(np.percentile(waits, 95)) if len(waits) else None
    out["training_restarts"] = int(jobs["restarts"].sum())
    out["training_work_lost_unit_hours"] = _num(jobs["work_lost_unit_hours"].sum())
    frontier = jobs[jobs["frontier"]] if len(jobs) else jobs
    causes = [c.removeprefix("interrupts_") for c in jobs.columns if c.startswith("interrupts_")]
    out["frontier"] = [
        {"job": r.job, "units": int(r.units), "arrival": when(r.arrival_h),
         "start": when(r.start_h), "end": when(r.end_h), "provider": r.provider or None,
         "first_provider": r.first_provider or None,
         "wait_h": _num(r.wait_h), "status": r.status,
         "ettr": _num(r.ettr), "interruptions": int(r.restarts),
         "interruptions_by_cause": {c: int(getattr(r, f"interrupts_{c}")) for c in causes},
         "mtti_h": _num(r.mtti_h), "spares": int(r.spares),
         "spare_idle_cost": _num(r.spare_idle_cost)}
        for r in frontier.itertuples()
    ]
    done = frontier["end_h"].to_numpy(dtype=float)
    out["frontier_start_h"] = _num(frontier["start_h"].max()) if len(frontier) else None
    out["frontier_end_h"] = _num(done.max()) if len(done) and np.isfinite(done).all() else None
    out.update(ettr_figures(jobs))

    for kind in ("inference", "agents"):
        svc = services[services["kind"] == kind]
        demand = float(svc["demand"].sum() * step_h)
        served = float(svc["served"].sum() * step_h)
        out[kind] = {
            "demand_unit_hours": _num(demand),
            "served_unit_hours": _num(served),
            "served_share": _num(served / demand) if demand > 0 else None,
            "slo_attainment": _num(svc["slo_met"].mean()) if len(svc) else None,
            "unmet_unit_hours": _num(svc["unmet"].sum() * step_h),
            "shortfall_cost": _num(svc["shortfall_cost"].sum()) if "shortfall_cost" in svc
            else None,
            "unmet_by_reason_unit_hours": {
                r: _num(svc[f"unmet_{r}"].sum() * step_h)
                for r in ("outage", "exclusivity", "capacity", "power", "stockout")
            },
            "services": {
                name: {
                    "served_share": _num(g["served"].sum() / g["demand"].sum()),
                    "slo_attainment": _num(g["slo_met"].mean()),
                    "unmet_unit_hours": _num(g["unmet"].sum() * step_h),
                    "shortfall_cost": _num(g["shortfall_cost"].sum())
                    if "shortfall_cost" in g else None,
                    **{k: _num(v) for k, v in (latency or {}).get(name, {}).items()},
                }
                for name, g in svc.groupby("service", sort=False)
            },
        }

    power = steps.groupby("step")["power_mw"].sum()
    ceiling = steps.groupby("step")["power_ceiling_mw"].first()
    out["peak_power_mw"] = _num(power.max()) if len(power) else 0.0
    headroom = (ceiling - power).dropna()
    out["min_power_headroom_mw"] = _num(headroom.min()) if len(headroom) else None
    out["power_ceiling_breach_steps"] = int((headroom < -1e-6).sum())

    acc = (steps["family"] != "cpu").to_numpy()  # the two columns needed, not the whole table
    use_by = (steps["in_use"][acc] * step_h).groupby(steps["provider"][acc], sort=False).sum()
    use_total = float(use_by.sum())
    spend_share = {k: v / total for k, v in spend_by.items()} if total > 0 else {}
    unit_share = {k: v / use_total for k, v in use_by.items()} if use_total > 0 else {}
    out["provider_share_of_spend"] = {k: _num(v) for k, v in spend_share.items()}
    out["provider_share_of_accelerator_hours"] = {k: _num(v) for k, v in unit_share.items()}
    out["hhi_spend"] = _num(hhi(spend_share))
    out["hhi_accelerator_hours"] = _num(hhi(unit_share))

    offers = events[events["kind"] == "rofr_offer"]
    answers = events[events["kind"] == "rofr_answer"]
    out["first_refusal"] = {
        "offers": len(offers),
        "accepted": int((answers["detail"] == "accepted").sum()),
        "declined": int((answers["detail"] == "declined").sum()),
        "mean_delay_h": _num(answers["delay_h"].mean()) if len(answers) else None,
    }
    out["committed_value_by_provider"] = {
        k: _num(v) for k, v in (meta.get("committed_value_by_provider") or {}).items()}
    out["installed_mw_by_year"] = installed_mw_by_year(steps, start, step_h) \
        if "installed_mw" in steps else {}
    out["clipped"] = len(meta.get("clipped") or [])
    out["outages"] = int(events["kind"].isin(OUTAGE_STARTS).sum())
    out["spot_reclaims"] = int((events["kind"] == "spot_reclaim_start").sum())
    out["preemptions"] = int((events["kind"] == "preemption").sum())
    return out


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric summary entries as `a.b.c -> value`, for comparisons across runs."""
    flat: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if key not in {"replication", "seed", "horizon_h", "step_h"}:
                flat[name] = float(value)
        elif isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif value is None:
            flat[name] = math.nan
    return flat
