"""Unit failures of training gangs: a gang of g units is interrupted by a Poisson process of rate
g * lambda (one draw per gang segment, never one per unit); the failed unit leaves its pool for
its repair time and comes back, so rate demand loses its capacity too. A spare held by the run,
or else a free unit of its pool, takes the failed unit's place at once; with neither the run
waits for room (its claim kept) like a run hit by an outage."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.compile import CompiledJob, CompiledPool, sample
from sim.engine.state import _Call

if TYPE_CHECKING:
    from sim.engine.simulation import Simulation

AUTO_WITHOUT_FAILURES = 24.0  # hours between checkpoints for `auto` where units never fail
REPAIR_BATCH = 256  # repair times drawn at once from a distribution


def optimal_interval(rate: float, stall: float) -> float:
    """Hours of work between checkpoints minimising (e^{rate (tau + stall)} - 1) / tau, the
    expected time per hour of work under exponential interruptions: the root of
    (1 - x) e^x = e^{-rate stall}, x = rate tau (exactly 1 + W0(-e^{-1 - rate stall})), by Newton
    from Young's sqrt(2 stall / rate). With no write cost: one hour's failures, capped at a day."""
    a = rate * stall
    if a <= 0.0:
        return min(AUTO_WITHOUT_FAILURES, 1.0 / rate)
    target = math.exp(-a)
    x = min(math.sqrt(2.0 * a), 0.9)
    for _ in range(60):
        f = (1.0 - x) * math.exp(x) - target
        step = f / (-x * math.exp(x))
        x = min(max(x - step, 1e-12), 1.0 - 1e-12)
        if abs(step) < 1e-14:
            break
    return x / rate


class UnitFailures:
    """Draws each running gang's next unit failure and takes the failed unit out for repair."""

    def __init__(self, sim: Simulation, pools: list[CompiledPool], rng: np.random.Generator) -> None:
        self.sim = sim
        self.rng = rng
        self.rate = [cp.failure_rate for cp in pools]
        self.planned = [cp.planned_share for cp in pools]
        self.repair = [cp.repair for cp in pools]
        self.active = any(r > 0 for r in self.rate)
        self.in_repair = [0] * len(pools)  # units out for repair now, per pool
        self._drawn: list[list[float]] = [[] for _ in pools]  # repair times drawn ahead, per pool
        self._auto: dict[tuple[int, int, float], float] = {}  # (pool, units, stall) -> interval

    def auto_interval(self, spec: CompiledJob, pool: int) -> float:
        """The `auto` checkpoint interval of gang `spec` in `pool` (wall hours of work)."""
        key = (pool, spec.units, spec.checkpoint_stall)
        tau = self._auto.get(key)
        if tau is None:
            rate = self.rate[pool] * spec.units
            tau = self._auto[key] = (optimal_interval(rate, spec.checkpoint_stall) if rate > 0.0
                                     else AUTO_WITHOUT_FAILURES)
        return tau

    def next_failure(self, spec: CompiledJob, pool: int, now: float) -> float:
        """When the gang `spec`, just (re)started in `pool`, next loses a unit (memoryless: a
        fresh draw at every start is exact, restart and checkpoint writes included)."""
        rate = self.rate[pool] * spec.units  # spares sit idle: only the gang's units fail
        if rate <= 0.0:
            return math.inf
        return now + float(self.rng.exponential(1.0 / rate))

    def _repair_time(self, k: int) -> float:
        repair = self.repair[k]
        if isinstance(repair, float | int):
            return float(self.rng.exponential(repair))
        drawn = self._drawn[k]
        if not drawn:
            drawn.extend(sample(repair, self.rng, REPAIR_BATCH)[::-1].tolist())
        return max(drawn.pop(), 0.0)

    def fail_ev(self, ev: _Call) -> None:
        """A unit of a running gang fails: a spare or a free unit replaces it and the run
        restarts from its last checkpoint where it is; with neither, it waits."""
        job, token = ev.args
        if token != job.token or job.status != "running":
            return  # stopped or restarted since this failure was drawn
        sim = self.sim
        k = job.pool
        p = sim.pools[k]
        cause = "planned" if self.rng.random() < self.planned[k] else "unit_failure"
        p.flush(sim.env.now)
        spare = job.spares_now > 0
        if spare or p.avail - p.train - p.claimed - p.infer - p.agents >= 1.0 - 1e-9:
            sim.restart_in_place(job, cause, spare)
        else:
            sim._interrupt(job, cause)
        p.repairing += 1.0
        self.in_repair[k] += 1
        sim._set_avail(p)
        sim._after_supply(p, increased=False)
        back = sim.env.now + self._repair_time(k)
        if back < sim.end:
            sim.push(back, self._repaired_ev, (k, job if spare else None))

    def _repaired_ev(self, ev: _Call) -> None:
        """A repaired unit comes back: to the spares of the run it was swapped out of, if that
        run still runs there short of spares, else to its pool."""
        k, job = ev.args
        sim = self.sim
        p = sim.pools[k]
        p.flush(sim.env.now)
        p.repairing = max(0.0, p.repairing - 1.0)
        self.in_repair[k] -= 1
        if (job is not None and job.status == "running" and job.pool == k
                and job.spares_now < job.spec.spares):
            sim.spare_back(job)
            sim._set_avail(p)
            return  # training's free room is unchanged: no queue pass needed
        sim._set_avail(p)
        sim._after_supply(p, increased=True)
