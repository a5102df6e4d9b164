"""The fluid model of `capsim plan` (sim/planning/fluid_inputs.py and fluid.py), read a second time:
capacity exactly as the engine's steps table has it, and small plans whose best choice and cost are
worked by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scenario_edit import build

import sim.api as api
from sim.engine import compile_scenario
from sim.planning.fluid import RiskSpec, evaluate, propose
from sim.planning.fluid_inputs import Sample, fluid_inputs, pool_capacity
from sim.planning.space import Decision
from sim.planning.stats import cvar

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

H = 240.0  # ten days of one-day steps: every hand figure below is per run

# One pool of 1000 reference GPUs at 3 $/h, one service of constant demand, one-day steps.
BASE: dict[str, Any] = {
    "name": "hand",
    "start": "2025-01-01",
    "horizon": "10d",
    "step": "24h",
    "accelerators": {"g": {"family": "gpu", "power_kw": 1.0}},
    "providers": {"cloud": {"pools": {"g": {
        "accelerator": "g", "price_per_hour": 3.0,
        "capacity": [{"at": "2025-01-01", "units": 1000}]}}}},
    "inference": {"svc": {"base_units": 250, "slo": 0.99, "value_per_unit_hour": 100.0}},
}


def commitment(price: float, hi: float = 1000, step: float = 100) -> Decision:
    """Units committed in cloud/g over the whole run at `price` per unit-hour."""
    return Decision(key="cloud/g commitment", provider="cloud", pool="g", kind="commitment",
                    lo=0, hi=hi, step=step, hand=0, start_h=0, term_h=H, price_per_hour=price)


def samples(*scenarios: Any) -> list[Sample]:
    return [Sample(compile_scenario(s), 1.0 / len(scenarios), f"w{i}")
            for i, s in enumerate(scenarios)]


# ------------------------------------------------------------------ capacity as the engine has it


@pytest.mark.parametrize("name", ["tiny", "openai_2025"])
def test_pool_capacity_is_the_engine_steps_capacity(name: str) -> None:
    """Installed minus outage losses, capped by tenant cap and availability: the steps table's
    `capacity` column, step by step and exactly, in every pool. (The fast model leaves out the
    units unit failures keep in repair, a fraction of a percent of a pool: compared with them
    off.)"""
    s = api.load(SCENARIOS / f"{name}.yaml")
    s = api.with_changes(s, {f"accelerators.{a}.failures": None for a in s.accelerators})
    steps = api.run(s, policy="open_market").steps
    c = compile_scenario(s)
    for p, cp in enumerate(c.pools):
        rows = steps[(steps["provider"] == cp.info.provider) & (steps["pool"] == cp.info.name)]
        engine = rows.sort_values("step")["capacity"].to_numpy()
        assert np.array_equal(pool_capacity(c, p), engine), cp.info.key


def test_pool_capacity_with_blocks_availability_and_outage() -> None:
    """A shared pool half open to this customer under a tenant cap, with a block of its own and
    a scheduled outage: the engine's capacity again (blocks pass the cap and the market)."""
    s = build(BASE, **{
        "providers.cloud.pools.g.tenant_cap": [{"at": "2025-01-01", "units": 400}],
        "providers.cloud.pools.g.availability": {"series": [{"at": "2025-01-03", "share": 0.3}]},
        "providers.cloud.pools.g.blocks": {"size": 200, "lead_time": "2d", "min_term": "5d",
                                           "price_per_hour": 2.0,
                                           "orders": [{"at": "2025-01-02"}]},
        "outages": [{"provider": "cloud", "start": "2025-01-06", "duration": "2d", "share": 0.5}],
    })
    c = compile_scenario(s)
    engine = api.run(s, policy="open_market").steps["capacity"].to_numpy()
    # by hand: the cap (400) for two days, then 30 % of the 1000 shared; the block (ordered on
    # day 1, online on day 3 for 5 days) adds 200; the outage of days 5-6 takes half of the 1200
    # installed, leaving 600, more than the 500 allowed; the block lapses on day 8
    assert np.array_equal(pool_capacity(c, 0), engine)
    assert pool_capacity(c, 0).tolist() == [400, 400, 300] + [500] * 5 + [300] * 2


