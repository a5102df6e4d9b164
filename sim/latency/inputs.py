"""What the latency model needs from a scenario's service: the load, and request sizes per step.

A request of p prompt and o output tokens costs p/P + o/D seconds of one reference accelerator
(P, D: prefill and decode tokens per second of one reference accelerator, all slots busy); that
is the unit of work the demand formula and trace replay already count in. Requests per second
in a step are load ÷ mean work per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scenario.models import Latency, Service
from sim.scenario.traces import read_trace, replay

PREFILL_POINTS = 8
"""Quantile points that stand for the distribution of a trace's prefill times."""
PART_MINUTES = 1.0
"""A replayed trace's load is followed inside a step in parts this long ..."""
MAX_PARTS = 60
"""... but in at most this many parts per step."""


@dataclass(frozen=True)
class LatencyInputs:
    """A service's latency parameters and request sizes on the step grid."""

    spec: Latency
    load: np.ndarray  # per step: reference accelerators its requests keep busy (no headroom)
    work_s: np.ndarray  # per step: mean reference-accelerator seconds per request
    prefill_s: np.ndarray  # points of the distribution of one request's prefill seconds
    decode_s: np.ndarray  # per step: mean decode reference-accelerator seconds per request
    output_tokens: np.ndarray  # per step: mean output tokens per request
    ca2: float  # squared coefficient of variation of gaps between requests
    cs2: float  # squared coefficient of variation of a request's work
    shape: np.ndarray | None = None  # steps × parts: share of a step's load in each part


def latency_inputs(svc: Service, load: np.ndarray, step: float) -> LatencyInputs:
    """Request sizes of `svc` (from its `latency` fields, or its trace) for a load per step."""
    lat = svc.latency
    assert lat is not None
    n = len(load)
    trace = svc.trace
    prefill_tps = lat.prefill_tokens_per_second or (trace.prefill_tokens_per_second if trace
                                                     else None)
    decode_tps = lat.decode_tokens_per_second or (trace.decode_tokens_per_second if trace
                                                   else None)
    assert prefill_tps and decode_tps  # the model validator requires them without a trace
    if trace is None:
        assert lat.prompt_tokens is not None and lat.output_tokens is not None
        prefill = lat.prompt_tokens / prefill_tps
        decode = lat.output_tokens / decode_tps
        cv = 1.0 if lat.service_cv is None else lat.service_cv
        ca = 1.0 if lat.arrival_cv is None else lat.arrival_cv
        return LatencyInputs(lat, load, np.full(n, prefill + decode), np.array([prefill]),
                             np.full(n, decode), np.full(n, lat.output_tokens), ca * ca, cv * cv)
    data = read_trace(trace.file, trace.columns)
    steps = replay(trace, step, n)
    p = data.prompt_tokens.astype(float) if lat.prompt_tokens is None else np.full(
        data.requests, lat.prompt_tokens)
    o = data.output_tokens.astype(float) if lat.output_tokens is None else np.full(
        data.requests, lat.output_tokens)
    work = p / prefill_tps + o / decode_tps
    mean_work = float(work.mean())
    # Per step, the mean request of the requests replayed in it (the trace's mean where none).
    req = steps.requests.astype(float)
    has = req > 0
    step_p = np.where(has, steps.prompt_tokens / np.maximum(req, 1), p.mean()) \
        if lat.prompt_tokens is None else np.full(n, lat.prompt_tokens)
    step_o = np.where(has, steps.output_tokens / np.maximum(req, 1), o.mean()) \
        if lat.output_tokens is None else np.full(n, lat.output_tokens)
    decode_step = step_o / decode_tps
    work_step = step_p / prefill_tps + decode_step
    work_step = np.where(work_step > 0, work_step, mean_work)
    qs = (np.arange(PREFILL_POINTS) + 0.5) / PREFILL_POINTS
    prefill_pts = np.quantile(p / prefill_tps, qs)
    if lat.service_cv is not None:
        cs2 = lat.service_cv ** 2
    else:
        cs2 = float(work.var() / mean_work**2) if mean_work > 0 else 0.0
    ca2 = (lat.arrival_cv ** 2 if lat.arrival_cv is not None
           else local_scv(data.seconds, PART_MINUTES * 60.0))
    parts = int(min(MAX_PARTS, max(1, round(step * 60 / PART_MINUTES))))
    shape = None
    if parts > 1:
        part_s = step * 3600.0 / parts
        fine = replay(trace, step / parts, n * parts).demand.reshape(n, parts)
        fine = fine * part_s / trace.scale  # seconds of work arriving in each part
        total = fine.sum(axis=1, keepdims=True)
        shape = np.divide(fine, total, out=np.full_like(fine, 1.0 / parts), where=total > 0)
        shape = smooth_counting_noise(shape, total[:, 0], float((work**2).mean() / mean_work),
                                      trace.scale)
    return LatencyInputs(lat, load, work_step, prefill_pts, decode_step, step_o, ca2, cs2, shape)


def local_scv(seconds: np.ndarray, window_s: float) -> float:
    """Squared coefficient of variation of the gaps between requests, each gap measured against
    the mean gap of its window: the burstiness left once the rate's changes from one window to
    the next (which the model follows in parts) are taken out. 1 for a Poisson stream."""
    gaps = np.diff(seconds)
    if len(gaps) < 2:
        return 1.0
    window = (seconds[1:] // window_s).astype(np.int64)
    window -= window.min()
    mean = np.bincount(window, gaps) / np.maximum(np.bincount(window), 1)
    scaled = np.divide(gaps, mean[window], out=np.ones_like(gaps), where=mean[window] > 0)
    m = scaled.mean()
    return float(scaled.var() / m**2) if m > 0 else 1.0


def smooth_counting_noise(shape: np.ndarray, work_s: np.ndarray, work_ratio_s: float,
                          scale: float) -> np.ndarray:
    """A step's spread over its parts with the trace's counting noise shrunk as `scale` copies
    of it would have it.

    In a part, Poisson counting alone varies the work by about its mean × E[w²]/E[w]; the
    trace's spread of shares is that noise plus the real changes of rate. A service `scale`
    times the sample has 1/scale of the relative noise (its users are many, not copies), so the
    deviations from an even spread are shrunk to keep the rate changes and that much noise.
    """
    parts = shape.shape[1]
    deviation = shape - 1.0 / parts
    observed = (deviation**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.where(work_s > 0, work_ratio_s / work_s, 0.0)  # Σ_j shape_j · ratio / total
        keep = np.sqrt(np.clip(1.0 - (1.0 - 1.0 / scale) * noise / observed, 0.0, 1.0))
    keep = np.where(observed > 0, keep, 1.0)
    return 1.0 / parts + deviation * keep[:, None]
