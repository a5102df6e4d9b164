"""Outcomes as one table: a row per run in grid order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sim.runner.spec import RunOutcome

if TYPE_CHECKING:
    import pandas as pd


def outcomes_frame(outcomes: Iterable[RunOutcome]) -> pd.DataFrame:
    """One row per run in grid order: changes, labels, policy, replication, seed, error, metrics."""
    import pandas as pd

    rows = []
    for o in sorted(outcomes, key=lambda o: o.index):
        row: dict[str, Any] = {"index": o.index, **dict(o.spec.changes), **dict(o.spec.labels),
                               "policy": o.spec.policy, "replication": o.spec.replication,
                               "seed": o.seed, "error": o.error}
        row.update(o.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
