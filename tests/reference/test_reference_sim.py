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
    JobCase,
    OutageCase,
    PoolCase,
    ServiceCase,
    cases,
    close,
    interrupt_draws,
    interrupted_without_steps,
    to_scenario,
    to_world,
)
from reference.refsim import Result, simulate
from sim.scenario import scenario_from_data

EXAMPLES = int(os.environ.get("REFSIM_EXAMPLES", "40"))
# Issue 12: a run interrupted by a supply change (an outage) waits again and a queue pass runs at
# that moment, with or without rate demand. Until the engine has that rule, cases where only
# the old rule (no pass until the next arrival, end, gain or step) explains capsim's numbers are
# let through; `test_interrupted_run_restarts_elsewhere_at_once` says when to set this to True.
CAPSIM_PASSES_ON_INTERRUPT = True


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
    for row in steps.itertuples():
        i = names.index(row.pool)
        for col, table in (("capacity", ref.capacity), ("training", ref.training),
                           ("inference", ref.inference)):
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


def test_outage_ending_at_horizon_keeps_last_step_capacity() -> None:
    """An outage of half of pool a from 20 h past the 24 h horizon: steps 20-23 have 5 units."""
    s = scenario_from_data(_two_pools(outages=[{"provider": "p0", "start": "2025-01-01T20:00",
                                                 "duration": 10, "share": 0.5}]))
    steps = sim.run(s).steps
    a = steps[steps["pool"] == "a"].set_index("step")["capacity"]
    assert list(a.loc[18:23]) == [10, 10, 5, 5, 5, 5]


# Hand-worked cases: numbers derived from the rules by hand, checked on the reference simulator
# and, through `differences`, on capsim.

def _hand(jobs: tuple[JobCase, ...], speeds: tuple[float, float] = (1.0, 1.0), units: int = 10,
          outages: tuple[OutageCase, ...] = (), service: ServiceCase | None = None,
          n_steps: int = 30, seed: int = 0, accelerator: str = "g",
          **kw: Any) -> tuple[Case, Result]:
    case = Case(seed, 1.0, n_steps, {"g": speeds, "t": speeds},
                (PoolCase("p0", accelerator, 1.0, ((0, units),), ()),), jobs, outages, service,
                kw.get("preempt", True), kw.get("backfill", True), kw.get("reserve_steps", 1))
    assert differences(case) == []
    return case, simulate(to_world(case), interrupt_draws(case.seed))


def _job(arrival_min: int, units: int, work_h: float, priority: int, checkpoint_min: int | None = None,
         restart_min: int = 0, porting_min: int = 0) -> JobCase:
    return JobCase(arrival_min, units, round(work_h * 60), ("gpu", "tpu"), priority,
                   checkpoint_min, restart_min, porting_min)


def test_queue_by_priority_then_arrival_and_blocks() -> None:
    """10 units. a (8u, 4 h) runs at once. b (8u, priority 5) waits and blocks the pool, so c
    (2u, priority 1) does not pass it there. At 4 h a ends: b starts; d (8u, priority 2,
    arrived after c) is next by priority, fails and blocks the pool, so c waits again. At 6 h
    b ends: d starts, and c fits beside it."""
    _, res = _hand((_job(0, 8, 4, 1), _job(30, 8, 2, 5), _job(45, 2, 1, 1), _job(60, 8, 1, 2)))
    assert [(r.start, r.end) for r in res.jobs] == [(0.0, 4.0), (4.0, 6.0), (6.0, 7.0), (6.0, 7.0)]


def test_checkpoints_count_productive_hours_on_the_chip() -> None:
    """A gpu run of 10 ref-h on tpus of speed 0.5 (porting 0.5 h, checkpoints every 2 h, 1 h
    restart overhead) is hit by full outages at 5 h and 12 h, 1 h each. First: 4.5 productive
    hours = 2 checkpoints = 4 h on the chip = 2 ref-h kept, 0.25 ref-h lost; back at 6 h on
    its claim, ported already. Second: 6 h since, 1 of them overhead: 2 ref-h kept, 0.5 lost.
    Back at 13 h: 1 + (10 - 4) / 0.5 h more."""
    _, res = _hand((_job(0, 4, 10, 1, checkpoint_min=120, restart_min=60, porting_min=30),),
                   speeds=(0.5, 1.0), units=8, accelerator="t", n_steps=40,
                   outages=(OutageCase("p0", None, 5, 1, 1.0), OutageCase("p0", None, 12, 1, 1.0)))
    (run,) = res.jobs
    assert (run.restarts, run.work_lost, run.end) == (2, 0.75, 13.0 + 1.0 + 12.0)
    assert run.work_done == pytest.approx(10.0)


