"""Latency results: per step and service columns, the year's figures, and the shortfall basis.

The engine records what was served; the latency model (sim/latency/model.py) turns that fleet
and the service's requests into time to first token. Services without a `latency` section get
empty (NaN) latency columns and keep the served-share target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.latency.model import StepLatency, step_latency, ttft_quantiles, year_quantiles

if TYPE_CHECKING:
    from sim.engine.compile import CompiledService
    from sim.engine.simulation import RawRun

PERCENTILES = (50, 95, 99)
COLUMNS = ("load", "requests_per_s", "utilisation", "ttft_mean_s",
           *(f"ttft_p{p}_s" for p in PERCENTILES), "tpot_s", "refused_share", "failed_share",
           "ttft_target_pct", "ttft_target_s", "ttft_at_target_s", "latency_met")
"""Latency columns of services.csv, in order (NaN where a service has no latency model)."""


@dataclass(frozen=True)
class ServiceLatency:
    """One service's latency per step, and the columns it gives the services table."""

    model: StepLatency
    columns: dict[str, np.ndarray]
    served_requests: np.ndarray  # requests per step that got a first token (weights for the year)
    ceiling_s: float | None = None  # reported percentiles stop at the ceiling


def service_latency(raw: RawRun) -> dict[str, ServiceLatency]:
    """The latency of every service that models it, by service name."""
    out = {}
    step_h = raw.compiled.step
    for svc in raw.compiled.services:
        if svc.latency is not None:
            out[svc.name] = _one(svc, raw.served[:, svc.index], step_h)
    return out


def _one(svc: CompiledService, fleet: np.ndarray, step_h: float) -> ServiceLatency:
    inp = svc.latency
    assert inp is not None
    spec = inp.spec
    lat = step_latency(inp.load, fleet, spec.concurrency, inp.work_s, inp.prefill_s,
                       inp.decode_s, inp.output_tokens, inp.ca2, inp.cs2, step_h, spec.mode,
                       spec.admit_utilisation, spec.ceiling_s, spec.queue_units, inp.shape)
    n = len(fleet)
    cols: dict[str, np.ndarray] = {
        "load": inp.load, "requests_per_s": lat.requests_per_s, "utilisation": lat.utilisation,
        "ttft_mean_s": lat.ttft_mean_s,
    }
    ceiling = np.inf if spec.ceiling_s is None else spec.ceiling_s
    for p in PERCENTILES:  # at the ceiling means: that share of requests failed
        cols[f"ttft_p{p}_s"] = np.minimum(ttft_quantiles(lat, p / 100.0), ceiling)
    cols["tpot_s"] = lat.tpot_s
    cols["refused_share"] = lat.refused_share
    cols["failed_share"] = lat.failed_share
    target = spec.target
    if target is None:
        cols["ttft_target_pct"] = np.full(n, np.nan)
        cols["ttft_target_s"] = np.full(n, np.nan)
        cols["ttft_at_target_s"] = np.full(n, np.nan)
        met = np.ones(n, dtype=bool)
    else:
        at = (cols[f"ttft_p{target.percentile:g}_s"] if target.percentile in PERCENTILES
              else np.minimum(ttft_quantiles(lat, target.percentile / 100.0), ceiling))
        cols["ttft_target_pct"] = np.full(n, target.percentile)
        cols["ttft_target_s"] = np.full(n, target.ttft_s)
        cols["ttft_at_target_s"] = at
        met = at <= target.ttft_s + 1e-12
    busy = inp.load > 0
    cols["latency_met"] = np.where(busy, met, True)
    served = lat.requests_per_s * step_h * 3600.0 * np.clip(
        1.0 - lat.refused_share - lat.failed_share, 0.0, 1.0)
    return ServiceLatency(lat, cols, served, spec.ceiling_s)


def good_share(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Share of a step's requests neither refused nor failed."""
    return 1.0 - cols["refused_share"] - cols["failed_share"]


def slo_met(cols: dict[str, np.ndarray], slo: float) -> np.ndarray:
    """A latency service meets its target in a step when its latency objective holds (if set)
    and at least `slo` of its requests were neither refused nor failed: a refused request is
    not a fast one."""
    return cols["latency_met"].astype(bool) & (good_share(cols) >= slo - 1e-12)


def latency_summary(lat: dict[str, ServiceLatency], step_h: float) -> dict[str, dict[str, Any]]:
    """Per service over the run: TTFT mean and percentiles over all served requests, hours above
    the latency target, and the shares refused and failed."""
    out: dict[str, dict[str, Any]] = {}
    for name, s in lat.items():
        w = s.served_requests
        total = float(w.sum())
        mean = s.columns["ttft_mean_s"]
        finite = np.isfinite(mean)
        figures: dict[str, Any] = {}
        figures["ttft_mean_s"] = (float((w * np.where(finite, mean, 0)).sum() / total)
                                  if total > 0 and (w[~finite] == 0).all() else
                                  (math.inf if total > 0 else math.nan))
        qs = year_quantiles(s.model, w, [p / 100.0 for p in PERCENTILES])
        if s.ceiling_s is not None:
            qs = [min(q, s.ceiling_s) for q in qs]
        for p, v in zip(PERCENTILES, qs, strict=True):
            figures[f"ttft_p{p}_s"] = v
        target = s.columns["ttft_target_s"]
        figures["hours_above_target"] = (
            float((~s.columns["latency_met"].astype(bool)).sum() * step_h)
            if np.isfinite(target).any() else math.nan)
        arriving = s.model.requests_per_s * step_h * 3600.0
        all_req = float(arriving.sum())
        figures["refused_share"] = (float((arriving * s.model.refused_share).sum() / all_req)
                                    if all_req > 0 else math.nan)
        figures["failed_share"] = (float((arriving * s.model.failed_share).sum() / all_req)
                                   if all_req > 0 else math.nan)
        out[name] = figures
    return out


def lost_load(columns: Any) -> Any:
    """Reference units of load whose requests were refused or failed (a latency service's
    shortfall; its unused headroom is not lost demand). `columns`: per-step latency columns,
    as arrays or a DataFrame."""
    return columns["load"] * (columns["refused_share"] + columns["failed_share"])


def shortfall_basis(services: pd.DataFrame) -> pd.DataFrame:
    """Per step and service, what a shortfall cost is charged on: `unmet_units` (reference units
    whose requests went unserved) and `below_target` (the step misses the service's target).

    For a service with a latency model, unmet is its load times the share of requests refused
    or failed (its headroom unused is not lost demand), and below_target is `not slo_met`, which
    follows the latency objective; for the others, the engine's unmet and served-share target.
    Value-of-service code multiplies `unmet_units × step` by a value per unit-hour and counts
    `below_target` steps for a penalty.
    """
    latency = services["load"].notna() if "load" in services else pd.Series(False,
                                                                             services.index)
    unmet = (np.where(latency, lost_load(services), services["unmet"]) if "load" in services
             else services["unmet"].to_numpy())
    return pd.DataFrame({"step": services["step"], "service": services["service"],
                         "unmet_units": unmet, "below_target": ~services["slo_met"].astype(bool)})
