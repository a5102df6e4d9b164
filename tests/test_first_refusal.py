"""The right of first refusal, rule by rule, on small scenarios worked out by hand.

Azure (the holder) and one other provider, one accelerator type. Every expected figure below
follows from the rule as the deal sets it (README, "First refusal"), not from the engine's code.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_edit import FIRST_REFUSAL, build
from scenario_edit import job as hours_job

import sim

DAY = 24.0

BASE = FIRST_REFUSAL


def scenario(**changes: Any) -> sim.Scenario:
    return build(BASE, **changes)


def job(name: str, arrival: str, units: int, duration: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "arrival": arrival, "units": units, "duration": duration, **extra}


def jobs_by_name(r: sim.RunResult) -> Any:
    return r.jobs.set_index("job")


# ---------------------------------------------------------------------------------- training


def test_holder_with_room_accepts_at_once_without_waiting_the_window() -> None:
    r = sim.run(scenario(**{"training.jobs": [job("a", "2025-01-02", 40, "10h")]}))
    a = jobs_by_name(r).loc["a"]
    assert (a.provider, a.start_h, a.rofr_offer) == ("azure", DAY, "accepted")
    answers = r.events[r.events.kind == "rofr_answer"]
    assert answers.delay_h.tolist() == [0.0]


def test_answer_delay_is_drawn_with_the_stated_mean_and_capped_at_the_window() -> None:
    # 200 small runs, each offered when Azure has room: each waits its answer delay, an
    # exponential of mean 4 h cut at the 10 h window. Mean of min(X, 10) for X ~ Exp(4) is
    # 4 (1 - e^-2.5) = 3.672 h; its standard error over 200 draws is below 0.25 h.
    runs = [job(f"j{i}", f"2025-01-02T{i % 24:02d}:00", 1, "1h") for i in range(200)]
    s = scenario(**{"training.jobs": runs, "horizon": "20d",
                    "policy.params.microsoft_first.answer_delay": "4h",
                    "policy.params.microsoft_first.decision_window": "10h"})
    r = sim.run(s)
    j = r.jobs
    assert (j.provider == "azure").all()
    assert j.wait_h.max() <= 10.0 + 1e-9
    assert (j.wait_h > 0).mean() > 0.95
    assert abs(j.wait_h.mean() - 4 * (1 - np.exp(-2.5))) < 5 * 0.25


def test_units_are_set_aside_while_the_holder_answers() -> None:
    # a (60 units) is accepted with a 10 h delay (mean 1000 h, capped at the 10 h window);
    # b (60 units) arrives an hour later: Azure's 100 units hold only one of them, a's 60 are
    # kept for a, so b cannot be accepted and is declined at the end of its window.
    s = scenario(**{"training.jobs": [job("a", "2025-01-02T00:00", 60, "100h"),
                                      job("b", "2025-01-02T01:00", 60, "10h")],
                    "policy.params.microsoft_first.answer_delay": "1000h",
                    "policy.params.microsoft_first.decision_window": "10h"})
    j = jobs_by_name(sim.run(s))
    assert j.loc["a", "provider"] == "azure"
    assert j.loc["a", "start_h"] == pytest.approx(DAY + 10, abs=1e-6) or j.loc["a", "start_h"] < DAY + 10
    assert (j.loc["b", "provider"], j.loc["b", "rofr_offer"]) == ("other", "declined")
    assert j.loc["b", "start_h"] == pytest.approx(DAY + 1 + 10)


def test_declined_run_goes_elsewhere_at_the_end_of_the_window() -> None:
    # 'big' takes all of Azure at hour 0 (grandfathered, no offer) for 30 days; 'b' arrives on
    # day 1, Azure cannot supply it: declined 48 h later, starts on the other provider then.
    s = scenario(**{"training.jobs": [job("big", "2025-01-01", 100, "30d"),
                                      job("b", "2025-01-02", 40, "10h")]})
    r = sim.run(s)
    j = jobs_by_name(r)
    assert (j.loc["big", "provider"], j.loc["big", "rofr_offer"]) == ("azure", "grandfathered")
    assert (j.loc["b", "provider"], j.loc["b", "start_h"], j.loc["b", "rofr_offer"]) == \
        ("other", DAY + 48, "declined")


def test_holder_accepts_as_soon_as_it_can_supply_within_the_window() -> None:
    # 'big' leaves Azure at hour 30; 'b', offered at hour 24, is accepted then, not at 72.
    s = scenario(**{"training.jobs": [job("big", "2025-01-01", 100, "30h"),
                                      job("b", "2025-01-02", 40, "10h")]})
    b = jobs_by_name(sim.run(s)).loc["b"]
    assert (b.provider, b.start_h, b.rofr_offer) == ("azure", 30.0, "accepted")


def test_run_that_fits_contracted_capacity_starts_at_once_without_an_offer() -> None:
    # 80 committed units at the *other* provider: already contracted, not new capacity.
    commit = [{"units": 80, "price_per_hour": 1.0, "start": "2024-01-01", "term": "2y"}]
    s = scenario(**{"training.jobs": [job("big", "2025-01-01", 100, "30d"),
                                      job("b", "2025-01-02", 40, "10h")],
                    "providers.other.pools.gpu.commitments": commit})
    r = sim.run(s)
    b = jobs_by_name(r).loc["b"]
    assert (b.provider, b.start_h, b.rofr_offer) == ("other", DAY, "contracted")
    assert (r.events.kind == "rofr_offer").sum() == 0


def test_without_free_holder_capacity_microsoft_first_is_open_market_delayed_by_the_window() -> None:
    # Azure never has room (a grandfathered run holds it all year, under both policies as
    # Azure is made the cheaper): every offer is declined after exactly the window, so each
    # run starts exactly `window` later than on an open market with the same constant supply.
    runs = [job("hold", "2025-01-01", 100, "400d")] + [
        job(f"r{i}", f"2025-01-{2 + i:02d}T{(5 * i) % 24:02d}:00", 50 + 20 * (i % 5), f"{30 + 7 * i}h")
        for i in range(12)]
    for window in (6, 48):
        s = scenario(**{"training.jobs": runs, "horizon": "60d",
                        "providers.azure.pools.gpu.price_per_hour": 1.0,
                        "policy.params.microsoft_first.decision_window": f"{window}h"})
        mf = jobs_by_name(sim.run(s, policy="microsoft_first")).drop(index="hold")
        om = jobs_by_name(sim.run(s, policy="open_market")).drop(index="hold")
        assert (mf.rofr_offer == "declined").all()
        np.testing.assert_allclose(mf.start_h, om.start_h + window)
        np.testing.assert_allclose(mf.end_h, om.end_h + window)


# ---------------------------------------------------------------------------------- rate demand

# Chat demand of 120 units, flat. Azure has 150 units until day 10, then 100: a shortfall of
# 20 units from hour 240, offered to Azure, which cannot supply it.
SHRINK = [{"at": "2025-01-01", "units": 150}, {"at": "2025-01-11", "units": 100}]


def chat(**extra: Any) -> dict[str, Any]:
    return {"chat": {"base_units": 120, **extra}}


def rate_scenario(window: str = "48h", **changes: Any) -> sim.Scenario:
    return scenario(**{"inference": chat(), "providers.azure.pools.gpu.capacity": SHRINK,
                       "horizon": "50d",
                       "policy.params.microsoft_first.decision_window": window, **changes})


def test_declined_shortfall_is_released_exactly_and_renewed_when_used() -> None:
    r = sim.run(rate_scenario())
    sv = r.services
    # Unserved for exactly the 48 h window from hour 240, 20 units each hour, for exclusivity.
    late = sv[(sv.hour >= 240) & (sv.hour < 288)]
    assert late.unmet.sum() == pytest.approx(20 * 48)
    assert late.unmet_exclusivity.sum() == pytest.approx(20 * 48)
    assert sv.unmet.sum() == pytest.approx(20 * 48)
    # From the decline on, exactly the declined 20 units run at the other provider.
    st = r.steps
    other = st[(st.provider == "other") & (st.hour >= 288)]
    np.testing.assert_allclose(other.inference, 20.0)
    ev = r.events
    offers = ev[ev.kind == "rofr_offer"]
    answers = ev[ev.kind == "rofr_answer"]
    # The first offer at hour 240 for 20 units; the grant (hour 288 to 1008) was used, so it
    # is offered again a window before it lapses (hour 960) and declined again at 1008.
    assert offers.hour.tolist() == [240.0, 960.0]
    assert offers.units.tolist() == pytest.approx([20.0, 20.0])
    assert offers.detail.tolist() == ["inference", "inference renewal"]
    assert answers.detail.tolist() == ["declined", "declined"]
    assert answers.hour.tolist() == [288.0, 1008.0]


def test_growth_beyond_the_grant_is_a_new_offer_for_the_difference_only() -> None:
    # On day 20 Azure drops to 90: 10 more units short. The 20-unit grant still holds; only
    # the extra 10 go unserved for a window, then they are released too.
    cap = [*SHRINK, {"at": "2025-01-21", "units": 90}]
    r = sim.run(rate_scenario(**{"providers.azure.pools.gpu.capacity": cap}))
    sv = r.services
    assert sv.unmet.sum() == pytest.approx(20 * 48 + 10 * 48)
    offers = r.events[r.events.kind == "rofr_offer"]
    assert offers.units.tolist()[:2] == pytest.approx([20.0, 10.0])
    assert offers.hour.tolist()[:2] == [240.0, 480.0]


def test_offer_is_sized_for_the_peak_of_the_release_term_not_the_hour() -> None:
    # A daily cycle (±20%) around 120 on Azure's 100 units: the first shortfall after the first
    # week is offered for the term's peak extra demand, so one decline covers every afternoon
    # of the term and nothing is offered again until its renewal.
    s = scenario(**{"inference": chat(daily_amplitude=0.2), "horizon": "50d",
                    "providers.azure.pools.gpu.capacity": [{"at": "2025-01-01", "units": 150},
                                                           {"at": "2025-01-11", "units": 100}]})
    r = sim.run(s)
    offers = r.events[r.events.kind == "rofr_offer"]
    assert offers.detail.tolist() == ["inference", "inference renewal"]
    peak = 120 * 1.2
    assert offers.units.iloc[0] == pytest.approx(peak - 100, rel=1e-6)
    sv = r.services
    assert sv[sv.hour >= 240 + 48].unmet.sum() == pytest.approx(0.0, abs=1e-6)


def test_holder_that_gains_capacity_within_the_window_accepts_then() -> None:
    # Azure is back to 150 units at hour 280, inside the window of the offer made at 240.
    cap = [*SHRINK, {"at": "2025-01-12T16:00", "units": 150}]
    r = sim.run(rate_scenario(**{"providers.azure.pools.gpu.capacity": cap}))
    answers = r.events[r.events.kind == "rofr_answer"]
    assert answers.detail.tolist() == ["accepted"]
    assert answers.hour.tolist() == [280.0]
    assert r.services.unmet.sum() == pytest.approx(20 * 40)


def test_zero_window_serves_the_declined_quantity_in_the_same_step() -> None:
    r = sim.run(rate_scenario(window="0h"))
    assert r.services.unmet.sum() == pytest.approx(0.0, abs=1e-6)
    st = r.steps
    other = st[(st.provider == "other") & (st.hour >= 240)]
    np.testing.assert_allclose(other.inference, 20.0)


def test_use_elsewhere_at_the_start_is_grandfathered() -> None:
    # From hour 0 chat needs 120 units against Azure's 100: the 20 served elsewhere at the
    # start existed before the horizon. No offer, nothing unserved (it used to be 48 h short).
    r = sim.run(scenario(**{"inference": chat()}))
    assert r.services.unmet.sum() == pytest.approx(0.0, abs=1e-6)
    assert (r.events.kind == "rofr_offer").sum() == 0


@pytest.mark.parametrize("failover", [True, False])
def test_failover_during_a_holder_outage(failover: bool) -> None:
    # Half of Azure's 150 units fail for 24 h on day 10: 45 units of chat's 120 have nowhere
    # to go on Azure. With failover they run at the other provider; without, they go unmet,
    # labelled outage.
    s = scenario(**{"inference": chat(),
                    "providers.azure.pools.gpu.capacity": [{"at": "2025-01-01", "units": 150}],
                    "outages": [{"provider": "azure", "start": "2025-01-11", "duration": "24h",
                                 "share": 0.5}],
                    "policy.params.microsoft_first.failover": failover})
    sv = sim.run(s).services
    if failover:
        assert sv.unmet.sum() == pytest.approx(0.0, abs=1e-6)
    else:
        assert sv.unmet.sum() == pytest.approx(45 * 24)
        assert sv.unmet_outage.sum() == pytest.approx(45 * 24)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(windows=st.lists(st.sampled_from([0, 1, 3, 6, 12, 24, 48, 96]), min_size=2, max_size=2,
                        unique=True),
       base=st.integers(110, 200), drop_day=st.integers(8, 20), amplitude=st.sampled_from([0, 0.1, 0.3]),
       sizes=st.lists(st.integers(10, 90), min_size=1, max_size=5))
def test_longer_window_never_serves_more_or_sooner(windows: list[int], base: int, drop_day: int,
                                                   amplitude: float, sizes: list[int]) -> None:
    lo, hi = sorted(windows)
    cap = [{"at": "2025-01-01", "units": 150}, {"at": f"2025-01-{drop_day:02d}", "units": 100}]
    runs = [job(f"r{i}", f"2025-01-{2 + 3 * i:02d}T07:00", u, "40h") for i, u in enumerate(sizes)]
    out = []
    for w in (lo, hi):
        s = scenario(**{"inference": chat(base_units=base, daily_amplitude=amplitude),
                        "training.jobs": runs,
                        "providers.azure.pools.gpu.capacity": cap,
                        "policy.params.microsoft_first.decision_window": f"{w}h"})
        r = sim.run(s)
        out.append((r.services.unmet.sum(), r.jobs.wait_h.sum()))
    assert out[0][0] <= out[1][0] + 1e-6
    assert out[0][1] <= out[1][1] + 1e-6


# ---------------------------------------------------------------------------------- baselines

COMMITTED_EXPENSIVE = {
    "azure": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 5.0,
                                "capacity": [{"at": "2025-01-01", "units": 100}],
                                "commitments": [{"units": 60, "price_per_hour": 4.0,
                                                 "start": "2024-06-01", "term": "2y"}]}}},
    "other": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 1.0,
                                "capacity": [{"at": "2025-01-01", "units": 300}]}}},
}


@pytest.mark.parametrize("policy", ["cheapest_first", "open_market", "microsoft_first"])
def test_price_policies_never_pay_on_demand_while_committed_units_sit_idle(policy: str) -> None:
    # Azure's list price is 5x the other's, but 60 of its units are paid for whatever happens.
    # A 40-unit run and 15 units of chat fit in them: nothing is bought on demand.
    s = scenario(**{"providers": COMMITTED_EXPENSIVE, "horizon": "10d",
                    "training.jobs": [job("a", "2025-01-02", 40, "48h")],
                    "inference": {"chat": {"base_units": 15}}})
    r = sim.run(s, policy=policy)
    assert jobs_by_name(r).loc["a", "provider"] == "azure"
    assert r.steps.spend_on_demand.sum() == pytest.approx(0.0, abs=1e-6)


def test_a_run_bigger_than_the_idle_commitment_weighs_the_part_paid_for() -> None:
    # 100 units for 10 h: on Azure 60 are paid already, 40 cost 5 $/h -> 200 $/h marginal;
    # elsewhere 100 units at 1 $/h -> 100 $/h. The other provider is cheaper at the margin.
    s = scenario(**{"providers": COMMITTED_EXPENSIVE, "horizon": "10d",
                    "training.jobs": [job("a", "2025-01-02", 100, "10h")]})
    assert jobs_by_name(sim.run(s, policy="open_market")).loc["a", "provider"] == "other"


# ---------------------------------------------------------------------------------- rest


def test_interrupted_run_restarts_elsewhere_at_once_whether_or_not_rate_demand_exists() -> None:
    # The whole of the other provider's pool fails at hour 10 for 48 h; Azure has room, so the
    # run restarts there at hour 10 (plus its 1 h overhead), with or without an unrelated
    # inference service on a third provider.
    data = {
        "policy.default": "open_market",
        "training.jobs": [job("a", "2025-01-01", 50, "30h", checkpoint_interval="5h",
                              restart_overhead="1h")],
        "outages": [{"provider": "other", "start": "2025-01-01T10:00", "duration": "48h"}],
        "providers.azure.pools.gpu.price_per_hour": 9.0,
    }
    plain = jobs_by_name(sim.run(scenario(**data))).loc["a"]
    third = {"accelerator": "gpu", "price_per_hour": 1.0,
             "capacity": [{"at": "2025-01-01", "units": 10}]}
    with_svc = jobs_by_name(sim.run(scenario(**data, **{
        "providers.third.pools.gpu": third,
        "inference": {"chat": {"base_units": 5, "providers": ["third"]}}}))).loc["a"]
    for j in (plain, with_svc):
        assert (j.provider, j.restarts) == ("azure", 1)
        # 10 h done, 10 h checkpointed; 20 h left from hour 10 + 1 h overhead
        assert j.end_h == pytest.approx(10 + 1 + 20)


def test_diversified_spreads_rate_demand_under_its_share_cap() -> None:
    # Three providers at one price, cap 0.4: 300 units of chat may not sit on one provider.
    pool = {"accelerator": "gpu", "price_per_hour": 2.0,
            "capacity": [{"at": "2025-01-01", "units": 400}]}
    s = scenario(**{"providers": {p: {"pools": {"gpu": copy.deepcopy(pool)}} for p in ("a", "b", "c")},
                    "inference": {"chat": {"base_units": 300}}, "horizon": "2d",
                    "policy.params.diversified": {"share_cap": 0.4}})
    st = sim.run(s, policy="diversified").steps
    per = st.groupby(["hour", "provider"]).inference.sum().unstack()
    assert (per.max(axis=1) <= 0.4 * per.sum(axis=1) + 1e-6).all()
    assert per.sum(axis=1).to_numpy() == pytest.approx(300.0)


# ---------------------------------------------------------------- the desk's records


def test_holder_free_units_at_a_placement_elsewhere_is_its_largest_pool_room() -> None:
    """Azure (the holder) has pools of 100 and 30 units; a grandfathered run of 90 holds the
    first from hour 0, leaving rooms of 10 and 30. A gang run of 40 needs one pool: Azure
    cannot supply it, declines after the 48 h window, and it starts at the other provider.
    The holder's free units recorded then are its largest room, 30 (not 10 + 30, not 10).
    Catches training._holder_free: `max` -> `min`."""
    second = {"accelerator": "gpu", "price_per_hour": 3.0,
              "capacity": [{"at": "2025-01-01", "units": 30}]}
    s = build(FIRST_REFUSAL, **{"providers.azure.pools.gpu2": second, "training.jobs": [
        hours_job("big", 0, 90, 30 * 24), hours_job("b", 24, 40, 10)]})
    j = sim.run(s).jobs.set_index("job")
    assert (j.loc["big", "provider"], j.loc["big", "rofr_offer"]) == ("azure", "grandfathered")
    assert (j.loc["b", "provider"], j.loc["b", "rofr_offer"]) == ("other", "declined")
    assert j.loc["b", "start_h"] == pytest.approx(24 + 48)
    assert j.loc["b", "rofr_holder_free_units"] == pytest.approx(30.0)


def test_a_run_whose_offer_is_still_open_at_the_end_waits_for_first_refusal() -> None:
    """A grandfathered run holds all of Azure past the 40-day horizon; b arrives on day 39 and
    is offered to Azure, which cannot supply it: the 48 h window ends after the horizon, so b
    is still waiting at the end, for the holder's answer (README: waiting_for first_refusal).
    Catches training._waiting_for: `job.claim < 0` -> `> 0` (b, with no claim, reported as
    waiting for capacity)."""
    s = build(FIRST_REFUSAL, **{"training.jobs": [hours_job("big", 0, 100, 45 * 24),
                                                  hours_job("b", 39 * 24, 40, 10)]})
    b = sim.run(s).jobs.set_index("job").loc["b"]
    assert (b.status, b.rofr_offer, b.waiting_for) == ("waiting", "pending", "first_refusal")


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
