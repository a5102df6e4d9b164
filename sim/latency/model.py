"""Time to first token from load: a per-step queueing model of a service's serving fleet.

The model (chosen for a planner's step of an hour, not for a serving engine's microseconds):

- The fleet serving a service in a step is F reference accelerators (what the engine served);
  each has B slots (`latency.concurrency`), so c = B·F slots. A request holds one slot for
  S = B·w seconds, where w = p/P + o/D is its work in reference-accelerator seconds: with every
  slot busy a unit does exactly P prefill and D decode tokens per second, the rates the demand
  already counts in. Offered load a = B·L slots for a load of L busy units; utilisation ρ = L/F.
- A request waits W for a free slot (first come, first served), then its prompt is prefilled at
  the unit's full rate: time to first token TTFT = W + p/P. Time per output token is the slot's
  share, (S − p/P)/o; it does not grow with load in this model (waiting does).
- Steady state within a step (ρ < 1, no backlog): Erlang C gives the chance C(c, a) of waiting
  (for any real c, through the regularised incomplete gamma function); the Allen–Cunneen
  correction for general arrivals and request sizes gives P(W > t) = C·exp(−θt) with
  θ = 2(c − a) / (S·(ca² + cs²)): exact for Poisson arrivals and exponential work (M/M/c).
- Overload (queue mode, ρ ≥ 1, or a backlog left from the step before): a fluid queue. Work in
  the queue grows at (L − F) per second and drains at F; an arrival waits the queued work ÷ F,
  so waits in the step run linearly from the backlog at its start to that at its end, plus the
  wait a queue at full load builds by chance within the step (reflected Brownian motion without
  drift, sqrt(2 T S (ca² + cs²) / (π c))), which also caps the steady-state wait near ρ = 1. With a
  ceiling, requests that would wait longer fail, and the queue never holds more than the
  ceiling's worth of work. A backlog that drains within the step gives the fluid waits to the
  share of arrivals before it is gone and the steady-state waits to the rest.
- Queues: one for the whole fleet (a perfect balancer) or, with `queue_units`, one per group of
  that many units (model replicas behind a router that dispatches at random: each is its own
  M/G/c with the same utilisation and fewer slots, so it waits more).
- Inside a step: a replayed trace's load is spread over parts of the step as the trace's
  requests are (`shape`), and each part is queued on its own, so a surge inside the hour is
  seen; the arrivals' ca² is the trace's, the rate changes between parts.
- rate_limit mode: the fleet admits requests only up to `admit_utilisation` of its capacity;
  the rest are refused (no backlog ever forms).

Where it stops being valid: steps shorter than the time the queue takes to settle
(≈ S / (c·(1 − √ρ)²); at hour steps only for very small fleets near ρ = 1); bursts inside a step
beyond what ca² summarises (a trace's minute-scale surges); fleets split across providers that
do not share a queue (pooling them is optimistic); and requests that abandon the queue before
the ceiling (not modelled: they would shorten it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincc, gammaln

BISECTIONS = 44
"""Halvings of the search interval for a quantile: 2^-44 of it."""
NO_WAIT = 1e-6
"""A chance of waiting below this counts as none for quantiles (moves them by < 1e-6 in
probability; the mean counts every wait)."""


def erlang_c(c: np.ndarray | float, a: np.ndarray | float) -> np.ndarray:
    """Chance an arrival waits in an M/M/c queue with c servers (any real c > 0) and offered
    load a < c. Erlang B = Poisson pmf(c; a) / cdf(c; a), continued to real c by the gamma
    function; C = B / (1 − ρ(1 − B))."""
    c = np.asarray(c, dtype=float)
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_pmf = c * np.log(a) - a - gammaln(c + 1.0)
        erlang_b = np.exp(log_pmf) / gammaincc(c + 1.0, a)
        erlang_b = np.where(a > 0, np.clip(erlang_b, 0.0, 1.0), 0.0)
        rho = a / c
        out = erlang_b / (1.0 - rho * (1.0 - erlang_b))
    return np.where(a >= c, 1.0, np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0))


@dataclass(frozen=True)
class StepLatency:
    """The wait distribution (a mixture, see `wait_cdf`) on a grid of `sub` parts per step, and
    per step what it implies. Arrays of the fine grid have `sub` entries per step."""

    prefill_s: np.ndarray  # points standing for the prefill time of one request
    sub: int  # parts per step
    weight: np.ndarray  # fine grid: share of the step's arriving requests in each part
    fluid: np.ndarray  # fine grid: share of arrivals in the fluid (backlog) regime
    lo: np.ndarray  # fine grid: their waits run uniformly from lo ...
    hi: np.ndarray  # ... to hi seconds
    wait_p: np.ndarray  # fine grid: the others wait with this chance ...
    theta: np.ndarray  # ... an exponential time of this rate (1/s)
    theta_f: np.ndarray  # fine grid: rate of the chance wait on top of the fluid one
    utilisation: np.ndarray  # per step: admitted load ÷ fleet (inf without a fleet)
    requests_per_s: np.ndarray  # per step: arriving requests per second
    refused_share: np.ndarray  # per step: refused by the rate limit
    failed_share: np.ndarray  # per step: waited past the ceiling
    tpot_s: np.ndarray  # per step: time per output token
    ttft_mean_s: np.ndarray  # per step

    def ttft_cdf(self, t: np.ndarray, steps: np.ndarray | None = None) -> np.ndarray:
        """P(TTFT ≤ t) in each of `steps` (default: all), for t of their shape."""
        sub = self.sub
        at = (slice(None) if steps is None
              else (np.asarray(steps)[:, None] * sub + np.arange(sub)).reshape(-1))
        t = np.repeat(np.asarray(t, dtype=float), sub)[:, None] - self.prefill_s
        fine = wait_cdf(t, self.fluid[at, None], self.lo[at, None], self.hi[at, None],
                        self.wait_p[at, None], self.theta[at, None],
                        self.theta_f[at, None]).mean(axis=-1)
        return (fine * self.weight[at]).reshape(-1, sub).sum(axis=1)

    def waits(self) -> np.ndarray:
        """Per step: does any request wait (else TTFT is the prefill alone)?"""
        fine = (self.fluid > 0) | ((self.wait_p > NO_WAIT) & (self.weight > 0))
        return fine.reshape(-1, self.sub).any(axis=1)

    def prefill_cdf(self, t: np.ndarray | float) -> np.ndarray:
        """P(prefill ≤ t): TTFT's distribution in a step where nobody waits."""
        return (self.prefill_s <= np.asarray(t, dtype=float)[..., None]).mean(axis=-1)

    def prefill_quantile(self, q: float) -> float:
        """The q-quantile of the prefill points (equal weights)."""
        points = np.sort(self.prefill_s)
        return float(points[max(0, math.ceil(q * len(points) - 1e-9) - 1)])


