"""What a plan may buy: the decisions of a scenario's `plan:` section, as numbers.

A decision is one purchase whose size is chosen: the units of one take-or-pay commitment (a
start, a term and a price, in one pool), or the number of blocks ordered on one date from a
pool's `blocks` offer. Its *hand* value is what the scenario file already buys there (the units
of its commitment in that pool with the same start, or the count of its order on that date; 0
if none), so the hand-written plan is one point of the space.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.scenario.models import BlockOrder, Blocks, Commitment
from sim.scenario.plan import blocks_key, commitment_key, duration_label, moment_label
from sim.scenario.scenario import Scenario
from sim.timeparse import hours_between, parse_datetime

if TYPE_CHECKING:
    pass

Kind = Literal["commitment", "blocks"]


@dataclass(frozen=True)
class Decision:
    """One purchase whose size is chosen, in simulation hours from the scenario start.

    `value` counts committed units (commitment) or blocks (blocks); `size` is the units one
    counted item brings (1 for a commitment, the block size for blocks). Cost while billed:
    value × size × price_per_hour per hour, from `online_h` for `term_h` hours (clipped to the
    run). A block adds value × size installed, dedicated units from `online_h` (a commitment adds
    none: it only prices use up to its units). `available` < 1: a block may be out of stock when
    asked (retried every `retry_h`).
    """

    key: str  # unique and readable: "azure/gb200 commitment from 2025-06-01 for 5y"
    provider: str
    pool: str
    kind: Kind
    lo: float
    hi: float
    step: float  # values are lo + k × step (blocks: 1)
    hand: float  # the scenario's own value
    start_h: float  # commitment start, or the date the blocks are ordered
    term_h: float
    price_per_hour: float
    size: float = 1.0
    lead_time_h: float = 0.0
    available: float = 1.0
    retry_h: float = 168.0
    on_end: str = "lapse"  # a commitment's rule at its end (blocks: the offer's)

    @property
    def online_h(self) -> float:
        """Hour the purchase starts to count: the start, or the order date plus the lead time."""
        return self.start_h + self.lead_time_h

    def values(self) -> np.ndarray:
        """Every allowed value, lo to hi by step."""
        n = int(np.floor((self.hi - self.lo) / self.step + 1e-9))
        return self.lo + self.step * np.arange(n + 1)


# ---------------------------------------------------------------- the space of a scenario


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _same_moment(scenario: Scenario, moment: datetime, hours: float) -> bool:
    return round(hours_between(scenario.start, moment) * 3600) == round(hours * 3600)


def _at(scenario: Scenario, hours: float) -> datetime:
    """The calendar moment `hours` after the start, to the second."""
    return scenario.start + timedelta(seconds=round(hours * 3600))


def _matches_commitment(scenario: Scenario, c: Commitment, d: Decision) -> bool:
    return _same_moment(scenario, c.start, d.start_h) and _close(c.hours, d.term_h)


def _matches_order(scenario: Scenario, offer: Blocks, order: BlockOrder, d: Decision) -> bool:
    term = order.term if order.term is not None else offer.min_term
    return _same_moment(scenario, order.at, d.start_h) and _close(term, d.term_h)


def decision_space(scenario: Scenario) -> list[Decision]:
    """The decisions of the scenario's `plan:` section, in file order (a list of dates or terms
    gives one decision each, dates first); [] without a section.

    Hand value: the units of the pool's commitments with the same start and term (summed), or
    the blocks of the pool's orders on that date for the same term (summed); 0 if none.
    """
    if scenario.plan is None:
        return []
    out: list[Decision] = []
    for item in scenario.plan.buy:
        provider, poolname = item.provider_and_pool
        pool = scenario.providers[provider].pools[poolname]
        if item.commitment is not None:
            c = item.commitment
            for i, start in enumerate(c.start):
                for term in c.term:
                    d = Decision(
                        key=commitment_key(provider, poolname, start, term), provider=provider,
                        pool=poolname, kind="commitment", lo=c.units.min, hi=c.units.max,
                        step=c.units.step, hand=0.0,
                        start_h=hours_between(scenario.start, start), term_h=term,
                        price_per_hour=c.price_at(i), on_end=c.on_end)
                    hand = sum(k.units for k in pool.commitments
                               if _matches_commitment(scenario, k, d))
                    out.append(replace(d, hand=float(hand)))
            continue
        b, offer = item.blocks, pool.blocks
        assert b is not None and offer is not None  # the loader checked both
        term = b.term if b.term is not None else offer.min_term
        for at in b.at:
            d = Decision(
                key=blocks_key(provider, poolname, at, term), provider=provider, pool=poolname,
                kind="blocks", lo=float(b.count.min), hi=float(b.count.max), step=1.0, hand=0.0,
                start_h=hours_between(scenario.start, at), term_h=term,
                price_per_hour=offer.price_per_hour, size=offer.size,
                lead_time_h=offer.lead_time, available=offer.available, retry_h=offer.retry,
                on_end=offer.on_end)
            hand = sum(o.count for o in offer.orders if _matches_order(scenario, offer, o, d))
            out.append(replace(d, hand=float(hand)))
    return out


def hand_choice(decisions: list[Decision]) -> dict[str, float]:
    """The scenario's own plan: each decision at its hand value."""
    return {d.key: d.hand for d in decisions}