# ------------------------------------------------------------------ one pool, one service


@pytest.mark.parametrize(("p_c", "best"), [(2.0, 200), (1.0, 300), (3.5, 0)])
def test_commitment_against_constant_demand(p_c: float, best: float) -> None:
    """Demand 250, on demand 3 $/h, commitments on a 100-unit grid at p_c. Committing c costs
    c·p_c·H + max(250 − c, 0)·3·H: from 200 to 300, +100·p_c and −50·3, so 300 is better only
    when p_c < 1.5 (p_c = 1: 300); at p_c = 2 it is 200 (200·2 + 50·3 = 550 $/h against 600);
    above the on-demand price nothing is committed."""
    smp = samples(build(BASE))
    dec = [commitment(p_c)]
    out = propose(dec, smp, lambdas=(0.0,), shortfall_weights=(1.0,))
    assert len(out) == 1
    assert out[0].choice == {"cloud/g commitment": best}
    cost = best * p_c * H + max(250 - best, 0) * 3.0 * H
    assert out[0].expected["cost_total"] == pytest.approx(cost, rel=1e-9)
    for c in (0, 100, 200, 300, 400):
        r = evaluate(dec, smp, {"cloud/g commitment": c})
        by_hand = c * p_c * H + max(250 - c, 0) * 3.0 * H
        assert r.expected["cost_total"] == pytest.approx(by_hand, rel=1e-9)
        assert r.expected["spend_committed"] == pytest.approx(c * p_c * H, rel=1e-9)
        assert r.expected["spend_on_demand"] == pytest.approx(max(250 - c, 0) * 3.0 * H, rel=1e-9)
        assert r.expected["shortfall_cost"] == pytest.approx(0.0, abs=1e-6)
        assert r.unmet_share == 0.0


def test_existing_commitment_is_a_constant_of_every_plan() -> None:
    """The scenario's own 100 units at 2.5 $/h: 100·2.5·H in every plan's committed spend, and
    they cover the first 100 units of use (so committing 200 more at 2 leaves 0 on demand... but
    250 − 100 − c on demand otherwise)."""
    s = build(BASE, **{"providers.cloud.pools.g.commitments": [
        {"units": 100, "price_per_hour": 2.5, "start": "2024-06-01", "term": "1y"}]})
    r = evaluate([commitment(2.0)], samples(s), {"cloud/g commitment": 100})
    assert r.expected["spend_committed"] == pytest.approx((100 * 2.5 + 100 * 2.0) * H)
    assert r.expected["spend_on_demand"] == pytest.approx(50 * 3.0 * H)


def test_newsvendor_expected_against_worst_case() -> None:
    """Two equally likely worlds of demand 100 and 300, commitments at 2 against 3 on demand.
    A unit between 100 and 300 is used with probability ½: worth ½·3 = 1.5 < 2, so the expected
    cost is least at 100 (E = 100·2·H + ½·200·3·H = 500 $/h·H; 200: 550, 300: 600). The worst
    world's cost max(C1, C2) is least at 300 (600·H; 200: C2 = 400 + 300 = 700; 100: 800)."""
    smp = samples(build(BASE, **{"inference.svc.base_units": 100}),
                  build(BASE, **{"inference.svc.base_units": 300}))
    dec = [commitment(2.0)]
    expected, worst = propose(dec, smp, risk=RiskSpec(alpha=1.0), lambdas=(0.0, 1.0),
                              shortfall_weights=(1.0,))
    assert expected.choice == {"cloud/g commitment": 100}
    assert expected.expected["cost_total"] == pytest.approx(500 * H)
    assert expected.per_sample == pytest.approx([200 * H, 800 * H])
    assert expected.cvar == pytest.approx(800 * H)
    assert worst.choice == {"cloud/g commitment": 300}
    assert worst.per_sample == pytest.approx([600 * H, 600 * H])
    assert worst.cvar == pytest.approx(600 * H)
    assert worst.label == "lambda=1"


