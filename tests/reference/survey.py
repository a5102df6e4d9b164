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
from reference.test_reference_sim import differences  # noqa: E402


def survey(n: int) -> list[tuple[Case, list[str]]]:
    """Differences on `n` derandomized cases (the same cases on every run)."""
    found: list[tuple[Case, list[str]]] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              phases=["generate"], suppress_health_check=list(HealthCheck))
    @given(case=cases())
    def each(case: Case) -> None:
        found.append((case, differences(case)))

    each()
    return found


if __name__ == "__main__":
    t0 = time.time()
    results = survey(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    bad = [(c, d) for c, d in results if d]
    pending = [(c, d) for c, d in bad if interrupted_without_steps(c)]
    print(f"{len(results)} cases in {time.time() - t0:.0f}s: {len(results) - len(bad)} agree, "
          f"{len(bad)} differ ({len(pending)} of them without rate demand and with supply cuts)")
    for case, diffs in bad[: int(sys.argv[2]) if len(sys.argv) > 2 else 3]:
        print(case)
        print("\n".join(diffs[:12]))
        print()