def wait_cdf(w: np.ndarray, fluid: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             wait_p: np.ndarray, theta: np.ndarray, theta_f: np.ndarray) -> np.ndarray:
    """P(W ≤ w) of a mixture: share `fluid` waits U + E (U uniform on [lo, hi], E exponential of
    rate theta_f), the rest wait 0 with 1 − wait_p, else an exponential time of rate theta
    (rates of inf: no such wait; lo = inf: never served)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        x = np.maximum(w, 0.0)
        width = hi - lo
        # U + E: the uniform's CDF less the share still in the exponential, integrated over U.
        d_lo = np.maximum(x - lo, 0.0)
        d_hi = np.maximum(x - hi, 0.0)
        tail = (np.exp(-theta_f * d_hi) * (x >= hi) - np.exp(-theta_f * d_lo)
                + (x < hi)) / (theta_f * np.where(width > 0, width, np.nan))
        spread = np.clip(np.minimum(d_lo, width) / np.where(width > 0, width, np.nan), 0, 1) \
            - np.where(x >= lo, tail, 0.0)
        point = np.where(x >= lo, 1.0 - np.exp(-theta_f * d_lo), 0.0)
        sum_cdf = np.where(width > 0, spread, point)
        sum_cdf = np.where(np.isinf(theta_f), np.where(width > 0, np.clip(
            d_lo / np.where(width > 0, width, 1.0), 0, 1), (x >= lo).astype(float)), sum_cdf)
        sum_cdf = np.where(np.isinf(lo), 0.0, np.nan_to_num(np.clip(sum_cdf, 0, 1), nan=0.0))
        expo = 1.0 - wait_p * np.exp(-theta * x)  # theta = inf: exp(-inf) = 0
        out = fluid * sum_cdf + (1.0 - fluid) * np.nan_to_num(expo, nan=1.0)
    return np.where(w < 0, 0.0, out)


def step_latency(load: np.ndarray, fleet: np.ndarray, concurrency: float, work_s: np.ndarray,
                 prefill_s: np.ndarray, decode_s: np.ndarray, output_tokens: np.ndarray,
                 ca2: float, cs2: float, step_h: float, mode: str = "queue",
                 admit_utilisation: float = 0.95, ceiling_s: float | None = None,
                 queue_units: float | None = None, shape: np.ndarray | None = None
                 ) -> StepLatency:
    """The wait distribution per step for a load of `load` busy units served by `fleet` units.

    `queue_units`: the fleet is split into queues of this many units, each taking an equal
    share of the requests at random (default: one queue). `shape` (steps × parts, rows summing
    to 1): how a step's load is spread over equal parts of it, as a replayed trace's surges
    are; each part is its own steady state or fluid queue. Steps run in order: a queue left at
    the end of one step is there at the start of the next.
    """
    steps = len(load)
    sub = 1 if shape is None else int(np.shape(shape)[1])
    weight = np.ones(steps) if shape is None else np.asarray(shape, dtype=float).reshape(-1)
    load = np.repeat(np.asarray(load, dtype=float), sub) * weight * sub
    fleet = np.repeat(np.asarray(fleet, dtype=float), sub)
    work_s = np.repeat(np.asarray(work_s, dtype=float), sub)
    decode_s = np.repeat(np.asarray(decode_s, dtype=float), sub)
    output_tokens = np.repeat(np.asarray(output_tokens, dtype=float), sub)
    step_h = step_h / sub
    n = len(load)
    b = float(concurrency)
    step_s = step_h * 3600.0
    refused = np.zeros(n)
    admitted = load.copy()
    if mode == "rate_limit":
        admitted = np.minimum(load, admit_utilisation * fleet)
        with np.errstate(invalid="ignore", divide="ignore"):
            refused = np.where(load > 0, 1.0 - admitted / load, 0.0)
    slot_s = b * work_s
    split = 1.0 if queue_units is None else np.minimum(1.0, queue_units / np.maximum(fleet, 1e-300))
    c = b * fleet * split
    a = b * admitted * split
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(fleet > 0, admitted / fleet, np.where(admitted > 0, np.inf, 0.0))
        steady = (rho < 1.0) & (fleet > 0)
        wait_p = np.where(steady, erlang_c(np.where(steady, c, 1.0), np.where(steady, a, 0.0)),
                          1.0)
        spread = ca2 + cs2
        theta = np.where(steady & (spread > 0),
                         2.0 * (c - a) / (slot_s * (spread if spread > 0 else 1.0)), np.inf)
        # What a queue at full load builds by chance within one step from empty (reflected
        # Brownian motion without drift): wait ≈ sqrt(2 T S (ca² + cs²) / (π c)). Near ρ = 1
        # the steady-state wait is capped by it (a step is too short to reach it); past ρ = 1
        # it is added to the fluid waits. So waits grow steadily through ρ = 1.
        noise = np.sqrt(2.0 * step_s * slot_s * spread / (np.pi * np.maximum(c, 1e-300)))
        theta = np.where(steady & (noise > 0), np.maximum(theta, 1.0 / np.maximum(noise, 1e-300)),
                         theta)
        # Fluid waits carry an exponential wait on top: the chance part of the queue.
        theta_f = np.where(steady, theta, 1.0 / np.maximum(noise, 1e-300))
    mean_prefill = float(np.mean(prefill_s))
    wait_cap = np.inf if ceiling_s is None else max(ceiling_s - mean_prefill, 0.0)
    fluid = np.zeros(n)
    lo = np.zeros(n)
    hi = np.zeros(n)
    dropped = np.zeros(n)
    backlog = 0.0  # reference-accelerator seconds of work waiting
    if mode == "queue":
        for k in range(n):  # only steps with a backlog or an overload need the fluid queue
            f, lam_work = fleet[k], admitted[k]
            if backlog <= 0.0 and lam_work < f:
                continue
            if f <= 0.0:
                fluid[k], lo[k], hi[k] = 1.0, np.inf, np.inf
                if ceiling_s is None:
                    backlog += lam_work * step_s
                else:  # nobody is served: everything waiting or arriving times out
                    dropped[k], backlog = lam_work * step_s + backlog, 0.0
                continue
            end = backlog + (lam_work - f) * step_s
            if end < 0.0:  # drains within the step
                share = backlog / ((f - lam_work) * step_s)
                fluid[k], lo[k], hi[k] = share, 0.0, backlog / f
                backlog = 0.0
                continue
            cap = f * wait_cap
            over = max(0.0, end - cap)
            dropped[k] = over
            w0, w1 = min(backlog, cap) / f, min(end, cap) / f  # waits at its start and end
            fluid[k], lo[k], hi[k] = 1.0, min(w0, w1), max(w0, w1)
            backlog = min(end, cap)
    wait_p = np.where(fluid >= 1.0, 0.0, wait_p)
    theta = np.where(fluid >= 1.0, np.inf, theta)
    with np.errstate(invalid="ignore", divide="ignore"):
        arriving = admitted * step_s
        drop_share = np.where(arriving > 0, np.minimum(dropped / arriving, 1.0), 0.0)
        mean_expo = np.where(np.isinf(theta), 0.0, wait_p / np.where(theta > 0, theta, 1.0))
        mean_expo = np.where(theta <= 0, np.inf, mean_expo)
        chance = np.where(np.isinf(theta_f), 0.0, 1.0 / np.where(theta_f > 0, theta_f, np.nan))
        chance = np.nan_to_num(chance, nan=np.inf)
        mean_wait = np.where(fluid > 0, fluid * ((lo + hi) / 2.0 + chance), 0.0) \
            + (1.0 - fluid) * mean_expo
        requests = np.where(work_s > 0, load / work_s, 0.0)
        tpot = np.where(output_tokens > 0, (slot_s - (work_s - decode_s)) / output_tokens, np.nan)
    failed = drop_share.copy()
    if ceiling_s is not None:  # the share that would wait past the ceiling (fluid drops counted)
        past = 1.0 - wait_cdf(np.full(n, wait_cap), fluid, lo, hi, wait_p, theta, theta_f)
        failed = np.minimum(1.0, failed + (1.0 - drop_share) * np.where(np.isinf(lo), 0.0, past))
    failed = failed * (1.0 - refused)

    def per_step(x: np.ndarray, w: np.ndarray) -> np.ndarray:  # weighted mean of each step's parts
        w = w.reshape(-1, sub)
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(w > 0, x.reshape(-1, sub) * w, 0.0).sum(axis=1) / total
        return np.where(total > 0, mean, x.reshape(-1, sub).mean(axis=1))

    admitted_req = requests * (1.0 - refused)
    with np.errstate(invalid="ignore", divide="ignore"):
        step_fleet = fleet.reshape(-1, sub).mean(axis=1)
        step_admitted = admitted.reshape(-1, sub).mean(axis=1)
        util = np.where(step_fleet > 0, step_admitted / step_fleet,
                        np.where(step_admitted > 0, np.inf, 0.0))
        wsum = admitted_req.reshape(-1, sub).sum(axis=1, keepdims=True)
        share = np.where(wsum > 0, admitted_req.reshape(-1, sub) / wsum, 1.0 / sub).reshape(-1)
    return StepLatency(np.asarray(prefill_s, dtype=float), sub, share, fluid, lo, hi, wait_p,
                       theta, theta_f, util, requests.reshape(-1, sub).mean(axis=1),
                       per_step(refused, requests), per_step(failed, requests),
                       per_step(tpot, requests), per_step(mean_wait, admitted_req) + mean_prefill)


def ttft_quantiles(lat: StepLatency, q: float) -> np.ndarray:
    """The q-quantile (0 < q < 1) of time to first token in each step (inf if never served)."""
    out = np.full(len(lat.utilisation), lat.prefill_quantile(q))
    steps = np.flatnonzero(lat.waits())
    if len(steps) == 0:
        return out
    top = _upper(lat, q)[steps]
    lo = np.zeros(len(steps))
    hi = np.where(np.isfinite(top), top, 0.0)
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2.0
        below = lat.ttft_cdf(mid, steps) < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out[steps] = np.where(np.isfinite(top), hi, np.inf)
    return out


def year_quantiles(lat: StepLatency, weights: np.ndarray, qs: list[float]) -> list[float]:
    """Quantiles of time to first token over all requests of the run: the steps' distributions
    mixed in proportion to `weights` (requests served in each step)."""
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not total > 0:
        return [float("nan")] * len(qs)
    w = w / total
    steps = np.flatnonzero(lat.waits() & (w > 0))
    quiet = float(1.0 - w[steps].sum())  # weight of steps where TTFT is the prefill alone
    ws = w[steps]
    out = []
    for q in qs:
        top = _upper(lat, q)[steps]
        finite = np.isfinite(top)
        if ws[~finite].sum() > 1.0 - q:
            out.append(float("inf"))
            continue
        lo = 0.0
        hi = max(float(np.max(top[finite])) if finite.any() else 0.0,
                 float(np.max(lat.prefill_s)) + 1e-9)
        for _ in range(BISECTIONS):
            mid = (lo + hi) / 2.0
            cdf = quiet * float(lat.prefill_cdf(mid))
            if len(steps):
                cdf += float((ws * lat.ttft_cdf(np.full(len(steps), mid), steps)).sum())
            if cdf < q:
                lo = mid
            else:
                hi = mid
        out.append(hi)
    return out


def _upper(lat: StepLatency, q: float) -> np.ndarray:
    """A time by which at least the q-quantile of TTFT has been reached, per step."""
    with np.errstate(divide="ignore", invalid="ignore"):
        expo = np.where(np.isinf(lat.theta), 0.0,
                        np.log(np.maximum(lat.wait_p, 1e-300) / (1.0 - q) + 1.0)
                        / np.where(lat.theta > 0, lat.theta, np.nan))
        chance = np.where(np.isinf(lat.theta_f), 0.0, np.log(1.0 / (1.0 - q) + 1.0)
                          / np.where(lat.theta_f > 0, lat.theta_f, np.nan))
    expo = np.nan_to_num(expo, nan=np.inf)
    chance = np.nan_to_num(chance, nan=np.inf)
    fine = np.where(lat.fluid > 0, lat.hi + chance, 0.0) + expo
    fine = np.where(lat.weight > 0, fine, 0.0)  # parts without requests do not count
    return float(np.max(lat.prefill_s)) + fine.reshape(-1, lat.sub).max(axis=1) + 1e-9
