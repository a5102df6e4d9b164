"""The engine's queue pass is an optimisation of a plain walk over every waiting job: the two
must start the same jobs at the same moments in the same pools, on shipped scenarios and on
random overloaded ones (where the shortcuts do most)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.engine import compile_scenario
from sim.engine.simulation import RawRun, Simulation
from sim.policies import make_policy
from sim.scenario import scenario_from_data

POLICIES = ("microsoft_first", "cheapest_first", "diversified", "perf_per_dollar")


class PlainWalk(Simulation):
    """Every pass walks every waiting job in queue order: each starts if it fits in a pool
    that is not blocked, else the first blocked job of its candidates and size blocks the
    first pool it ranks and could ever fit in. No pass is ever skipped."""

    skip_unchanged_passes = False

    def _schedule_queue(self) -> None:
        blocked: set[int] = set()
        blocks: dict[tuple[tuple[int, ...], int], int] = {}
        for job in list(self.queue.jobs()):
            spec = job.spec
            candidates = job.candidates or spec.candidates  # fewer: accepted, units gone
            if self._place(job, candidates, blocked):
                self.queue.remove(job)
                continue
            if not self.backfill:
                break
            key = (candidates, spec.hold)
            if key not in blocks:
                blocks[key] = self._block(candidates, spec)
            if blocks[key] >= 0:
                blocked.add(blocks[key])
        self._queue_changed = self._room_changed = False


def outcome(raw: RawRun) -> tuple[Any, ...]:
    jobs = [(j.spec.name, j.status, j.start, j.end, j.first_pool, j.pool, j.restarts, j.lost)
            for j in raw.jobs]
    return jobs, raw.events, raw.infer_steps.tolist(), raw.agent_steps.tolist()


def both(s: sim.Scenario, policy: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fast = Simulation(compile_scenario(s), make_policy(policy)).run()
    plain = PlainWalk(compile_scenario(s), make_policy(policy)).run()
    return outcome(fast), outcome(plain)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", ["tiny", "azure_outage", "openai_2025"])
def test_fast_pass_matches_plain_walk_on_shipped_scenarios(name: str, policy: str) -> None:
    s = sim.load(f"scenarios/{name}.yaml")
    fast, plain = both(s, policy)
    assert fast[0] == plain[0]
    assert fast == plain


def overloaded(pools: list[tuple[int, float, bool]], sizes: list[int], per_day: float,
               priorities: list[int], backfill: bool, outage_share: float,
               inference: float) -> sim.Scenario:
    """Pools (units, price, has a random outage) at up to three providers, more training
    than they hold, jobs of mixed sizes and priorities that restart after outages."""
    providers: dict[str, Any] = {}
    for i, (units, price, flaky) in enumerate(pools):
        pool: dict[str, Any] = {"accelerator": "gpu" if i % 2 == 0 else "tpu",
                                "price_per_hour": price,
                                "capacity": [{"at": "2025-01-01", "units": units}]}
        if flaky:
            pool["outages"] = {"mtbf": "3d", "mttr": "8h", "share": outage_share}
        providers.setdefault(f"p{i % 3}", {"pools": {}})["pools"][f"pool{i}"] = pool
    generators = {
        f"g{k}": {"arrivals_per_day": per_day, "priority": prio,
                  "units": {"dist": "choice", "values": sizes},
                  "duration": {"dist": "exponential", "mean": "20h"},
                  "checkpoint_interval": "2h", "restart_overhead": "10min",
                  **({"families": ["gpu"]} if k % 2 else {})}
        for k, prio in enumerate(priorities)
    }
    data: dict[str, Any] = {
        "name": "overloaded", "start": "2025-01-01", "horizon": "12d", "step": "1h", "seed": 3,
        "accelerators": {"gpu": {"family": "gpu", "power_kw": 1.0},
                         "tpu": {"family": "tpu", "train_speed": 0.8, "power_kw": 1.0}},
        "providers": providers,
        "training": {"generators": generators},
        "scheduling": {"backfill": backfill},
        "policy": {"default": "cheapest_first"},
    }
    if inference:
        data["inference"] = {"chat": {"base_units": inference, "daily_amplitude": 0.5,
                                      "noise": 0.1, "priority": -1}}
    return scenario_from_data(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=st.lists(st.tuples(st.integers(20, 200), st.sampled_from([1.0, 2.0, 3.0]),
                             st.booleans()), min_size=1, max_size=4),
    sizes=st.lists(st.sampled_from([1, 2, 4, 8, 16, 32, 64]), min_size=1, max_size=5,
                   unique=True),
    per_day=st.sampled_from([10.0, 30.0]),
    priorities=st.lists(st.integers(0, 2), min_size=1, max_size=3),
    backfill=st.booleans(),
    outage_share=st.sampled_from([0.2, 0.6]),
    inference=st.sampled_from([0.0, 20.0]),
    policy=st.sampled_from(POLICIES),
)
def test_fast_pass_matches_plain_walk_when_overloaded(
        pools: list[tuple[int, float, bool]], sizes: list[int], per_day: float,
        priorities: list[int], backfill: bool, outage_share: float, inference: float,
        policy: str) -> None:
    s = overloaded(pools, sizes, per_day, priorities, backfill, outage_share, inference)
    fast, plain = both(s, policy)
    assert fast[0] == plain[0]
    assert fast == plain


def test_skipped_pass_only_when_room_shrank_and_blocks_hold() -> None:
    """The test a tick makes before skipping a pass: room gained, power freed, or a blocked
    pool that can no longer ever hold its run all call for a pass; room that only shrank
    does not."""
    s = overloaded([(100, 1.0, False), (100, 2.0, False)], [8], 10.0, [0], True, 0.2, 20.0)
    engine = Simulation(compile_scenario(s), make_policy("cheapest_first"))
    a, b = engine.pools
    for p in (a, b):
        p.avail, p.infer, p.agents, p.reserve = 100.0, 10.0, 0.0, 20.0
    kept = [(20.0, 10.0), (20.0, 10.0)]  # max(reserve, rate) and rate when the step began
    engine._last_pass = (set(), {}, True, [(0, 70)])  # pool 0 blocked for a run of 70 units
    assert not engine._pass_could_differ(kept, list(engine.zone_kw))  # nothing moved
    a.reserve = 25.0  # room shrank; pool 0 still fits 70 units in principle
    assert not engine._pass_could_differ(kept, list(engine.zone_kw))
    a.reserve = 35.0  # ...and now it cannot: the block would move
    assert engine._pass_could_differ(kept, list(engine.zone_kw))
    a.reserve = 20.0
    b.reserve = 15.0  # room grew at pool 1
    assert engine._pass_could_differ(kept, list(engine.zone_kw))
    b.reserve = 20.0
    engine._powered = True
    engine.zone_cap[0], engine.zone_kw[0] = 1000.0, 400.0
    drawn = list(engine.zone_kw)
    drawn[0] = 500.0
    assert engine._pass_could_differ(kept, drawn)  # power freed under a ceiling
    drawn[0] = 400.0
    assert not engine._pass_could_differ(kept, drawn)


def test_newcomer_decided_from_last_pass_records_its_block() -> None:
    """A run that joins the end of the queue and is decided from the last pass's outcome
    adds its block to that record, so a later tick knows the block could move."""
    from sim.engine.state import Job

    s = overloaded([(100, 1.0, False)], [8], 30.0, [0], True, 0.2, 0.0)
    engine = Simulation(compile_scenario(s), make_policy("cheapest_first"))
    first, newcomer = (Job(spec, spec.duration) for spec in engine.c.jobs[:2])
    pool = engine.pools[0]
    pool.avail, pool.train = 100.0, 95.0  # nothing of 8 units fits now; it could, in principle
    engine._queue_add(first)
    group = (first.spec.candidates, -1)
    engine._last_pass = (set(), {group: 4}, True, [])  # a smaller run of the group failed
    engine._queue_changed = engine._room_changed = False
    assert engine._join_after_pass(newcomer)
    blocked, _, _, block_sizes = engine._last_pass
    assert blocked == {0} and block_sizes == [(0, 8)]
