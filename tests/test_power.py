"""Power as facilities have it, on scenarios worked out by hand.

Every available unit draws its idle share of `power_kw`; a unit in use draws all of it. A
ceiling (across providers, or per provider) limits what can be powered: what does not fit
waits (training) or goes unserved (rate demand), labelled `power`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from scenario_edit import build

import sim

BASE: dict[str, Any] = {
    "name": "power",
    "start": "2025-01-01",
    "horizon": "3d",
    "step": "1h",
    "accelerators": {"gpu": {"family": "gpu", "power_kw": 1.0, "idle_power_share": 0.3}},
    "providers": {
        "a": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 2.0,
                                "capacity": [{"at": "2025-01-01", "units": 100}]}}},
    },
    "policy": {"default": "open_market"},
    "scheduling": {"inference_reserve": "1h"},
}


def scenario(**changes: Any) -> sim.Scenario:
    return build(BASE, **changes)


def ceiling(kw: float) -> dict[str, Any]:
    return {"ceiling": [{"at": "2025-01-01", "mw": kw / 1000}]}


def test_idle_units_draw_their_share_so_fewer_can_run() -> None:
    # 100 idle units draw 30 kW of a 50 kW ceiling: 20 kW left, 0.7 kW more per busy unit,
    # so at most 28.57 units can run. A 28-unit run starts; a 20-unit run waits for power
    # (units there are plenty) until the first is done.
    s = scenario(power=ceiling(50), **{"training.jobs": [
        {"name": "fits", "arrival": "2025-01-01", "units": 28, "duration": "10h"},
        {"name": "second", "arrival": "2025-01-01T01:00", "units": 20, "duration": "10h"}]})
    r = sim.run(s)
    j = r.jobs.set_index("job")
    assert j.loc["fits", "start_h"] == 0.0
    assert j.loc["second", "start_h"] == pytest.approx(10.0)
    # reported power: 30 kW idle + 28 x 0.7 kW busy in the first hours
    first = r.steps[r.steps.hour == 2].iloc[0]
    assert first.power_mw * 1000 == pytest.approx(30 + 28 * 0.7)


def test_a_run_that_never_fits_the_ceiling_waits_for_power() -> None:
    s = scenario(power=ceiling(50), **{"training.jobs": [
        {"name": "big", "arrival": "2025-01-01", "units": 40, "duration": "10h"}]})
    r = sim.run(s)
    j = r.jobs.iloc[0]
    assert (j.status, j.waiting_for) == ("waiting", "power")
    assert r.summary["jobs_waiting_at_end_by_reason"]["power"] == 1


def test_unmet_rate_demand_for_want_of_power_is_labelled_power() -> None:
    # 40 units of chat; power allows 20 / 0.7 = 28.571 units: 11.43 unmet each hour, for power.
    r = sim.run(scenario(power=ceiling(50), inference={"chat": {"base_units": 40}}))
    sv = r.services
    per_hour = 40 - 20 / 0.7
    assert sv.unmet.to_numpy() == pytest.approx(per_hour)
    assert sv.unmet_power.to_numpy() == pytest.approx(per_hour)
    assert sv.unmet_capacity.sum() == pytest.approx(0.0, abs=1e-9)


def test_short_of_units_not_power_is_capacity() -> None:
    r = sim.run(scenario(power=ceiling(1000), inference={"chat": {"base_units": 140}}))
    assert r.services.unmet_capacity.to_numpy() == pytest.approx(40.0)
    assert r.services.unmet_power.sum() == pytest.approx(0.0, abs=1e-9)


def test_higher_priority_rate_demand_stops_training_elsewhere_for_power() -> None:
    # Two providers of 100 units each: 60 kW idle. A 50-unit run (priority 0) on 'a' adds
    # 35 kW: 95 of a 110 kW ceiling. On day 2 chat (priority 10, only at 'b') jumps to 40
    # units, which need 28 kW: only 15 are left, so the run stops and chat is served in full.
    providers = copy.deepcopy(BASE["providers"])
    providers["b"] = copy.deepcopy(providers["a"])
    s = scenario(power=ceiling(110), providers=providers,
                 **{"providers.b.pools.gpu.price_per_hour": 9.0,
                    "training.jobs": [{"name": "run", "arrival": "2025-01-01", "units": 50,
                                       "duration": "100h", "priority": 0}],
                    "inference": {"chat": {"base_units": 0.001, "providers": ["b"], "priority": 10,
                                           "spikes": [{"at": "2025-01-02", "multiplier": 40000,
                                                       "duration": "1h"}]}}})
    r = sim.run(s)
    sv = r.services.set_index("hour")
    assert sv.loc[24.0, "demand"] == pytest.approx(40.0, rel=1e-3)
    assert sv.loc[24.0, "unmet"] == pytest.approx(0.0, abs=1e-9)
    ev = r.events
    stops = ev[(ev.kind == "job_interrupted") & ev.detail.str.startswith("power")]
    assert stops.hour.tolist() == [24.0]


def test_provider_ceiling_limits_only_that_provider() -> None:
    # 'a' has a 40 kW feed: 30 kW idle, room for 14.28 busy units. 'b' (CPUs for agents) has
    # no ceiling of its own and draws more than 40 kW without limit.
    providers = copy.deepcopy(BASE["providers"])
    providers["b"] = {"pools": {"cpu": {"accelerator": "cpu", "price_per_hour": 0.1,
                                        "capacity": [{"at": "2025-01-01", "units": 100}]}}}
    s = scenario(providers=providers,
                 accelerators={**BASE["accelerators"],
                               "cpu": {"family": "cpu", "power_kw": 1.0, "idle_power_share": 0.3}},
                 power={"providers": {"a": [{"at": "2025-01-01", "mw": 0.04}]}},
                 inference={"chat": {"base_units": 20}},
                 agents={"bots": {"base_units": 90}})
    sv = sim.run(s).services
    chat = sv[sv.service == "chat"]
    assert chat.served.to_numpy() == pytest.approx(10 / 0.7)
    assert chat.unmet_power.to_numpy() == pytest.approx(20 - 10 / 0.7)
    assert sv[sv.service == "bots"].unmet.sum() == pytest.approx(0.0, abs=1e-9)


def test_power_ceilings_name_known_providers() -> None:
    with pytest.raises(sim.ScenarioError, match=r"power\.providers\.nowhere"):
        scenario(power={"providers": {"nowhere": [{"at": "2025-01-01", "mw": 1}]}})


def test_a_site_feed_strands_the_units_it_cannot_power() -> None:
    # A site of 100 units of 1 kW on a 0.06 MW feed: 60 usable (the feed runs them all at full
    # power), 40 stranded; a second site without a feed of its own adds all its 50.
    s = scenario(**{"providers.a.pools.gpu": {
        "accelerator": "gpu", "price_per_hour": 2.0,
        "buildout": {"sites": [
            {"name": "fed", "online": "2025-01-01", "units": 100, "power_mw": 0.06},
            {"name": "free", "online": "2025-01-02", "units": 50}]}}})
    r = sim.run(s)
    installed = r.steps.set_index("hour").installed
    assert installed.loc[0] == pytest.approx(60.0)
    assert installed.loc[24] == pytest.approx(110.0)
    notes = r.events[r.events.kind == "site_power_limited"]
    assert len(notes) == 1 and "60 of its 100 units" in notes.detail.iloc[0]