def test_blocks_add_dedicated_capacity() -> None:
    """Capacity 100, demand 200 worth 10 $/unit-hour: without a block 100 go unserved
    (100·10·H of shortfall, 100·3·H on demand). One block of 100 at 2 $/h serves them: 100·2·H
    committed, the same 100·3·H on demand for the shared units, no shortfall (500·H against
    1300·H). A block's committed units price any use of the pool, as in the engine: two blocks
    cover all 200 in use at 2 $/h (400·H) and are cheaper still; three leave 100 idle (600·H)."""
    s = build(BASE, **{"providers.cloud.pools.g.capacity": [{"at": "2025-01-01", "units": 100}],
                       "inference.svc.base_units": 200, "inference.svc.value_per_unit_hour": 10.0})
    dec = [Decision(key="block", provider="cloud", pool="g", kind="blocks", lo=0, hi=3, step=1,
                    hand=0, start_h=0, term_h=H, price_per_hour=2.0, size=100)]
    smp = samples(s)
    none = evaluate(dec, smp, {"block": 0})
    assert none.expected["shortfall_cost"] == pytest.approx(100 * 10 * H)
    assert none.expected["spend_on_demand"] == pytest.approx(100 * 3 * H)
    assert none.unmet_share == 1.0
    one = evaluate(dec, smp, {"block": 1})
    assert one.expected["shortfall_cost"] == pytest.approx(0.0, abs=1e-6)
    assert one.expected["spend_committed"] == pytest.approx(100 * 2 * H)
    assert one.expected["spend_on_demand"] == pytest.approx(100 * 3 * H)
    assert one.unmet_share == 0.0
    best = propose(dec, smp, lambdas=(0.0,), shortfall_weights=(1.0,))
    assert [r.choice for r in best] == [{"block": 2}]
    assert best[0].expected["cost_total"] == pytest.approx(400 * H)
    assert evaluate(dec, smp, {"block": 3}).expected["cost_total"] == pytest.approx(600 * H)


def test_a_block_out_of_stock_comes_later_by_the_expected_wait() -> None:
    """Available with probability ½ and asked for again every 2 days: expected wait
    2·(1 − ½)/½ = 2 days, so of the 10 days the block serves 8 (shortfall 2 days × 100 × 10)."""
    s = build(BASE, **{"providers.cloud.pools.g.capacity": [{"at": "2025-01-01", "units": 100}],
                       "inference.svc.base_units": 200, "inference.svc.value_per_unit_hour": 10.0})
    dec = [Decision(key="block", provider="cloud", pool="g", kind="blocks", lo=0, hi=1, step=1,
                    hand=0, start_h=0, term_h=H, price_per_hour=2.0, size=100,
                    available=0.5, retry_h=48.0)]
    r = evaluate(dec, samples(s), {"block": 1})
    assert r.expected["shortfall_cost"] == pytest.approx(100 * 10 * 48)
    assert r.expected["spend_committed"] == pytest.approx(100 * 2 * (H - 48))


def test_training_backlog_by_hand() -> None:
    """One job of U = 100 units for T = 48 h on a pool of 50, delay 1000 $/h. Its work (4800
    unit-hours) falls due at 100 per hour over 48 h; 50 an hour are served. Backlog at the end
    of days 1..4: 1200, 2400, 1200, 0, so Σ backlog × 24 h = 115,200 unit-hour-hours, charged
    1000 / 4800 each: 24,000 = the delay cost of T/2 = 24 h (the work is done on average a day
    late). The 4800 unit-hours are bought on demand at 1 $/h."""
    s = build(BASE, **{
        "providers.cloud.pools.g.capacity": [{"at": "2025-01-01", "units": 50}],
        "providers.cloud.pools.g.price_per_hour": 1.0,
        "inference": {},
        "training.jobs": [{"name": "run", "arrival": "2025-01-01", "units": 100,
                           "duration": "48h", "delay_cost_per_hour": 1000}],
    })
    smp = samples(s)
    fi = fluid_inputs(smp[0])
    assert fi.classes[0].arrivals[:3].tolist() == [2400, 2400, 0]
    r = evaluate([], smp, {})
    assert r.expected["delay_cost"] == pytest.approx(24_000)
    assert r.expected["spend_on_demand"] == pytest.approx(4800)



