"""Near-optimal alternatives: checked plans whose expected cost is within a band of the chosen
plan's, picked for how they differ from it (a planner weighs reasons the model does not hold).

A plan's concentration is the Herfindahl index (HHI) of its committed spend (take-or-pay,
used or idle) by provider: Σ share², 1 when one provider holds every commitment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from sim.planning.space import Decision

BAND = 0.05
"""How far above the chosen plan's expected cost an alternative may be (a share of it)."""

COMMITTED = "committed."
"""Prefix of the per-run columns holding committed spend per provider (committed.azure, ...)."""

REASONS = ("least concentrated", "least committed spend", "most different")
"""What each alternative is picked for, in the order they are picked."""


def committed_by_provider(metrics: Mapping[str, float]) -> dict[str, float]:
    """Committed spend per provider of one run: committed units used plus those paid idle."""
    used = "spend_committed_used_by_provider."
    idle = "committed_idle_cost_by_provider."
    providers = {k.removeprefix(used) for k in metrics if k.startswith(used)}
    providers |= {k.removeprefix(idle) for k in metrics if k.startswith(idle)}
    return {p: float(metrics.get(used + p, 0.0)) + float(metrics.get(idle + p, 0.0))
            for p in sorted(providers)}


def concentration(spend: Mapping[str, float]) -> tuple[float, str, float]:
    """(HHI, the provider with the largest share, its share) of committed spend per provider;
    (nan, "", nan) when nothing is committed."""
    clean = {p: v for p, v in spend.items() if math.isfinite(v) and v > 0}
    total = sum(clean.values())
    if total <= 0:
        return math.nan, "", math.nan
    shares = {p: v / total for p, v in clean.items()}
    top = max(shares, key=lambda p: (shares[p], p))
    return float(sum(s * s for s in shares.values())), top, shares[top]


def distance(decisions: Sequence[Decision], a: Mapping[str, float], b: Mapping[str, float]
             ) -> float:
    """How far two plans lie apart: Σ over decisions of |a − b| as a share of the decision's
    range (a decision with no range counts 0)."""
    return float(sum(abs(a[d.key] - b[d.key]) / (d.hi - d.lo) for d in decisions if d.hi > d.lo))


def differences(decisions: Sequence[Decision], choice: Mapping[str, float],
                chosen: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """Decision key -> (chosen value, this plan's value) where the two differ."""
    return {d.key: (chosen[d.key], choice[d.key]) for d in decisions
            if abs(choice[d.key] - chosen[d.key]) > 1e-9 * max(1.0, abs(chosen[d.key]))}


def near_optimal(table: pd.DataFrame, choices: Mapping[str, Mapping[str, float]],
                 decisions: Sequence[Decision], chosen: str, band: float = BAND,
                 most: int = 3) -> pd.DataFrame:
    """Up to `most` candidates of `table` (one row per checked plan: cost_total, spend_committed,
    committed_hhi, ...) whose expected cost_total is at most (1 + band) × the chosen plan's,
    picked in turn as the least concentrated, the one with the least committed spend and the
    one most different from the chosen plan (`distance`), each only where it beats the chosen
    plan on that count and was not picked before. One row per alternative, with its reason."""
    me = table[table["candidate"] == chosen].iloc[0]
    limit = float(me["cost_total"]) + band * abs(float(me["cost_total"]))
    pool = table[(table["candidate"] != chosen) & (table["cost_total"] <= limit)].copy()
    if pool.empty:
        return pd.DataFrame(columns=["candidate", "reason", "distance", "changed"])
    mine = choices[chosen]
    pool["distance"] = [distance(decisions, choices[str(c)], mine) for c in pool["candidate"]]
    pool["changed"] = [len(differences(decisions, choices[str(c)], mine))
                       for c in pool["candidate"]]
    picked: list[dict[str, Any]] = []
    tests = (("committed_hhi", True), ("spend_committed", True), ("distance", False))
    for reason, (column, low_wins) in zip(REASONS, tests, strict=True):
        if len(picked) >= most:
            break
        own = 0.0 if column == "distance" else float(me[column])
        rest = pool[~pool["candidate"].isin([p["candidate"] for p in picked])]
        rest = rest[rest[column].notna()]
        better = rest[rest[column] < own * (1 - 1e-9)] if low_wins else rest[rest[column] > 1e-12]
        if math.isnan(own) and low_wins:  # the chosen plan commits nothing: nothing is lower
            better = rest.iloc[0:0]
        if better.empty:
            continue
        best = better.sort_values([column, "cost_total"], ascending=[low_wins, True]).iloc[0]
        picked.append({**best.to_dict(), "reason": reason})
    columns = ["candidate", "reason", *[c for c in pool.columns if c != "candidate"]]
    return pd.DataFrame(picked, columns=columns)
