"""Total cost: each part worked out by hand from a small scenario's numbers, and the ramp rule.

Every expected dollar figure below is multiplied out from the scenario written in the test
(units x hours x price, unmet units x hours x value, hours late x price of an hour), never read
from capsim's own formulas.
"""

from __future__ import annotations

from typing import Any

import pytest
from scenario_edit import build

import sim
from sim.analysis import compare
from sim.scenario import ScenarioError

BASE: dict[str, Any] = {
    "name": "cost",
    "start": "2025-01-01",
    "horizon": "10h",
    "step": "1h",
    "accelerators": {
        "gpu": {"family": "gpu", "power_kw": 1.0},
        "fast": {"family": "gpu", "train_speed": 2.0, "power_kw": 1.0},
        "cpu": {"family": "cpu", "power_kw": 0.01},
    },
    "providers": {
        "azure": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 3.0,
                                    "capacity": [{"at": "2025-01-01", "units": 100}]}}},
        "other": {"pools": {"gpu": {"accelerator": "gpu", "price_per_hour": 2.0,
                                    "capacity": [{"at": "2025-01-01", "units": 100}]}}},
    },
    "policy": {"default": "cheapest_first"},
}


def scenario(**changes: Any) -> sim.Scenario:
    return build(BASE, **changes)


def job(name: str, units: int = 100, duration: str = "10h", arrival: str = "2025-01-01",
        **extra: Any) -> dict[str, Any]:
    return {"name": name, "arrival": arrival, "units": units, "duration": duration, **extra}


# ---------------------------------------------------------------- shortfall


def _short_of_capacity(**clock: Any) -> sim.Scenario:
    """100 GPUs at $2/h for chat asking 120 (20 unmet each hour, $5 a unit-hour, a $100 penalty a
    step below target) and 50 vCPUs at $0.01/h for agents asking 60 (10 unmet, $0.1)."""
    return scenario(**clock, **{
        "providers": {"azure": {"pools": {
            "gpu": {"accelerator": "gpu", "price_per_hour": 2.0,
                    "capacity": [{"at": "2025-01-01", "units": 100}]},
            "cpu": {"accelerator": "cpu", "price_per_hour": 0.01,
                    "capacity": [{"at": "2025-01-01", "units": 50}]}}}},
        "inference": {"chat": {"base_units": 120, "value_per_unit_hour": 5.0,
                               "penalty_per_step_below_target": 100.0, "slo": 0.99}},
        "agents": {"sandboxes": {"base_units": 60, "value_per_unit_hour": 0.1}},
    })


def test_shortfall_cost_is_unmet_unit_hours_times_value_plus_penalty_per_step() -> None:
    # One provider, 100 GPUs; chat asks for 120 every hour for 10 hours: 20 unmet per hour.
    # Agents ask for 60 vCPUs of a 50-vCPU pool: 10 unmet per hour, no penalty.
    s = _short_of_capacity()
    s_ = sim.run(s).summary
    chat = 20 * 10 * 5.0 + 10 * 100.0  # 1,000 of lost value + ten steps below target
    agents = 10 * 10 * 0.1  # 10
    assert s_["inference"]["shortfall_cost"] == pytest.approx(chat)
    assert s_["inference"]["services"]["chat"]["shortfall_cost"] == pytest.approx(chat)
    assert s_["agents"]["shortfall_cost"] == pytest.approx(agents)
    assert s_["shortfall_cost"] == pytest.approx(chat + agents)
    spend = 100 * 10 * 2.0 + 50 * 10 * 0.01  # both pools fully busy all ten hours
    assert s_["spend_total"] == pytest.approx(spend)
    assert s_["cost_total"] == pytest.approx(spend + chat + agents)


def test_a_step_meeting_its_target_pays_no_penalty_and_unpriced_shortfall_costs_nothing() -> None:
    # 100 of 100.5 served is 99.5%: above a 99% target, so only the lost value is charged.
    s = scenario(**{
        "providers": {"azure": BASE["providers"]["azure"]},
        "inference": {"chat": {"base_units": 100.5, "value_per_unit_hour": 4.0,
                               "penalty_per_step_below_target": 1000.0, "slo": 0.99},
                      "free": {"base_units": 1, "providers": ["azure"], "priority": 0}},
    })
    r = sim.run(s)
    chat = r.services[r.services.service == "chat"]
    assert chat.served.sum() == pytest.approx(1000.0)  # chat outranks `free` on every step
    assert r.summary["inference"]["services"]["chat"]["shortfall_cost"] == pytest.approx(
        0.5 * 10 * 4.0)
    assert r.summary["inference"]["services"]["free"]["unmet_unit_hours"] == pytest.approx(10.0)
    assert r.summary["inference"]["services"]["free"]["shortfall_cost"] == 0.0


