"""Pydantic models of a scenario file: supply, demand, policy and the run's clock.

Every model is frozen and forbids unknown keys; field descriptions double as the
documentation shown by `capsim schema` and editors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from sim.fields import Hours, When

Family = Literal["gpu", "tpu", "cpu"]
Share = Annotated[float, Field(ge=0.0, le=1.0)]

# Bounds far beyond any real plan that keep sums and products finite (1e300 units or dollars
# would overflow to inf and NaN in the tables).
MAX_UNITS = 1e9
MAX_PRICE = 1e6
MAX_SPEED = 1e3
MAX_POWER_KW = 1e6
MAX_INT = 2**63 - 1
"""Largest whole number a results table stores (a Parquet int64 column): seeds and priorities."""


class Strict(BaseModel):
    """Base of every scenario model: immutable, unknown keys are errors, numbers finite (a field
    that reads infinity as "no limit" says so and opts in)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- supply


class Fixed(Strict):
    dist: Literal["fixed"]
    value: Hours = Field(gt=0)


class Exponential(Strict):
    dist: Literal["exponential"]
    mean: Hours = Field(gt=0)


class LogNormal(Strict):
    dist: Literal["lognormal"]
    median: Hours = Field(gt=0)
    sigma: float = Field(ge=0, le=5)


class Uniform(Strict):
    dist: Literal["uniform"]
    low: Hours = Field(ge=0)
    high: Hours = Field(gt=0)


class Choice(Strict):
    dist: Literal["choice"]
    values: list[Hours] = Field(min_length=1)
    weights: list[float] | None = Field(default=None, description="default: equal weights")


Distribution = Annotated[
    Fixed | Exponential | LogNormal | Uniform | Choice, Field(discriminator="dist")
]
"""A random quantity. Durations may be written with units (`30d`); sizes are plain numbers."""




class UnitFailures(Strict):
    """Failures of single units: each unit fails at `rate` per unit-hour (or once per `mtbf`
    hours) and is out for a repair time; a share of the interruptions is planned maintenance."""

    rate: float | None = Field(
        default=None, gt=0, le=1.0,
        description="interruptions per unit-hour, unexpected and planned (or give mtbf)")
    mtbf: Hours | None = Field(
        default=None, gt=0,
        description="mean hours between interruptions of one unit, e.g. 5.7y (or give rate)")
    planned_share: Share = Field(
        default=0.0, description="share of the interruptions that are planned maintenance"
    )
    repair: Hours | Distribution = Field(
        description="hours a failed unit is out: a mean (exponential) or a distribution")

    @model_validator(mode="after")
    def _rate_or_mtbf(self) -> UnitFailures:
        if (self.rate is None) == (self.mtbf is None):
            raise ValueError("give exactly one of `rate` (per unit-hour) or `mtbf` (hours per unit)")
        if self.mtbf is not None and self.mtbf < 1.0:
            raise ValueError("`mtbf` is per unit: at least 1 hour (a gang's rate is units / mtbf)")
        return self

    @property
    def per_unit_hour(self) -> float:
        """Interruptions per unit-hour, whichever way they were given."""
        return self.rate if self.rate is not None else 1.0 / self.mtbf  # type: ignore[operator]


class Accelerator(Strict):
    """One kind of chip, with its speed relative to the reference accelerator."""

    family: Family = Field(description="gpu, tpu or cpu: porting costs apply across families")
    generation: int = Field(default=0, ge=0, description="release year or generation number")
    train_speed: float = Field(
        default=1.0, gt=0, le=MAX_SPEED, description="training throughput per unit, reference accelerator = 1"
    )
    infer_speed: float = Field(
        default=1.0, gt=0, le=MAX_SPEED,
        description="inference throughput per unit, reference accelerator = 1",
    )
    power_kw: float = Field(
        ge=0, le=MAX_POWER_KW, description="power per unit in kW, host and cooling share included"
    )
    idle_power_share: Share = Field(
        default=0.3,
        description="share of power_kw an installed unit draws while idle (busy draws all of it); "
        "0.3 is typical of GPU servers with their cooling",
    )
    failures: UnitFailures | None = Field(
        default=None, description="hardware failures per unit (default: units never fail)"
    )