def test_porting_is_charged_where_a_run_leaves_its_family() -> None:
    """One GPU-native run of 100 units for 48 h, delay 1000 $/h, porting 12 h; two pools of 100
    units, a GPU pool at 3 $/h and a TPU pool at 1 $/h. On the TPUs it finishes 12 h later:
    12 × 1000 = 12,000 of delay against 4800 × (3 − 1) = 9,600 saved, so it runs on the GPUs
    (cost 14,400). With porting 3 h the delay is 3,000 < 9,600: the TPUs (cost 4,800 + 3,000)."""
    for porting, expected, delay in ((12, 4800 * 3, 0.0), (3, 4800 * 1 + 3000, 3000.0)):
        s = build(BASE, **{
            "accelerators.t": {"family": "tpu", "power_kw": 1.0},
            "providers.cloud.pools.g.capacity": [{"at": "2025-01-01", "units": 100}],
            "providers.cloud.pools.t": {"accelerator": "t", "price_per_hour": 1.0,
                                        "capacity": [{"at": "2025-01-01", "units": 100}]},
            "inference": {},
            "training.jobs": [{"name": "run", "arrival": "2025-01-01", "units": 100,
                               "duration": "48h", "delay_cost_per_hour": 1000,
                               "families": ["gpu", "tpu"], "native_family": "gpu",
                               "porting": f"{porting}h"}],
        })
        (best,) = propose([], samples(s), lambdas=(0.0,), shortfall_weights=(1.0,))
        assert best.expected["cost_total"] == pytest.approx(expected)
        assert best.expected["delay_cost"] == pytest.approx(delay)

def test_candidates_kept_and_duplicates_merged() -> None:
    """Two pools, the service allowed only on the dear one: a commitment in the cheap pool is
    worthless and never bought; the four (λ, weight) solves all agree, so one candidate whose
    label names them all."""
    s = build(BASE, **{
        "providers.other": {"pools": {"g": {"accelerator": "g", "price_per_hour": 1.0,
                                            "capacity": [{"at": "2025-01-01", "units": 1000}]}}},
        "inference.svc.providers": ["cloud"],
    })
    dec = [Decision(key="other", provider="other", pool="g", kind="commitment", lo=0, hi=500,
                    step=100, hand=0, start_h=0, term_h=H, price_per_hour=0.5)]
    out = propose(dec, samples(s), lambdas=(0.0, 1.0), shortfall_weights=(1.0, 4.0))
    assert len(out) == 1
    assert out[0].choice == {"other": 0}
    assert out[0].label == ("lambda=0, lambda=1, lambda=0 shortfall_weight=4, "
                            "lambda=1 shortfall_weight=4")
    assert out[0].expected["cost_total"] == pytest.approx(250 * 3 * H)


def test_cvar_weighted() -> None:
    """Mean of the worst 1 − α of the mass: worst 10 % of {1: 0.5, 2: 0.4, 10: 0.1} is 10; the
    worst 30 % is (0.1·10 + 0.2·2) / 0.3."""
    v, w = np.array([1.0, 2.0, 10.0]), np.array([0.5, 0.4, 0.1])
    assert cvar(v, w, 0.9) == pytest.approx(10.0)
    assert cvar(v, w, 0.7) == pytest.approx((1.0 + 0.4) / 0.3)
    assert cvar(v, w, 1.0) == 10.0
    assert cvar(v, w, 0.0) == pytest.approx(float(v @ w))


