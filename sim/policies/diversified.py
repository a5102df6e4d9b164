"""`diversified`: keep every provider under a share cap of the capacity in use; then cheapest."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sim.policies.base import Policy, PoolInfo, Request, WorldView, price_per_work


class DiversifiedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share_cap: float = Field(
        default=0.4, gt=0, le=1, description="most share of units in use at one provider"
    )
    strict: bool = Field(
        default=False, description="never exceed the cap (else: over-cap pools are tried last)"
    )


class Diversified(Policy):
    name = "diversified"
    summary = "no provider above a share cap of units in use; spill over in price order"
    Params = DiversifiedParams

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        p = self.params
        assert isinstance(p, DiversifiedParams)
        ordered = sorted(
            request.candidates, key=lambda i: (price_per_work(pools[i], request.kind), pools[i].key)
        )
        providers = {pools[i].provider for i in request.candidates}
        if len(providers) < 2:
            return ordered  # exclusivity (e.g. API on Azure) overrides diversification
        cpu = pools[ordered[0]].family == "cpu"
        total = world.total_units(cpu) + request.units
        within = [
            i
            for i in ordered
            if world.provider_units(pools[i].provider, cpu) + request.units <= p.share_cap * total
        ]
        if p.strict:
            return within
        return within + [i for i in ordered if i not in within]
