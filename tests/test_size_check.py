"""The size check before a run: memory estimates printed in GB or MB, and the problems it names
(horizon, replications) worked out from the rule, not from a run."""

from __future__ import annotations

from scenario_edit import scenario

import sim.engine.compile as compiled
from sim.engine.compile import _gb, size_problems

GIB, MIB = 1 << 30, 1 << 20


def test_sizes_print_in_gb_from_one_gib_and_in_mb_below() -> None:
    """compile._gb: `n >= 1 << 30` -> `>` (1 GiB printed as "1,024 MB"), `1 << 30` -> `2 << 30`
    (1.5 GiB printed in MB); the limit, `4 << 30`, off by one."""
    assert _gb(GIB) == "1.0 GB"
    assert _gb(1.5 * GIB) == "1.5 GB"
    assert _gb(GIB - MIB) == "1,023 MB"
    assert _gb(compiled.MEMORY_LIMIT_BYTES) == "4.0 GB"  # README: runs needing more are refused


def test_the_size_check_names_the_horizon_and_counts_runs_only_when_there_are_several() -> None:
    """compile.size_problems: a 100 h horizon in 1 h steps over one pool is 100 step x pool
    rows; any estimate exceeds a 1-byte limit, and the largest (only) part is the horizon.
    One run (the default) has no run-count problem; two runs add one naming --replications,
    only when they need *more* than the limit.
    Catches: SizeProblem without its `path` field; `runs > 1` -> `runs >= 1`; a default of
    `runs=2`; `runs * per run > limit` -> `>=`."""
    s = scenario(8, horizon=100)
    [problem] = size_problems(s, limit=1)
    assert problem.path == ("horizon",)
    assert problem.message.startswith("100 steps of 1 h × 1 pools need about ")
    horizon, runs = size_problems(s, runs=2, limit=1)
    assert horizon.path == ("horizon",)
    assert runs.path == ("--replications",) and runs.message.startswith("2 runs keep about ")
    assert size_problems(s, runs=2) == []  # well inside the default 4 GB
    exactly = 2 * compiled._RUN_BYTES  # what two runs keep: not more than the limit
    assert ("--replications",) not in [p.path for p in size_problems(s, runs=2, limit=exactly)]
    assert ("--replications",) in [p.path for p in size_problems(s, runs=3, limit=exactly)]