# ---------------------------------------------------------------- delay


def test_delay_cost_counts_hours_after_arrival_plus_duration_and_up_to_the_horizon() -> None:
    # One pool of 100 GPUs, three runs of 100 units asking at hour 0, run in priority order:
    # first 0-10 h (on time), second 10-20 h (10 h late), third starts at 20 h and is still
    # running at the 30 h horizon: it could have finished at 15 h, so 15 h are charged.
    s = scenario(**{
        "horizon": "30h",
        "providers": {"other": BASE["providers"]["other"]},
        "training.jobs": [
            job("first", priority=3, delay_cost_per_hour=50.0),
            job("second", priority=2, delay_cost_per_hour=1000.0),
            job("third", duration="15h", priority=1, delay_cost_per_hour=100.0),
        ],
    })
    r = sim.run(s)
    jobs = r.jobs.set_index("job")
    assert jobs.loc["second", "end_h"] == 20.0 and jobs.loc["third", "status"] == "running"
    assert jobs.loc["first", "delay_cost"] == 0.0
    assert jobs.loc["second", "delay_cost"] == pytest.approx(10 * 1000.0)
    assert jobs.loc["third", "delay_cost"] == pytest.approx(15 * 100.0)
    assert r.summary["delay_cost"] == pytest.approx(10_000.0 + 1_500.0)
    spend = 100 * 30 * 2.0  # the pool is busy the whole 30 h
    assert r.summary["cost_total"] == pytest.approx(spend + 11_500.0)


def test_a_run_that_never_starts_is_charged_from_its_reference_finish_to_the_horizon() -> None:
    s = scenario(**{"horizon": "24h", "providers": {"other": BASE["providers"]["other"]},
                    "training.jobs": [job("too-big", units=150, duration="4h",
                                          delay_cost_per_hour=10.0)]})
    r = sim.run(s)
    assert r.jobs.status.iloc[0] != "finished"
    assert r.summary["delay_cost"] == pytest.approx((24 - 4) * 10.0)


def test_a_run_on_the_fastest_chips_it_may_use_is_not_late() -> None:
    s = scenario(**{"providers.other.pools.gpu.accelerator": "fast",
                    "training.jobs": [job("quick", delay_cost_per_hour=1000.0)]})
    r = sim.run(s)
    assert r.jobs.end_h.iloc[0] == pytest.approx(5.0)
    assert r.summary["delay_cost"] == 0.0


def test_a_run_placed_on_slower_chips_than_it_may_use_is_late_by_the_difference() -> None:
    # It may use azure's fast chips (speed 2: 5 h) but cheapest_first puts it on `other`
    # (2 $ per unit of work against 5 / 2 = 2.5): 10 h, so 5 h later than it could have.
    s = scenario(**{"horizon": "20h", "providers.azure.pools.gpu.accelerator": "fast",
                    "providers.azure.pools.gpu.price_per_hour": 5.0,
                    "training.jobs": [job("slow", delay_cost_per_hour=100.0)]})
    r = sim.run(s)
    assert (r.jobs.provider.iloc[0], r.jobs.end_h.iloc[0]) == ("other", 10.0)
    assert r.summary["delay_cost"] == pytest.approx(5 * 100.0)


def test_porting_time_is_part_of_the_earliest_finish() -> None:
    # Only TPUs (another family): 10 h of work + 3 h porting = 13 h at best, so not late.
    s = scenario(**{"accelerators.tpu": {"family": "tpu", "power_kw": 1.0},
                    "providers.other.pools.gpu.accelerator": "tpu", "horizon": "20h",
                    "training.jobs": [job("ported", porting="3h", families=["tpu"],
                                          delay_cost_per_hour=100.0)]})
    r = sim.run(s)
    assert r.jobs.end_h.iloc[0] == pytest.approx(13.0)
    assert r.summary["delay_cost"] == 0.0


def test_generated_runs_are_charged_at_their_generator_price() -> None:
    # Runs of all 100 units, 5 h each, arriving about hourly: nearly all queue, so most are
    # late; each one's charge is 7 $ per hour past its own arrival + 5 h (or the horizon).
    s = scenario(**{"horizon": "48h", "providers": {"other": BASE["providers"]["other"]},
                    "training.generators": {"stream": {
                        "arrivals_per_day": 24, "units": {"dist": "fixed", "value": 100},
                        "duration": {"dist": "fixed", "value": 5},
                        "delay_cost_per_hour": 7.0}}})
    r = sim.run(s)
    jobs = r.jobs
    finish = jobs.end_h.where(jobs.status == "finished", 48.0)
    late = (finish - jobs.arrival_h - 5.0).clip(lower=0.0)
    assert (late > 0).sum() > 5
    assert r.summary["delay_cost"] == pytest.approx(7.0 * late.sum())


