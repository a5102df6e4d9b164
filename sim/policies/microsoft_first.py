"""`microsoft_first`: right of first refusal; Azure sees every request first, the rest cheapest."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sim.policies.base import FirstRefusal, Policy, PoolInfo, Request, WorldView, price_per_work
from sim.scenario.models import Hours


class MicrosoftFirstParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(default="azure", description="holder of the right of first refusal")
    decision_window: Hours = Field(default=48.0, description="time the holder takes to answer")
    release: Hours = Field(
        default=720.0,
        description="how long a declined inference shortfall may use other providers "
        "before it must be offered again",
    )


class MicrosoftFirst(Policy):
    name = "microsoft_first"
    summary = "every request offered to Azure first (answer after the window); rest cheapest"
    Params = MicrosoftFirstParams
    static_ranking = True

    @property
    def first_refusal(self) -> FirstRefusal:
        p = self.params
        assert isinstance(p, MicrosoftFirstParams)
        return FirstRefusal(p.provider, p.decision_window, p.release)

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        holder = self.first_refusal.provider
        return sorted(
            request.candidates,
            key=lambda i: (
                pools[i].provider != holder,
                price_per_work(pools[i], request.kind),
                pools[i].key,
            ),
        )
