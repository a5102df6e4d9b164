"""What a policy sees of the world: free units net of training, rate demand and the power ceiling."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from scenario_edit import job

from sim.engine.compile import compile_scenario
from sim.engine.simulation import Simulation
from sim.policies.base import PoolInfo, Request, WorldView
from sim.policies.cheapest_first import CheapestFirst
from sim.scenario import scenario_from_data


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