def test_credit_per_day_before_the_target_date() -> None:
    # Finishes at 10 h; wanted by 2025-01-03 (48 h): 38 h = 19/12 days early at 240 $ a day.
    s = scenario(**{"horizon": "3d", "training.jobs": [job(
        "frontier", frontier=True, target_finish="2025-01-03", value_per_day_early=240.0)]})
    r = sim.run(s)
    assert r.summary["early_finish_credit"] == pytest.approx(38 / 24 * 240.0)
    spend = 100 * 10 * 2.0
    assert r.summary["cost_total"] == pytest.approx(spend - 380.0)


def test_value_per_day_early_needs_a_target_date() -> None:
    with pytest.raises(ScenarioError, match="target_finish"):
        scenario(**{"training.jobs": [job("frontier", value_per_day_early=240.0)]})


# ---------------------------------------------------------------- spend parts


def test_spend_splits_into_committed_used_idle_on_demand_and_spot_per_provider() -> None:
    # azure: 100 GPUs, 60 committed at 1.5 $/h; API traffic of 40 stays there, so 40 committed
    # units are used and 20 paid for idle. coreweave: 30 units of chat at 2 $/h on demand.
    # spotco: a spot pool (no reclaims) running one 10-unit, 10 h run at 0.5 $/h.
    s = scenario(**{
        "preemption": {"spot_reclaim": False},
        "providers": {
            "azure": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 3.0,
                "capacity": [{"at": "2025-01-01", "units": 100}],
                "commitments": [{"units": 60, "price_per_hour": 1.5, "start": "2025-01-01",
                                 "term": "1y"}]}}},
            "coreweave": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 2.0,
                "capacity": [{"at": "2025-01-01", "units": 100}]}}},
            "spotco": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 0.5,
                "capacity": [{"at": "2025-01-01", "units": 10}],
                "spot": {"reclaim_mtbf": "30d", "reclaim_duration": "1h"}}}},
        },
        "inference": {"api": {"base_units": 40, "providers": ["azure"]},
                      "chat": {"base_units": 30, "providers": ["coreweave"]}},
        "training.jobs": [job("run", units=10, providers=["spotco"])],
    })
    sm = sim.run(s).summary
    assert sm["spend_committed_used"] == pytest.approx(40 * 1.5 * 10)  # 600
    assert sm["committed_idle_cost"] == pytest.approx(20 * 1.5 * 10)  # 300
    assert sm["spend_on_demand"] == pytest.approx(30 * 2.0 * 10)  # 600
    assert sm["spend_spot"] == pytest.approx(10 * 10 * 0.5)  # 50
    assert sm["spend_total"] == pytest.approx(1550.0)
    assert sm["spend_committed_used_by_provider"]["azure"] == pytest.approx(600.0)
    assert sm["committed_idle_cost_by_provider"]["azure"] == pytest.approx(300.0)
    assert sm["spend_on_demand_by_provider"] == pytest.approx(
        {"azure": 0.0, "coreweave": 600.0, "spotco": 0.0})
    assert sm["spend_spot_by_provider"] == pytest.approx(
        {"azure": 0.0, "coreweave": 0.0, "spotco": 50.0})
    parts = ("spend_committed_used", "committed_idle_cost", "spend_on_demand", "spend_spot")
    for provider, spend in sm["spend_by_provider"].items():
        assert sum(sm[f"{p}_by_provider"][provider] for p in parts) == pytest.approx(spend)


def test_on_demand_beyond_a_commitment_is_on_demand_spend() -> None:
    # 60 committed at 1.5 $/h, 90 in use at 3 $/h list: 30 units over the commitment.
    s = scenario(**{
        "providers": {"azure": {"pools": {"gpu": {
            "accelerator": "gpu", "price_per_hour": 3.0,
            "capacity": [{"at": "2025-01-01", "units": 100}],
            "commitments": [{"units": 60, "price_per_hour": 1.5, "start": "2025-01-01",
                             "term": "1y"}]}}}},
        "inference": {"api": {"base_units": 90}},
    })
    sm = sim.run(s).summary
    assert sm["spend_committed_used"] == pytest.approx(60 * 1.5 * 10)
    assert sm["committed_idle_cost"] == pytest.approx(0.0)
    assert sm["spend_on_demand"] == pytest.approx(30 * 3.0 * 10)
    assert sm["spend_spot"] == 0.0