class CapacityStep(Strict):
    """From `at` on, the pool has `units` (until the next step)."""

    at: When = Field(description="date from which this level holds")
    units: float = Field(ge=0, le=MAX_UNITS, description="units available from that date")


class Site(Strict):
    """A data centre that brings `units` online on a date, ramping up, possibly late."""

    name: str = Field(description="site name, shown in the event log")
    online: When = Field(description="planned date the first units come online")
    units: float = Field(gt=0, le=MAX_UNITS, description="units at full build-out")
    ramp: Hours = Field(default=0.0, description="time from first units to full size (linear)")
    slip_mean: Hours | None = Field(
        default=None,
        description="mean random delay (exponential) of this site; default: the build-out's",
    )
    power_mw: float | None = Field(
        default=None, gt=0, le=1e9,
        description="the site's power feed: only the units it can run at full power are "
        "usable (the rest are stranded); default: no limit of its own",
    )


class Buildout(Strict):
    """Sites under construction that add capacity to the pool as each comes online."""

    slip_mean: Hours = Field(default=0.0, description="mean random delay per site (exponential)")
    programme: str | None = Field(
        default=None,
        description="programme (top-level `programmes`) whose shared delay every site takes on "
        "top of its own",
    )
    ramp_increments: int = Field(
        default=4, ge=1, le=52,
        description="a ramp adds its units in this many equal tranches, the first at the "
        "site's online date and the last at online + ramp (one tranche: whole at online + ramp)",
    )
    sites: list[Site] = Field(min_length=1, description="the sites, each with its own date")


class CapStep(Strict):
    """From `at` on, this customer may hold at most `units` in the pool."""

    at: When
    units: float = Field(
        ge=0, allow_inf_nan=True, description="the cap; .inf lifts it (no cap from this date)"
    )


EndRule = Literal["lapse", "renew"]
"""At a contract's end: `lapse` (billing stops) or `renew` (same term again, at the then price)."""


class Commitment(Strict):
    """A take-or-pay contract: `units` billed every hour of the term, used or not.

    Start and end may lie before the scenario start or after its horizon: only the hours inside
    the run are billed. A renewal costs `price_per_hour` scaled by how the pool's on-demand price
    moved since the start (the contract keeps its discount to the list price).
    """

    units: float = Field(gt=0, le=MAX_UNITS, description="committed units")
    price_per_hour: float = Field(ge=0, le=MAX_PRICE, description="price per committed unit-hour")
    start: When = Field(description="contract start (may precede the scenario start)")
    term: Hours | None = Field(default=None, gt=0, description="contract length, e.g. 3y")
    end: When | None = Field(default=None, description="contract end, instead of `term`")
    on_end: EndRule = Field(
        default="lapse", description="lapse, or renew for the same term at the then price"
    )

    @model_validator(mode="after")
    def _one_length(self) -> Commitment:
        if (self.term is None) == (self.end is None):
            raise ValueError("give the contract's length as `term` or its `end` date (one of them)")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end: the contract must end after it starts")
        return self

    @property
    def hours(self) -> float:
        """Length of one term in hours."""
        if self.term is not None:
            return self.term
        assert self.end is not None
        return (self.end - self.start).total_seconds() / 3600.0


class BlockOrder(Strict):
    """An order for `count` blocks on a date; they come online after the offer's lead time."""

    at: When = Field(description="date the order is placed")
    count: int = Field(default=1, ge=1, le=int(MAX_UNITS), description="blocks ordered")
    term: Hours | None = Field(
        default=None, gt=0, description="contract length from online; default: the minimum term"
    )


