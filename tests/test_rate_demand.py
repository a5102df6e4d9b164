"""Rate demand (inference, agents) hour by hour, worked out by hand: demand curves, how unmet demand
is shared out and labelled, and what a latency service asks for."""

from __future__ import annotations

import pytest
from scenario_edit import FIRST_REFUSAL, TWO_CLOUDS, build, scenario

import sim
from sim.engine.compile import compile_scenario


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


def test_demand_an_outage_leaves_unmet_is_labelled_outage_not_capacity() -> None:
    """Chat (on azure only) needs 80 of azure's 100 units; a scripted outage takes half of
    azure from 2025-01-02 for 10 h: 50 are served, 30 go unmet each of those hours, and the 50
    units out would have covered them, so all 30 are `outage` and none `capacity`.
    Catches rate_demand._explain_unmet: `unmet - u_out` -> `unmet + u_out` in the capacity
    share (60 capacity, and the shares no longer add up to the unmet 30)."""
    s = build(TWO_CLOUDS, **{"inference": {"chat": {"base_units": 80, "providers": ["azure"]}},
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
    s = build(TWO_CLOUDS, **{"inference": {"chat": {"base_units": 130, "providers": ["azure"]}}})
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


def test_a_latency_service_asks_for_its_load_over_the_target_utilisation() -> None:
    """A service with a latency model and a load of 200 units, sized for 80 % utilisation,
    asks the engine for 200 / 0.8 = 250 units every step (no cycle, no noise).
    Catches compile: dropping `demand = demand / target_utilisation`."""
    s = build(TWO_CLOUDS, **{"inference": {"chat": {
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
    s = build(TWO_CLOUDS, **{"providers.azure.pools.g.capacity": [
        {"at": "2025-01-01", "units": 100}, {"at": "2025-01-02", "units": 150}]})
    ev = sim.run(s).events
    changes = ev[(ev.kind == "capacity_change") & (ev.provider == "azure")]
    assert changes.hour.tolist() == [24.0]