# ---------------------------------------------------------------- ranking by total cost


def test_compare_puts_total_cost_first_and_the_cheaper_spender_can_cost_more() -> None:
    # A 100-unit run worth 1,000 $ an hour late. cheapest_first runs it at once on `other`:
    # 100 x 10 h x 2 $ = 2,000 $ spend, no delay. diversified (strict, 50% cap) never lets one
    # provider hold it all: nothing spent, but 10 h late at the 20 h horizon = 10,000 $.
    s = scenario(**{"horizon": "20h",
                    "training.jobs": [job("run", delay_cost_per_hour=1000.0)],
                    "policy.params": {"diversified": {"share_cap": 0.5, "strict": True}}})
    cmp = compare(s, ["cheapest_first", "diversified"], replications=2, keep_runs=False)
    t = cmp.table.set_index(["policy", "metric"])
    assert t.loc[("cheapest_first", "spend_total"), "mean"] == pytest.approx(2000.0)
    assert t.loc[("diversified", "spend_total"), "mean"] == pytest.approx(0.0)
    assert t.loc[("cheapest_first", "cost_total"), "mean"] == pytest.approx(2000.0)
    assert t.loc[("diversified", "cost_total"), "mean"] == pytest.approx(10_000.0)
    assert t.loc[("diversified", "cost_total"), "diff"] == pytest.approx(8000.0)
    labels = list(cmp.overview().index)
    assert labels[0].startswith("Cost, total")
    assert labels.index("Spend, total") > labels.index(labels[0])
    # parts no run has (no early-finish credit, no spot pool) are left out of the report
    assert "Credit for finishing early" not in labels and "Spend on spot" not in labels
    assert "Delay cost (training late)" in labels


# ---------------------------------------------------------------- ramps


def ramped_site(increments: int) -> sim.RunResult:
    # 120 units planned online 2025-01-03 (hour 48) with a 6-day (144 h) ramp.
    return sim.run(scenario(**{
        "horizon": "12d",
        "providers": {"oracle": {"pools": {"gpu": {
            "accelerator": "gpu", "price_per_hour": 2.0,
            "buildout": {"ramp_increments": increments, "sites": [
                {"name": "abilene", "online": "2025-01-03", "units": 120, "ramp": "6d"}]},
        }}}},
    }))


def test_a_ramp_starts_at_the_online_date_and_is_complete_at_online_plus_ramp() -> None:
    r = ramped_site(4)
    online = r.events[r.events.kind == "capacity_change"]
    assert online.hour.tolist() == [48.0, 96.0, 144.0, 192.0]  # every 144/3 h
    installed = r.steps.set_index("hour")["installed"]
    assert installed[47.0] == 0.0 and installed[48.0] == 30.0
    assert installed[191.0] == 90.0 and installed[192.0] == 120.0


def test_a_single_tranche_arrives_whole_at_online_plus_ramp() -> None:
    installed = ramped_site(1).steps.set_index("hour")["installed"]
    assert installed[191.0] == 0.0 and installed[192.0] == 120.0


# ---------------------------------------------------------------- metamorphic


def test_prices_of_shortfalls_change_what_is_charged_never_what_happens() -> None:
    # tiny.yaml prices every service and run; its API asks here for more than Azure has, so
    # some demand goes unserved. Doubling every price doubles shortfall and delay
    # cost and leaves spend, service and every start time alone; pricing nothing leaves total
    # cost equal to spend.
    tiny = sim.with_changes(sim.load("scenarios/tiny.yaml"),
                            {"inference.api.base_units": 1100})  # more than Azure's 1,000
    paths = ["inference.chat.value_per_unit_hour", "inference.api.value_per_unit_hour",
             "inference.api.penalty_per_step_below_target", "agents.tools.value_per_unit_hour",
             "training.jobs.0.delay_cost_per_hour", "training.generators.small.delay_cost_per_hour"]
    values = [6.0, 10.0, 200.0, 0.1, 1500.0, 100.0]
    runs = [sim.run(sim.with_changes(tiny, {p: v * k for p, v in zip(paths, values, strict=True)}),
                    policy="microsoft_first") for k in (1, 2, 0)]
    one, two, none = (r.summary for r in runs)
    assert one["delay_cost"] > 0 and one["shortfall_cost"] > 0  # something to double
    assert two["delay_cost"] == pytest.approx(2 * one["delay_cost"])
    assert two["shortfall_cost"] == pytest.approx(2 * one["shortfall_cost"])
    assert two["spend_total"] == one["spend_total"] == none["spend_total"]
    assert runs[0].jobs.start_h.equals(runs[1].jobs.start_h)
    assert none["cost_total"] == pytest.approx(none["spend_total"])