class Blocks(Strict):
    """A provider's offer of dedicated capacity in blocks of `size` units, and the orders placed.

    A block is the customer's own: it adds `size` installed units to the pool and a take-or-pay
    contract at `price_per_hour` from the day it comes online, for its term. A block is
    available when asked with probability `available`; one that is not is asked for again
    every `retry` until it is had or `max_wait` has passed (then refused: a stockout).
    """

    size: float = Field(gt=0, description="units in one block, e.g. 100000 GPUs")
    lead_time: Hours = Field(ge=0, description="time from order to online, e.g. 90d")
    min_term: Hours = Field(gt=0, description="shortest contract a block is sold on, e.g. 1y")
    price_per_hour: float = Field(ge=0, description="committed price per unit-hour")
    on_end: EndRule = Field(
        default="lapse", description="lapse (the block goes back) or renew at the then price"
    )
    available: Share = Field(
        default=1.0, description="probability a block can be had when it is asked for"
    )
    retry: Hours = Field(default=168.0, gt=0, description="time between asks while out of stock")
    max_wait: Hours | None = Field(
        default=None, ge=0,
        description="refuse a block not had this long after ordering (0: at once); default: "
        "keep asking until the horizon",
    )
    orders: list[BlockOrder] = Field(default_factory=list, description="orders placed, by date")


class PriceStep(Strict):
    """From `at` on, the on-demand price is `price_per_hour` (then declining, if it does)."""

    at: When
    price_per_hour: float = Field(ge=0)


class PriceSchedule(Strict):
    """How a pool's on-demand price moves over time: new levels on dates, a yearly decline."""

    steps: list[PriceStep] = Field(default_factory=list, description="new price levels, by date")
    decline_per_year: float = Field(
        default=0.0, ge=0, lt=1,
        description="compound decline per year (0.2: 20 % cheaper a year later), from the start "
        "or the latest step",
    )


class AvailabilityStep(Strict):
    """From `at` on, `share` of the pool is open to this customer."""

    at: When
    share: Share


class AvailabilityProcess(Strict):
    """The open share as a random process: mean-reverting (AR(1)) around `mean`, clipped to 0..1.

    Drawn once per replication, so every policy sees the same market. Consecutive values
    `interval` apart correlate exp(-interval / correlation_time); each value is normal with
    mean `mean` and standard deviation `sd` before clipping.
    """

    mean: Share = Field(description="long-run share open to this customer")
    sd: float = Field(ge=0, le=1, description="standard deviation of the share")
    correlation_time: Hours = Field(gt=0, description="how long a tight or loose market lasts")
    interval: Hours = Field(default=168.0, gt=0, description="time between changes, e.g. 7d")


class Availability(Strict):
    """The share of a pool's shared capacity open to this customer, as other tenants take theirs.

    Give a `series` of dated shares or a `random` process. Dedicated blocks are not affected.
    """

    series: list[AvailabilityStep] | None = Field(default=None, description="share over time")
    random: AvailabilityProcess | None = Field(default=None, description="share at random")

    @model_validator(mode="after")
    def _one_kind(self) -> Availability:
        if (self.series is None) == (self.random is None):
            raise ValueError("give either `series` or `random` (one of them)")
        return self


class Spot(Strict):
    """The pool is spot capacity: cheap, and the provider takes units back at random."""

    reclaim_mtbf: Hours = Field(gt=0, description="mean time between reclaims")
    reclaim_duration: Hours = Field(gt=0, description="mean length of a reclaim")
    reclaim_share: Share = Field(default=0.5, gt=0, description="share of the pool taken back")


class Reliability(Strict):
    """Random outages of a pool: exponential up and repair times."""

    mtbf: Hours = Field(gt=0, description="mean time between failures")
    mttr: Hours = Field(gt=0, description="mean time to repair")
    share: Share = Field(default=1.0, gt=0, description="share of the pool lost in an outage")


