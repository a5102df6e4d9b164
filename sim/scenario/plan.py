"""The `plan:` section of a scenario file: what `capsim plan` may buy, and the worlds it is
judged in.

Each item of `buy` is one pool's purchase whose size is chosen: a take-or-pay `commitment`
(units, from a start, for a term) or `blocks` ordered from the pool's `blocks` offer. A list of
dates or terms gives one decision per date (and term); a commitment's price may be a list, one
price per start (a price path). `worlds` is the what-if portfolio: the
scenario itself, changed by dotted paths, with scripted outages added, or another scenario file.
References (pools, change paths, policies) are checked with the rest of the file (loader).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sim.fields import DATE_SCHEMA, DURATION_SCHEMA
from sim.scenario.models import (
    MAX_PRICE,
    MAX_UNITS,
    EndRule,
    Hours,
    ScheduledOutage,
    Strict,
    When,
)
from sim.scenario.risk import EXPECTED as RISK_FORMS
from sim.scenario.risk import parse_risk
from sim.timeparse import parse_datetime, parse_duration

if TYPE_CHECKING:
    from sim.scenario.scenario import Scenario

MAX_WEIGHT = 1e6
MAX_BLOCKS = 1000


def _one_or_list(parse: Any) -> Any:
    """A before-validator: a single value is parsed and put in a list; a list is left to the
    item type (so a bad item is reported at its index)."""

    def before(value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one value (or a single value, not a list)")
            return value
        return [parse(value)]

    return before


Dates = Annotated[
    list[When], BeforeValidator(_one_or_list(parse_datetime)),
    WithJsonSchema({"anyOf": [DATE_SCHEMA, {"type": "array", "items": DATE_SCHEMA,
                                             "minItems": 1}],
                    "description": "a date, or a list of dates (one decision each)"}),
]
"""One date or a list of dates; always a list once read."""
Durations = Annotated[
    list[Hours], BeforeValidator(_one_or_list(parse_duration)),
    WithJsonSchema({"anyOf": [DURATION_SCHEMA, {"type": "array", "items": DURATION_SCHEMA,
                                                 "minItems": 1}],
                    "description": "a duration, or a list of durations (one decision each)"}),
]
"""One duration or a list of durations (hours); always a list once read."""
Price = Annotated[float, Field(ge=0, le=MAX_PRICE)]
Prices = Annotated[
    list[Price], BeforeValidator(_one_or_list(lambda v: v)),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_PRICE},
                              {"type": "array", "minItems": 1,
                               "items": {"type": "number", "minimum": 0, "maximum": MAX_PRICE}}],
                    "description": "a price, or a list of prices (one per start)"}),
]
"""One price per unit-hour or a list of them (one per start); always a list once read."""


class UnitsRange(Strict):
    """The committed units the plan may choose: min, min + step, ... up to max."""

    min: float = Field(default=0.0, ge=0, le=MAX_UNITS, description="fewest units (0: none)")
    max: float = Field(ge=0, le=MAX_UNITS, description="most units")
    step: float = Field(gt=0, le=MAX_UNITS, description="units are chosen in multiples of this")

    @model_validator(mode="after")
    def _ordered(self) -> UnitsRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must be at most max ({self.max:g})")
        return self


class CountRange(Strict):
    """The number of blocks the plan may order: min, min + 1, ... up to max."""

    min: int = Field(default=0, ge=0, le=MAX_BLOCKS, description="fewest blocks (0: none)")
    max: int = Field(ge=0, le=MAX_BLOCKS, description="most blocks")

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be at most max ({self.max})")
        return self


class CommitmentChoice(Strict):
    """A take-or-pay contract whose size is chosen: one decision per start and term given."""

    start: Dates = Field(description="contract start, or a list of starts (one decision each)")
    term: Durations = Field(
        description="contract length, e.g. 5y, or a list of lengths (one decision each)")
    price_per_hour: Prices = Field(
        description="price per committed unit-hour, or a list of prices, one per start (a "
        "price path)")
    units: UnitsRange = Field(description="the units the plan may commit")
    on_end: EndRule = Field(
        default="lapse", description="lapse, or renew for the same term at the then price")

    @field_validator("term")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if any(t <= 0 for t in value):
            raise ValueError("a contract's term must be longer than 0")
        return value

    @field_validator("price_per_hour")
    @classmethod
    def _one_per_start(cls, value: list[float], info: ValidationInfo) -> list[float]:
        starts = info.data.get("start")
        if len(value) > 1 and starts is not None and len(value) != len(starts):
            raise ValueError(f"give one price, or one per start: {len(starts)} start(s), "
                             f"{len(value)} prices")
        return value

    def price_at(self, index: int) -> float:
        """The price of the contract from the `index`-th start."""
        return self.price_per_hour[index if len(self.price_per_hour) > 1 else 0]


class BlocksChoice(Strict):
    """Blocks ordered from the pool's `blocks` offer, how many chosen: one decision per date."""

    at: Dates = Field(description="date the blocks are ordered, or a list of dates (one "
                      "decision each)")
    count: CountRange = Field(description="the number of blocks the plan may order")
    term: Hours | None = Field(
        default=None, gt=0, description="contract length from online; default: the offer's "
        "minimum term")



