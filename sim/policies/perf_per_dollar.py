"""`perf_per_dollar`: most work per marginal dollar, counting speed, porting and idle commitments."""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import Policy, PoolInfo, Request, WorldView


class PerfPerDollar(Policy):
    name = "perf_per_dollar"
    summary = "most work per marginal dollar: speed, porting time and paid-for idle commitments"

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        """Pools by dollars per unit of work: list price, less the share idle commitments
        already pay for, over speed; a training run also pays for porting time off its native
        family, spread over its length. Ties go by pool key."""
        training = request.kind == "training"
        units = request.units
        duration = request.duration_hours
        per_duration = training and duration > 0
        keyed = []
        for i in request.candidates:  # a plain loop: dynamic rankings run on every queue pass
            pool = pools[i]
            speed = pool.train_speed if training else pool.infer_speed
            # Idle committed units are already paid for: their marginal price is zero.
            idle = world.committed_idle(i)
            paid_share = min(1.0, idle / units) if units > 0 else 0.0
            price = pool.price_per_hour * (1.0 - paid_share)
            if per_duration:
                porting = request.porting_hours if pool.family != request.native_family else 0.0
                cost = price * (duration / speed + porting) / duration
            else:
                cost = price / speed
            keyed.append((cost, pool.key, i))
        keyed.sort()
        return [i for _, _, i in keyed]