class Pool(Strict):
    """One accelerator type at one provider: capacity over time, caps, prices, reliability."""

    accelerator: str = Field(description="name from the accelerators catalogue")
    capacity: list[CapacityStep] = Field(
        default_factory=list, description="step schedule of installed units"
    )
    buildout: Buildout | None = Field(default=None, description="sites adding units over time")
    tenant_cap: list[CapStep] | None = Field(
        default=None, description="the most this customer may hold, over time (default: no cap)"
    )
    price_per_hour: float = Field(
        ge=0, le=MAX_PRICE, description="on-demand (or spot) price per unit-hour"
    )
    prices: PriceSchedule | None = Field(
        default=None, description="how the on-demand price moves (default: it never does)"
    )
    commitments: list[Commitment] = Field(default_factory=list, description="take-or-pay contracts")
    blocks: Blocks | None = Field(default=None, description="dedicated blocks offered and ordered")
    availability: Availability | None = Field(
        default=None, description="share of the shared capacity open to this customer over time"
    )
    spot: Spot | None = Field(default=None, description="set if this pool is reclaimable spot")
    outages: Reliability | None = Field(default=None, description="random outages")
    failures: UnitFailures | None = Field(
        default=None, description="unit failures here, instead of the accelerator's"
    )
    region: str | None = Field(
        default=None, description="region of the provider it is in (shares its outages)"
    )


class Region(Strict):
    """A region of a provider: one event (power, network) takes a share of all its pools."""

    outages: Reliability = Field(description="random outages of the whole region")


class Provider(Strict):
    """A cloud or builder that owns pools."""

    description: str = ""
    pools: dict[str, Pool] = Field(min_length=1, description="pools by name")
    regions: dict[str, Region] = Field(
        default_factory=dict, description="regions whose outages hit every pool in them at once"
    )
    outages: Reliability | None = Field(
        default=None, description="provider-wide random outages: every pool at once"
    )


class ScheduledOutage(Strict):
    """A planned or scripted outage: part of a provider (or one pool) lost for a while."""

    provider: str = Field(description="provider that fails")
    pool: str | None = Field(default=None, description="one pool of it; default: all its pools")
    start: When
    duration: Hours = Field(gt=0)
    share: Share = Field(default=1.0, gt=0, description="share of the capacity lost")


class Programme(Strict):
    """A build-out programme whose sites slip together: one shared delay, plus each site's own."""

    slip_mean: Hours = Field(ge=0, description="mean of the shared delay (exponential)")


class PowerStep(Strict):
    """From `at` on, the power ceiling is `mw`."""

    at: When
    mw: float = Field(gt=0, le=MAX_UNITS)


class Power(Strict):
    """Ceilings on the power installed accelerators draw (idle share when idle, all of it when
    busy): across all providers, and per provider (its facilities' feed)."""

    ceiling: list[PowerStep] = Field(default_factory=list,
                                     description="ceiling in MW across providers, over time")
    providers: dict[str, list[PowerStep]] = Field(
        default_factory=dict, description="ceiling in MW per provider, over time")

    @model_validator(mode="after")
    def _some_ceiling(self) -> Power:
        if not self.ceiling and not self.providers:
            raise ValueError("give a `ceiling` or per-provider ceilings under `providers`")
        return self


# ---------------------------------------------------------------- demand




class Restart(Strict):
    """Time from an interruption to useful work again: detection, rescheduling, loading the checkpoint."""

    detection: Hours = Field(default=0.0, description="time to notice the failure")
    reschedule: Hours = Field(default=0.0, description="time to swap units and relaunch the gang")
    load: Hours = Field(default=0.0, description="time to load the last checkpoint")

    @property
    def hours(self) -> float:
        return self.detection + self.reschedule + self.load