class Purchase(Strict):
    """One pool's purchase whose size the plan chooses: a `commitment` or `blocks`."""

    pool: str = Field(description="provider/pool, e.g. azure/gb200")
    commitment: CommitmentChoice | None = Field(
        default=None, description="a take-or-pay contract whose units are chosen")
    blocks: BlocksChoice | None = Field(
        default=None, description="blocks ordered from the pool's `blocks` offer")

    @model_validator(mode="after")
    def _one_kind(self) -> Purchase:
        if (self.commitment is None) == (self.blocks is None):
            raise ValueError("give either `commitment` or `blocks` (one of them)")
        return self

    @property
    def provider_and_pool(self) -> tuple[str, str]:
        """(provider, pool) named by `pool`; ("", "") when it does not have the form a/b."""
        provider, _, pool = self.pool.partition("/")
        return (provider, pool) if provider and pool else ("", "")


class PlanWorld(Strict):
    """One what-if world of the portfolio: the scenario with `changes` and/or added `outages`,
    or another scenario `file`; nothing but a weight: the scenario as it is."""

    weight: float = Field(gt=0, le=MAX_WEIGHT,
                          description="how likely the world is; weights are scaled to sum to 1")
    changes: dict[str, Any] | None = Field(
        default=None, description="fields set by dotted path, e.g. "
        "inference.chatgpt.growth_per_month: 0.08")
    outages: list[ScheduledOutage] | None = Field(
        default=None, description="scripted outages added to the scenario's own")
    file: str | None = Field(
        default=None, description="a whole scenario file (a relative path is read from this "
        "file's folder); it must have the pools the plan buys in")

    @model_validator(mode="after")
    def _one_source(self) -> PlanWorld:
        if self.file is not None and (self.changes is not None or self.outages is not None):
            raise ValueError("a world is either a `file` or `changes` and/or `outages` to this "
                             "scenario, not both")
        return self


class ProposalSettings(Strict):
    """The fast model that proposes candidate plans."""

    step: Hours = Field(default=24.0, gt=0, description="time slice of the fast model, e.g. 1d")
    levels: int = Field(
        default=1, ge=1, le=24,
        description="load levels per slice: its hours sorted by demand and split into this many "
        "groups, so a weekly slice still sees its peaks (1: the slice's mean)")


def _default_worlds() -> dict[str, PlanWorld]:
    return {"base": PlanWorld(weight=1.0)}


class PlanSection(Strict):
    """What `capsim plan` may buy and how plans are judged: the cheapest mix over the worlds."""

    buy: list[Purchase] = Field(min_length=1, description="the decisions: purchases whose "
                                "size is chosen")
    worlds: dict[str, PlanWorld] = Field(
        default_factory=_default_worlds, min_length=1,
        description="the what-if portfolio, by name; default: one world `base` (the scenario)")
    policy: str | None = Field(
        default=None, description="policy plans are judged under; default: policy.default")
    risk: str = Field(default="none", description=f"how risk is judged: {RISK_FORMS}")
    replications: int = Field(default=4, ge=1, le=1000,
                              description="replications per world for the proposal (fast model)")
    check_replications: int = Field(
        default=8, ge=1, le=1000,
        description="replications per world and candidate for the engine checks")
    candidates: int = Field(default=6, ge=1, le=1000,
                            description="how many proposals the engine checks")
    proposal: ProposalSettings = Field(default_factory=ProposalSettings,
                                       description="settings of the fast model")

    @field_validator("risk")
    @classmethod
    def _risk_parses(cls, value: str) -> str:
        parse_risk(value)
        return value

    @property
    def parsed_risk(self) -> Any:
        """The `risk` setting as a sim.scenario.risk.Risk."""
        return parse_risk(self.risk)


class Portfolio(Strict):
    """A file of worlds (`capsim plan --portfolio`), replacing the scenario's own."""

    worlds: dict[str, PlanWorld] = Field(min_length=1, description="the what-if worlds, by name")


# ---------------------------------------------------------------- decision names


def duration_label(hours: float) -> str:
    """A term as the file would write it: 5y, 18mo, 90d or 36h (the largest unit that divides)."""
    for unit, size in (("y", 8760.0), ("mo", 730.0), ("d", 24.0)):
        n = hours / size
        if n >= 1 and abs(n - round(n)) < 1e-9:
            return f"{round(n)}{unit}"
    return f"{hours:g}h"


def moment_label(moment: datetime) -> str:
    """A date, with its time only when it is not midnight: 2025-06-01, 2025-06-01T06:00."""
    if moment.time() == time():
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


def commitment_key(provider: str, pool: str, start: datetime, term_h: float) -> str:
    """The name of a commitment decision, as plan.json and decisions.csv show it."""
    return f"{provider}/{pool} commitment from {moment_label(start)} for {duration_label(term_h)}"


def blocks_key(provider: str, pool: str, at: datetime, term_h: float) -> str:
    """The name of a block-order decision."""
    return f"{provider}/{pool} blocks ordered {moment_label(at)} for {duration_label(term_h)}"


def purchase_keys(scenario: Scenario, item: Purchase) -> list[str]:
    """The keys of the decisions one `plan.buy` item makes (its pool must exist)."""
    provider, pool = item.provider_and_pool
    if item.commitment is not None:
        return [commitment_key(provider, pool, start, term)
                for start in item.commitment.start for term in item.commitment.term]
    assert item.blocks is not None
    offer = scenario.providers[provider].pools[pool].blocks
    term = item.blocks.term if item.blocks.term is not None else (
        offer.min_term if offer is not None else 0.0)
    return [blocks_key(provider, pool, at, term) for at in item.blocks.at]