def test_load_levels_split_each_day_by_demand() -> None:
    """Hourly steps, a ±50 % daily swing, two levels a day: each day becomes its 12 busiest and
    12 quietest hours, whose averages bracket the day's mean and average back to it."""
    s = build(BASE, step="1h", horizon="2d", **{"inference.svc.daily_amplitude": 0.5})
    c = compile_scenario(s)
    fi = fluid_inputs(c, 24.0, levels=2)
    assert fi.hours.tolist() == [12.0] * 4
    assert fi.slice_of.tolist() == [0, 0, 1, 1]
    d = c.services[0].demand
    for day in range(2):
        hours = np.sort(d[24 * day:24 * day + 24])
        busy, quiet = fi.demand[2 * day:2 * day + 2, 0]
        assert (busy, quiet) == pytest.approx((hours[12:].mean(), hours[:12].mean()))
    assert fluid_inputs(c, 24.0).demand[:, 0] == pytest.approx([d[:24].mean(), d[24:].mean()])


def test_small_training_classes_fold_into_one_they_may_wait_for() -> None:
    """A class with under 1 % of the work, allowed on every pool, joins the big class allowed on
    one of them: one class, the work of both, delay priced Σ delay cost / Σ work."""
    s = build(BASE, **{
        "providers.other": {"pools": {"g": {"accelerator": "g", "price_per_hour": 1.0,
                                            "capacity": [{"at": "2025-01-01", "units": 10}]}}},
        "inference": {},
        "training.jobs": [
            {"name": "big", "arrival": "2025-01-01", "units": 1000, "duration": "48h",
             "providers": ["cloud"], "delay_cost_per_hour": 1000},
            {"name": "small", "arrival": "2025-01-02", "units": 1, "duration": "24h",
             "delay_cost_per_hour": 10}],
    })
    classes = fluid_inputs(compile_scenario(s)).classes
    assert len(classes) == 1
    assert classes[0].candidates == (0,)
    assert classes[0].work == 48_024
    assert classes[0].rate == pytest.approx(1010 / 48_024)
    assert classes[0].arrivals[:3].tolist() == [24_000, 24_024, 0]


def test_unknown_pool_and_hand_values() -> None:
    """A decision in a pool the scenario lacks is an error; a choice without a decision's key
    prices its hand value."""
    smp = samples(build(BASE))
    bad = Decision(key="x", provider="nowhere", pool="g", kind="commitment", lo=0, hi=1, step=1,
                   hand=0, start_h=0, term_h=H, price_per_hour=1.0)
    with pytest.raises(KeyError, match="nowhere/g"):
        evaluate([bad], smp, {})
    dec = commitment(2.0)
    hand = Decision(**{**dec.__dict__, "hand": 200.0})
    assert evaluate([hand], smp, {}).choice == {"cloud/g commitment": 200.0}
    assert evaluate([hand], smp, {}).expected["cost_total"] == pytest.approx(550 * H)


def test_power_ceiling_bounds_use() -> None:
    """A 0.5 MW ceiling over units of 1 kW that draw 0.3 kW idle: the 1000 available draw 300 kW
    idle, leaving 200 kW for 0.7 kW of busy draw each: 285.7 units serve, so of demand 400,
    114.3 go unserved (at 100 $/unit-hour), 285.7 are bought on demand."""
    s = build(BASE, **{"inference.svc.base_units": 400,
                       "power": {"ceiling": [{"at": "2025-01-01", "mw": 0.5}]}})
    r = evaluate([], samples(s), {})
    served = 200 / 0.7
    assert r.expected["spend_on_demand"] == pytest.approx(served * 3 * H)
    assert r.expected["shortfall_cost"] == pytest.approx((400 - served) * 100 * H)


LATENCY = {"concurrency": 64, "queue_units": 8, "target_utilisation": 0.8,
           "prompt_tokens": 1000, "output_tokens": 300, "prefill_tokens_per_second": 12000,
           "decode_tokens_per_second": 2500, "target": {"percentile": 99, "ttft_s": 2}}