class JobTraits(Strict):
    """What any training job needs from the capacity it runs on."""

    families: list[Family] = Field(
        default_factory=lambda: ["gpu", "tpu"], description="accelerator families it can use"
    )
    accelerators: list[str] | None = Field(
        default=None, description="only these accelerators (default: any in the families)"
    )
    providers: list[str] | None = Field(default=None, description="only these providers")
    native_family: Family = Field(default="gpu", description="family the code is written for")
    porting: Hours = Field(default=0.0, description="extra time when run off the native family")
    checkpoint_interval: Literal["auto"] | Hours | None = Field(
        default=None,
        description="hours of work between checkpoints, or auto (the optimum for the gang's unit "
        "failure rate and checkpoint cost; once a day without a failure rate); none means a "
        "restart loses all work",
    )
    checkpoint_write: Hours = Field(default=0.0, description="time to write one checkpoint")
    checkpoint_async: Share = Field(
        default=0.0, description="share of a checkpoint write that overlaps training (0: it stalls)"
    )
    restart_overhead: Hours = Field(default=0.0, description="time to reload after an interruption")
    restart: Restart | None = Field(
        default=None, description="restart time in parts (replaces restart_overhead when given)"
    )
    spares: int = Field(
        default=0, ge=0, le=MAX_UNITS,
        description="spare units held idle beside the gang in its pool (paid for): a unit "
        "failure swaps one in and the run restarts without waiting for the repair",
    )
    priority: int = Field(default=0, ge=-MAX_INT, le=MAX_INT,
                          description="higher runs first and is preempted last")
    max_wait: Hours | None = Field(
        default=None,
        description="a run not started this long after it asks gives up (0: start at once or "
        "never, a loss system); default: waits as long as it takes",
    )
    delay_cost_per_hour: float = Field(
        default=0.0, ge=0,
        description="dollars per hour the run finishes later than it could have (arrival + "
        "its run time on the fastest pool it may use, porting included); a run unfinished at "
        "the horizon is charged up to the horizon. 0: delay not priced",
    )


class TrainingJob(JobTraits):
    """One gang-scheduled run: all units at once, at one provider."""

    name: str
    arrival: When = Field(description="date the run asks for capacity")
    units: int = Field(ge=1, le=MAX_UNITS, description="accelerators it needs at once")
    duration: Hours = Field(gt=0, description="run time on reference accelerators")
    frontier: bool = Field(default=False, description="report its start and end in the summary")
    target_finish: When | None = Field(
        default=None, description="date the run is wanted by; finishing earlier earns "
        "`value_per_day_early`",
    )
    value_per_day_early: float = Field(
        default=0.0, ge=0,
        description="credit in dollars per day the run finishes before `target_finish` "
        "(a frontier run's lead); nothing after it, where `delay_cost_per_hour` applies",
    )

    @model_validator(mode="after")
    def _target_given(self) -> TrainingJob:
        if self.value_per_day_early > 0 and self.target_finish is None:
            raise ValueError("target_finish: required when value_per_day_early is set (the "
                             "date that days early are counted from)")
        return self


class JobGenerator(JobTraits):
    """A Poisson stream of runs with random sizes and lengths."""

    arrivals_per_day: float = Field(gt=0, le=MAX_UNITS, description="mean arrival rate")
    start: When | None = Field(default=None, description="first possible arrival (default: start)")
    end: When | None = Field(default=None, description="last possible arrival (default: horizon)")
    units: Distribution = Field(description="accelerators per run")
    duration: Distribution = Field(description="run time on reference accelerators")


class Training(Strict):
    """Training demand: explicit runs and generated streams."""

    jobs: list[TrainingJob] = Field(default_factory=list)
    generators: dict[str, JobGenerator] = Field(default_factory=dict)


class Spike(Strict):
    """A launch: demand multiplied at a date, fading back linearly."""

    at: When
    multiplier: float = Field(gt=0, le=1e6, description="demand multiplier at the peak, e.g. 1.5")
    duration: Hours = Field(gt=0, description="time for the spike to fade")


