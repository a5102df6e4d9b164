"""Supply as it is bought: prices over time, contracts and their renewals, blocks, availability.

Pure functions of the scenario (and a pool's own random streams) that `compile` turns into the
engine's schedules: on-demand price per step, commitment start/end events, blocks coming online
after their lead time (or refused for want of stock), and the share of a pool open to this
customer as other tenants take theirs. Times are simulation hours; nothing here knows the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.scenario.models import Availability, Blocks, EndRule, PriceSchedule

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Contract:
    """A take-or-pay contract as signed: who, what, when, and its value over its first term."""

    provider: str
    pool: str
    kind: str  # "commitment" or "block"
    start_h: float
    end_h: float  # end of the first term
    units: float
    price_per_hour: float
    on_end: EndRule

    @property
    def value(self) -> float:
        """Dollars the first term commits to, wherever it lies against the horizon."""
        return self.units * self.price_per_hour * (self.end_h - self.start_h)


def price_per_step(base: float, schedule: PriceSchedule | None,
                   step_hours: Sequence[tuple[float, float]], n_steps: int,
                   step: float) -> np.ndarray:
    """The on-demand price in force at the start of each step (see `price_function`)."""
    if schedule is None:
        return np.full(n_steps, base)
    t = np.arange(n_steps) * step
    level = np.full(n_steps, base)
    anchor = np.zeros(n_steps)
    for h, p in step_hours:
        later = t >= h
        level[later] = p
        anchor[later] = h
    if schedule.decline_per_year:
        level *= (1.0 - schedule.decline_per_year) ** ((t - anchor) / HOURS_PER_YEAR)
    return level


def price_function(base: float, schedule: PriceSchedule | None,
                   step_hours: Sequence[tuple[float, float]]) -> Callable[[float], float]:
    """On-demand price at hour t: the latest level (`base` before any step), then the decline.

    `step_hours` are the schedule's steps as (hour, price), in date order. The decline compounds
    from the latest step (or hour 0), also backwards before hour 0 (prices were higher then).
    """
    decline = schedule.decline_per_year if schedule else 0.0
    factor = 1.0 - decline
    anchors = [(0.0, base), *step_hours]

    def price_at(t: float) -> float:
        h0, level = anchors[0]
        for h, p in anchors[1:]:
            if h <= t:
                h0, level = h, p
        return level * factor ** ((t - h0) / HOURS_PER_YEAR) if decline else level

    return price_at


def contract_terms(start: float, length: float, price: float, on_end: EndRule, end: float,
                   price_at: Callable[[float], float]) -> list[tuple[float, float, float]]:
    """The (start, end, price) terms of a contract billed inside [0, end): renewals included.

    A renewal runs the same length again at `price` times the pool's on-demand price then over
    the price at the contract's start, so the contract keeps its discount to the list price.
    """
    terms = []
    base = price_at(start)
    a = start
    while a < end:
        ratio = price_at(a) / base if base > 0 else 1.0
        b = a + length
        if b > 0:
            terms.append((a, b, price * ratio))
        if on_end == "lapse":
            break
        a = b
    return terms


@dataclass(frozen=True)
class BlockOutcome:
    """One block of an order: when it was had (or NaN if refused or never), and every ask."""

    ordered: float
    had: float  # hour the provider confirmed it; NaN if not had
    refused: bool  # max_wait ran out (False if still asking at the horizon)
    asks_out_of_stock: tuple[float, ...]  # hours of asks that found no stock


def ask_for_block(blocks: Blocks, ordered: float, end: float,
                  rng: np.random.Generator) -> BlockOutcome:
    """Ask for one block at `ordered`, and again every `retry` while it is out of stock.

    Each ask finds stock with probability `available`, independently. The block is refused once
    the next ask would come later than `max_wait` after the order; asking stops at the horizon.
    """
    deadline = ordered + blocks.max_wait if blocks.max_wait is not None else math.inf
    t = ordered
    misses: list[float] = []
    while t < end:
        if rng.random() < blocks.available:
            return BlockOutcome(ordered, t, False, tuple(misses))
        misses.append(t)
        t += blocks.retry
        if t > deadline + 1e-9:
            return BlockOutcome(ordered, math.nan, True, tuple(misses))
    return BlockOutcome(ordered, math.nan, False, tuple(misses))


def availability_steps(av: Availability, hours_of: Callable[[object], float], end: float,
                       rng: np.random.Generator) -> list[tuple[float, float]]:
    """(hour, share open) changes inside [0, end), from the series or a draw of the process.

    The process is AR(1): x0 ~ N(0, sd²) and x(k+1) = rho·x(k) + sqrt(1 − rho²)·sd·e, with
    rho = exp(−interval / correlation_time), so every value has sd `sd` around `mean` before
    being clipped to 0..1, and values `interval` apart correlate rho.
    """
    if av.series is not None:
        return [(hours_of(p.at), p.share) for p in av.series if hours_of(p.at) < end]
    proc = av.random
    assert proc is not None
    n = max(1, math.ceil(end / proc.interval - 1e-9))
    rho = math.exp(-proc.interval / proc.correlation_time)
    noise = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = proc.sd * noise[0]
    scale = math.sqrt(1.0 - rho * rho) * proc.sd
    for k in range(1, n):
        x[k] = rho * x[k - 1] + scale * noise[k]
    shares = np.clip(proc.mean + x, 0.0, 1.0)
    return [(k * proc.interval, float(v)) for k, v in enumerate(shares)]


def caps_with_availability(
    shared: list[tuple[float, float]], blocks: list[tuple[float, float]],
    tenant: list[tuple[float, float]] | None, share: list[tuple[float, float]],
) -> list[tuple[float, float, float]]:
    """(hour, cap, units withheld by availability) at every change of any input.

    The customer may hold min(tenant cap, share open × shared installed) of the shared capacity
    plus all of its own blocks. `shared` and `blocks` are (hour, +units) deltas; `tenant` and
    `share` are (hour, level) steps (no tenant cap: unlimited; before the first share: all open).
    Withheld = what the tenant cap alone would allow minus what availability allows.
    """
    events = sorted([(t, 0, d) for t, d in shared] + [(t, 1, d) for t, d in blocks]
                    + [(t, 2, v) for t, v in tenant or []] + [(t, 3, v) for t, v in share])
    installed = own = 0.0
    cap, open_share = math.inf, 1.0
    out: list[tuple[float, float, float]] = []
    for i, (t, kind, value) in enumerate(events):
        if kind == 0:
            installed += value
        elif kind == 1:
            own += value
        elif kind == 2:
            cap = value
        else:
            open_share = value
        if i + 1 < len(events) and events[i + 1][0] == t:
            continue  # apply every change at this hour before reading the levels
        allowed = min(cap, open_share * max(0.0, installed))
        withheld = max(0.0, min(cap, max(0.0, installed)) - allowed)
        row = (t, allowed + max(0.0, own), withheld)
        if not out or out[-1][1:] != row[1:]:
            out.append(row)
    return out


def value_by_provider(contracts: Sequence[Contract]) -> dict[str, float]:
    """Dollars committed per provider: first terms of every contract and block had, in full."""
    out: dict[str, float] = {}
    for c in contracts:
        out[c.provider] = out.get(c.provider, 0.0) + c.value
    return out
