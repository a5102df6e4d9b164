"""Procurement: blocks, lead times, contracts past the horizon, prices over time, availability,
correlated slips and region outages, each on a small scenario whose outcome is worked out by hand
(or from probability theory, for the random parts)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from statistics import NormalDist
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import sim
from sim.engine import compile_scenario
from sim.engine.procurement import ask_for_block, caps_with_availability
from sim.scenario import ScenarioError, scenario_from_data

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

BASE: dict[str, Any] = {
    "name": "buy",
    "start": "2025-01-01",
    "horizon": "60d",
    "step": "1h",
    "accelerators": {"gpu": {"family": "gpu", "power_kw": 2.0}},
    "providers": {"cloud": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 4.0,
                                              "capacity": [{"at": "2025-01-01", "units": 0}]}}}},
    "policy": {"default": "cheapest_first"},
}


def scenario(pool: dict[str, Any] | None = None, **top: Any) -> sim.Scenario:
    """BASE with fields of the one pool and top-level fields replaced."""
    data = copy.deepcopy(BASE)
    data["providers"]["cloud"]["pools"]["gpu"].update(pool or {})
    data.update(top)
    return scenario_from_data(data)


def column(result: sim.RunResult, name: str) -> np.ndarray:
    return result.steps[name].to_numpy(dtype=float)


# ---------------------------------------------------------------- blocks and lead time


def test_a_block_comes_online_after_its_lead_time_and_is_billed_for_its_term() -> None:
    # Ordered on day 2 (hour 48), lead time 10 d: online at hour 48 + 240 = 288; a 30-day term
    # ends at 288 + 720 = 1008, when the block lapses and goes back.
    r = sim.run(scenario({"blocks": {
        "size": 100, "lead_time": "10d", "min_term": "30d", "price_per_hour": 2.0,
        "orders": [{"at": "2025-01-03", "count": 1}]}}))
    installed = column(r, "installed")
    assert installed[287] == 0 and installed[288] == 100
    assert installed[1007] == 100 and installed[1008] == 0
    committed_spend = column(r, "spend_committed")
    assert committed_spend[287] == 0 and committed_spend[288] == pytest.approx(100 * 2.0)
    assert r.summary["spend_committed"] == pytest.approx(100 * 2.0 * 720)
    assert r.summary["committed_value_by_provider"] == {"cloud": pytest.approx(100 * 2.0 * 720)}
    kinds = set(r.events["kind"])
    assert {"block_ordered", "capacity_change", "commitment_start", "commitment_end"} <= kinds


def test_a_pool_of_blocks_alone_is_valid_and_a_term_below_the_minimum_is_not() -> None:
    blocks = {"size": 10, "lead_time": "1d", "min_term": "1y", "price_per_hour": 1.0}
    data = copy.deepcopy(BASE)
    pool = data["providers"]["cloud"]["pools"]["gpu"]
    del pool["capacity"]
    pool["blocks"] = {**blocks, "orders": [{"at": "2025-01-02"}]}
    scenario_from_data(data)
    pool["blocks"] = {**blocks, "orders": [{"at": "2025-01-02", "term": "90d"}]}
    with pytest.raises(ScenarioError, match=r"orders\[0\]\.term: 90 days is shorter than the "
                                            r"offer's minimum term \(365 days\)"):
        scenario_from_data(data)


def test_block_stockout_probability_is_recovered_from_many_draws() -> None:
    # 400 blocks, each found in stock with probability 0.3, refused at once when not
    # (max_wait 0). The share had is Binomial(400, 0.3)/400: sd 0.0229; the band is 4.5 sd,
    # so a correct engine fails this on fewer than 1 seed in 100,000.
    s = scenario({"blocks": {
        "size": 1, "lead_time": 0, "min_term": "1d", "price_per_hour": 1.0, "available": 0.3,
        "max_wait": 0, "orders": [{"at": "2025-01-02", "count": 400}]}})
    c = compile_scenario(s)
    had = sum(1 for _, d, label in c.pools[0].installed if d > 0 and label.startswith("block"))
    refused = sum(1 for n in c.notes if n[1] == "block_refused")
    assert had + refused == 400
    assert had / 400 == pytest.approx(0.3, abs=4.5 * math.sqrt(0.3 * 0.7 / 400))


def test_a_block_out_of_stock_waits_a_geometric_number_of_retries() -> None:
    # Each ask succeeds with p = 0.25, asks 1 day apart: the wait is retry x Geometric misses,
    # mean (1 - p) / p = 3 days, sd of one wait sqrt(1 - p) / p = 3.46 days; over 400 blocks
    # the mean wait has sd 0.173 days; the band is 5 sd. The block is online a lead time
    # (2 days) after it is had.
    s = scenario({"blocks": {
        "size": 1, "lead_time": "2d", "min_term": "1d", "price_per_hour": 1.0, "available": 0.25,
        "retry": "1d", "orders": [{"at": "2025-01-02", "count": 400}]}}, horizon="200d")
    c = compile_scenario(s)
    online = [t for t, d, label in c.pools[0].installed if d > 0 and label.startswith("block")]
    assert len(online) == 400  # 200 days of asking: practically never still out of stock
    waits = (np.array(online) - 24.0 - 48.0) / 24.0
    assert np.allclose(waits, np.round(waits))  # whole retries only
    assert waits.min() >= 0
    assert waits.mean() == pytest.approx(3.0, abs=5 * 0.173)


# ---------------------------------------------------------------- clipping at the horizon


def test_contracts_and_dates_past_the_horizon_are_clipped_with_a_note() -> None:
    # A one-year contract in a 30-day run: billed 30 days, valued for the year. A capacity
    # step, a job and a power step after the horizon are left out, each with a note.
    s = scenario({
        "capacity": [{"at": "2025-01-01", "units": 100}, {"at": "2025-03-01", "units": 500}],
        "commitments": [{"units": 100, "price_per_hour": 2.0, "start": "2025-01-01",
                         "end": "2026-01-01"}],
    }, horizon="30d", training={"jobs": [{"name": "late", "arrival": "2025-06-01", "units": 10,
                                          "duration": "1d"}]},
        power={"ceiling": [{"at": "2025-01-01", "mw": 1}, {"at": "2025-04-01", "mw": 2}]})
    r = sim.run(s)
    assert r.summary["spend_committed"] == pytest.approx(100 * 2.0 * 30 * 24)
    assert r.summary["committed_value_by_provider"]["cloud"] == pytest.approx(100 * 2.0 * 8760)
    assert column(r, "installed").max() == 100
    clipped = "\n".join(r.meta["clipped"])
    for what in ("capacity step on 2025-03-01", "training job late", "power ceiling step",
                 "commitment 1 runs to 2026-01-01"):
        assert what in clipped
    assert r.summary["clipped"] == len(r.meta["clipped"]) == 4
    assert "late" not in set(r.jobs["job"])


def test_a_contract_starting_after_the_horizon_is_not_billed_but_counts_as_signed() -> None:
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 10}],
                  "commitments": [{"units": 10, "price_per_hour": 1.0, "start": "2025-06-01",
                                   "term": "100d"}]}, horizon="30d")
    r = sim.run(s)
    assert r.summary["spend_committed"] == 0
    assert r.summary["committed_value_by_provider"]["cloud"] == pytest.approx(10 * 1.0 * 2400)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_compiles_with_a_short_horizon(path: Path) -> None:
    s = sim.with_changes(sim.load(path), {"horizon": "10d"})
    c = compile_scenario(s)
    assert c.end == pytest.approx(math.ceil(240 / s.step - 1e-9) * s.step)
    for cp in c.pools:
        assert all(t <= c.end for t, *_ in cp.installed + cp.caps + cp.commits)


# ---------------------------------------------------------------- prices over time


def test_price_steps_and_a_yearly_decline_set_the_on_demand_price_of_each_step() -> None:
    # $4.00 at the start, 50 % cheaper a year: on day 100, 4 x 0.5^(100/365); a new level of
    # $3.00 on day 200, and the decline goes on from it: $1.50 a year later (day 565).
    # 10 units of inference served on it all day: spend = 10 x 24 x price.
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 100}],
                  "prices": {"decline_per_year": 0.5,
                             "steps": [{"at": "2025-07-20", "price_per_hour": 3.0}]}},
                 horizon="600d", step="1d", inference={"svc": {"base_units": 10}})
    r = sim.run(s)
    price = column(r, "price_per_hour")
    assert price[0] == pytest.approx(4.0)
    assert price[100] == pytest.approx(4.0 * 0.5 ** (100 / 365))
    assert price[200] == pytest.approx(3.0)  # 2025-07-20 is day 200
    assert price[565] == pytest.approx(1.5)
    spend = column(r, "spend_on_demand")
    assert spend[0] == pytest.approx(10 * 24 * 4.0)
    assert spend[565] == pytest.approx(10 * 24 * 1.5)


@pytest.mark.parametrize(("on_end", "year2", "year3"), [("renew", 0.8, 0.64), ("lapse", 0, 0)])
def test_a_renewal_keeps_the_discount_to_the_then_price(on_end: str, year2: float,
                                                        year3: float) -> None:
    # List $2.00 falling 20 % a year; a one-year contract at $1.50 renewed each year costs
    # $1.50 x 0.8 = $1.20 in year two and $0.96 in year three; lapsed, nothing.
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 100}], "price_per_hour": 2.0,
                  "prices": {"decline_per_year": 0.2},
                  "commitments": [{"units": 100, "price_per_hour": 1.5, "start": "2025-01-01",
                                   "term": "1y", "on_end": on_end}]},
                 horizon="3y", step="1d")
    committed = column(sim.run(s), "spend_committed")
    day = 100 * 1.5 * 24
    assert committed[0] == pytest.approx(day)
    assert committed[364] == pytest.approx(day)
    assert committed[365] == pytest.approx(day * year2)
    assert committed[730] == pytest.approx(day * year3)
    assert committed[-1] == pytest.approx(day * year3)
    # The value signed is the first term alone, renewed or not.
    value = sim.run(s).summary["committed_value_by_provider"]["cloud"]
    assert value == pytest.approx(100 * 1.5 * 8760)


# ---------------------------------------------------------------- availability


def test_an_availability_series_caps_the_shared_capacity_and_marks_the_stockout() -> None:
    # 1000 installed, tenant cap 300. Half open: min(300, 500) = 300, nothing withheld.
    # From day 10 a fifth open: 200, so 100 are withheld by the market. A 50-unit block of the
    # customer's own (online day 20) comes on top of the cap: 250, until it lapses on day 50.
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 1000}],
                  "tenant_cap": [{"at": "2025-01-01", "units": 300}],
                  "availability": {"series": [{"at": "2025-01-01", "share": 0.5},
                                              {"at": "2025-01-11", "share": 0.2}]},
                  "blocks": {"size": 50, "lead_time": 0, "min_term": "30d",
                             "price_per_hour": 1.0, "orders": [{"at": "2025-01-21"}]}},
                 step="1d")
    c = compile_scenario(s)
    pool = c.pools[0]
    assert pool.caps == [(0.0, 300.0), (240.0, 200.0), (480.0, 250.0), (1200.0, 200.0)]
    assert pool.withheld[9] == 0 and pool.withheld[10] == 100 and pool.withheld[25] == 100
    capacity = column(sim.run(s), "capacity")
    assert capacity[5] == 300 and capacity[15] == 200 and capacity[25] == 250


def test_demand_the_market_holds_back_is_unmet_for_stockout_and_a_run_waits_for_it() -> None:
    # 300 installed, half open to this customer from day 5 (150 held by other tenants).
    # Chat needs 200: from day 5, 50 short each hour, labelled stockout (150 units withheld
    # would have covered it). A 100-unit run arriving on day 6 waits for the same reason.
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 300}],
                  "availability": {"series": [{"at": "2025-01-01", "share": 1.0},
                                              {"at": "2025-01-06", "share": 0.5}]}},
                 horizon="10d", inference={"chat": {"base_units": 200}},
                 training={"jobs": [{"name": "run", "arrival": "2025-01-07", "units": 100,
                                     "duration": "10h"}]})
    r = sim.run(s)
    sv = r.services
    late = sv[sv.hour >= 120]
    assert late.unmet.to_numpy() == pytest.approx(50.0)
    assert late.unmet_stockout.to_numpy() == pytest.approx(50.0)
    assert sv[sv.hour < 120].unmet.sum() == pytest.approx(0.0, abs=1e-9)
    assert late.unmet_capacity.sum() == pytest.approx(0.0, abs=1e-9)
    run = r.jobs.iloc[0]
    assert (run.status, run.waiting_for) == ("waiting", "stockout")
    assert r.summary["inference"]["unmet_by_reason_unit_hours"]["stockout"] == pytest.approx(
        50.0 * (240 - 120))


def test_random_availability_has_the_stated_stockout_probability_and_correlation() -> None:
    # Share open ~ N(0.5, 0.1) (clipping at 0 or 1 is 5 sd away). 1000 installed: a request
    # for 420 units finds a stockout when the share is below 0.42, probability
    # Phi((0.42 - 0.5) / 0.1) = 0.2119. Values an hour apart with correlation time 1/ln 2 h
    # correlate exp(-ln 2) = 0.5. 20,000 hourly values; the lag-one correlation makes the
    # effective sample about 20,000 x (1 - 0.5) / (1 + 0.5) for the mean of an indicator
    # (at most): sd of the share below 0.42 is under sqrt(0.21 x 0.79 / 6,667) = 0.005; the
    # bands are 5 sd.
    s = scenario({"capacity": [{"at": "2025-01-01", "units": 1000}],
                  "availability": {"random": {"mean": 0.5, "sd": 0.1,
                                              "correlation_time": 1 / math.log(2),
                                              "interval": 1}}},
                 horizon=20000)
    c = compile_scenario(s, seed=11)
    caps = c.pools[0].caps
    times = np.array([t for t, _ in caps])
    assert np.array_equal(times, np.arange(len(times)))  # one value an hour, none dropped...
    share = np.array([units for _, units in caps]) / 1000.0  # ...as every value differs
    assert abs((share < 0.42).mean() - NormalDist().cdf(-0.8)) < 5 * 0.005
    lag1 = np.corrcoef(share[:-1], share[1:])[0, 1]
    assert lag1 == pytest.approx(0.5, abs=0.05)
    assert share.std() == pytest.approx(0.1, abs=0.01)


# ---------------------------------------------------------------- correlated risk


def slips(programme_mean: str, n: int) -> np.ndarray:
    """Slip in days of two sites of one pool over `n` replications (one row each)."""
    data = copy.deepcopy(BASE)
    pool = data["providers"]["cloud"]["pools"]["gpu"]
    del pool["capacity"]
    pool["buildout"] = {"slip_mean": "30d", "programme": "stargate", "sites": [
        {"name": "a", "online": "2025-01-01", "units": 10},
        {"name": "b", "online": "2025-01-01", "units": 10}]}
    data["programmes"] = {"stargate": {"slip_mean": programme_mean}}
    data["horizon"] = "3000d"
    data["step"] = "1d"
    s = scenario_from_data(data)
    out = np.empty((n, 2))
    for rep in range(n):
        pool_c = compile_scenario(s, replication=rep).pools[0]
        by_site = {label: t for t, _, label in pool_c.installed}
        out[rep] = by_site["site a"] / 24, by_site["site b"] / 24
    return out


def test_a_shared_programme_delay_correlates_the_slips_of_its_sites() -> None:
    # Slip = shared Exp(30 d) + own Exp(30 d): mean 60 d, and the correlation of two sites is
    # Var(shared) / (Var(shared) + Var(own)) = 900 / 1800 = 0.5. Over 2000 replications the
    # sample correlation of these exponentials has sd 0.024 (0.022 when independent), measured
    # with numpy alone; the bands are 5 sd. A pair's mean slip is shared + (own a + own b) / 2,
    # variance 900 + 450 = 1350 d², so the mean over 2000 pairs has sd 0.82 d; the band is
    # 5 sd. Without a programme the slips are independent.
    d = slips("30d", 2000)
    assert np.corrcoef(d[:, 0], d[:, 1])[0, 1] == pytest.approx(0.5, abs=0.12)
    assert d.mean() == pytest.approx(60.0, abs=5 * 0.82)
    alone = slips("0d", 2000)
    assert abs(np.corrcoef(alone[:, 0], alone[:, 1])[0, 1]) < 0.11


def test_a_region_outage_hits_all_its_pools_at_once_and_no_others() -> None:
    # Pools a and b sit in region east; c does not. Every east outage appears in a and b with
    # the same start, end and share; c has none. A provider-wide outage hits all three.
    data = copy.deepcopy(BASE)
    gpu = data["providers"]["cloud"]["pools"]["gpu"]
    gpu["capacity"] = [{"at": "2025-01-01", "units": 100}]
    data["providers"]["cloud"]["pools"] = {
        "a": {**gpu, "region": "east"}, "b": {**gpu, "region": "east"}, "c": dict(gpu)}
    data["providers"]["cloud"]["regions"] = {
        "east": {"outages": {"mtbf": "10d", "mttr": "12h", "share": 0.5}}}
    data["horizon"] = "120d"
    r_region = sim.run(scenario_from_data(data))
    a, b, c = (compile_scenario(scenario_from_data(data)).pools[i].outages for i in range(3))
    assert a and a == b and not c
    assert {kind for *_, kind in a} == {"region_outage"}
    steps = r_region.steps
    lost = {name: g["outage_lost"].to_numpy() for name, g in steps.groupby("pool")}
    assert (lost["a"] > 0).any()
    assert np.array_equal(lost["a"] > 0, lost["b"] > 0) and not (lost["c"] > 0).any()
    assert lost["a"].max() == pytest.approx(50)
    assert r_region.summary["outages"] == 2 * len(a)
    data["providers"]["cloud"]["outages"] = {"mtbf": "20d", "mttr": "6h", "share": 0.2}
    pools = compile_scenario(scenario_from_data(data)).pools
    provider_wide = [[o for o in p.outages if o[3] == "provider_outage"] for p in pools]
    assert provider_wide[0] and provider_wide[0] == provider_wide[1] == provider_wide[2]


def test_unknown_programme_and_availability_without_a_kind_are_reported() -> None:
    data = copy.deepcopy(BASE)
    pool = data["providers"]["cloud"]["pools"]["gpu"]
    pool["buildout"] = {"programme": "nope", "sites": [
        {"name": "a", "online": "2025-01-02", "units": 1}]}
    with pytest.raises(ScenarioError, match="unknown programme 'nope'"):
        scenario_from_data(data)
    del pool["buildout"]
    pool["availability"] = {}
    with pytest.raises(ScenarioError, match="give either `series` or `random`"):
        scenario_from_data(data)


# ---------------------------------------------------------------- caps and asks, by hand


def test_availability_caps_change_only_when_a_level_does() -> None:
    """100 shared units from hour 0; the open share is 0.5 at hours 0 and 10, 0.8 at 20 and
    0.5 again at 30; no tenant cap, no blocks. The customer may hold 0.5 x 100 = 50 (50
    withheld) from hour 0, 80 (20 withheld) from hour 20 and 50 again from 30; hour 10 changes
    no level, so no row.
    Catches procurement.caps_with_availability: comparing whole rows, hour included
    (`out[-1][1:]` -> `out[-1][0:]`), which repeats unchanged levels; comparing with the first
    row (`out[-1]` -> `out[0]`), which drops the return to 50."""
    rows = caps_with_availability([(0.0, 100.0)], [], None,
                                  [(0.0, 0.5), (10.0, 0.5), (20.0, 0.8), (30.0, 0.5)])
    assert rows == [pytest.approx((0.0, 50.0, 50.0)), pytest.approx((20.0, 80.0, 20.0)),
                    pytest.approx((30.0, 50.0, 50.0))]


def test_a_block_still_asked_for_at_the_horizon_is_not_refused() -> None:
    """A block that never finds stock (available 0), asked for at hour 0 and every 24 h: with
    the horizon at 100 it is asked for at 0, 24, 48, 72 and 96 and is neither had nor refused
    (MODEL/docstring: refused only once max_wait runs out); with a max_wait of 50 the ask due
    at 72 would be too late, so after 0, 24 and 48 it is refused.
    Catches procurement.ask_for_block: the final `False` (still asking) -> `True`."""
    never = SimpleNamespace(available=0.0, retry=24.0, max_wait=None)
    open_ended = ask_for_block(never, 0.0, 100.0, np.random.default_rng(1))  # type: ignore[arg-type]
    assert math.isnan(open_ended.had) and not open_ended.refused
    assert open_ended.asks_out_of_stock == (0.0, 24.0, 48.0, 72.0, 96.0)
    never.max_wait = 50.0
    capped = ask_for_block(never, 0.0, 100.0, np.random.default_rng(1))  # type: ignore[arg-type]
    assert math.isnan(capped.had) and capped.refused
    assert capped.asks_out_of_stock == (0.0, 24.0, 48.0)


def test_each_ask_for_a_block_out_of_stock_is_logged() -> None:
    """A block that is never in stock (available 0), asked for again every day from its order
    on 2025-01-02: every ask until it is refused is a `block_stockout` note, the first on the
    order day (hour 24) and then one a day.
    Catches compile._blocks: dropping the `block_stockout` note."""
    s = scenario({"blocks": {
        "size": 1, "lead_time": 0, "min_term": "1d", "price_per_hour": 1.0, "available": 0.0,
        "retry": "1d", "max_wait": "3d", "orders": [{"at": "2025-01-02"}]}})
    hours = [n[0] for n in compile_scenario(s).notes if n[1] == "block_stockout"]
    assert hours and hours[0] == 24.0
    assert np.diff(hours).tolist() == [24.0] * (len(hours) - 1)
