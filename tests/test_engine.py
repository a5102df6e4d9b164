"""Engine behaviour on small hand-built scenarios whose outcome can be worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest
from scenario_edit import build

import sim

BASE: dict[str, Any] = {
    "name": "hand",
    "start": "2025-01-01",
    "horizon": "20d",
    "step": "1h",
    "accelerators": {
        "gpu": {"family": "gpu", "power_kw": 1.0},
        "fast": {"family": "gpu", "train_speed": 2.0, "infer_speed": 2.0, "power_kw": 1.0},
        "tpu": {"family": "tpu", "train_speed": 1.0, "power_kw": 1.0},
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


def job(name: str = "j", arrival: str = "2025-01-01", units: int = 10, duration: str = "10h",
        **extra: Any) -> dict[str, Any]:
    return {"name": name, "arrival": arrival, "units": units, "duration": duration, **extra}


def only_job(result: sim.RunResult) -> Any:
    assert len(result.jobs) == 1
    return result.jobs.iloc[0]


def test_cheapest_first_places_on_cheapest_and_runs_for_duration() -> None:
    r = sim.run(scenario(**{"training.jobs": [job()]}))
    j = only_job(r)
    assert (j.provider, j.start_h, j.end_h, j.status) == ("other", 0.0, 10.0, "finished")
    assert j.cost_at_list_price == pytest.approx(10 * 10 * 2.0)


def test_faster_accelerator_shortens_the_run() -> None:
    s = scenario(**{"training.jobs": [job(duration="10h")],
                    "providers.other.pools.gpu.accelerator": "fast"})
    j = only_job(sim.run(s))
    assert j.end_h - j.start_h == pytest.approx(5.0)
    assert j.work_done_h == pytest.approx(10.0)


def test_porting_cost_paid_off_native_family() -> None:
    s = scenario(**{
        "training.jobs": [job(duration="10h", porting="3h", families=["tpu"])],
        "providers.other.pools.gpu.accelerator": "tpu",
    })
    j = only_job(sim.run(s))
    assert (j.provider, j.end_h - j.start_h) == ("other", pytest.approx(13.0))


def test_gang_waits_until_all_units_are_free() -> None:
    s = scenario(**{"training.jobs": [job("a", units=80, duration="10h"),
                                      job("b", units=80, duration="5h")],
                    "providers": {"azure": BASE["providers"]["azure"]}})
    r = sim.run(s)
    b = r.jobs.set_index("job").loc["b"]
    assert (b.start_h, b.end_h, b.wait_h) == (10.0, 15.0, 10.0)


def test_outage_loses_work_since_last_checkpoint_and_pays_restart() -> None:
    # Runs at hour 0 for 20h of work, checkpoint every 4h; an outage of the whole pool from
    # hour 10 to 12 loses the 2h since the checkpoint at 8h; restart overhead 1h.
    s = scenario(**{
        "training.jobs": [job(duration="20h", checkpoint_interval="4h", restart_overhead="1h")],
        "providers": {"azure": BASE["providers"]["azure"]},
        "outages": [{"provider": "azure", "start": "2025-01-01T10:00", "duration": "2h"}],
    })
    r = sim.run(s)
    j = only_job(r)
    assert j.restarts == 1
    assert j.work_lost_h == pytest.approx(2.0)
    # restart at 12h, 1h overhead, 12h of work left
    assert j.end_h == pytest.approx(12 + 1 + 12)
    assert j.unit_hours == pytest.approx(10 * (10 + 13))
    assert j.work_done_h == pytest.approx(20.0)


def test_without_checkpoints_an_interruption_loses_everything() -> None:
    s = scenario(**{
        "training.jobs": [job(duration="20h")],
        "providers": {"azure": BASE["providers"]["azure"]},
        "outages": [{"provider": "azure", "start": "2025-01-01T10:00", "duration": "2h"}],
    })
    j = only_job(sim.run(s))
    assert j.work_lost_h == pytest.approx(10.0)
    assert j.end_h == pytest.approx(12 + 20)


def test_tenant_cap_limits_what_the_customer_may_hold() -> None:
    s = scenario(**{
        "training.jobs": [job("a", units=60), job("b", units=60)],
        "providers": {"azure": {"pools": {"gpu": {
            **BASE["providers"]["azure"]["pools"]["gpu"],
            "tenant_cap": [{"at": "2025-01-01", "units": 100}]}}}},
    })
    r = sim.run(s)
    assert r.jobs.set_index("job").loc["b", "start_h"] == 10.0
    assert r.steps.capacity.max() == 100


def test_power_ceiling_holds_a_job_back() -> None:
    s = scenario(**{
        "training.jobs": [job("a", units=60), job("b", units=60)],
        "power": {"ceiling": [{"at": "2025-01-01", "mw": 0.1}]},
        "accelerators.gpu.idle_power_share": 0.0,  # busy units only (idle draw: test_power.py)
    })
    r = sim.run(s)
    assert r.jobs.set_index("job").loc["b", "start_h"] == 10.0
    assert r.summary["peak_power_mw"] <= 0.1 + 1e-9


def test_capacity_coming_online_starts_a_waiting_job() -> None:
    s = scenario(**{
        "training.jobs": [job(units=150)],
        "providers": {"oracle": {"pools": {"gpu": {
            "accelerator": "gpu", "price_per_hour": 2.0,
            "capacity": [{"at": "2025-01-01", "units": 100}],
            "buildout": {"sites": [{"name": "abilene", "online": "2025-01-03", "units": 100}]},
        }}}},
    })
    r = sim.run(s)
    assert only_job(r).start_h == 48.0
    online = r.events[r.events.kind == "capacity_change"]
    assert online.subject.tolist() == ["site abilene"] and online.hour.tolist() == [48.0]


def inference_over_training(preempt: bool) -> sim.RunResult:
    return sim.run(scenario(**{
        "providers": {"azure": BASE["providers"]["azure"]},
        "training.jobs": [job(units=80, duration="5d", checkpoint_interval="1h")],
        "inference": {"chat": {"base_units": 10, "priority": 10,
                               "spikes": [{"at": "2025-01-02", "multiplier": 5, "duration": "6h"}]}},
        "scheduling": {"inference_reserve": "1h"},
        "preemption": {"inference_preempts_training": preempt},
    }))


def test_inference_preempts_training_when_allowed() -> None:
    r = inference_over_training(True)
    assert r.summary["preemptions"] >= 1
    assert r.summary["inference"]["served_share"] == pytest.approx(1.0)


def test_without_preemption_inference_goes_unmet() -> None:
    r = inference_over_training(False)
    assert r.summary["preemptions"] == 0
    assert r.summary["inference"]["unmet_by_reason_unit_hours"]["capacity"] > 0
    assert r.summary["training_restarts"] == 0


def test_exclusive_service_never_leaves_its_provider_and_reports_exclusivity() -> None:
    r = sim.run(scenario(**{
        "inference": {"api": {"base_units": 150, "providers": ["azure"]}},
    }))
    assert set(r.service_providers.provider) == {"azure"}
    s = r.summary["inference"]
    assert s["served_share"] == pytest.approx(100 / 150)
    assert s["unmet_by_reason_unit_hours"]["exclusivity"] == pytest.approx(50 * 20 * 24)


def test_committed_capacity_is_billed_whether_used_or_not() -> None:
    r = sim.run(scenario(**{
        "providers": {"azure": {"pools": {"gpu": {
            **BASE["providers"]["azure"]["pools"]["gpu"],
            "commitments": [{"units": 50, "price_per_hour": 1.0, "start": "2024-06-01",
                             "term": "1y"}]}}}},
        "training.jobs": [job(units=20, duration="24h")],
    }))
    s = r.summary
    hours = 20 * 24
    assert s["spend_committed"] == pytest.approx(50 * 1.0 * hours)
    assert s["committed_utilisation"] == pytest.approx(20 * 24 / (50 * hours))
    assert s["spend_on_demand"] == pytest.approx(0.0)


def test_overage_above_commitment_is_billed_on_demand() -> None:
    r = sim.run(scenario(**{
        "providers": {"azure": {"pools": {"gpu": {
            **BASE["providers"]["azure"]["pools"]["gpu"],
            "commitments": [{"units": 50, "price_per_hour": 1.0, "start": "2025-01-01",
                             "term": "1y"}]}}}},
        "training.jobs": [job(units=80, duration="10h")],
    }))
    assert r.summary["spend_on_demand"] == pytest.approx(30 * 10 * 3.0)


def test_diversified_keeps_providers_under_the_share_cap() -> None:
    jobs = [job(f"j{i}", units=20, duration="5d") for i in range(6)]
    r = sim.run(scenario(**{"training.jobs": jobs,
                            "policy.params": {"diversified": {"share_cap": 0.5}}}),
                policy="diversified")
    counts = r.jobs.provider.value_counts().to_dict()
    assert counts == {"other": 3, "azure": 3}
    cheapest = sim.run(scenario(**{"training.jobs": jobs}), policy="cheapest_first")
    assert cheapest.jobs.provider.value_counts().to_dict() == {"other": 5, "azure": 1}


def test_perf_per_dollar_uses_idle_commitments_first() -> None:
    r = sim.run(scenario(**{
        "providers": {"azure": {"pools": {"gpu": {
            **BASE["providers"]["azure"]["pools"]["gpu"],
            "commitments": [{"units": 50, "price_per_hour": 1.0, "start": "2025-01-01",
                             "term": "1y"}]}}},
            "other": BASE["providers"]["other"]},
        "training.jobs": [job(units=40)],
    }), policy="perf_per_dollar")
    assert only_job(r).provider == "azure"


def test_abandoned_job_with_max_wait() -> None:
    s = scenario(**{"training.jobs": [job("a", units=150, duration="10h"),
                                      job("b", units=150, duration="10h", max_wait="2h")],
                    "providers": {"azure": {"pools": {"gpu": {
                        **BASE["providers"]["azure"]["pools"]["gpu"],
                        "capacity": [{"at": "2025-01-01", "units": 200}]}}}}})
    b = sim.run(s).jobs.set_index("job").loc["b"]
    assert (b.status, b.end_h) == ("abandoned", 2.0)


def test_first_refusal_does_not_gate_demand_the_holder_cannot_serve() -> None:
    r = sim.run(scenario(**{
        "inference": {"chat": {"base_units": 50, "providers": ["other"]}},
        "policy.params": {"microsoft_first": {"decision_window": "48h"}},
    }), policy="microsoft_first")
    assert r.summary["inference"]["served_share"] == pytest.approx(1.0)
    assert r.summary["first_refusal"]["offers"] == 0


def test_back_to_back_outages_interrupt_a_run_once() -> None:
    # One outage ends at 12:00 as the next begins: waiting runs must not start in between.
    s = scenario(**{
        "training.jobs": [job(duration="40h", checkpoint_interval="1h", restart_overhead="1h")],
        "providers": {"azure": BASE["providers"]["azure"]},
        "outages": [{"provider": "azure", "start": "2025-01-01T06:00", "duration": "6h"},
                    {"provider": "azure", "start": "2025-01-01T12:00", "duration": "6h",
                     "share": 0.5}],
    })
    r = sim.run(s)
    j = only_job(r)
    assert j.restarts == 1
    assert j.start_h == 0.0 and j.end_h == pytest.approx(12 + 1 + 40 - 6)


def test_interrupted_run_keeps_its_claim_against_inference() -> None:
    # Inference would flow into the units freed by the outage; the interrupted run keeps its
    # claim and restarts the moment the pool is repaired, reserve window or not.
    s = scenario(**{
        "training.jobs": [job(units=80, duration="3d", checkpoint_interval="1h")],
        "providers": {"azure": BASE["providers"]["azure"]},
        "inference": {"chat": {"base_units": 15}},
        "outages": [{"provider": "azure", "start": "2025-01-02", "duration": "6h", "share": 0.5}],
        "scheduling": {"inference_reserve": "2d"},
    })
    r = sim.run(s)
    restart = r.events[r.events.kind == "job_restart"]
    assert restart.hour.tolist() == [30.0]
    assert r.summary["inference"]["served_share"] == pytest.approx(1.0)


def test_diversified_reorders_for_another_runs_pools() -> None:
    """The policy keeps each run's price order; a policy object used again with other pools
    (another scenario) ranks by those pools' prices, not the first run's."""
    from sim.policies import make_policy
    from sim.policies.base import PoolInfo, Request

    class Idle:
        now = 0.0

        def free_units(self, pool: int) -> float:
            return 1.0

        def committed_idle(self, pool: int) -> float:
            return 0.0

        def provider_units(self, provider: str, cpu: bool) -> float:
            return 0.0

        def total_units(self, cpu: bool) -> float:
            return 0.0

    def pools(price_a: float, price_b: float) -> list[PoolInfo]:
        return [PoolInfo(i, f"{prov}/gpu", prov, "gpu", "h100", "gpu", 1.0, 1.0, 1.0, price, False)
                for i, (prov, price) in enumerate([("a", price_a), ("b", price_b)])]

    policy = make_policy("diversified")
    request = Request("training", "j", 8, 0, (0, 1))
    assert policy.rank(request, pools(1.0, 2.0), Idle()) == [0, 1]
    assert policy.rank(request, pools(3.0, 2.0), Idle()) == [1, 0]
