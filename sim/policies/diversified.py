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

    def __init__(self, params: BaseModel | None = None) -> None:
        super().__init__(params)
        # Price order and what it implies, per (kind, candidates): fixed facts of the pools,
        # worked out once per run instead of on every queue pass.
        self._orders: dict[tuple[str, tuple[int, ...]], tuple[list[int], bool, bool]] = {}
        self._orders_for: Sequence[PoolInfo] | None = None

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        p = self.params
        assert isinstance(p, DiversifiedParams)
        if pools is not self._orders_for:  # another run's pools: start afresh
            self._orders, self._orders_for = {}, pools
        key = (request.kind, request.candidates)
        known = self._orders.get(key)
        if known is None:
            ordered = sorted(request.candidates,
                             key=lambda i: (price_per_work(pools[i], request.kind), pools[i].key))
            # Exclusivity (e.g. API on Azure) overrides diversification.
            several = len({pools[i].provider for i in request.candidates}) >= 2
            known = self._orders[key] = (ordered, several, bool(ordered) and
                                         pools[ordered[0]].family == "cpu")
        ordered, several, cpu = known
        if not several:
            return list(ordered)
        units = request.units
        cap = p.share_cap * (world.total_units(cpu) + units)
        in_use: dict[str, float] = {}
        within = []
        for i in ordered:
            provider = pools[i].provider
            used = in_use.get(provider)
            if used is None:
                used = in_use[provider] = world.provider_units(provider, cpu)
            if used + units <= cap:
                within.append(i)
        if p.strict:
            return within
        return within + [i for i in ordered if i not in within]

    def share_limits(self, request: Request, pools: Sequence[PoolInfo],
                     world: WorldView) -> tuple[dict[str, float], bool] | None:
        """Rate demand is spread: each provider may take units up to the cap of the total in
        use once this request is served (read from the state the step is building)."""
        p = self.params
        assert isinstance(p, DiversifiedParams)
        providers = {pools[i].provider for i in request.candidates}
        if len(providers) < 2:
            return None
        cpu = pools[request.candidates[0]].family == "cpu"
        cap = p.share_cap * (world.total_units(cpu) + request.units)
        return {name: max(0.0, cap - world.provider_units(name, cpu)) for name in providers}, p.strict
