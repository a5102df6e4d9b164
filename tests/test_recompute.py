"""Use and spend of every shipped run recomputed from other sources than the columns that carry
them, on every shipped scenario under every policy.

* Training use per pool and step is rebuilt from the jobs table and the event log alone: a run
  holds its units from its first start (jobs table) until it is interrupted or preempted (event
  log), again from each restart (event log) and until it ends (jobs table) or the run does. The
  engine's own accumulator (what the steps table's `training` column comes from) is not read.
* Use of each provider by rate demand is the reference units served there (service_providers,
  from the services' allocation) divided by its pools' inference speed: the steps table's
  in_use minus the rebuilt training must equal it.
* Spend is priced from the scenario file: every commitment in force (its units, price, start,
  term) billed per step whatever the use, and list price per unit-hour of use above the units
  committed, integrated over the step with training's exact start and end times.
* Utilisation (in use ÷ capacity) per pool over the run, from these rebuilt use figures, is at
  most 1 and agrees with the steps table.

Tolerances are floating point only (1e-6 units per row, 1e-9 relative on totals).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from validation.shipped import CASES, run, scenario

import sim

EPS = 1e-6
INTERRUPTIONS = ("job_interrupted", "preemption")


@cache
def rebuilt_use(path: Path, policy: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's segments and its rebuilt training per step (computed once per case)."""
    r = run(path, policy)
    segs = segments(r)
    return segs, training_per_step(r, segs)


def segments(r: sim.RunResult) -> pd.DataFrame:
    """(job, provider, pool, units, t0, t1): how many units each run held where and when, from
    jobs + events. A run holds its gang and its spares from each start; a restart in place keeps
    what it holds, less a spare swapped in for a failed unit (`spare_swap`) until that unit is
    back (`spare_back`); any other restart takes the gang and all its spares again."""
    horizon = r.meta["horizon_h"]
    ev = r.events
    kinds = {*INTERRUPTIONS, "job_restart", "spare_swap", "spare_back"}
    mine_by = {k: g for k, g in ev[ev.kind.isin(kinds)].groupby("subject")}
    rows = []
    for j in r.jobs[r.jobs.start_h.notna()].itertuples():
        mine = mine_by.get(j.job, ev.iloc[:0])
        assert mine.kind.isin(INTERRUPTIONS).sum() == j.restarts, (j.job, "log != restarts")
        full = j.units + j.spares
        hold, t0, where, running = full, j.start_h, None, True
        for e in mine.itertuples():
            if (running and e.hour > t0 + EPS) or e.kind in INTERRUPTIONS:
                assert running, (j.job, e)
                rows.append((j.job, e.provider, e.pool, hold, t0, e.hour))
                assert where is None or where == (e.provider, e.pool), (j.job, where, e)
                where, t0 = (e.provider, e.pool), e.hour
            if e.kind in INTERRUPTIONS:
                running = False
            elif e.kind == "job_restart":
                running, t0 = True, e.hour
                if not e.detail.endswith("in place"):
                    hold, where = full, None
            elif e.kind == "spare_swap":
                hold -= 1
            else:
                hold += 1
        if running:
            final = j.end_h if j.status == "finished" else horizon
            assert where is None or where == (j.provider, j.pool), (j.job, where)
            rows.append((j.job, j.provider, j.pool, hold, t0, final))
    out = pd.DataFrame(rows, columns=["job", "provider", "pool", "units", "t0", "t1"])
    assert (out.t1 >= out.t0 - EPS).all()
    return out


