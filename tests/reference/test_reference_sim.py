"""capsim and the reference simulator (tests/reference/refsim.py, written from the rules) agree
exactly on random small cases: per run its start, end, pool, restarts and work lost and done;
per step and pool the capacity and the units training and inference used.

Both see the same inputs: runs, outages and demand written out explicitly, and the draws that
decide which gangs an outage hits taken from the stream capsim documents. A change of any rule
in the subset (placement, queue order, backfill blocks, claims, checkpoints, restart overhead,
porting, outage hits, tenant caps, preemption) shows up here as a disagreement.

CI runs `REFSIM_EXAMPLES` (default 40) derandomized examples; set it to 500 or more to run a
larger sample by hand.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import sim
from reference.cases import (
    Case,
    cases,
    close,
    ends_at_horizon,
    interrupt_draws,
    interrupted_without_steps,
    to_scenario,
    to_world,
)
from reference.refsim import JobSpec, Pool, Service, World, simulate
from sim.scenario import scenario_from_data

EXAMPLES = int(os.environ.get("REFSIM_EXAMPLES", "40"))
# Issue 12: a run interrupted by a supply change (an outage) waits again and a queue pass runs at
# that moment, with or without rate demand. Until the engine has that rule, cases where only
# the old rule (no pass until the next arrival, end, gain or step) explains capsim's numbers are
# let through; `test_interrupted_run_restarts_elsewhere_at_once` says when to set this to True.
CAPSIM_PASSES_ON_INTERRUPT = False


def capsim_tables(case: Case) -> tuple[pd.DataFrame, pd.DataFrame]:
    result = sim.run(scenario_from_data(to_scenario(case)), policy="cheapest_first")
    return result.jobs, result.steps


def differences(case: Case, pass_on_interrupt: bool = True,
                tables: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> list[str]:
    """Where capsim and the reference differ on `case` (empty: they agree)."""
    jobs, steps = tables or capsim_tables(case)
    ref = simulate(to_world(case), interrupt_draws(case.seed), pass_on_interrupt)
    names = [f"pool{i}" for i in range(len(case.pools))]
    providers = [p.provider for p in case.pools]
    out: list[str] = []
    by_name = {row.job: row for row in jobs.itertuples()}
    if sorted(by_name) != sorted(r.name for r in ref.jobs):
        return [f"runs: capsim {sorted(by_name)}, reference {[r.name for r in ref.jobs]}"]
    for r in ref.jobs:
        row: Any = by_name[r.name]
        theirs = (row.status, row.start_h, row.end_h, row.pool, row.first_provider, row.restarts,
                  row.work_lost_h, row.work_done_h, row.unit_hours)
        mine = (r.status, r.start, r.end, names[r.pool] if r.pool >= 0 else "",
                providers[r.first_pool] if r.first_pool >= 0 else "", r.restarts,
                r.work_lost, r.work_done, r.unit_hours)
        if not all(a == b if isinstance(a, str) else close(float(a), float(b))
                   for a, b in zip(theirs, mine, strict=True)):
            out.append(f"{r.name}: capsim {theirs} reference {mine}")
    last = case.n_steps - 1
    for row in steps.itertuples():
        i = names.index(row.pool)
        for col, table in (("capacity", ref.capacity), ("training", ref.training),
                           ("inference", ref.inference)):
            if col == "capacity" and row.step == last and ends_at_horizon(case):
                continue  # capsim's known fault: see test_outage_ending_at_horizon_...
            if not close(float(getattr(row, col)), table[row.step][i]):
                out.append(f"step {row.step} {row.pool} {col}: capsim {getattr(row, col)} "
                           f"reference {table[row.step][i]}")
    return out


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_capsim_agrees_with_reference_simulator(case: Case) -> None:
    tables = capsim_tables(case)
    diffs = differences(case, tables=tables)
    if (diffs and not CAPSIM_PASSES_ON_INTERRUPT and interrupted_without_steps(case)
            and not differences(case, pass_on_interrupt=False, tables=tables)):
        return  # the old rule, exactly: see CAPSIM_PASSES_ON_INTERRUPT
    assert not diffs, "\n".join(diffs[:20])


def _two_pools(**extra: Any) -> dict[str, Any]:
    pool = {"accelerator": "h", "capacity": [{"at": "2025-01-01", "units": 10}]}
    return {
        "name": "hand", "start": "2025-01-01", "horizon": 24, "step": 1,
        "accelerators": {"h": {"family": "gpu", "power_kw": 1.0}},
        "providers": {"p0": {"pools": {"a": {**pool, "price_per_hour": 1.0}}},
                      "p1": {"pools": {"b": {**pool, "price_per_hour": 2.0}}}},
        "training": {"jobs": [{"name": "j", "arrival": "2025-01-01T00:30", "units": 4,
                               "duration": 10}]},
        "policy": {"default": "cheapest_first"}, **extra,
    }


@pytest.mark.xfail(not CAPSIM_PASSES_ON_INTERRUPT, strict=True,
                   reason="issue 12: the engine runs no queue pass when an outage interrupts a run")
def test_interrupted_run_restarts_elsewhere_at_once() -> None:
    """No rate demand. j (4 units, 10 h) starts at 0.5 h in the cheap pool a; at 2 h all of p0
    fails for 5 h. It loses 1.5 h of work (no checkpoints) and restarts at once in b, which has
    room, rather than when a is back: it ends at 2 + 10 = 12 h in b."""
    s = scenario_from_data(_two_pools(outages=[{"provider": "p0", "start": "2025-01-01T02:00",
                                                 "duration": 5, "share": 1.0}]))
    job = sim.run(s).jobs.iloc[0]
    assert (job.pool, job.restarts, job.work_lost_h) == ("b", 1, 1.5)
    assert job.end_h == 12.0


@pytest.mark.xfail(strict=True, reason="capsim: a supply change at the horizon rewrites the last "
                   "step's row (outage recovered, capacity back) in the steps table")
def test_outage_ending_at_horizon_keeps_last_step_capacity() -> None:
    """An outage of half of pool a from 20 h past the 24 h horizon: steps 20-23 have 5 units."""
    s = scenario_from_data(_two_pools(outages=[{"provider": "p0", "start": "2025-01-01T20:00",
                                                 "duration": 10, "share": 0.5}]))
    steps = sim.run(s).steps
    a = steps[steps["pool"] == "a"].set_index("step")["capacity"]
    assert list(a.loc[18:23]) == [10, 10, 5, 5, 5, 5]


# Hand-worked cases: the reference simulator itself against numbers derived from the rules.

def _one_pool(units: float, jobs: tuple[JobSpec, ...], **kw: Any) -> World:
    return World(1.0, 24, (Pool("p0", "a", "gpu", 1.0, 1.0, 1.0, ((0.0, units),)),), jobs, **kw)


def test_reference_queues_by_priority_then_arrival_and_backfills() -> None:
    """10 units. a (8u, 4h) runs at once. b (8u, priority 5) waits and blocks the pool, so c
    (2u) does not pass it there. At 4h a ends: b starts; d (8u, priority 1, arrived after c)
    is next by priority, fails and blocks the pool, so c waits again. At 6h b ends: d starts,
    and c fits beside it."""
    jobs = (JobSpec("a", 0.0, 8, 4.0, frozenset({"gpu"})),
            JobSpec("b", 0.5, 8, 2.0, frozenset({"gpu"}), priority=5),
            JobSpec("c", 0.75, 2, 1.0, frozenset({"gpu"})),
            JobSpec("d", 1.0, 8, 1.0, frozenset({"gpu"}), priority=1))
    res = simulate(_one_pool(10, jobs), iter(()).__next__)
    starts = {r.name: (r.start, r.end) for r in res.jobs}
    assert starts == {"a": (0.0, 4.0), "b": (4.0, 6.0), "c": (6.0, 7.0), "d": (6.0, 7.0)}


def test_reference_checkpoint_counts_productive_hours_on_the_chip() -> None:
    """A run of 10 ref-h at speed 0.5 with checkpoints every 2 h and 1 h restart overhead, hit
    by a full outage at 5 h for 1 h: 5 productive hours = 2 checkpoints = 4 h on the chip =
    2 ref-h kept, 0.5 ref-h lost; it restarts on its claim at 6 h and needs 1 + 8 / 0.5 h."""
    from reference.refsim import Outage

    world = World(1.0, 40, (Pool("p0", "a", "gpu", 0.5, 1.0, 1.0, ((0.0, 8.0),)),),
                  (JobSpec("a", 0.0, 4, 10.0, frozenset({"gpu"}), checkpoint=2.0,
                           restart_overhead=1.0),),
                  outages=(Outage(0, 5.0, 6.0, 1.0),))
    (run,) = simulate(world, iter([0.0]).__next__).jobs
    assert (run.restarts, run.work_lost, run.end) == (1, 0.5, 6.0 + 1.0 + 16.0)
    assert run.work_done == pytest.approx(10.0)


def test_reference_preempts_lower_priority_only() -> None:
    """Inference of 6 units at priority 5 in a 10-unit pool where two runs of 4 units hold 8:
    the priority-1 run is evicted, the priority-5 run (equal priority) is not."""
    jobs = (JobSpec("low", 0.5, 4, 10.0, frozenset({"gpu"}), priority=1),
            JobSpec("equal", 0.5, 4, 10.0, frozenset({"gpu"}), priority=5))
    demand = (0.0,) + (6.0,) * 23
    res = simulate(_one_pool(10, jobs, service=Service(demand, (0,), 5)), iter(()).__next__)
    restarts = {r.name: r.restarts for r in res.jobs}
    assert restarts == {"low": 1, "equal": 0}
    assert res.inference[1][0] == 6.0
