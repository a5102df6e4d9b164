"""Invariants that must hold on every shipped scenario under every policy.

Capacity is never exceeded; every finished job received exactly its work (spend and use are
recomputed from other sources in test_recompute.py); API inference never leaves Azure; under
`microsoft_first` nothing lands elsewhere that Azure could have taken.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sim

SCENARIOS = sorted(Path(__file__).parent.parent.glob("scenarios/*.yaml"))
EPS = 1e-6


@cache
def result(path: Path, policy: str) -> sim.RunResult:
    return sim.run(path, policy=policy)


CASES = [pytest.param(p, pol, id=f"{p.stem}-{pol}") for p in SCENARIOS for pol in sim.policy_names()]


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_capacity_never_exceeded(path: Path, policy: str) -> None:
    st = result(path, policy).steps
    assert (st.in_use <= st.capacity + EPS).all(), st[st.in_use > st.capacity + EPS].head()
    assert (st.capacity <= st.installed + EPS).all()
    assert (st[["training", "inference", "agents"]] >= -EPS).all().all()


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_spend_is_price_times_usage_plus_commitments(path: Path, policy: str) -> None:
    r = result(path, policy)
    st, step = r.steps, r.meta["step_h"]
    s = sim.load(path)
    # Committed charge: the units of every contract in force in that step times its price.
    # A renewed contract runs its term again at its price times the move of the pool's list
    # price since it started; a block is billed from the hour it came online (event log).
    expected_committed = np.zeros(len(st))
    ev = r.events
    for prov, provider in s.providers.items():
        for name, pool in provider.pools.items():
            mask = ((st.provider == prov) & (st.pool == name)).to_numpy()
            hours = st.hour[mask].to_numpy()

            def list_price(t: float, pool: Any = pool) -> float:
                level, anchor = pool.price_per_hour, 0.0
                sched = pool.prices
                for ps in (sched.steps if sched else []):
                    h = (pd.Timestamp(ps.at) - pd.Timestamp(s.start)) / pd.Timedelta(hours=1)
                    if h <= t:
                        level, anchor = ps.price_per_hour, h
                decline = sched.decline_per_year if sched else 0.0
                return level * (1 - decline) ** ((t - anchor) / 8760)

            def bill(t0: float, length: float, units: float, price: float, renew: bool,
                     hours: np.ndarray = hours, mask: np.ndarray = mask,
                     list_price: Any = list_price) -> None:
                a = t0
                while a < hours[-1] + step:
                    rate = price * list_price(a) / list_price(t0)
                    active = (hours >= round(a / step) * step - EPS) & (
                        hours < round((a + length) / step) * step - EPS)
                    expected_committed[mask] += active * units * rate * step
                    if not renew:
                        break
                    a += length

            for c in pool.commitments:
                t0 = (pd.Timestamp(c.start) - pd.Timestamp(s.start)) / pd.Timedelta(hours=1)
                bill(t0, c.hours, c.units, c.price_per_hour, c.on_end == "renew")
            if pool.blocks is not None:
                b = pool.blocks
                online = ev[(ev.kind == "capacity_change") & (ev.provider == prov)
                            & (ev.pool == name) & ev.subject.astype(str).str.startswith("block")
                            & (ev.units > 0)]
                for t, subject in zip(online.hour, online.subject, strict=True):
                    order = b.orders[int(str(subject).rsplit(" ", 1)[-1]) - 1]
                    bill(t, order.term or b.min_term, b.size, b.price_per_hour,
                         b.on_end == "renew")
    np.testing.assert_allclose(st.spend_committed, expected_committed, rtol=1e-9, atol=1e-6)
    # On-demand charge lies between price × (use above commitment, step average) and price × use,
    # and equals price × use exactly where nothing is committed.
    use_h = st.in_use * step
    lower = st.price_per_hour * np.maximum(0.0, st.in_use - st.committed) * step
    assert (st.spend_on_demand >= lower - 1e-6 * (1 + lower)).all()
    assert (st.spend_on_demand <= st.price_per_hour * use_h + 1e-6 * (1 + use_h)).all()
    free = st.committed == 0
    np.testing.assert_allclose(st.spend_on_demand[free], (st.price_per_hour * use_h)[free],
                               rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(st.spend, st.spend_on_demand + st.spend_committed, rtol=1e-12)
    assert r.summary["spend_total"] == pytest.approx(st.spend.sum(), rel=1e-9)


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_accelerator_hours_of_jobs_match_the_pools(path: Path, policy: str) -> None:
    """Jobs' held unit-hours (from their segments) equal the pools' training unit-hours."""
    r = result(path, policy)
    step = r.meta["step_h"]
    pool_hours = (r.steps.training * step).sum()
    assert r.jobs.unit_hours.sum() == pytest.approx(pool_hours, rel=1e-9, abs=1e-6)
    list_cost = (r.steps.training * step * r.steps.price_per_hour).sum()
    assert r.jobs.cost_at_list_price.sum() == pytest.approx(list_cost, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_finished_jobs_received_exactly_their_work(path: Path, policy: str) -> None:
    r = result(path, policy)
    s = sim.load(path)
    done = r.jobs[r.jobs.status == "finished"]
    np.testing.assert_allclose(done.work_done_h, done.duration_h, rtol=1e-9)
    assert (done.work_lost_h >= -EPS).all()
    # Uninterrupted jobs ran exactly duration / speed (+ porting off their native family).
    clean = done[done.restarts == 0]
    speed = clean.accelerator.map(lambda a: s.accelerators[a].train_speed)
    wall = clean.end_h - clean.start_h
    assert (wall >= clean.duration_h / speed - 1e-6).all()
    assert (clean.unit_hours >= clean.units * clean.duration_h / speed - 1e-6).all()
    # Never more useful work than the job needs, and never served before it arrived.
    assert (r.jobs.work_done_h <= r.jobs.duration_h + 1e-6).all()
    started = r.jobs[r.jobs.start_h.notna()]
    assert (started.start_h >= started.arrival_h - EPS).all()


@pytest.mark.parametrize(("path", "policy"), CASES)
def test_exclusive_services_stay_on_their_providers(path: Path, policy: str) -> None:
    r = result(path, policy)
    s = sim.load(path)
    for section in ("inference", "agents"):
        for name, svc in getattr(s, section).items():
            if svc.providers is None:
                continue
            where = set(r.service_providers[r.service_providers.service == name].provider)
            assert where <= set(svc.providers), (name, where)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_microsoft_first_places_elsewhere_only_what_the_right_lets_go(path: Path) -> None:
    """New capacity elsewhere only after the holder declined it; rate demand elsewhere never
    above what the right lets go: use at the start, declined quantities within their release
    (or awaiting a renewal's answer), units lost to outages at the holder, idle commitments."""
    r = result(path, "microsoft_first")
    s = sim.load(path)
    params = s.policy.params.get("microsoft_first", {})
    rofr = sim.make_policy("microsoft_first", params).first_refusal
    holder = rofr.provider
    jobs = r.jobs
    placed = jobs[jobs.start_h.notna()]
    elsewhere = placed[placed.first_provider.ne(holder)]
    # A run offered to the holder starts elsewhere only once declined, a window after arrival;
    # one accepted starts at the holder; one on contracted units starts on arrival.
    declined = elsewhere[elsewhere.rofr_offer == "declined"]
    assert (declined.start_h >= declined.arrival_h + rofr.window_hours - EPS).all()
    assert not elsewhere.rofr_offer.isin(["accepted", "pending"]).any()
    assert (placed[placed.rofr_offer == "accepted"].first_provider == holder).all()
    contracted = placed[placed.rofr_offer == "contracted"]
    assert (contracted.start_h == contracted.arrival_h).all()

    ev = r.events
    answers = ev[(ev.kind == "rofr_answer") & ev.detail.isin(["declined", "partial"])]
    renewals = ev[(ev.kind == "rofr_offer") & ev.detail.str.endswith("renewal")]
    sp = r.service_providers
    st = r.steps
    speed = st.accelerator.map({name: a.infer_speed for name, a in s.accelerators.items()})
    at_holder = st.provider == holder
    # reference units lost to outages at the holder, and committed at the others, per hour
    lost_at_holder = (st.outage_lost * speed)[at_holder].groupby(st.hour[at_holder]).sum()
    committed_elsewhere = (st.committed * speed)[~at_holder].groupby(st.hour[~at_holder]).sum()
    for service in sp.service.unique():
        if service in s.inference and s.inference[service].providers == [holder]:
            continue
        mine = sp[sp.service == service]
        other = mine[mine.provider != holder].groupby("hour").served.sum()
        if other.empty:
            continue
        hours = other.index.to_numpy(dtype=float)
        start = other[hours < 168].max() if (hours < 168).any() else 0.0
        granted = np.zeros(len(hours))
        mine_ans = answers[answers.subject == service]
        for t, q in zip(mine_ans.hour, mine_ans.units, strict=True):
            # a grant lives for its release, and on until a renewal offered before it lapses
            # is answered (a window later)
            granted += np.where((hours >= t - EPS) & (hours < t + rofr.release_hours
                                                     + rofr.window_hours + EPS), q, 0.0)
        lost = lost_at_holder.reindex(hours, fill_value=0.0).to_numpy()
        committed = committed_elsewhere.reindex(hours, fill_value=0.0).to_numpy()
        late = hours >= 168
        bound = start + granted + lost + committed
        over = other.to_numpy() > bound + 1e-6 * np.maximum(1.0, bound)
        assert not (over & late).any(), (service, hours[over & late][:5], len(renewals))


def test_same_seed_gives_byte_identical_tables(tmp_path: Path) -> None:
    path = Path(__file__).parent.parent / "scenarios" / "tiny.yaml"
    for fmt in ("parquet", "csv"):
        a = sim.run(path, seed=11).save(tmp_path / fmt / "a", format=fmt)
        b = sim.run(path, seed=11).save(tmp_path / fmt / "b", format=fmt)
        c = sim.run(path, seed=12).save(tmp_path / fmt / "c", format=fmt)
        for name in ("steps", "jobs", "services", "service_providers", "events"):
            assert (a / f"{name}.{fmt}").read_bytes() == (b / f"{name}.{fmt}").read_bytes(), name
        assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
        assert (a / f"jobs.{fmt}").read_bytes() != (c / f"jobs.{fmt}").read_bytes()


def test_replications_share_the_world_across_policies() -> None:
    """Common random numbers: the same replication sees the same arrivals under every policy."""
    path = Path(__file__).parent.parent / "scenarios" / "tiny.yaml"
    arrivals = {p: sim.run(path, policy=p, replication=1).jobs.set_index("job").arrival_h
                for p in sim.policy_names()}
    first = next(iter(arrivals.values()))
    for series in arrivals.values():
        pd.testing.assert_series_equal(series.sort_index(), first.sort_index())
    other = sim.run(path, replication=2).jobs.arrival_h
    assert not np.array_equal(np.sort(other), np.sort(first))
