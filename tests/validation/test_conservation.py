"""Conservation on every run of every shipped scenario: accelerator-hours in use + idle =
accelerator-hours available, per pool and step, per pool over the run, and overall.

`available` is the steps table's `capacity` (installed, less outages, within the tenant cap).
Beyond the identity, use is checked against the demand side: the unit-hours held by training jobs
(summed from their own segments) equal the pools' training hours, and the reference units served
to each service (per provider) equal the units the pools gave it times their inference speed.
Tolerance: 1e-6 units per row, 1e-9 relative on sums (floating point only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from validation.queueing import report
from validation.shipped import CASES, run, scenario

EPS = 1e-6


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_in_use_plus_idle_is_available(path: Path, policy: str) -> None:
    r = run(path, policy)
    st, step = r.steps, r.meta["step_h"]
    # Per pool and step.
    np.testing.assert_allclose(st.in_use, st.training + st.inference + st.agents, rtol=0,
                               atol=1e-9)
    np.testing.assert_allclose(st.in_use + st.idle, st.capacity, rtol=0, atol=EPS)
    assert (st[["training", "inference", "agents"]] >= -1e-9).all().all()
    assert (st.in_use <= st.capacity + EPS).all(), st[st.in_use > st.capacity + EPS].head()
    assert (st.idle >= -EPS).all()
    expected_capacity = np.clip(np.minimum(st.installed - st.outage_lost, st.tenant_cap), 0, None)
    np.testing.assert_allclose(st.capacity, expected_capacity, rtol=0, atol=EPS)
    # Per pool over the run, and overall.
    hours = st.assign(used_h=st.in_use * step, idle_h=st.idle * step,
                      available_h=st.capacity * step)
    per_pool = hours.groupby(["provider", "pool"])[["used_h", "idle_h", "available_h"]].sum()
    np.testing.assert_allclose(per_pool.used_h + per_pool.idle_h, per_pool.available_h,
                               rtol=1e-9, atol=EPS)
    total = per_pool.sum()
    assert total.used_h + total.idle_h == pytest.approx(total.available_h, rel=1e-9, abs=EPS)
    worst = float(np.abs(st.in_use + st.idle - st.capacity).max())
    report("Conservation: in use + idle = available (acc-h)", f"{path.stem} / {policy}",
           "available", total.available_h, total.used_h + total.idle_h,
           note=f"largest gap in a pool-step {worst:.1e} units; totals differ by "
                f"{abs(total.used_h + total.idle_h - total.available_h):.1e} acc-h")


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_use_matches_what_demand_received(path: Path, policy: str) -> None:
    r = run(path, policy)
    s = scenario(path)
    st, step = r.steps, r.meta["step_h"]
    # Training: unit-hours held by the jobs' segments = the pools' training hours.
    assert r.jobs.unit_hours.sum() == pytest.approx((st.training * step).sum(), rel=1e-9,
                                                     abs=EPS)
    # Rate demand: reference units served, per step and provider = units given × speed.
    speed = st.accelerator.map(lambda a: s.accelerators[a].infer_speed)
    given = (st.assign(ref=(st.inference + st.agents) * speed)
             .groupby(["step", "provider"]).ref.sum())
    received = r.service_providers.groupby(["step", "provider"]).served.sum()
    both = given.to_frame("given").join(received.to_frame("received"), how="outer").fillna(0.0)
    np.testing.assert_allclose(both.received, both.given, rtol=1e-9, atol=EPS)
    # ... and in total, what the services table says was served.
    assert r.services.served.sum() == pytest.approx(both.given.sum(), rel=1e-9, abs=EPS)
