"""Hand-worked checks written for mutants of sim/engine/ that the subset of bench/mutation.py let
survive: each test names the planted change (file: the code, the change) it catches, and its
expected values come from the rule (MODEL.md, the README, the docstrings), not from a run.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from scenario_edit import build
from test_first_refusal import BASE as FIRST_REFUSAL
from test_model_rules import at, job, scenario

import sim
from sim.engine import compile as compiled
from sim.engine.compile import _gb, compile_scenario, size_problems
from sim.engine.simulation import Simulation
from sim.policies.base import PoolInfo, Request, WorldView
from sim.policies.cheapest_first import CheapestFirst
from sim.scenario import scenario_from_data

GIB, MIB = 1 << 30, 1 << 20


def test_sizes_print_in_gb_from_one_gib_and_in_mb_below() -> None:
    """compile._gb: `n >= 1 << 30` -> `>` (1 GiB printed as "1,024 MB"), `1 << 30` -> `2 << 30`
    (1.5 GiB printed in MB); the limit, `4 << 30`, off by one."""
    assert _gb(GIB) == "1.0 GB"
    assert _gb(1.5 * GIB) == "1.5 GB"
    assert _gb(GIB - MIB) == "1,023 MB"
    assert _gb(compiled.MEMORY_LIMIT_BYTES) == "4.0 GB"  # README: runs needing more are refused


def test_the_size_check_names_the_horizon_and_counts_runs_only_when_there_are_several() -> None:
    """compile.size_problems: a 100 h horizon in 1 h steps over one pool is 100 step x pool
    rows; any estimate exceeds a 1-byte limit, and the largest (only) part is the horizon.
    One run (the default) has no run-count problem; two runs add one naming --replications,
    only when they need *more* than the limit.
    Catches: SizeProblem without its `path` field; `runs > 1` -> `runs >= 1`; a default of
    `runs=2`; `runs * per run > limit` -> `>=`."""
    s = scenario(8, horizon=100)
    [problem] = size_problems(s, limit=1)
    assert problem.path == ("horizon",)
    assert problem.message.startswith("100 steps of 1 h × 1 pools need about ")
    horizon, runs = size_problems(s, runs=2, limit=1)
    assert horizon.path == ("horizon",)
    assert runs.path == ("--replications",) and runs.message.startswith("2 runs keep about ")
    assert size_problems(s, runs=2) == []  # well inside the default 4 GB
    exactly = 2 * compiled._RUN_BYTES  # what two runs keep: not more than the limit
    assert ("--replications",) not in [p.path for p in size_problems(s, runs=2, limit=exactly)]
    assert ("--replications",) in [p.path for p in size_problems(s, runs=3, limit=exactly)]


def _two_providers(jobs: list[dict], outages: list[dict], horizon: float = 48) -> sim.Scenario:
    """Provider `a` (pool of 8 at $1/h) and `b` (pool of 8 at $2/h), cheapest first."""
    pools = {name: {"pools": {"gpu": {"accelerator": "acc", "price_per_hour": price,
                                      "capacity": [{"at": "2025-01-01", "units": 8}]}}}
             for name, price in (("a", 1.0), ("b", 2.0))}
    return scenario_from_data({
        "name": "two", "start": "2025-01-01", "horizon": horizon, "seed": 1,
        "accelerators": {"acc": {"family": "gpu", "power_kw": 0}}, "providers": pools,
        "training": {"jobs": jobs}, "policy": {"default": "cheapest_first"},
        "outages": outages})


def test_a_run_restarting_away_from_its_claim_frees_it_for_the_queue_at_once() -> None:
    """X (8 units) runs on a; W (4 units, only a) waits behind it from hour 1. At hour 5 half of
    a fails for 10 h: X is interrupted and claims a's 8 units, of which 4 work. X cannot restart
    on them (4 < 8) and restarts on b at once, letting its claim go: a's 4 working units are
    free, and W starts there at hour 5 (not when a is whole again at 15).
    Catches training._setup: `self._claim_freed = True` -> False (the pass that moved X did not
    start over for the runs it had passed by)."""
    s = _two_providers([job("x", 0, 8, 40), job("w", 1, 4, 2, providers=["a"])],
                       [{"provider": "a", "start": at(5), "duration": 10, "share": 0.5}])
    j = sim.run(s).jobs.set_index("job")
    assert (j.loc["x", "restarts"], j.loc["x", "provider"]) == (1, "b")
    assert j.loc["w", "provider"] == "a"
    assert j.loc["w", "start_h"] == pytest.approx(5.0)


def test_holder_free_units_at_a_placement_elsewhere_is_its_largest_pool_room() -> None:
    """Azure (the holder) has pools of 100 and 30 units; a grandfathered run of 90 holds the
    first from hour 0, leaving rooms of 10 and 30. A gang run of 40 needs one pool: Azure
    cannot supply it, declines after the 48 h window, and it starts at the other provider.
    The holder's free units recorded then are its largest room, 30 (not 10 + 30, not 10).
    Catches training._holder_free: `max` -> `min`."""
    second = {"accelerator": "gpu", "price_per_hour": 3.0,
              "capacity": [{"at": "2025-01-01", "units": 30}]}
    s = build(FIRST_REFUSAL, **{"providers.azure.pools.gpu2": second, "training.jobs": [
        job("big", 0, 90, 30 * 24), job("b", 24, 40, 10)]})
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
    s = build(FIRST_REFUSAL, **{"training.jobs": [job("big", 0, 100, 45 * 24),
                                                  job("b", 39 * 24, 40, 10)]})
    b = sim.run(s).jobs.set_index("job").loc["b"]
    assert (b.status, b.rofr_offer, b.waiting_for) == ("waiting", "pending", "first_refusal")


class _Watching(CheapestFirst):
    """Cheapest first, noting what the world view says is free in pool 0 at each training
    decision (the view a custom policy gets). Unnamed: not registered."""

    name = ""
    static_ranking = False  # asked at every decision, not once per candidate set

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, float]] = []

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        if request.kind == "training":
            self.seen.append((world.now, world.free_units(0)))
        return super().rank(request, pools, world)


def _free_units_seen(power: dict | None) -> list[tuple[float, float]]:
    data = {"name": "view", "start": "2025-01-01", "horizon": 6, "seed": 1,
            "accelerators": {"acc": {"family": "gpu", "power_kw": 1.0, "idle_power_share": 0.3}},
            "providers": {"cloud": {"pools": {"pool": {
                "accelerator": "acc", "price_per_hour": 1.0,
                "capacity": [{"at": "2025-01-01", "units": 10}]}}}},
            "training": {"jobs": [job("a", 0, 4, 100), job("b", 2, 2, 1)]},
            "inference": {"chat": {"base_units": 3}},
            "agents": {"bots": {"base_units": 1, "families": ["gpu"]}},
            "policy": {"default": "cheapest_first"}, **({"power": power} if power else {})}
    policy = _Watching()
    Simulation(compile_scenario(scenario_from_data(data)), policy).run()
    return policy.seen


def test_a_policy_sees_free_units_net_of_training_rate_demand_and_power() -> None:
    """10 units; run a (4) from hour 0; chat serves 3 and agents 1 every hour. When b arrives
    at hour 2 the view says 10 - 4 - 3 - 1 = 2 units are free. With a 9 kW ceiling, the 10
    available units draw 10 x 0.3 = 3 kW idle and the 8 in use 8 x 0.7 = 5.6 kW more: 0.4 kW
    left powers 0.4 / 0.7 = 0.571 more units, so 0.571 are free (b, of 2 units, waits).
    Catches pools.free: any `-` -> `+`; simulation.free_units: `min` -> `max` with power."""
    assert dict(_free_units_seen(None))[2.0] == pytest.approx(2.0)
    powered = dict(_free_units_seen({"ceiling": [{"at": "2025-01-01", "mw": 0.009}]}))
    assert powered[2.0] == pytest.approx(0.4 / 0.7)


def test_runs_an_outage_spares_are_evicted_when_the_rest_cannot_hold_them() -> None:
    """Ten 1-unit runs fill a 10-unit pool; half of it fails at hour 5. Each run is hit with
    probability 1/2 (a gang fails if one of its units does), so the number spared is
    Binomial(10, 1/2): more than the 5 units left in 37.7% of replications, and then the
    lowest-priority, latest of them must go (MODEL: never hold more than is available).
    Over 20 replications training exceeds capacity in none, whereas without the eviction it
    would in 20 x 37.7% = 7.5 of them (all 20 pass by chance with probability 0.623^20 < 1e-4).
    Catches supply._outage: dropping `self._after_supply(p, increased=False)`."""
    s = scenario(10, horizon=12, jobs=[job(f"r{i}", 0, 1, 100) for i in range(10)],
                 outages=[{"provider": "cloud", "start": at(5), "duration": 3, "share": 0.5}])
    evicted = 0
    for rep in range(20):
        r = sim.run(s, replication=rep)
        assert (r.steps.training <= r.steps.capacity + 1e-9).all(), rep
        ev = r.events
        evicted += bool(((ev.kind == "job_interrupted")
                         & ev.detail.astype(str).str.startswith("capacity")).any())
    assert evicted >= 1  # the case arose
