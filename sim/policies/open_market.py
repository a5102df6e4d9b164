"""`open_market`: `microsoft_first` without the right of first refusal; the baseline that prices it."""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import Policy, PoolInfo, Request, WorldView, price_per_work


class OpenMarket(Policy):
    name = "open_market"
    summary = ("microsoft_first without the right: committed units first (already paid), then "
               "lowest list price per unit of work at any provider; the baseline of compare")
    static_ranking = True
    sunk_commitments = True

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        return sorted(request.candidates,
                      key=lambda i: (price_per_work(pools[i], request.kind), pools[i].key))
