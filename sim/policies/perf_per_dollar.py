"""`perf_per_dollar`: most work per marginal dollar, counting speed, porting and idle commitments."""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import Policy, PoolInfo, Request, WorldView


class PerfPerDollar(Policy):
    name = "perf_per_dollar"
    summary = "most work per marginal dollar: speed, porting time and paid-for idle commitments"

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        def cost_per_work(i: int) -> float:
            pool = pools[i]
            speed = pool.train_speed if request.kind == "training" else pool.infer_speed
            # Idle committed units are already paid for: their marginal price is zero.
            idle = world.committed_idle(i)
            paid_share = min(1.0, idle / request.units) if request.units > 0 else 0.0
            price = pool.price_per_hour * (1.0 - paid_share)
            if request.kind != "training" or request.duration_hours <= 0:
                return price / speed
            porting = request.porting_hours if pool.family != request.native_family else 0.0
            wall = request.duration_hours / speed + porting
            return price * wall / request.duration_hours

        return sorted(request.candidates, key=lambda i: (cost_per_work(i), pools[i].key))
