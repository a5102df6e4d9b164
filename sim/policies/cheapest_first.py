"""`cheapest_first`: lowest marginal price per unit of work, any provider (commitments are sunk)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import Policy, PoolInfo, Request, WorldView, price_per_work


class CheapestFirst(Policy):
    name = "cheapest_first"
    summary = ("lowest marginal price per unit of work: idle committed units first (already "
               "paid), then list price / speed, any provider")
    static_ranking = True
    sunk_commitments = True

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        return sorted(
            request.candidates,
            key=lambda i: (price_per_work(pools[i], request.kind), pools[i].key),
        )