class TraceColumns(Strict):
    """Names of the trace's columns (defaults: the public Azure LLM inference traces)."""

    timestamp: str = Field(default="TIMESTAMP", description="request time: ISO date-time or seconds")
    prompt_tokens: str = Field(default="ContextTokens", description="prompt (prefill) tokens")
    output_tokens: str = Field(default="GeneratedTokens", description="output (decode) tokens")


class Trace(Strict):
    """Demand replayed from a request trace: a CSV with a timestamp and token counts per request.

    Tokens of the requests that arrive in a step become reference-accelerator demand:
    prompt tokens ÷ (prefill_tokens_per_second × step seconds) + output tokens ÷
    (decode_tokens_per_second × step seconds), times `scale`.
    """

    file: str = Field(description="CSV file; a relative path is read from the scenario file's folder")
    prefill_tokens_per_second: float = Field(
        gt=0, description="prompt tokens per second one reference accelerator sustains"
    )
    decode_tokens_per_second: float = Field(
        gt=0, description="output tokens per second one reference accelerator sustains"
    )
    scale: float = Field(default=1.0, gt=0, description="volume multiplier: N times the requests")
    shift: Hours = Field(
        default=0.0, description="the trace's first request lands this long after the start"
    )
    repeat: bool = Field(
        default=False, description="replay the trace end to end until the horizon (else: once)"
    )
    period: Hours | None = Field(
        default=None, gt=0,
        description="length of one copy when repeating; default: the trace's span rounded up to "
        "whole steps",
    )
    mode: Literal["replace", "on_top"] = Field(
        default="replace",
        description="replace: demand is the trace's alone; on_top: the trace times the service's "
        "growth, daily and weekly cycle, spikes and noise, taken with base_units 1",
    )
    columns: TraceColumns = Field(default_factory=TraceColumns, description="column names")


class LatencyTarget(Strict):
    """A latency objective: this percentile of time to first token at most `ttft_s` seconds."""

    percentile: float = Field(default=99.0, gt=0, lt=100, description="e.g. 99 for p99")
    ttft_s: float = Field(gt=0, description="time to first token the percentile must not exceed")


class Latency(Strict):
    """Latency from load: a queueing model of the service's fleet (see sim/latency/model.py).

    Setting it changes what the service asks for: the engine is offered load ÷
    `target_utilisation` units, so the fleet has headroom for queues to stay short.
    """

    concurrency: float = Field(
        gt=0, description="requests one reference accelerator serves at once (batch slots, B)"
    )
    queue_units: float | None = Field(
        default=None, gt=0,
        description="reference accelerators that share one queue (a model replica behind a "
        "router dispatching at random); default: the whole fleet, one queue",
    )
    target_utilisation: float = Field(
        default=0.8, gt=0, le=1,
        description="the fleet is sized for load ÷ this: demand asked of the engine",
    )
    prompt_tokens: float | None = Field(
        default=None, gt=0, description="mean prompt tokens per request (default: the trace's)"
    )
    output_tokens: float | None = Field(
        default=None, gt=0, description="mean output tokens per request (default: the trace's)"
    )
    prefill_tokens_per_second: float | None = Field(
        default=None, gt=0,
        description="prompt tokens per second of one reference accelerator (default: the trace's)",
    )
    decode_tokens_per_second: float | None = Field(
        default=None, gt=0,
        description="output tokens per second of one reference accelerator, all slots busy "
        "(default: the trace's)",
    )
    service_cv: float | None = Field(
        default=None, ge=0, le=10,
        description="coefficient of variation of a request's service time (default: the "
        "trace's request sizes, else 1)",
    )
    arrival_cv: float | None = Field(
        default=None, ge=0, le=10,
        description="coefficient of variation of gaps between requests (1: Poisson; default: "
        "the trace's, else 1)",
    )
    mode: Literal["queue", "rate_limit"] = Field(
        default="queue",
        description="short of capacity: queue (all served, late) or rate_limit (excess refused)",
    )
    admit_utilisation: float = Field(
        default=0.95, gt=0, lt=1,
        description="rate_limit: requests are refused once the fleet would be busier than this",
    )
    ceiling_s: float | None = Field(
        default=None, gt=0,
        description="a request waiting longer than this for its first token fails (counted unmet)",
    )
    target: LatencyTarget | None = Field(
        default=None, description="latency objective; when set, slo_met follows it"
    )


