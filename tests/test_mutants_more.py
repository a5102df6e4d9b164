"""More hand-worked checks for mutants of sim/engine/ that bench/mutation.py let survive (see
test_mutants_engine.py): each names the planted change it catches."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scenario_edit import build
from test_first_refusal import BASE as FIRST_REFUSAL
from test_model_rules import at, job, scenario

import sim
from sim.engine.compile import compile_scenario
from sim.engine.procurement import ask_for_block, caps_with_availability
from sim.scenario import scenario_from_data


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


def test_the_weekend_dip_falls_on_saturdays_and_sundays() -> None:
    """2025-01-01 is a Wednesday. A service of 10 units with a weekly amplitude of 0.5 (the
    weekend dip, MODEL/README) needs 5 on Saturday 4 and Sunday 5 January and on the 11th and
    12th, 10 on every other day of the first two weeks.
    Catches demand.demand_series: the weekday taken `% 6` instead of `% 7`."""
    s = scenario(1, horizon=14 * 24, inference={"chat": {"base_units": 10,
                                                          "weekly_amplitude": 0.5}})
    demand = compile_scenario(s).services[0].demand
    by_day = [float(demand[24 * d]) for d in range(14)]
    assert all(float(x) == by_day[d] for d in range(14) for x in demand[24 * d:24 * d + 24])
    assert by_day == pytest.approx([10, 10, 10, 5, 5, 10, 10, 10, 10, 10, 5, 5, 10, 10])


def test_an_at_once_grant_is_shared_out_across_the_other_pools_not_given_to_each() -> None:
    """First refusal with a zero window. Azure (the holder, cheapest) has 80 units but power for
    only 50 busy ones (80 idle x 0.3 kW + 50 x 0.7 kW = 59 kW). Chat needs 50 units: all on
    Azure in the grandfathered first week, so it may place nothing on the other provider
    (pools of 10 units at $1 and 100 at $2). At hour 200 demand doubles to 100: 50 served on
    Azure, 50 unmet and offered to Azure, which counts 80 - 50 = 30 units spare for a term
    (power aside), accepts 30 and declines 20 at once. Those 20 are served now: 10 on the $1
    pool (all of it), then 20 - 10 = 10 on the $2 pool. Served 50 + 10 + 10 = 70, unmet 30
    (not 80 and 20, the whole 20 given again to the second pool).
    Catches rate_demand._serve: dropping `extra -= units * speed`."""
    other = {"gpu": {"accelerator": "gpu", "price_per_hour": 1.0,
                     "capacity": [{"at": "2025-01-01", "units": 10}]},
             "gpu2": {"accelerator": "gpu", "price_per_hour": 2.0,
                      "capacity": [{"at": "2025-01-01", "units": 100}]}}
    s = build(FIRST_REFUSAL, **{
        "horizon": "9d", "providers.other.pools": other,
        "providers.azure.pools.gpu.price_per_hour": 0.5,
        "providers.azure.pools.gpu.capacity": [{"at": "2025-01-01", "units": 80}],
        "power": {"providers": {"azure": [{"at": "2025-01-01", "mw": 0.059}]}},
        "policy.params.microsoft_first.decision_window": 0,
        "inference": {"chat": {"base_units": 50, "spikes": [
            {"at": "2025-01-09T08:00", "multiplier": 2.0, "duration": 1000}]}}})
    sv = sim.run(s).services.set_index("hour")
    assert (sv.loc[:199.0, "unmet"] == 0).all()
    at200 = sv.loc[200.0]
    assert (at200.demand, at200.served, at200.unmet) == pytest.approx((100.0, 70.0, 30.0))


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


def test_a_runs_list_cost_follows_a_price_step_during_it() -> None:
    """$2/h until hour 10, then $3/h (a price step). A run of 4 units from hour 5 to 15 costs
    4 x (5 h x $2 + 5 h x $3) = $100 at list price; one of 2 units from 2:15 to 2:45, inside
    one step, 2 x 0.5 h x $2 = $2.
    Catches training._close_segment: `units * list price hours` -> `/`;
    training._list_price_hours: dropping the within-one-step `return`."""
    s = scenario(8, horizon=24, jobs=[job("r", 5, 4, 10), job("s", 2.25, 2, 0.5)],
                 pool={"price_per_hour": 2.0,
                       "prices": {"steps": [{"at": at(10), "price_per_hour": 3.0}]}})
    j = sim.run(s).jobs.set_index("job")
    assert (j.loc["r", "start_h"], j.loc["r", "end_h"]) == pytest.approx((5.0, 15.0))
    assert j.loc["r", "cost_at_list_price"] == pytest.approx(100.0)
    assert (j.loc["s", "start_h"], j.loc["s", "end_h"]) == pytest.approx((2.25, 2.75))
    assert j.loc["s", "cost_at_list_price"] == pytest.approx(2.0)


def test_a_policy_that_does_not_sink_commitments_places_by_its_own_order() -> None:
    """Diversified (share cap 1: plain price order) does not treat idle committed units as
    free: a 4-unit run goes to provider a at $1/h, not to b at $2/h although b has 4 idle
    units committed at $1.5/h (that is what cheapest_first, which sinks them, would do).
    Catches training._place: `self.sunk and self._any_committed` -> `or`."""
    pools = {name: {"pools": {"gpu": {
        "accelerator": "acc", "price_per_hour": price,
        "capacity": [{"at": "2025-01-01", "units": 8}], **extra}}}
        for name, price, extra in (
            ("a", 1.0, {}),
            ("b", 2.0, {"commitments": [{"units": 4, "price_per_hour": 1.5,
                                         "start": "2025-01-01", "term": "1y"}]}))}
    data = {"name": "sunk", "start": "2025-01-01", "horizon": 10, "seed": 1,
            "accelerators": {"acc": {"family": "gpu", "power_kw": 0}}, "providers": pools,
            "training": {"jobs": [job("r", 0, 4, 5)]},
            "policy": {"default": "diversified", "params": {"diversified": {"share_cap": 1.0}}}}
    s = scenario_from_data(data)
    assert sim.run(s).jobs.set_index("job").loc["r", "provider"] == "a"
    assert sim.run(s, policy="cheapest_first").jobs.set_index("job").loc["r", "provider"] == "b"


_LABELS = {
    "name": "labels", "start": "2025-01-01", "horizon": "3d", "step": "1h",
    "accelerators": {"g": {"family": "gpu", "power_kw": 1.0}},
    "providers": {
        "azure": {"pools": {"g": {"accelerator": "g", "price_per_hour": 2.0,
                                  "capacity": [{"at": "2025-01-01", "units": 100}]}}},
        "other": {"pools": {"g": {"accelerator": "g", "price_per_hour": 1.0,
                                  "capacity": [{"at": "2025-01-01", "units": 100}]}}}},
    "policy": {"default": "open_market"},
}


def test_demand_an_outage_leaves_unmet_is_labelled_outage_not_capacity() -> None:
    """Chat (on azure only) needs 80 of azure's 100 units; a scripted outage takes half of
    azure from 2025-01-02 for 10 h: 50 are served, 30 go unmet each of those hours, and the 50
    units out would have covered them, so all 30 are `outage` and none `capacity`.
    Catches rate_demand._explain_unmet: `unmet - u_out` -> `unmet + u_out` in the capacity
    share (60 capacity, and the shares no longer add up to the unmet 30)."""
    s = build(_LABELS, **{"inference": {"chat": {"base_units": 80, "providers": ["azure"]}},
                          "outages": [{"provider": "azure", "start": "2025-01-02",
                                       "duration": "10h", "share": 0.5}]})
    sv = sim.run(s).services
    hit = sv[(sv.hour >= 24) & (sv.hour < 34)]
    assert hit.unmet.to_numpy() == pytest.approx(30.0)
    assert hit.unmet_outage.to_numpy() == pytest.approx(30.0)
    assert hit.unmet_capacity.to_numpy() == pytest.approx(0.0, abs=1e-9)
    assert sv[(sv.hour < 24) | (sv.hour >= 34)].unmet.sum() == pytest.approx(0.0, abs=1e-9)


def test_demand_kept_from_idle_units_elsewhere_is_labelled_exclusivity() -> None:
    """Chat may run on azure only and needs 130 units; azure has 100, the other provider's 100
    stand idle: 30 unmet each hour, all of it `exclusivity` (the idle units would have served
    it), none `capacity`.
    Catches rate_demand._explain_unmet: `- u_ex` -> `+ u_ex` in the capacity share."""
    s = build(_LABELS, **{"inference": {"chat": {"base_units": 130, "providers": ["azure"]}}})
    sv = sim.run(s).services
    assert sv.unmet.to_numpy() == pytest.approx(30.0)
    assert sv.unmet_exclusivity.to_numpy() == pytest.approx(30.0)
    assert sv.unmet_capacity.to_numpy() == pytest.approx(0.0, abs=1e-9)


def test_demand_served_across_pools_of_odd_speeds_leaves_no_float_dust() -> None:
    """Chat (10.1 units, ±37 % daily) is served by 7 units of speed 1.3 (9.1 reference units)
    and the rest by a pool of speed 0.7 with room to spare: every step is served in full, so
    its served share is exactly 1 (a user looking for steps below 1 must find none), although
    demand − 9.1 − 0.7 × (rest / 0.7) leaves float dust of ~1e-15.
    Catches rate_demand._serve: dropping `remaining = 0.0` for dust below 1e-9 of demand."""
    s = build({
        "name": "dust", "start": "2025-01-01", "horizon": "2d", "step": "1h",
        "accelerators": {"a": {"family": "gpu", "power_kw": 1.0, "infer_speed": 1.3},
                         "b": {"family": "gpu", "power_kw": 1.0, "infer_speed": 0.7}},
        "providers": {"p": {"pools": {
            "a": {"accelerator": "a", "price_per_hour": 1.0,
                  "capacity": [{"at": "2025-01-01", "units": 7}]},
            "b": {"accelerator": "b", "price_per_hour": 2.0,
                  "capacity": [{"at": "2025-01-01", "units": 1000}]}}}},
        "inference": {"chat": {"base_units": 10.1, "daily_amplitude": 0.37}},
        "policy": {"default": "open_market"},
    })
    sv = sim.run(s).services
    assert (sv.served_share == 1.0).all()
    assert (sv.unmet == 0.0).all()


def test_an_answer_given_after_its_delay_is_logged_when_given() -> None:
    """Run a (60 units) is offered to Azure on day 1, which has room; the answer delay (mean
    1000 h) is cut at the 10 h window, so Azure accepts 10 h later and a starts then. The event
    log holds that one answer, `accepted`, its delay the 10 h a waited.
    Catches first_refusal: dropping the `rofr_answer` log line of a delayed acceptance."""
    s = build(FIRST_REFUSAL, **{
        "training.jobs": [{"name": "a", "arrival": "2025-01-02", "units": 60,
                           "duration": "100h"}],
        "policy.params.microsoft_first.answer_delay": "1000h",
        "policy.params.microsoft_first.decision_window": "10h"})
    r = sim.run(s)
    a = r.jobs.set_index("job").loc["a"]
    answers = r.events[r.events.kind == "rofr_answer"]
    assert len(answers) == 1
    assert answers.iloc[0].delay_h == pytest.approx(a.start_h - 24.0)
    assert 0 < answers.iloc[0].delay_h <= 10.0 + 1e-9
    assert "accepted" in answers.iloc[0].to_string()


def test_each_ask_for_a_block_out_of_stock_is_logged() -> None:
    """A block that is never in stock (available 0), asked for again every day from its order
    on 2025-01-02: every ask until it is refused is a `block_stockout` note, the first on the
    order day (hour 24) and then one a day.
    Catches compile._blocks: dropping the `block_stockout` note."""
    from test_procurement import scenario as procurement

    s = procurement({"blocks": {
        "size": 1, "lead_time": 0, "min_term": "1d", "price_per_hour": 1.0, "available": 0.0,
        "retry": "1d", "max_wait": "3d", "orders": [{"at": "2025-01-02"}]}})
    hours = [n[0] for n in compile_scenario(s).notes if n[1] == "block_stockout"]
    assert hours and hours[0] == 24.0
    assert np.diff(hours).tolist() == [24.0] * (len(hours) - 1)


def test_a_latency_service_asks_for_its_load_over_the_target_utilisation() -> None:
    """A service with a latency model and a load of 200 units, sized for 80 % utilisation,
    asks the engine for 200 / 0.8 = 250 units every step (no cycle, no noise).
    Catches compile: dropping `demand = demand / target_utilisation`."""
    s = build(_LABELS, **{"inference": {"chat": {
        "base_units": 200, "latency": {
            "concurrency": 64, "target_utilisation": 0.8, "prompt_tokens": 1000,
            "output_tokens": 300, "prefill_tokens_per_second": 12000,
            "decode_tokens_per_second": 2500}}}})
    sv = sim.run(s).services
    assert sv.demand.to_numpy() == pytest.approx(250.0)


def test_a_scheduled_capacity_step_is_logged_when_it_happens() -> None:
    """Azure's pool grows from 100 to 150 units on 2025-01-02 (hour 24): the event log has that
    `capacity_change` (+50) at hour 24; the starting level at hour 0 is not a change.
    Catches supply._installed: `self.env.now > 0` -> `< 0` (no scheduled step ever logged)."""
    s = build(_LABELS, **{"providers.azure.pools.g.capacity": [
        {"at": "2025-01-01", "units": 100}, {"at": "2025-01-02", "units": 150}]})
    ev = sim.run(s).events
    changes = ev[(ev.kind == "capacity_change") & (ev.provider == "azure")]
    assert changes.hour.tolist() == [24.0]
