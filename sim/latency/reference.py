"""A request-level simulation of the same fleet, to check the per-step model against.

Requests arrive at given times; the fleet has a fixed number of slots; a request takes the slot
that frees first (first come, first served), holds it for concurrency × its work, and gets its
first token its prefill time after it starts. With a ceiling, a request that would wait longer
gives up at once (in a FIFO queue its start is known when it arrives) and takes no slot.
"""

from __future__ import annotations

import heapq
import math

import numpy as np


def fifo_ttft(arrivals_s: np.ndarray, work_s: np.ndarray, prefill_s: np.ndarray, slots: int,
              concurrency: float, wait_cap_s: float = math.inf) -> np.ndarray:
    """Time to first token of each request (NaN where it gave up), in arrival order."""
    free = [0.0] * slots
    heapq.heapify(free)
    out = np.empty(len(arrivals_s))
    hold = (concurrency * np.asarray(work_s, dtype=float)).tolist()
    pre = np.asarray(prefill_s, dtype=float).tolist()
    for i, t in enumerate(np.asarray(arrivals_s, dtype=float).tolist()):
        first = free[0]
        start = first if first > t else t
        if start - t > wait_cap_s:
            out[i] = math.nan
            continue
        heapq.heapreplace(free, start + hold[i])
        out[i] = start - t + pre[i]
    return out


def per_step(arrivals_s: np.ndarray, ttft_s: np.ndarray, step_s: float, n_steps: int,
             qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, np.ndarray]:
    """Mean and quantiles of TTFT per step by arrival (NaN for steps without requests), and
    the share of requests that gave up."""
    k = np.minimum((np.asarray(arrivals_s) // step_s).astype(int), n_steps - 1)
    out: dict[str, np.ndarray] = {"mean": np.full(n_steps, np.nan),
                                  "failed": np.full(n_steps, np.nan)}
    for q in qs:
        out[f"p{round(q * 100)}"] = np.full(n_steps, np.nan)
    for j in range(n_steps):
        x = ttft_s[k == j]
        if len(x) == 0:
            continue
        ok = x[~np.isnan(x)]
        out["failed"][j] = 1.0 - len(ok) / len(x)
        if len(ok):
            out["mean"][j] = ok.mean()
            for q in qs:
                out[f"p{round(q * 100)}"][j] = np.quantile(ok, q)
    return out