class Service(Strict):
    """Rate demand in reference-accelerator units (or CPU units for agents), per step."""

    base_units: float | None = Field(
        default=None, gt=0, le=MAX_UNITS,
        description="demand at the start, in reference units (required unless `trace` is given)",
    )
    growth_per_month: float = Field(default=0.0, gt=-1, description="compound growth per month")
    daily_amplitude: float = Field(default=0.0, ge=0, lt=1, description="daily swing ±share")
    peak_hour: float = Field(default=17.0, ge=0, lt=24, description="hour of the daily peak")
    weekly_amplitude: float = Field(default=0.0, ge=0, lt=1, description="weekend dip share")
    noise: float = Field(default=0.0, ge=0, le=2, description="lognormal sigma per step")
    spikes: list[Spike] = Field(default_factory=list, description="launch spikes")
    providers: list[str] | None = Field(
        default=None, description="providers allowed to serve it (API traffic: [azure])"
    )
    families: list[Family] | None = Field(
        default=None, description="families that can serve it (inference: gpu, tpu; agents: cpu)"
    )
    slo: Share = Field(default=0.99, gt=0, description="target share of demand served per step")
    value_per_unit_hour: float = Field(
        default=0.0, ge=0,
        description="dollars lost per unserved reference-unit-hour (agents: per vCPU-hour), "
        "e.g. the revenue it would have earned. 0: shortfall not priced",
    )
    penalty_per_step_below_target: float = Field(
        default=0.0, ge=0,
        description="dollars per step whose served share is below `slo` (SLA credits), on top "
        "of the value of what went unserved",
    )
    priority: int = Field(default=10, ge=-MAX_INT, le=MAX_INT,
                          description="against training; higher is served first")
    trace: Trace | None = Field(
        default=None, description="take demand from a request trace instead of `base_units`"
    )
    latency: Latency | None = Field(
        default=None, description="model time to first token from load (inference services)"
    )

    @model_validator(mode="after")
    def _level_given(self) -> Service:
        if self.trace is None and self.base_units is None:
            raise ValueError("base_units: required field is missing (or give a `trace`)")
        if self.latency is not None and self.trace is None:
            missing = [f for f in ("prompt_tokens", "output_tokens", "prefill_tokens_per_second",
                                   "decode_tokens_per_second") if getattr(self.latency, f) is None]
            if missing:
                raise ValueError(f"latency.{missing[0]}: required without a `trace` (request "
                                 f"sizes and speeds come from the trace only when one is replayed)")
        return self


class Preemption(Strict):
    """Whether higher-priority demand may evict lower-priority work, and spot reclaim."""

    inference_preempts_training: bool = Field(
        default=True, description="inference short of capacity evicts lower-priority training"
    )
    spot_reclaim: bool = Field(default=True, description="spot pools are reclaimed at random")


class Scheduling(Strict):
    """How waiting training jobs are placed."""

    backfill: bool = Field(
        default=True, description="smaller jobs may start while a larger one waits"
    )
    inference_reserve: Hours = Field(
        default=24.0,
        description="training leaves free the peak inference use of this look-back window",
    )


class PolicySection(Strict):
    """Which placement policy runs by default, and parameters for any policy by name."""

    default: str = Field(default="microsoft_first", description="policy used by `capsim run`")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameters per policy name, e.g. decision_window"
    )