@pytest.mark.parametrize(("units", "unserved"), [(1000, 0), (220, 30)])
def test_latency_headroom(units: float, unserved: float) -> None:
    """Load 200 at 80 % target utilisation: a fleet of 250 is asked for, and served whenever the
    units exist (value 10 > 3 on demand), as the engine serves it. Short of units, the 30
    missing are headroom: no load lost, so charged as the engine charges a missed target, the
    penalty (1000 per 24 h step) spread over the 50 units of headroom: 30 × 1000 / (24 × 50)
    per hour, 6000 over the 10 days; every day misses its target."""
    s = build(BASE, **{"providers.cloud.pools.g.capacity": [{"at": "2025-01-01", "units": units}],
                       "inference.svc": {"base_units": 200, "slo": 0.99, "latency": LATENCY,
                                         "value_per_unit_hour": 10.0,
                                         "penalty_per_step_below_target": 1000}})
    r = evaluate([], samples(s), {})
    assert r.expected["spend_on_demand"] == pytest.approx((250 - unserved) * 3 * H)
    assert r.expected["shortfall_cost"] == pytest.approx(unserved * 1000 / (24 * 50) * H)
    assert r.unmet_share == (1.0 if unserved else 0.0)


@pytest.mark.parametrize(("retry_h", "p"), [(24.0, 0.5), (168.0, 0.2), (6.0, 0.9)])
def test_expected_wait_for_stock_is_the_mean_of_failed_asks_times_the_retry(
        retry_h: float, p: float) -> None:
    # Asks at 0, r, 2r, ...: the wait is r times the failures before the first success, a
    # geometric count with mean sum_k k p (1-p)^k; summed here term by term, and checked by
    # Monte Carlo (200,000 draws; 99.9 % interval of the mean).
    import numpy as np

    from sim.planning.fluid_inputs import expected_wait_for_stock

    series = sum(k * p * (1 - p) ** k for k in range(20_000)) * retry_h
    assert expected_wait_for_stock(retry_h, p) == pytest.approx(series, rel=1e-9)
    rng = np.random.default_rng(2024)
    waits = (rng.geometric(p, 200_000) - 1) * retry_h
    half = 3.29 * waits.std() / np.sqrt(len(waits))
    assert abs(expected_wait_for_stock(retry_h, p) - waits.mean()) < half
    assert expected_wait_for_stock(retry_h, 1.0) == 0.0
    assert expected_wait_for_stock(retry_h, 0.0) == float("inf")


def test_mean_world_wait_and_see_and_recourse_on_the_newsvendor_by_hand() -> None:
    """The newsvendor above (worlds of demand 100 and 300, commitment at 2 against 3 on
    demand). Its mean world needs 200 every hour, where every committed unit is used: the
    expected-value plan commits 200, whose expected cost over the real worlds is
    ½·(200·2 + 0) + ½·(200·2 + 100·3) = 550 $/h (EEV). The recourse plan commits 100: 500 $/h
    (RP), so VSS = 50 $/h. With hindsight each world commits its own demand: ½·200 + ½·600 =
    400 $/h (WS), so EVPI = 100 $/h; WS <= RP <= EEV as theory has it."""
    from sim.planning.fluid_inputs import fluid_inputs, mean_inputs

    smp = samples(build(BASE, **{"inference.svc.base_units": 100}),
                  build(BASE, **{"inference.svc.base_units": 300}))
    dec = [commitment(2.0)]
    mean = mean_inputs([fluid_inputs(x) for x in smp], np.array([0.5, 0.5]))
    assert mean.demand == pytest.approx(np.full_like(mean.demand, 200.0))
    [ev] = propose(dec, smp, lambdas=(0.0,), shortfall_weights=(1.0,), mean_world=True)
    assert ev.choice == {"cloud/g commitment": 200}
    eev = evaluate(dec, smp, ev.choice).expected["cost_total"]
    [rp] = propose(dec, smp, lambdas=(0.0,), shortfall_weights=(1.0,))
    ws = sum(0.5 * propose(dec, [Sample(x.compiled, 1.0, x.world)], lambdas=(0.0,),
                           shortfall_weights=(1.0,))[0].expected["cost_total"] for x in smp)
    assert (eev, rp.expected["cost_total"], ws) == pytest.approx((550 * H, 500 * H, 400 * H))
