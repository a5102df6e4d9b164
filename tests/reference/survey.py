"""Run many random cases through both simulators without stopping at the first disagreement,
and count them by kind: `python tests/reference/survey.py N` from the repository root."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, given, settings  # noqa: E402

from reference.cases import Case, cases, interrupted_without_steps  # noqa: E402
from reference.test_reference_sim import capsim_tables, differences  # noqa: E402


def survey(n: int) -> list[tuple[Case, list[str], bool]]:
    """Differences on `n` derandomized cases (the same cases on every run), and whether the
    rule before issue 12 (no pass at an interruption) explains them exactly."""
    found: list[tuple[Case, list[str], bool]] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              phases=["generate"], suppress_health_check=list(HealthCheck))
    @given(case=cases())
    def each(case: Case) -> None:
        tables = capsim_tables(case)
        diffs = differences(case, tables=tables)
        old_rule = bool(diffs) and interrupted_without_steps(case) and not differences(
            case, pass_on_interrupt=False, tables=tables)
        found.append((case, diffs, old_rule))

    each()
    return found


if __name__ == "__main__":
    t0 = time.time()
    results = survey(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    bad = [(c, d) for c, d, old in results if d and not old]
    old_rule = sum(old for _, _, old in results)
    print(f"{len(results)} cases in {time.time() - t0:.0f}s: "
          f"{len(results) - len(bad) - old_rule} agree, {old_rule} differ only as the rule "
          f"before issue 12 explains, {len(bad)} differ otherwise")
    for case, diffs in bad[: int(sys.argv[2]) if len(sys.argv) > 2 else 3]:
        print(case)
        print("\n".join(diffs[:12]))
        print()
