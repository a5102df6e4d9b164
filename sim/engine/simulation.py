"""The engine: one simpy clock for discrete events, numpy-fed steps for rate demand.

Discrete events (job arrivals and ends, outages, capacity coming online, caps, commitments,
first-refusal answers) are simpy events with callbacks; supply changes are scheduled at step
boundaries with URGENT priority so they precede the step's rate-demand allocation.
A policy only ranks pools; the engine applies its rankings. By concern: supply changes in
`supply.py`, training runs in `training.py`, rate demand in `rate_demand.py`, the right of
first refusal in `first_refusal.py`; this module holds the clock, the world view policies
read, and the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from heapq import heappush
from operator import itemgetter
from typing import Any

import numpy as np
import simpy
from simpy.core import NORMAL, URGENT

from sim.engine import rng as streams
from sim.engine.compile import Compiled, CompiledJob
from sim.engine.failures import UnitFailures
from sim.engine.first_refusal import RightOfFirstRefusal
from sim.engine.pools import PoolState
from sim.engine.rate_demand import RateDemand
from sim.engine.state import (
    Job,
    _Call,
    call_plain,
)
from sim.engine.supply import SupplyEvents
from sim.engine.training import TrainingQueue
from sim.engine.waiting import WaitingRuns
from sim.policies import Policy, PoolInfo, Request


@dataclass
class RawRun:
    """What the engine hands to the results layer: per-step arrays and row lists, no I/O."""

    compiled: Compiled
    policy: str
    pools: list[PoolState]
    jobs: list[Job]
    infer_steps: np.ndarray  # (steps, pools) units
    agent_steps: np.ndarray
    served: np.ndarray  # (steps, services) reference units
    unmet_reason: np.ndarray  # (steps, services, 5): outage, exclusivity, capacity, power, stockout
    served_by: np.ndarray  # (steps, services, providers)
    power_ceiling_steps: np.ndarray  # (steps,) kW
    events: list[tuple[float, str, str, str, str, float, str, float]]
    # The job log, logged as the engine goes: per entry its hour, what happened (job index i:
    # run i arrived; ~(i * pools + k): run i first started, in pool k), and where it goes in
    # `events` (before the event at that index, after earlier job log entries).
    # `sim.results.tables.job_log_frame` turns it into event rows.
    job_log: tuple[np.ndarray, np.ndarray, np.ndarray]
    event_count: int
    providers: list[str]


class Simulation(SupplyEvents, TrainingQueue, RateDemand):
    """One replication of one scenario under one policy."""

    # Skip queue passes that would give the same answer as the last one (and decide a
    # newcomer at the end of the queue on its own). Only for static rankings: a ranking that
    # reads the world (shares in use, say) may change its answer with nothing else changed.
    # Tests turn this off to check that skipping changes nothing.
    skip_unchanged_passes = True

    def __init__(self, compiled: Compiled, policy: Policy) -> None:
        s = compiled.scenario
        self.c = compiled
        self.policy = policy
        self.env = simpy.Environment()
        self.step = compiled.step
        self.end = compiled.end
        self.infos: list[PoolInfo] = [cp.info for cp in compiled.pools]
        self.pools = [PoolState(cp, compiled.step, compiled.n_steps) for cp in compiled.pools]
        self.providers = list(dict.fromkeys(p.provider for p in self.infos))
        # Pools by (provider, is CPU) and by is CPU, for policies that read shares in use.
        self._pools_of: dict[tuple[str, bool] | bool, list[PoolState]] = {True: [], False: []}
        for p in self.pools:
            self._pools_of.setdefault((p.info.provider, p.family_cpu), []).append(p)
            self._pools_of[p.family_cpu].append(p)
        self.provider_index = {name: i for i, name in enumerate(self.providers)}
        for p in self.pools:
            p.provider_index = self.provider_index[p.info.provider]
            p.zone = 1 + p.provider_index
        rofr = policy.first_refusal
        self.holder = rofr.provider if rofr else None
        self.desk = (RightOfFirstRefusal(self, rofr, streams.stream(
            compiled.seed, compiled.replication, streams.FIRST_REFUSAL)) if rofr else None)
        self.sunk = policy.sunk_commitments
        self._any_committed = any(cp.commits for cp in compiled.pools)
        self._limited = type(policy).share_limits is not Policy.share_limits
        self._in_tick = False
        self.backfill = s.scheduling.backfill
        self.reserve_steps = max(1, round(s.scheduling.inference_reserve / compiled.step))
        self.preempt = s.preemption.inference_preempts_training
        self.interrupt_rng = streams.stream(compiled.seed, compiled.replication, streams.INTERRUPTS)
        self.failures = UnitFailures(self, compiled.pools, streams.stream(
            compiled.seed, compiled.replication, streams.FAILURES))
        # Power zones: 0 is every provider, 1 + i provider i. Draw: the idle share of every
        # available unit, and the rest of its power for every unit in use.
        self.zone_cap = [math.inf] * (1 + len(self.providers))
        self.zone_kw = [0.0] * (1 + len(self.providers))
        self._powered = bool(compiled.power or compiled.provider_power)
        # Units the market holds back from this customer in each pool and step (availability).
        self._withheld = [cp.withheld for cp in compiled.pools]
        # Per pool, its list price per step where it moves (a price schedule), else None.
        self._price_schedule = [cp.price if len(cp.price) and (cp.price != cp.info.price_per_hour).any()
                                else None for cp in compiled.pools]
        self._any_withheld = any(len(w) for w in self._withheld)
        self.queue = WaitingRuns()
        self.jobs: list[Job] = []
        self.events: list[tuple[float, str, str, str, str, float, str, float]] = []
        self.job_hours: list[float] = []  # the job log (RawRun.job_log)
        self.job_codes: list[int] = []
        self.job_at: list[int] = []
        self.n_pools = len(self.pools)
        self._rank_cache: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        self._train_rank: dict[tuple[int, ...], list[int]] = {}  # the same, for training only
        # Each service's ranking, by service index, once known (static rankings only).
        self._service_ranks: list[list[int] | None] = [None] * len(compiled.services)
        n, m = compiled.n_steps, len(self.pools)
        ns = len(compiled.services)
        self.infer_steps = np.zeros((n, m))
        self.agent_steps = np.zeros((n, m))
        self._rate_steps = np.zeros((n, m))  # rate demand in each pool and step: the two above
        self._peaks: np.ndarray | None = None  # the last tick's peaks over the reserve window
        self.served = np.zeros((n, ns))
        self.unmet_reason = np.zeros((n, ns, 5))
        self.served_by = np.zeros((n, ns, len(self.providers)))
        self.power_steps = np.full(n, math.inf)
        holder = self.holder
        self._holder_pools = frozenset(i for i, info in enumerate(self.infos) if info.provider == holder)
        # For each service, the compatible pools that count as "barred" in `_explain_unmet`:
        # while first refusal holds, and when it does not (in `compatible` order, so sums add
        # up the same way).
        self._barred: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for sv in compiled.services:
            self._barred.append((
                tuple(i for i in sv.compatible
                      if not (i in sv.candidates and i in self._holder_pools)),
                tuple(i for i in sv.compatible if i not in sv.candidates)))
        self._queue_pending = False
        self._queue_changed = True  # the queue gained or lost a job since the last pass
        # Since the last pass some pool (or the power ceiling) gained room for training, or
        # the size a pool could ever offer a run (which decides blocks) changed; if not, and
        # the queue is the same, a pass would give the same answer and is skipped.
        self._room_changed = True
        self._skip = self.skip_unchanged_passes and policy.static_ranking
        self._claim_freed = False  # a run restarted away from the pool it kept a claim on
        # The last pass's blocked pools, smallest failed size per group, and whether it saw
        # the whole queue: enough to decide a newcomer at the end of the queue on its own.
        # Also the (pool, size) of each block it computed, to tell whether a block would move.
        self._last_pass: tuple[set[int], dict[tuple[tuple[int, ...], int], int], bool,
                               list[tuple[int, int]]] | None = None
        self.services = sorted(compiled.services, key=lambda sv: (-sv.priority, sv.index))
        self._use: list[float] = [0.0] * m
        self._ranked: list[int] = []  # the ranking of the last `_place`

    # ------------------------------------------------------------------ scheduling helpers

    def at(self, t: float, fn: Callable[[], None], urgent: bool = False) -> None:
        """Run `fn` at simulation hour `t` (supply changes are URGENT: before demand at `t`)."""
        self.push(t, call_plain, fn, urgent)

    def push(self, t: float, callback: Callable[[Any], None], args: Any,
             urgent: bool = False) -> None:
        """Schedule `callback(event)` at hour `t`, with `args` on the event (the hot path)."""
        env = self.env
        heappush(env._queue, (t if t > env._now else env._now, URGENT if urgent else NORMAL,
                              next(env._eid), _Call(callback, args)))

    def log(self, kind: str, pool: int | None, subject: str = "", units: float = math.nan,
            detail: str = "", delay: float = math.nan, provider: str | None = None) -> None:
        info = self.infos[pool] if pool is not None else None
        self.events.append((self.env.now, kind, provider or (info.provider if info else ""),
                            info.name if info else "", subject, units, detail, delay))

    # ------------------------------------------------------------------ world view for policies

    @property
    def now(self) -> float:
        return self.env.now

    def free_units(self, pool: int) -> float:
        p = self.pools[pool]
        free = p.free() - p.claimed
        if self._powered and p.kw_busy > 0:
            free = min(free, self._power_room(p) / p.kw_busy)
        return max(0.0, free)

    def _power_room(self, p: PoolState) -> float:
        """kW the power ceilings of `p`'s zones still allow."""
        zc, zk = self.zone_cap, self.zone_kw
        a = zc[0] - zk[0]
        b = zc[p.zone] - zk[p.zone]
        return a if a < b else b

    def _draw(self, p: PoolState, kw: float) -> None:
        """Add `kw` to the power drawn in `p`'s zones."""
        z = self.zone_kw
        z[0] += kw
        z[p.zone] += kw

    def committed_idle(self, pool: int) -> float:
        p = self.pools[pool]
        if not p.committed:
            return 0.0
        idle = p.committed - (p.train + p.infer + p.agents)
        return idle if idle > 0.0 else 0.0

    def provider_units(self, provider: str, cpu: bool) -> float:
        return sum([p.train + self._rate_now(p) for p in self._pools_of.get((provider, cpu), ())])

    def total_units(self, cpu: bool) -> float:
        return sum([p.train + self._rate_now(p) for p in self._pools_of[cpu]])

    def _rate_now(self, p: PoolState) -> float:
        """Rate demand in `p` now: while a step is being served, what it has placed so far."""
        return self._use[p.index] if self._in_tick else p.infer + p.agents

    def rank(self, kind: str, name: str, units: float, priority: int,
             candidates: tuple[int, ...], spec: CompiledJob | None = None) -> list[int]:
        """The policy's ranking of `candidates` (cached when the policy says it may be)."""
        if self.policy.static_ranking:
            key = (kind, candidates)
            cached = self._rank_cache.get(key)
            if cached is None:
                cached = self.policy.rank(Request(kind, name, units, priority, candidates),  # type: ignore[arg-type]
                                          self.infos, self)
                self._rank_cache[key] = cached
            return cached
        req = Request(kind, name, units, priority, candidates,  # type: ignore[arg-type]
                      native_family=spec.native_family if spec else "gpu",
                      porting_hours=spec.porting if spec else 0.0,
                      duration_hours=spec.duration if spec else 0.0)
        return self.policy.rank(req, self.infos, self)

    # ------------------------------------------------------------------ set-up and run

    def run(self) -> RawRun:
        c = self.c
        for cp, p in zip(c.pools, self.pools, strict=True):
            p.update_avail(0.0)
            for t, delta, label in cp.installed:
                self.at(t, lambda p=p, d=delta, lab=label: self._installed(p, d, lab), urgent=True)
            for t, cap in cp.caps:
                self.at(t, lambda p=p, cap=cap: self._cap(p, cap), urgent=True)
            for t, du, dr in cp.commits:
                self.at(t, lambda p=p, du=du, dr=dr: self._commit(p, du, dr), urgent=True)
            for n, (t0, t1, share, kind) in enumerate(cp.outages):
                self.at(t0, lambda p=p, n=n, s=share, k=kind: self._outage(p, n, s, k), urgent=True)
                self.at(t1, lambda p=p, n=n, k=kind: self._recover(p, n, k), urgent=True)
        for t, kw in c.power:
            self.at(t, lambda kw=kw: self._power(0, kw), urgent=True)
        for name, steps in c.provider_power.items():
            for t, kw in steps:
                zone = 1 + self.provider_index[name]
                self.at(t, lambda z=zone, kw=kw: self._power(z, kw), urgent=True)
        notes = [(t, kind, prov, pool, "", math.nan, detail, math.nan)
                 for t, kind, prov, pool, detail in c.notes]
        if c.jobs:
            self.push(c.jobs[0].arrival, self._arrive_ev, 0)
        if c.services:
            self.push(0.0, self._tick_ev, 0, urgent=True)
        self.env.run(until=self.end)
        for p in self.pools:
            p.flush(self.end)
        for job in self.jobs:
            if job.status == "running":
                # Still running at the horizon: its work so far is not lost (the run goes on
                # past the horizon), so it counts as kept for ETTR, saved or not.
                job.kept += self._close_segment(job, self.end, finished=False) / job.seg_speed
            elif job.status == "waiting":
                job.waiting_for = self._waiting_for(job)
                if job.restarts:  # interrupted and not restarted: it waited again until the end
                    job.requeue_wait += self.end - job.requeued_at
        # The engine logs in time order; notes (any hour) go first among events of their hour.
        events = notes + self.events
        events.sort(key=itemgetter(0))
        hours = np.array(self.job_hours, dtype=float)
        note_hours = np.sort(np.array([e[0] for e in notes], dtype=float))
        at = np.array(self.job_at, dtype=np.int64) + np.searchsorted(note_hours, hours, "right")
        job_log = (hours, np.array(self.job_codes, dtype=np.int64), at)
        n_events = next(self.env._eid)  # every event ever scheduled on this clock
        return RawRun(c, self.policy.name, self.pools, self.jobs, self.infer_steps,
                      self.agent_steps, self.served, self.unmet_reason, self.served_by,
                      self.power_steps, events, job_log, n_events, self.providers)
