"""Unit failures of training gangs: a gang of g units is interrupted by a Poisson process of rate
g * lambda (one draw per gang segment, never one per unit); the failed unit leaves its pool for
its repair time and comes back, so rate demand loses its capacity too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.compile import CompiledJob, CompiledPool
from sim.engine.state import Job, _Call

if TYPE_CHECKING:
    from sim.engine.simulation import Simulation

AUTO_WITHOUT_FAILURES = 24.0  # hours between checkpoints for `auto` where units never fail


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

    def auto_interval(self, spec: CompiledJob, pool: int) -> float:
        """The `auto` checkpoint interval of gang `spec` in `pool` (wall hours of work)."""
        rate = self.rate[pool] * spec.units
        if rate <= 0.0:
            return AUTO_WITHOUT_FAILURES
        return optimal_interval(rate, spec.checkpoint_stall)

    def arm(self, job: Job, pool: int) -> None:
        """Draw when the gang `job` just (re)started in `pool` next loses a unit (memoryless:
        a fresh draw at every start is exact), restart and checkpoint writes included."""
        rate = self.rate[pool] * job.spec.units
        if rate <= 0.0:
            return
        t = self.sim.env.now + float(self.rng.exponential(1.0 / rate))
        if t < self.sim.end:
            self.sim.push(t, self._fail_ev, (job, job.token))

    def _fail_ev(self, ev: _Call) -> None:
        job, token = ev.args
        if token != job.token or job.status != "running":
            return  # stopped or restarted since this failure was drawn
        sim = self.sim
        k = job.pool
        cause = "planned" if self.rng.random() < self.planned[k] else "unit_failure"
        sim._interrupt(job, cause)
        p = sim.pools[k]
        p.flush(sim.env.now)
        p.lost += 1.0
        self.in_repair[k] += 1
        sim._set_avail(p)
        sim._after_supply(p, increased=False)
        back = sim.env.now + float(self.rng.exponential(self.repair[k]))
        if back < sim.end:
            sim.at(back, lambda: self._repaired(k))

    def _repaired(self, k: int) -> None:
        """A repaired unit rejoins its pool."""
        sim = self.sim
        p = sim.pools[k]
        p.flush(sim.env.now)
        p.lost = max(0.0, p.lost - 1.0)
        self.in_repair[k] -= 1
        sim._set_avail(p)
        sim._after_supply(p, increased=True)
