"""The policy interface: rank the pools that may take a request; the engine applies the ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

RequestKind = Literal["training", "inference", "agents"]


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """Static facts about one pool, as a policy sees them."""

    index: int
    key: str
    provider: str
    name: str
    accelerator: str
    family: str
    train_speed: float
    infer_speed: float
    power_kw: float
    price_per_hour: float
    spot: bool
    idle_power_share: float = 0.0  # share of power_kw drawn while idle


@dataclass(frozen=True, slots=True)
class Request:
    """A request for capacity: a training job to place, or a shortfall of rate demand to fill."""

    kind: RequestKind
    name: str
    units: float
    priority: int
    candidates: tuple[int, ...]
    native_family: str = "gpu"
    porting_hours: float = 0.0
    duration_hours: float = 0.0


class WorldView(Protocol):
    """Read-only state of the world at the moment of a decision."""

    now: float

    def free_units(self, pool: int) -> float:
        """Units the tenant could take in `pool` now (capacity, caps and power counted)."""
        ...

    def committed_idle(self, pool: int) -> float:
        """Committed (already paid for) units in `pool` not in use now."""
        ...

    def provider_units(self, provider: str, cpu: bool) -> float:
        """Units in use at `provider` (CPU pools or accelerator pools)."""
        ...

    def total_units(self, cpu: bool) -> float:
        """Units in use at all providers (CPU pools or accelerator pools)."""
        ...


@dataclass(frozen=True, slots=True)
class FirstRefusal:
    """A right of first refusal on new capacity: a request that contracted capacity cannot take
    is offered to `provider` first. It answers after a delay drawn with mean
    `answer_delay_hours` (capped at the window) when it can supply, else by the end of
    `window_hours`; what it declines may go elsewhere for `release_hours`. `failover`: during an
    outage at the holder, the units it lost may be replaced elsewhere without an offer."""

    provider: str
    window_hours: float
    release_hours: float
    answer_delay_hours: float = 0.0
    failover: bool = True


class NoParams(BaseModel):
    """A policy that takes no parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)


REGISTRY: dict[str, type[Policy]] = {}


class Policy:
    """Base of all policies. Subclasses set `name` (and `Params`) and implement `rank`.

    Defining a subclass with a `name` registers it; a second policy with the same name is an error.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    static_ranking: ClassVar[bool] = False
    """True when `rank` depends only on the request's candidates and pool facts (cacheable)."""
    sunk_commitments: ClassVar[bool] = False
    """True for policies that rank by price: committed (take-or-pay) units are already paid, so
    the engine fills idle committed units first (marginal price 0), then follows `rank`."""

    def __init__(self, params: BaseModel | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            if cls.name in REGISTRY:
                raise ValueError(f"two policies are named {cls.name!r}")
            REGISTRY[cls.name] = cls

    @property
    def first_refusal(self) -> FirstRefusal | None:
        """The right of first refusal this policy honours, if any."""
        return None

    def rank(self, request: Request, pools: Sequence[PoolInfo], world: WorldView) -> list[int]:
        """Pool indices to try, best first; pools left out are not tried."""
        raise NotImplementedError

    def marginal_key(self, pool: PoolInfo, marginal_price: float, position: int) -> tuple[Any, ...]:
        """Order of pools that could start a training run, for `sunk_commitments` policies:
        `marginal_price` is dollars per reference-unit-hour after idle commitments, `position`
        the pool's place in `rank`. Lowest first."""
        return (marginal_price, position)

    def share_limits(self, request: Request, pools: Sequence[PoolInfo],
                     world: WorldView) -> tuple[dict[str, float], bool] | None:
        """For rate demand: the most units each provider may take of this request, and whether
        that limit is strict (else demand the limits leave unserved may spill past them in
        `rank` order). None: no limits (the default)."""
        return None


def price_per_work(pool: PoolInfo, kind: RequestKind) -> float:
    """Dollars per reference-unit-hour of work on `pool` at its list price."""
    speed = pool.train_speed if kind == "training" else pool.infer_speed
    return pool.price_per_hour / speed