def test_preemption_evicts_lower_priority_only() -> None:
    """10 units; inference of 1 unit (priority 5) jumps to 6 at 2 h and fades back over 12 h.
    Runs e (6u, priority 5) and l (2u, priority 1) start at 0.5 h. At 2 h inference finds 2
    free, evicts l (2 more) and stops short of e, an equal priority: 4 served. l (1.5 h lost)
    is back once the demand of the step leaves it room: at 12 h (demand 1 + 5 x 2/12)."""
    svc = ServiceCase(1.0, 0.0, 0, 5, None, (2, 6.0, 12))
    _, res = _hand((_job(30, 6, 20, 5), _job(30, 2, 10, 1)), service=svc)
    e, low = res.jobs
    assert (e.restarts, low.restarts, low.work_lost, low.end) == (0, 1, 1.5, 22.0)
    assert res.inference[2][0] == 4.0


def test_run_the_size_of_a_pool_blocks_it() -> None:
    """10 units. a (6u, 4 h) runs. b (10u, priority 5) cannot start but could ever fit the
    pool exactly, so it blocks it: c (2u) does not start beside a. b runs 4-6 h, then c."""
    _, res = _hand((_job(0, 6, 4, 1), _job(30, 10, 2, 5), _job(45, 2, 1, 1)))
    assert [(r.start, r.end) for r in res.jobs] == [(0.0, 4.0), (4.0, 6.0), (6.0, 7.0)]


def test_outage_hits_the_gangs_whose_units_it_takes() -> None:
    """10 units: a (5u) and b (4u) run from 0 h, one unit idle; 10% of the pool (1 unit) fails
    at 5 h. The unit lost is one of the 10: a's (p 0.5), b's (0.4) or the idle one (0.1), so
    never both. Hit, a run loses its 5 h (no checkpoints) and restarts at once on its claim (the
    9 units left hold both): it ends at 15 h, else at 10 h. Over seeds 0-19 each case occurs.
    Catches: independent draws per gang (both hit, P 0.14 a seed under 1 - 0.9^u), or the draw
    made among busy units only (the idle unit never lost: no seed where neither is hit)."""
    seen = set()
    for seed in range(20):
        _, res = _hand((_job(0, 5, 10, 1), _job(0, 4, 10, 1)), outages=(
            OutageCase("p0", None, 5, 1, 0.1),), seed=seed)
        hit = {r.name for r in res.jobs if r.restarts}
        assert len(hit) <= 1, (seed, hit)
        for r in res.jobs:
            assert (r.restarts, r.work_lost, r.end) == ((1, 5.0, 15.0) if r.restarts else
                                                        (0, 0.0, 10.0)), (seed, r)
        seen.add(next(iter(hit), ""))
    assert seen == {"j00", "j01", ""}


def test_an_outage_hits_a_gang_that_fills_the_pool_and_all_gangs_if_it_takes_it_all() -> None:
    """A 10-unit run fills its pool of 10; an outage of 10% (1 unit) hits it on every seed, as
    an outage (capsim logs it so; a capacity eviction would give the same times): it loses 5 h
    and is back at 6 h when the outage ends. One of 100% hits runs of 6 and 4 units without a
    draw (k >= N). Catches: capsim leaving the full gang to capacity eviction (as the old
    1 - 0.9^10 = 0.65 did on about a third of outages), or the reference drawing (or crashing)
    when every unit is lost."""
    for seed in range(5):
        case, res = _hand((_job(0, 10, 10, 1),), outages=(OutageCase("p0", None, 5, 1, 0.1),),
                          seed=seed)
        (run,) = res.jobs
        assert (run.restarts, run.work_lost, run.end) == (1, 5.0, 16.0)
        ev = sim.run(scenario_from_data(to_scenario(case)), policy="cheapest_first").events
        reasons = ev[ev.kind == "job_interrupted"].detail.str.split(";").str[0]
        assert list(reasons) == ["scheduled_outage"]  # not "capacity"

    def no_draw(colours: list[int], k: int) -> list[int]:
        raise AssertionError(f"a draw of {k} from {colours}: every gang is hit, no draw")

    case = Case(0, 1.0, 30, {"g": (1.0, 1.0), "t": (1.0, 1.0)},
                (PoolCase("p0", "g", 1.0, ((0, 10),), ()),),
                (_job(0, 6, 10, 1), _job(0, 4, 10, 1)), (OutageCase("p0", None, 5, 1, 1.0),),
                None, True, True, 1)
    res = simulate(to_world(case), no_draw)
    assert [(r.restarts, r.end) for r in res.jobs] == [(1, 16.0), (1, 16.0)]
    assert differences(case) == []


def test_eviction_takes_the_most_recently_started_of_the_lowest_priority() -> None:
    """10 units; inference (priority 5) of 1 unit jumps to 4 at 3 h. Runs a (from 0 h) and b
    (from 1 h), 4 units each at priority 1, leave it 2: it evicts b, the later one, which
    loses its 2 h (no checkpoints), and not a."""
    svc = ServiceCase(1.0, 0.0, 0, 5, None, (3, 4.0, 6))
    _, res = _hand((_job(0, 4, 20, 1), _job(60, 4, 20, 1)), service=svc)
    a, b = res.jobs
    assert (a.restarts, b.restarts, b.work_lost) == (0, 1, 2.0)
