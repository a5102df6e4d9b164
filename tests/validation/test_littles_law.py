"""Little's law on every run of every shipped scenario: mean number waiting = arrival rate × mean wait.

Waiting means a training job has arrived and not yet started (for the first time): it is in the
queue, or its first-refusal offer is pending. Over a run of length T:

* L, the time-average number of jobs waiting, is integrated from the jobs' event times by a sweep
  over arrivals (+1) and departures from waiting (−1: first start, giving up, or being turned
  away as unplaceable), without using the table's wait column;
* λ = jobs arrived / T, and W = the mean of the jobs table's `wait_h`, in which a job still
  waiting at the end has waited until T.

On one sample path and one window, Little's law holds exactly when every wait is cut at the
window's end (L·T and λ·W·T are both the total job-hours spent waiting), so between L and λ·W
there is no sampling error to allow for: the tolerance is floating-point only (1e-9 relative).
A gap means the wait column and the event times disagree. With W taken only over jobs that
started (the summary's mean wait), the gap is the contribution of jobs that never started, and it
is bounded by it. (Sampling error proper appears when L is compared with theory instead; that is
checked on the M/M/c model in test_erlang_c.py.)
Re-queueing after an interruption is not part of "waiting" here: the jobs table keeps the first
wait only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from validation.queueing import one_pool, report, waiting_intervals
from validation.shipped import CASES, run


def little(jobs, horizon: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    arrive, leave = waiting_intervals(jobs, horizon)
    assert (leave >= arrive - 1e-9).all(), "a job left the queue before it arrived"
    # Sweep: the number waiting changes by +1 at each arrival and −1 at each departure.
    times = np.concatenate([arrive, leave])
    steps = np.concatenate([np.ones(len(arrive)), -np.ones(len(leave))])
    order = np.lexsort((-steps, times))  # at equal times count the arrival first
    times, level = times[order], np.cumsum(steps[order])
    assert level.min() >= 0 and abs(level[-1]) < 0.5
    area = float(np.sum(level[:-1] * np.diff(times))) if len(times) else 0.0
    n = len(jobs)
    started = jobs.start_h.notna()
    return {
        "L": area / horizon, "lam": n / horizon,
        "W": float(jobs.wait_h.mean()) if n else 0.0,
        "W_started": float(jobs.wait_h[started].mean()) if started.any() else 0.0,
        "unstarted_hours": float((leave - arrive)[~started.to_numpy()].sum()),
        "unstarted": int((~started).sum()), "n": n, "max_waiting": int(level.max(initial=0)),
    }


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_littles_law_on_shipped_scenarios(path: Path, policy: str) -> None:
    r = run(path, policy)
    horizon = r.meta["horizon_h"]
    f = little(r.jobs, horizon)
    lam_w = f["lam"] * f["W"]
    report("Little: L = λW", f"{path.stem} / {policy}", "λ·W", lam_w, f["L"],
           note=f"{f['n']} jobs; L − λW = {f['L'] - lam_w:+.1e}, tolerance 1e-9 relative")
    assert f["L"] == pytest.approx(lam_w, rel=1e-9, abs=1e-12), f
    # With the summary's mean wait (started jobs only), the gap is bounded by the jobs that
    # never started: their hours waiting, and the share of the mean they would have carried.
    bound = (f["unstarted_hours"] + f["unstarted"] * f["W_started"]) / horizon
    assert abs(f["L"] - f["lam"] * f["W_started"]) <= bound + 1e-9 * (1 + f["L"]), f


def test_littles_law_with_impatience_and_unplaceable_jobs() -> None:
    """Jobs that give up (max_wait) or that no pool can take leave the queue when they do."""
    s = one_pool(3, {"jobs": (3.3, 0)}, 1.0, 400.0, max_wait=1.0)
    data = s.model_dump(mode="json")
    data["training"]["generators"]["tpu-only"] = {
        "arrivals_per_day": 2, "families": ["tpu"], "units": {"dist": "fixed", "value": 1},
        "duration": {"dist": "fixed", "value": 1}}
    s = sim.scenario.scenario_from_data(data)
    r = sim.run(s)
    statuses = set(r.jobs.status)
    assert {"abandoned", "unplaceable"} <= statuses
    f = little(r.jobs, r.meta["horizon_h"])
    assert f["L"] == pytest.approx(f["lam"] * f["W"], rel=1e-9), f
