"""Store golden summaries: every figure of summary.json for every shipped scenario × policy × 2 seeds.

Run only when the model changes on purpose (say why in the commit that regenerates them):
    python scripts/make_goldens.py
tests/test_golden_summaries.py then requires every later run to give the same figures.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
from sim.policies import policy_names  # noqa: E402

SEEDS = (11, 2027)
WORKERS = min(2, os.cpu_count() or 1)  # the runs with unit failures on take minutes in all
GOLDEN = ROOT / "tests" / "golden" / "summaries.json"


def scenario_files() -> list[Path]:
    """Every shipped scenario."""
    return sorted((ROOT / "scenarios").glob("*.yaml"))


def keys() -> list[tuple[Path, str, int]]:
    """(scenario file, policy, seed) of every golden, in a fixed order."""
    return [(path, policy, seed) for path in scenario_files() for policy in policy_names()
            for seed in SEEDS]


def summary_of(case: tuple[Path, str, int]) -> dict[str, Any]:
    """The summary of one golden's run, as JSON reads it back."""
    path, policy, seed = case
    return json.loads(json.dumps(sim.run(path, policy=policy, seed=seed).summary))


def summaries(cases: list[tuple[Path, str, int]], workers: int = WORKERS) -> list[dict[str, Any]]:
    """Summaries of `cases`, run on `workers` processes (each run is seeded: the spread changes
    no number)."""
    if workers <= 1:
        return [summary_of(case) for case in cases]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(summary_of, cases))


def golden_summaries() -> dict[str, Any]:
    """{scenario/policy/seed: summary} for every shipped scenario, policy and seed."""
    cases = keys()
    return {f"{path.stem}/{policy}/{seed}": got
            for (path, policy, seed), got in zip(cases, summaries(cases), strict=True)}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(golden_summaries(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
