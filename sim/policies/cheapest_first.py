"""`cheapest_first`: lowest list price per unit of work, any provider."""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import Policy, PoolInfo, Request, WorldView, price_per_work


class CheapestFirst(Policy):
    name = "cheapest_first"
    summary = "lowest list price per unit of work (price / speed), any provider"
    static_ranking = True

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        return sorted(
            request.candidates,
            key=lambda i: (price_per_work(pools[i], request.kind), pools[i].key),
        )