def zeroed(decisions: list[Decision]) -> dict[str, float]:
    """Nothing bought: each decision at 0 (whatever its lower bound)."""
    return {d.key: 0.0 for d in decisions}


# ---------------------------------------------------------------- a choice, applied


def _commitment_item(scenario: Scenario, d: Decision, value: float, readable: bool) -> dict[str, Any]:
    start = _at(scenario, d.start_h)
    if not readable:
        return Commitment(units=value, price_per_hour=d.price_per_hour, start=start,
                          term=d.term_h, on_end=d.on_end).model_dump(mode="json")  # type: ignore[arg-type]
    item: dict[str, Any] = {"units": _number(value), "price_per_hour": d.price_per_hour,
                            "start": moment_label(start), "term": duration_label(d.term_h)}
    if d.on_end != "lapse":
        item["on_end"] = d.on_end
    return item


def _order_item(scenario: Scenario, offer: Blocks, d: Decision, value: float,
                readable: bool) -> dict[str, Any]:
    at = _at(scenario, d.start_h)
    term = None if _close(d.term_h, offer.min_term) else d.term_h
    if not readable:
        return BlockOrder(at=at, count=round(value), term=term).model_dump(mode="json")
    item: dict[str, Any] = {"at": moment_label(at), "count": round(value)}
    if term is not None:
        item["term"] = duration_label(term)
    return item


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _edited(scenario: Scenario, parsed: list[Any], raw: list[Any], decisions: list[Decision],
            choice: dict[str, float], matches: Any, make: Any) -> list[Any] | None:
    """`raw` (the items `parsed` was read from) with each decision's items replaced by one
    item of the chosen value (none for 0); None if nothing changes. A decision whose matching
    items already add up to the chosen value keeps them as written."""
    replaced: dict[int, Any] = {}
    dropped: set[int] = set()
    added: list[Any] = []
    for d in decisions:
        value = float(choice.get(d.key, d.hand))
        found = [i for i, item in enumerate(parsed) if matches(item, d)]
        size = sum(float(parsed[i].units if d.kind == "commitment" else parsed[i].count)
                   for i in found)
        if _close(size, value):
            continue
        dropped.update(found)
        if value > 0:
            if found:
                replaced[found[0]] = make(d, value)
            else:
                added.append(make(d, value))
    if not dropped and not added:
        return None
    out = [replaced.get(i, item) for i, item in enumerate(raw)
           if i in replaced or i not in dropped]
    return out + added


