"""Coverage of the validation intervals over many seeds (slow: `python -m pytest -m slow`).

Every interval check of test_erlang_b, test_erlang_c and test_ciw is run at scenario seeds
1..20 (CAPSIM_COVERAGE_SEEDS=n for fewer or more). A correct model's 95% intervals contain the
theory (or, for capsim − ciw, zero) about 95% of the time; the half-width caps, sized by
`replications_needed`, should fail on at most 0.1% of (seed, check) pairs.

Checks on one seed and setting share their replications, so they are not independent: the
coverage bound counts one trial per (seed, setting) group, with the group's share of covered
checks as its outcome (averaging within a group cannot make the spread larger than one
Bernoulli trial per group). Bound: the 0.1% quantile of Binomial(groups, 0.95) / groups.
"""

from __future__ import annotations

import os
import time

import pytest
from scipy import stats

from validation import test_ciw, test_erlang_b, test_erlang_c
from validation.queueing import erlang_b, priority_mean_waits, report

SEEDS = range(1, 1 + int(os.environ.get("CAPSIM_COVERAGE_SEEDS", "20")))


@pytest.mark.slow
def test_95_percent_intervals_cover_theory_about_95_percent_of_the_time() -> None:
    groups: list[list[bool]] = []
    wide: list[bool] = []
    began = time.perf_counter()
    by_check: dict[str, list[int]] = {}  # check -> [covered, checks]

    def count(check: str, ok: bool) -> bool:
        tally = by_check.setdefault(check, [0, 0])
        tally[0] += ok
        tally[1] += 1
        return ok

    for seed in SEEDS:
        seen = len(groups), len(wide)
        for s in test_erlang_b.SETTINGS:
            got, expected = test_erlang_b.lost_share(s, seed), erlang_b(s.c, s.a)
            groups.append([count(f"Erlang B lost share, {s}", expected in got)])
            wide.append(got.half > test_erlang_b.MAX_HALF * expected)
        for s in test_erlang_c.SETTINGS:
            got_c, theory = test_erlang_c.measured(s, seed), test_erlang_c.theory(s)
            groups.append([count(f"Erlang C {m}, {s}", theory[m] in got_c[m])
                           for m in test_erlang_c.LABELS])
            wide += [got_c[m].half > cap * theory[m]
                     for m, (_, cap) in test_erlang_c.LABELS.items()]
        for m in test_ciw.MODELS:
            res = test_ciw.results(m, seed)
            waits = priority_mean_waits(m.c, [lam for _, lam in m.classes], m.mu)
            group = []
            for (name, _), w in zip(m.classes, waits, strict=True):
                pair = res[name]
                group += [count(f"{m}/{name}: capsim wait", w in pair["capsim"]),
                          count(f"{m}/{name}: ciw wait", w in pair["ciw"]),
                          count(f"{m}/{name}: capsim - ciw",
                                0.0 in test_ciw.difference_ci(pair["capsim"], pair["ciw"]))]
                wide.append(pair["capsim"].half > test_ciw.MAX_HALF * w)
            groups.append(group)
        # One line per seed (shown with -s): a long run's partial figures are not lost.
        done = groups[seen[0]:]
        print(f"seed {seed}: covered {sum(sum(g) for g in done)}/{sum(len(g) for g in done)}, "
              f"too wide {sum(wide[seen[1]:])}/{len(wide) - seen[1]}, "
              f"{time.perf_counter() - began:.0f} s", flush=True)
    for check, (ok, n) in by_check.items():
        print(f"  {check}: {ok}/{n}")
    checks = sum(len(g) for g in groups)
    covered = sum(sum(g) for g in groups)
    rate = covered / checks
    bound = stats.binom.ppf(0.001, len(groups), 0.95) / len(groups)
    report("Coverage of 95% intervals", f"{len(SEEDS)} seeds, {checks} checks", "0.95", 0.95,
           rate, note=f"lower bound {bound:.3f}; too wide: {sum(wide)} of {len(wide)}")
    print(f"coverage {covered}/{checks} = {rate:.3f} (bound {bound:.3f}); "
          f"too wide {sum(wide)}/{len(wide)}")
    assert rate >= bound, f"95% intervals covered theory in only {rate:.1%} of {checks} checks"
    assert sum(wide) <= stats.binom.ppf(0.999, len(wide), 0.001), f"{sum(wide)} too wide"
