"""`microsoft_first`: Azure's right of first refusal on new capacity; otherwise as `open_market`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sim.fields import Hours
from sim.policies.base import FirstRefusal, Policy, PoolInfo, Request, WorldView, price_per_work


class MicrosoftFirstParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(default="azure", description="holder of the right of first refusal")
    decision_window: Hours = Field(
        default=48.0, ge=0,
        description="the latest the holder answers an offer it cannot supply (a decline)")
    answer_delay: Hours = Field(
        default=4.0, ge=0,
        description="mean time the holder takes to accept an offer it can supply "
        "(exponential, capped at the decision window)")
    release: Hours = Field(
        default=720.0, gt=0,
        description="how long a declined quantity may be served by other providers "
        "before it is offered again (renewed only if it was used over the term)")
    failover: bool = Field(
        default=True,
        description="during an outage at the holder, the units it lost may be replaced at other "
        "providers without an offer")


class MicrosoftFirst(Policy):
    name = "microsoft_first"
    summary = ("right of first refusal on new capacity: contracted units are used freely; a "
               "request they cannot take is offered to Azure first (accepted after a short delay "
               "when Azure can supply, declined by the end of the window otherwise); declined "
               "quantities go elsewhere, cheapest first, for the release term")
    Params = MicrosoftFirstParams
    static_ranking = True
    sunk_commitments = True

    @property
    def first_refusal(self) -> FirstRefusal:
        p = self.params
        assert isinstance(p, MicrosoftFirstParams)
        return FirstRefusal(p.provider, p.decision_window, p.release, p.answer_delay, p.failover)

    def marginal_key(self, pool: PoolInfo, marginal_price: float, position: int) -> tuple[Any, ...]:
        """New capacity goes to the holder first: its pools lead at any marginal price."""
        return (pool.provider != self.first_refusal.provider, marginal_price, position)

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        """The holder's pools first; then, as under `open_market`, by list price per unit of work."""
        holder = self.first_refusal.provider
        return sorted(
            request.candidates,
            key=lambda i: (
                pools[i].provider != holder,
                price_per_work(pools[i], request.kind),
                pools[i].key,
            ),
        )
