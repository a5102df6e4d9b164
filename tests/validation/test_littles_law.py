"""Little's law, L = λW, with L from the event log and W from the jobs table.

The two sides come from different records, so a slip in either breaks the law:

* N(t), the number of training runs waiting, is built from the event log alone: +1 at each
  `job_arrival`, −1 at each `job_start` (a first start), `job_abandoned` (gave up after its
  `max_wait`) and `job_unplaceable` (no pool could ever take it: turned away on arrival).
  The engine logs these when it takes each step, not afterwards from the job's record.
  L is N's time average over the run [0, T]; λ = arrival events / T;
* W is the mean of the jobs table's `wait_h` (arrival to first start, to giving up, or, for a
  run still waiting, to T).

On one sample path and a finite window Little's law is an identity once every wait is cut at
the window's end: L·T = Σ of the time each run waited within [0, T] = λ·W·T (the runs still
waiting at T are the boundary term, counted up to T on both sides). So there is no sampling
error to allow for, and the tolerance is floating point only (1e-9 relative). (Sampling error
appears when L is compared with theory instead: test_erlang_c.py.)

Waiting again after an interruption (an outage, a spot reclaim, power, or preemption by
inference) is a second queue with its own law: +1 at `job_interrupted` and `preemption`, −1
at `job_restart`; λ = interruptions / T and W = the jobs table's `requeue_wait_h` summed over
runs, per restart (its `restarts`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from validation.queueing import one_pool, report
from validation.shipped import CASES, run

FIRST = ({"job_arrival"}, {"job_start", "job_abandoned", "job_unplaceable"})
AGAIN = ({"job_interrupted", "preemption"}, {"job_restart"})
REL = 1e-9


def waiting_from_events(events: pd.DataFrame, horizon: float,
                        joins: set[str], leaves: set[str]) -> dict[str, float]:
    """Time average over [0, horizon] of the number waiting, from the event log only."""
    ev = events[events.kind.isin(joins | leaves)]
    times = ev.hour.to_numpy(dtype=float)
    assert ((times >= 0) & (times <= horizon)).all(), "a job event outside the run"
    steps = np.where(ev.kind.isin(joins), 1.0, -1.0)
    order = np.lexsort((-steps, times))  # at equal times count who joins first
    times, level = times[order], np.cumsum(steps[order])
    assert level.min(initial=0) >= 0, "more runs left the queue than had joined it"
    # N is level[i] from times[i] to times[i + 1], and its last level until the horizon.
    area = float(np.sum(level * np.diff(times, append=horizon)))
    return {"L": area / horizon, "joined": int((steps > 0).sum()),
            "at_end": int(level[-1]) if len(level) else 0, "max": int(level.max(initial=0))}


def check_little(r: sim.RunResult, label: str) -> dict[str, dict[str, float]]:
    """Both laws on one run; returns their figures."""
    horizon = r.meta["horizon_h"]
    jobs = r.jobs
    first = waiting_from_events(r.events, horizon, *FIRST)
    lam = first["joined"] / horizon
    w = float(jobs.wait_h.mean()) if len(jobs) else 0.0
    report("Little: L = λW", label, "λ·W", lam * w, first["L"],
           note=f"{len(jobs)} jobs, {first['at_end']} waiting at the end; "
                f"L − λW = {first['L'] - lam * w:+.1e}")
    assert first["L"] == pytest.approx(lam * w, rel=REL, abs=1e-12), (first, lam, w)
    never_started = (jobs.status == "waiting") & jobs.start_h.isna()
    assert first["at_end"] == never_started.sum(), "runs waiting at the end: log and table disagree"

    again = waiting_from_events(r.events, horizon, *AGAIN)
    restarts = int(jobs.restarts.sum())
    lam_again = again["joined"] / horizon
    w_again = float(jobs.requeue_wait_h.sum()) / restarts if restarts else 0.0
    assert again["L"] == pytest.approx(lam_again * w_again, rel=REL, abs=1e-12), \
        (again, lam_again, w_again, restarts)
    requeued = (jobs.status == "waiting") & jobs.start_h.notna()
    assert again["at_end"] == requeued.sum(), "runs waiting to restart at the end disagree"
    return {"first": first, "again": again}


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_littles_law_on_shipped_scenarios(path: Path, policy: str) -> None:
    check_little(run(path, policy), f"{path.stem} / {policy}")


def test_littles_law_on_an_overloaded_queue_cut_at_the_horizon() -> None:
    """M/M/4 at load 1.1: the queue grows, and many runs are still waiting at the end."""
    r = sim.run(one_pool(4, {"jobs": (4.4, 0)}, 1.0, 500.0))
    f = check_little(r, "M/M/4, load 1.1, 500 h")
    assert f["first"]["at_end"] > 10 and f["first"]["max"] > 20


def test_littles_law_with_priorities() -> None:
    """Two classes, the higher one passing the lower (waits are not in arrival order)."""
    r = sim.run(one_pool(3, {"high": (1.2, 2), "low": (1.5, 0)}, 1.0, 2000.0))
    f = check_little(r, "M/M/3, two priorities")
    assert f["first"]["max"] > 5


def test_littles_law_with_impatience_and_unplaceable_jobs() -> None:
    """Jobs that give up (max_wait) or that no pool can take leave the queue when they do."""
    s = one_pool(3, {"jobs": (3.3, 0)}, 1.0, 400.0, max_wait=1.0)
    data = s.model_dump(mode="json")
    data["training"]["generators"]["tpu-only"] = {
        "arrivals_per_day": 2, "families": ["tpu"], "units": {"dist": "fixed", "value": 1},
        "duration": {"dist": "fixed", "value": 1}}
    r = sim.run(sim.scenario.scenario_from_data(data))
    assert {"abandoned", "unplaceable"} <= set(r.jobs.status)
    check_little(r, "M/M/3 + impatience, unplaceable")


def outages_and_preemption() -> sim.Scenario:
    """Gang runs on one pool that fails often, beside inference that preempts training at its
    daily peak: runs are interrupted, wait to restart, and some still wait at the end."""
    data = one_pool(64, {"runs": (0.15, 0)}, 8.0, 24 * 60).model_dump(mode="json")
    data["training"]["generators"]["runs"].update(
        units={"dist": "choice", "values": [4, 8, 16]}, checkpoint_interval=2.0,
        restart_overhead=0.5)
    data["providers"]["cloud"]["pools"]["pool"]["outages"] = {"mtbf": 72.0, "mttr": 10.0,
                                                              "share": 0.5}
    data["inference"] = {"chat": {"base_units": 24, "daily_amplitude": 0.5, "noise": 0.1,
                                  "slo": 0.99, "value_per_unit_hour": 1.0}}
    data["preemption"] = {"inference_preempts_training": True}
    # and every run stopped six hours before the end: they are still waiting to restart then.
    data["outages"] = [{"provider": "cloud", "start": "2025-03-01T18:00", "duration": "12h",
                        "share": 1.0}]
    return sim.scenario.scenario_from_data(data)


def test_littles_law_with_outages_and_preemption() -> None:
    r = sim.run(outages_and_preemption())
    kinds = set(r.events.kind)
    assert {"job_interrupted", "preemption", "job_restart"} <= kinds
    f = check_little(r, "one pool, outages + preemption")
    assert f["again"]["joined"] > 20 and f["again"]["at_end"] > 0 and f["again"]["L"] > 0
