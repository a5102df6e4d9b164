"""Random streams of one replication, each derived from the scenario seed by position.

A stream's key is (replication, source, index), never the policy, so every policy sees the same
outages, slips, arrivals and demand noise in replication i (common random numbers), and a run's
numbers do not depend on which process or machine ran it.
"""

from __future__ import annotations

import numpy as np

OUTAGES, SLIPS, ARRIVALS, DEMAND, INTERRUPTS, SPOT = range(6)
PROGRAMMES, REGIONS, AVAILABILITY, BLOCKS = range(6, 10)  # procurement: shared slips, ...
FIRST_REFUSAL = 10  # answer delays of the right of first refusal
FAILURES = 11  # unit failures of training gangs and their repair times


def stream(seed: int, replication: int, source: int, index: int = 0) -> np.random.Generator:
    """The generator for one random source of one replication."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(replication, source, index))
    return np.random.Generator(np.random.PCG64(ss))