def training_per_step(r: sim.RunResult, segs: pd.DataFrame) -> pd.DataFrame:
    """Average training units per (provider, pool, step), from the segments: a (steps x pools)
    frame with the steps table's pools as columns."""
    st, step = r.steps, r.meta["step_h"]
    n = int(st.step.max()) + 1
    pools = list(dict.fromkeys(zip(st.provider, st.pool, strict=True)))
    out = np.zeros((n, len(pools)))
    col = {p: i for i, p in enumerate(pools)}
    for s in segs.itertuples():
        # whole steps inside the segment, and the partial steps at either end
        c = col[(s.provider, s.pool)]
        k0, k1 = int(s.t0 // step), min(int(s.t1 // step), n - 1)
        if k0 == k1:
            out[k0, c] += s.units * (s.t1 - s.t0) / step
            continue
        out[k0, c] += s.units * ((k0 + 1) * step - s.t0) / step
        out[k0 + 1:k1, c] += s.units
        out[k1, c] += s.units * (s.t1 - k1 * step) / step
    return pd.DataFrame(out, columns=pd.MultiIndex.from_tuples(pools))


def by_pool(st: pd.DataFrame, column: str) -> pd.DataFrame:
    return st.pivot_table(index="step", columns=["provider", "pool"], values=column,
                          sort=False)


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_training_use_rebuilt_from_jobs_and_events(path: Path, policy: str) -> None:
    """Catches: the steps table's training (or the engine's accumulator of it) drifting from
    when runs really held units, e.g. a release or flush at the wrong time, units left behind
    by an interrupted run, or a restart not taking units."""
    r = run(path, policy)
    segs, rebuilt = rebuilt_use(path, policy)
    table = by_pool(r.steps, "training")[rebuilt.columns]
    np.testing.assert_allclose(table.to_numpy(), rebuilt.to_numpy(), rtol=0, atol=EPS)
    # and the jobs' own unit-hours are the segments' lengths
    held = (segs.units * (segs.t1 - segs.t0)).groupby(segs.job).sum()
    jobs = r.jobs.set_index("job").unit_hours
    np.testing.assert_allclose(jobs.loc[held.index], held, rtol=1e-9, atol=EPS)
    assert (jobs.drop(held.index) == 0).all()


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_rate_use_is_what_services_received(path: Path, policy: str) -> None:
    """in_use − rebuilt training, in reference units, = what services were served there.
    Catches: rate demand booked on a pool it did not use, at the wrong speed, or in_use that
    leaves out (or double counts) part of the use."""
    r = run(path, policy)
    s = scenario(path)
    st = r.steps
    _, rebuilt = rebuilt_use(path, policy)
    in_use = by_pool(st, "in_use")[rebuilt.columns]
    speed = np.array([s.accelerators[s.providers[pv].pools[pl].accelerator].infer_speed
                      for pv, pl in rebuilt.columns])
    rate_ref = (in_use - rebuilt) * speed
    given = rate_ref.T.groupby(level=0).sum().T  # step x provider
    received = r.service_providers.pivot_table(index="step", columns="provider", values="served",
                                                aggfunc="sum")
    received = received.reindex(index=given.index, columns=given.columns).fillna(0.0)
    np.testing.assert_allclose(given.to_numpy(), received.to_numpy(), rtol=1e-9, atol=EPS)
    # Services' own served column (per step, all providers) agrees with the per-provider rows.
    served = r.services.groupby("step").served.sum().reindex(given.index).fillna(0.0)
    np.testing.assert_allclose(given.sum(axis=1), served, rtol=1e-9, atol=EPS)


def committed_units(s: sim.Scenario, provider: str, pool: str, hours: np.ndarray,
                    step: float) -> tuple[np.ndarray, np.ndarray]:
    """(units committed, $ per hour committed) in force in each step, from the scenario's
    contracts; supply changes take effect at step boundaries (README: Time)."""
    units = np.zeros(len(hours))
    rate = np.zeros(len(hours))
    for c in s.providers[provider].pools[pool].commitments:
        t0 = (pd.Timestamp(c.start) - pd.Timestamp(s.start)) / pd.Timedelta(hours=1)
        a, b = round(t0 / step) * step, round((t0 + c.hours) / step) * step
        active = (hours >= a - EPS) & (hours < b - EPS)
        units += active * c.units
        rate += active * c.units * c.price_per_hour
    return units, rate


def _bought_by_blocks_or_renewed(path: Path) -> bool:
    """Pools with blocks or contracts that renew: their committed charge depends on which
    blocks came online (the event log), checked by test_invariants' spend test instead."""
    pools = [pool for p in scenario(path).providers.values() for pool in p.pools.values()]
    return any(pool.blocks is not None or any(c.on_end == "renew" for c in pool.commitments)
               for pool in pools)


def list_price(pool: Any, start: Any, hours: np.ndarray) -> np.ndarray:
    """The on-demand price at the start of each step from the scenario: the latest level on its
    schedule (the base price before any), compounding its yearly decline from that level's date."""
    level = np.full(len(hours), pool.price_per_hour)
    anchor = np.zeros(len(hours))
    schedule = pool.prices
    for ps in (schedule.steps if schedule else []):
        h = (pd.Timestamp(ps.at) - pd.Timestamp(start)) / pd.Timedelta(hours=1)
        level = np.where(hours >= h, ps.price_per_hour, level)
        anchor = np.where(hours >= h, h, anchor)
    decline = schedule.decline_per_year if schedule else 0.0
    return level * (1.0 - decline) ** ((hours - anchor) / 8760.0)


@pytest.mark.parametrize(("path", "policy"), [c for c in CASES if not _bought_by_blocks_or_renewed(
    c.values[0] if hasattr(c, "values") else c[0])])
def test_spend_priced_from_the_scenario(path: Path, policy: str) -> None:
    """Spend from the scenario's prices and contracts and the rebuilt use: commitments billed
    in full every step of their term; list price on use above the committed units, with
    training's use taken at its exact times within the step.
    Catches: commitments billed only when used (or not at all), use under the commitment
    billed at list price, a wrong price per pool, overage counted from the step's average
    instead of over time, or spend not added up into the summary."""
    r = run(path, policy)
    s = scenario(path)
    st, step = r.steps, r.meta["step_h"]
    segs, rebuilt = rebuilt_use(path, policy)
    rate = (by_pool(st, "inference") + by_pool(st, "agents"))[rebuilt.columns]
    hours = np.arange(len(rebuilt)) * step
    total = 0.0
    for (pv, pl) in rebuilt.columns:
        pool = s.providers[pv].pools[pl]
        units, commit_rate = committed_units(s, pv, pl, hours, step)
        price = list_price(pool, s.start, hours)
        mine = segs[(segs.provider == pv) & (segs.pool == pl)]
        # Breakpoints in each step: its edges and every segment start or end inside it.
        on_demand = np.zeros(len(hours))
        times = np.unique(np.concatenate([hours, [hours[-1] + step], mine.t0, mine.t1]))
        times = times[(times >= 0) & (times <= hours[-1] + step)]
        mids = (times[:-1] + times[1:]) / 2
        # training level between breakpoints: +units at each start, -units at each end
        change = np.zeros(len(times) + 1)
        np.add.at(change, np.searchsorted(times, mine.t0.to_numpy()), mine.units.to_numpy())
        np.add.at(change, np.searchsorted(times, mine.t1.to_numpy()), -mine.units.to_numpy())
        train = np.cumsum(change)[: len(mids)]
        k = np.minimum((mids / step).astype(int), len(hours) - 1)
        use = train + rate[(pv, pl)].to_numpy()[k]
        over = np.maximum(0.0, use - units[k]) * np.diff(times)
        np.add.at(on_demand, k, over * price[k])
        committed = commit_rate * step
        got = st[(st.provider == pv) & (st.pool == pl)].sort_values("step")
        np.testing.assert_allclose(got.spend_committed, committed, rtol=1e-9, atol=1e-6,
                                   err_msg=f"{pv}/{pl} committed")
        np.testing.assert_allclose(got.spend_on_demand, on_demand, rtol=1e-9, atol=1e-5,
                                   err_msg=f"{pv}/{pl} on demand")
        total += committed.sum() + on_demand.sum()
    assert r.summary["spend_total"] == pytest.approx(total, rel=1e-9)


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_utilisation_from_rebuilt_use(path: Path, policy: str) -> None:
    """Use rebuilt from jobs, events and services never exceeds capacity, and over the run
    each pool's utilisation agrees with the steps table's.
    Catches: capacity that ignores an outage or tenant cap while runs keep their units."""
    r = run(path, policy)
    s = scenario(path)
    st = r.steps
    _, rebuilt = rebuilt_use(path, policy)
    speed = {(pv, pl): s.accelerators[s.providers[pv].pools[pl].accelerator].infer_speed
             for pv, pl in rebuilt.columns}
    served = r.service_providers.pivot_table(index="step", columns="provider", values="served",
                                             aggfunc="sum").reindex(rebuilt.index).fillna(0.0)
    rate = (by_pool(st, "inference") + by_pool(st, "agents"))[rebuilt.columns]
    # rate use per pool in reference units sums per provider to what was served there
    ref = rate * np.array([speed[c] for c in rebuilt.columns])
    per_provider = ref.T.groupby(level=0).sum().T.reindex(columns=served.columns).fillna(0.0)
    np.testing.assert_allclose(per_provider.to_numpy(), served.to_numpy(), rtol=1e-9, atol=EPS)
    use = rebuilt + rate
    capacity = by_pool(st, "capacity")[rebuilt.columns]
    assert (use.to_numpy() <= capacity.to_numpy() + EPS).all()
    busy = use.sum()
    cap = capacity.sum()
    util = (busy / cap.where(cap > 0)).dropna()
    assert (util <= 1 + 1e-9).all()
    table = by_pool(st, "in_use")[rebuilt.columns].sum()
    np.testing.assert_allclose(busy, table, rtol=1e-9, atol=EPS)
