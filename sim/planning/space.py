"""What a plan may buy: the decisions of a scenario's `plan:` section, as numbers.

A decision is one purchase whose size is chosen: the units of one take-or-pay commitment (a
start, a term and a price, in one pool), or the number of blocks ordered on one date from a
pool's `blocks` offer. Its *hand* value is what the scenario file already buys there (the units
of its commitment in that pool with the same start, or the count of its order on that date; 0
if none), so the hand-written plan is one point of the space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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

    @property
    def online_h(self) -> float:
        """Hour the purchase starts to count: the start, or the order date plus the lead time."""
        return self.start_h + self.lead_time_h

    def values(self) -> np.ndarray:
        """Every allowed value, lo to hi by step."""
        n = int(np.floor((self.hi - self.lo) / self.step + 1e-9))
        return self.lo + self.step * np.arange(n + 1)
