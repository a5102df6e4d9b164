"""Store golden summaries: every figure of summary.json for every shipped scenario × policy × 2 seeds.

Run only when the model changes on purpose (say why in the commit that regenerates them):
    python scripts/make_goldens.py
tests/test_golden_summaries.py then requires every later run to give the same figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
from sim.policies import policy_names  # noqa: E402

SEEDS = (11, 2027)
GOLDEN = ROOT / "tests" / "golden" / "summaries.json"


def scenario_files() -> list[Path]:
    """Every shipped scenario."""
    return sorted((ROOT / "scenarios").glob("*.yaml"))


def golden_summaries() -> dict[str, Any]:
    """{scenario/policy/seed: summary} for every shipped scenario, policy and seed."""
    out: dict[str, Any] = {}
    for path in scenario_files():
        for policy in policy_names():
            for seed in SEEDS:
                result = sim.run(path, policy=policy, seed=seed)
                out[f"{path.stem}/{policy}/{seed}"] = json.loads(json.dumps(result.summary))
    return out


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(golden_summaries(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