def _pool_edits(scenario: Scenario, decisions: list[Decision], choice: dict[str, float],
                raw_pools: Any, readable: bool) -> list[tuple[str, str, str, list[Any]]]:
    """(provider, pool, "commitments" | "orders", new raw list) for each list the choice
    changes. `raw_pools(provider, pool, field)` gives the raw list the scenario's was read from."""
    unknown = set(choice) - {d.key for d in decisions}
    if unknown:
        raise KeyError(f"no decision named {sorted(unknown)[0]!r}")
    by_pool: dict[tuple[str, str, str], list[Decision]] = {}
    for d in decisions:
        field = "commitments" if d.kind == "commitment" else "orders"
        by_pool.setdefault((d.provider, d.pool, field), []).append(d)
    out = []
    for (provider, poolname, field), ds in by_pool.items():
        pool = scenario.providers[provider].pools[poolname]
        raw = raw_pools(provider, poolname, field)
        if field == "commitments":
            new = _edited(scenario, pool.commitments, raw, ds, choice,
                          lambda c, d: _matches_commitment(scenario, c, d),
                          lambda d, v: _commitment_item(scenario, d, v, readable))
        else:
            offer = pool.blocks
            if offer is None:
                raise KeyError(f"{provider}/{poolname} has no `blocks` offer")
            new = _edited(scenario, offer.orders, raw, ds, choice,
                          lambda o, d, offer=offer: _matches_order(scenario, offer, o, d),
                          lambda d, v, offer=offer: _order_item(scenario, offer, d, v, readable))
            if new is not None:  # orders stay in date order (the loader requires it)
                new.sort(key=lambda o: parse_datetime(o["at"]))
        if new is not None:
            out.append((provider, poolname, field, new))
    return out


def choice_changes(scenario: Scenario, decisions: list[Decision],
                   choice: dict[str, float]) -> tuple[tuple[str, Any], ...]:
    """Dotted-path changes (for `sim.api.with_changes`) that make `scenario` buy `choice`.

    Per decision, the pool's commitments with its start and term (orders: on its date, for its
    term) are replaced by one of the chosen size (none for 0); the rest stay. A decision missing
    from `choice` stays as the scenario has it; a decision whose items already add up to the
    chosen value is left as written, so the hand choice changes nothing. Works on any scenario
    with the decisions' pools (a world's too). KeyError: a key that is no decision.
    """

    def raw(provider: str, pool: str, field: str) -> list[Any]:
        p = scenario.providers[provider].pools[pool]
        items = p.commitments if field == "commitments" else (p.blocks.orders if p.blocks else [])
        return [item.model_dump(mode="json") for item in items]

    changes = []
    for provider, pool, field, new in _pool_edits(scenario, decisions, choice, raw, False):
        where = "commitments" if field == "commitments" else "blocks.orders"
        changes.append((f"providers.{provider}.pools.{pool}.{where}", new))
    return tuple(changes)


def apply_choice(scenario: Scenario, decisions: list[Decision],
                 choice: dict[str, float]) -> Scenario:
    """The scenario that buys `choice` (choice_changes applied)."""
    from sim.scenario.changes import with_changes

    return with_changes(scenario, dict(choice_changes(scenario, decisions, choice)))


# ---------------------------------------------------------------- the file's own data


def file_with_choice(source: Path, decisions: list[Decision],
                     choice: dict[str, float]) -> dict[str, Any]:
    """The scenario file `source` as data (its values as written, the `plan:` section kept) with
    `choice` bought: the same edit as choice_changes, made on the file's own data
    (`commitments:` or `orders:` added where a pool had none). The edit is matched against
    `source` as it is on disk."""
    from sim.scenario import load_scenario, read_yaml

    data, _ = read_yaml(source)
    on_disk = load_scenario(source)

    def raw(provider: str, pool: str, field: str) -> list[Any]:
        node = data["providers"][provider]["pools"][pool]
        node = node if field == "commitments" else node["blocks"]
        return node.get(field) or []

    for provider, pool, field, new in _pool_edits(on_disk, decisions, choice, raw, True):
        node = data["providers"][provider]["pools"][pool]
        (node if field == "commitments" else node["blocks"])[field] = new
    return data


def committed_dollars(scenario: Scenario, decisions: list[Decision], choice: dict[str, float]
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Hours and committed dollars per hour per provider (every contract the plan holds: the
    scenario's own and the chosen purchases), over the run: what the plan's commitments plot shows."""
    from sim.engine import compile_scenario
    from sim.scenario.changes import with_changes

    s = with_changes(scenario, dict(choice_changes(scenario, decisions, choice)))
    compiled = compile_scenario(s)
    hours = np.arange(compiled.n_steps + 1) * compiled.step
    out: dict[str, np.ndarray] = {}
    for pool in compiled.pools:
        if not pool.commits:
            continue
        t = np.array([c[0] for c in pool.commits])
        dollars = np.array([c[2] for c in pool.commits])
        idx = np.searchsorted(t, hours, side="right")
        level = np.concatenate([[0.0], np.cumsum(dollars)])[idx]
        name = pool.info.provider
        out[name] = out.get(name, 0.0) + level
    return hours, out