def test_on_a_six_hour_step_every_cost_is_per_hour_times_six_and_penalties_per_step() -> None:
    # The same shortfall as above on 6-hour steps over 60 hours (ten steps): value lost and
    # spend scale with the hours (x 6 per step), the penalty stays one per step below target.
    s = _short_of_capacity(horizon="60h", step="6h")
    s_ = sim.run(s).summary
    chat = 20 * 60 * 5.0 + 10 * 100.0  # 6,000 of lost value + ten steps below target
    agents = 10 * 60 * 0.1  # 60
    assert s_["inference"]["shortfall_cost"] == pytest.approx(chat)
    assert s_["agents"]["shortfall_cost"] == pytest.approx(agents)
    spend = 100 * 60 * 2.0 + 50 * 60 * 0.01  # both pools fully busy all sixty hours
    assert s_["spend_total"] == pytest.approx(spend)
    assert s_["cost_total"] == pytest.approx(spend + chat + agents)


def test_on_a_six_hour_step_spend_parts_spot_and_power_are_per_hour_figures() -> None:
    # The spend split above on 6-hour steps over 60 hours (ten steps). azure: 40 of 60 committed
    # units used, 20 idle, at 1.5 $/h; coreweave: 30 on demand at 2 $/h; spotco: one 10-unit run
    # of 10 h at 0.5 $/h, i.e. all of step 0 and 4 of the 6 hours of step 1.
    s = scenario(**{
        "horizon": "60h", "step": "6h",
        "preemption": {"spot_reclaim": False},
        "providers": {
            "azure": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 3.0,
                "capacity": [{"at": "2025-01-01", "units": 100}],
                "commitments": [{"units": 60, "price_per_hour": 1.5, "start": "2025-01-01",
                                 "term": "1y"}]}}},
            "coreweave": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 2.0,
                "capacity": [{"at": "2025-01-01", "units": 100}]}}},
            "spotco": {"pools": {"gpu": {
                "accelerator": "gpu", "price_per_hour": 0.5,
                "capacity": [{"at": "2025-01-01", "units": 10}],
                "spot": {"reclaim_mtbf": "30d", "reclaim_duration": "1h"}}}},
        },
        "inference": {"api": {"base_units": 40, "providers": ["azure"]},
                      "chat": {"base_units": 30, "providers": ["coreweave"]}},
        "training.jobs": [job("run", units=10, providers=["spotco"])],
    })
    result = sim.run(s)
    sm = result.summary
    assert sm["spend_committed_used"] == pytest.approx(40 * 1.5 * 60)  # 3,600
    assert sm["committed_idle_cost"] == pytest.approx(20 * 1.5 * 60)  # 1,800
    assert sm["spend_on_demand"] == pytest.approx(30 * 2.0 * 60)  # 3,600
    assert sm["spend_spot"] == pytest.approx(10 * 10 * 0.5)  # 50: ten hours, not two steps
    # Power is a rate (MW averaged over the step), never multiplied by the step's length: every
    # available unit draws idle_power_share (0.3) of its 1 kW, one in use all of it.
    frame = result.steps.sort_values(["provider", "step"])
    per_step = frame.groupby("provider")["power_mw"].apply(list).to_dict()
    assert per_step["azure"] == pytest.approx([(40 + 60 * 0.3) / 1000] * 10)  # 0.058 MW
    assert per_step["coreweave"] == pytest.approx([(30 + 70 * 0.3) / 1000] * 10)  # 0.051 MW
    in_use_step1 = 10 * 4 / 6  # the run's last 4 hours of the step's 6
    assert per_step["spotco"] == pytest.approx(
        [10 / 1000, (in_use_step1 + (10 - in_use_step1) * 0.3) / 1000] + [3 / 1000] * 8)
    assert sm["peak_power_mw"] == pytest.approx((58 + 51 + 10) / 1000)
    # energy, MWh (power x 6 h a step): azure 0.058 x 60 h + coreweave 0.051 x 60 h + spotco
    # (10 kW x 6 h + 7.667 kW x 6 h + 3 kW x 48 h) / 1000
    energy = (frame["power_mw"] * 6.0).sum()
    assert energy == pytest.approx(3.48 + 3.06 + (60 + (in_use_step1 + 1) * 6 + 144) / 1000)
