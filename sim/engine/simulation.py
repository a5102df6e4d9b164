"""The engine: one simpy clock for discrete events, numpy-fed steps for rate demand.

Discrete events (job arrivals and ends, outages, capacity coming online, caps, commitments,
first-refusal answers) are simpy events with callbacks; supply changes are scheduled at step
boundaries with URGENT priority so they precede the step's rate-demand allocation.
A policy only ranks pools; this module applies its rankings, the right of first refusal,
gang placement, preemption and checkpoint/restart.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Any

import numpy as np
import simpy
from simpy.core import NORMAL, URGENT

from sim.engine import rng as streams
from sim.engine.compile import Compiled, CompiledJob, CompiledService
from sim.engine.first_refusal import RightOfFirstRefusal
from sim.engine.pools import PoolState
from sim.engine.waiting import Group, WaitingRuns, entry_key
from sim.policies import Policy, PoolInfo, Request


class _Call:
    """The lightest event simpy's loop accepts: already triggered, with our callback and data."""

    __slots__ = ("args", "callbacks")
    _ok = True
    _value = None

    def __init__(self, callback: Callable[[Any], None], args: Any) -> None:
        self.callbacks = [callback]
        self.args = args


@dataclass(slots=True, eq=False)
class Job:
    """A training run in progress: its spec plus what has happened to it."""

    spec: CompiledJob
    remaining: float
    token: int = 0
    start: float = math.nan
    end: float = math.nan
    pool: int = -1
    seg_start: float = 0.0
    seg_setup: float = 0.0
    seg_speed: float = 1.0
    restarts: int = 0
    lost: float = 0.0
    productive: float = 0.0  # reference-accelerator hours of useful work done (incl. lost)
    held: float = 0.0  # unit-hours held
    cost: float = 0.0  # at list price
    ported: set[str] | None = None
    offer: str = ""
    holder_free_at_placement: float = math.nan
    status: str = "waiting"
    claim: int = -1  # pool whose units this interrupted run keeps a claim on
    group: tuple[tuple[int, ...], int] | None = None  # (candidates, claim) while it waits
    first_pool: int = -1


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
    unmet_reason: np.ndarray  # (steps, services, 3): outage, exclusivity, capacity
    served_by: np.ndarray  # (steps, services, providers)
    power_ceiling_steps: np.ndarray  # (steps,) kW
    events: list[tuple[float, str, str, str, str, float, str, float]]
    event_count: int
    providers: list[str]


class Simulation:
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
        self.power_cap = math.inf
        self.power_kw = 0.0
        self.queue = WaitingRuns()
        self.jobs: list[Job] = []
        self.events: list[tuple[float, str, str, str, str, float, str, float]] = []
        self._rank_cache: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        self._train_rank: dict[tuple[int, ...], list[int]] = {}  # the same, for training only
        n, m = compiled.n_steps, len(self.pools)
        ns = len(compiled.services)
        self.infer_steps = np.zeros((n, m))
        self.agent_steps = np.zeros((n, m))
        self.served = np.zeros((n, ns))
        self.unmet_reason = np.zeros((n, ns, 3))
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
        self.push(t, _call_plain, fn, urgent)

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
        if self.power_cap < math.inf and p.kw > 0:
            free = min(free, (self.power_cap - self.power_kw) / p.kw)
        return max(0.0, free)

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
            self.at(t, lambda kw=kw: self._power(kw), urgent=True)
        for t, kind, prov, pool, detail in c.notes:
            self.events.append((t, kind, prov, pool, "", math.nan, detail, math.nan))
        if c.jobs:
            self.push(c.jobs[0].arrival, self._arrive_ev, 0)
        if c.services:
            self.at(0.0, lambda: self._tick(0), urgent=True)
        self.env.run(until=self.end)
        for p in self.pools:
            p.flush(self.end)
        for job in self.jobs:
            if job.status == "running":
                self._close_segment(job, self.end, finished=False)
        self.events.sort(key=lambda e: e[0])
        n_events = next(self.env._eid)  # every event ever scheduled on this clock
        return RawRun(c, self.policy.name, self.pools, self.jobs, self.infer_steps,
                      self.agent_steps, self.served, self.unmet_reason, self.served_by,
                      self.power_steps, self.events, n_events, self.providers)

    # ------------------------------------------------------------------ supply changes

    def _installed(self, p: PoolState, delta: float, label: str) -> None:
        p.flush(self.env.now)
        p.installed = max(0.0, p.installed + delta)
        p.update_avail(self.env.now)
        if label != "schedule" or self.env.now > 0:
            self.log("capacity_change", p.index, label, delta)
        self._after_supply(p, increased=delta > 0)

    def _cap(self, p: PoolState, cap: float) -> None:
        p.flush(self.env.now)
        before = p.cap
        p.cap = cap
        p.update_avail(self.env.now)
        self.log("tenant_cap", p.index, "", cap)
        self._after_supply(p, increased=cap > before)

    def _commit(self, p: PoolState, du: float, dr: float) -> None:
        p.flush(self.env.now)
        p.committed += du
        p.commit_rate += dr
        if abs(p.committed) < 1e-9:
            p.committed = p.commit_rate = 0.0
        p.update_avail(self.env.now)
        self.log("commitment_start" if du > 0 else "commitment_end", p.index, "", du)

    def _outage(self, p: PoolState, n: int, share: float, kind: str) -> None:
        p.flush(self.env.now)
        units = share * p.installed
        p.outage_units[n] = units
        p.lost += units
        p.update_avail(self.env.now)
        self.log(f"{kind}_start", p.index, "", units, f"share {share:g}")
        # A gang fails if any of its units is in the failed share.
        for job in sorted(p.running.values(), key=lambda j: j.spec.index):  # type: ignore[attr-defined]
            hit = 1.0 - (1.0 - share) ** job.spec.units  # type: ignore[attr-defined]
            if self.interrupt_rng.random() < hit:
                self._interrupt(job, kind)  # type: ignore[arg-type]
        self._after_supply(p, increased=False)

    def _recover(self, p: PoolState, n: int, kind: str) -> None:
        p.flush(self.env.now)
        p.lost = max(0.0, p.lost - p.outage_units.pop(n, 0.0))
        p.update_avail(self.env.now)
        self.log(f"{kind}_end", p.index)
        self._after_supply(p, increased=True)

    def _power(self, kw: float) -> None:
        before = self.power_cap
        self.power_cap = kw
        k = min(int(self.env.now / self.step + 1e-9), self.c.n_steps - 1)
        self.power_steps[k:] = kw
        self.log("power_ceiling", None, "", kw / 1000.0, "MW", provider="")
        if kw < before:
            while self.power_kw > self.power_cap + 1e-6:
                victims = [j for p in self.pools for j in p.running.values()]
                if not victims:
                    break
                self._interrupt(min(victims, key=_eviction_order), "power")  # type: ignore[arg-type]
        else:
            self._queue_soon()

    def _queue_soon(self) -> None:
        """Start waiting jobs once every supply change of this moment has been applied."""
        self._room_changed = True
        if not self._queue_pending and (self.queue or (self.desk and self.desk.waiting)):
            self._queue_pending = True
            self.push(self.env.now, self._queue_ev, None)

    def _queue_ev(self, ev: _Call) -> None:
        self._queue_pending = False
        self._schedule_queue()
        if self.desk is not None:
            self.desk.recheck()

    def _after_supply(self, p: PoolState, increased: bool) -> None:
        self._room_changed = True
        if increased:
            self._queue_soon()
            return
        # Never hold more than is available: evict lowest priority, most recent first.
        while p.train > p.avail + 1e-9 and p.running:
            self._interrupt(min(p.running.values(), key=_eviction_order), "capacity")  # type: ignore[arg-type]
        over = p.used() - p.avail
        if over > 1e-9:  # rate demand loses what no longer fits until the next step reallocates
            cut_agents = min(p.agents, over)
            cut_infer = min(p.infer, over - cut_agents)
            p.agents -= cut_agents
            p.infer -= cut_infer
            self.power_kw -= (cut_agents + cut_infer) * p.kw
            if p.kw:
                self._room_changed = True  # power no longer drawn here may start a run elsewhere

    # ------------------------------------------------------------------ training

    def _arrive_ev(self, ev: _Call) -> None:
        """Run `ev.args` asks for capacity: offered to the first-refusal holder, or queued."""
        i = ev.args
        jobs = self.c.jobs
        if i + 1 < len(jobs):  # arrivals are sorted: the next one is never in the past
            env = self.env
            heappush(env._queue, (jobs[i + 1].arrival, NORMAL, next(env._eid),
                                  _Call(self._arrive_ev, i + 1)))
        spec = jobs[i]
        job = Job(spec, spec.duration)
        self.jobs.append(job)
        if not spec.candidates:
            job.status = "unplaceable"
            job.end = self.env.now  # turned away on arrival
            return
        if self.desk is not None and self.desk.offer_run(job):
            return
        self._enqueue(job)

    # What the first-refusal desk asks of the training side.

    def place_contracted(self, job: Job) -> bool:
        """Start `job` on idle committed units (already contracted: no offer needed), if a
        candidate pool's idle commitment holds the whole run and it has room."""
        spec = job.spec
        for k in self._ranking(spec, spec.candidates):
            p = self.pools[k]
            if self._committed_room(p) + 1e-9 >= spec.units and self._has_room(p, False, spec.units):
                self._start(job, p)
                return True
        return False

    def holder_room(self, job: Job, holder_pools: frozenset[int]) -> int:
        """The first holder pool (in the policy's order) that could start `job` now, or -1."""
        spec = job.spec
        for k in self._ranking(spec, spec.candidates):
            if k in holder_pools and self._has_room(self.pools[k], False, spec.units):
                return k
        return -1

    def start_on(self, job: Job, pool: int) -> None:
        self._start(job, self.pools[pool])

    def set_aside(self, job: Job, pool: int) -> None:
        """Keep `job`'s units in `pool` for it (a claim) until it starts there."""
        job.claim = pool
        self.pools[pool].claimed += job.spec.units

    def start_set_aside(self, job: Job) -> None:
        """Start `job` on the units set aside for it; if they are gone (an outage), it waits
        in the queue with its claim like an interrupted run."""
        k = job.claim
        if not self._has_room(self.pools[k], True, job.spec.units) or not self._place(job, (k,), ()):
            self._enqueue(job)

    def enqueue(self, job: Job) -> None:
        self._enqueue(job)

    def _enqueue(self, job: Job) -> None:
        if self.queue:
            if not self._join_after_pass(job):
                self._queue_add(job)
                self._schedule_queue()
        elif not self._place(job, job.spec.candidates, ()):
            self._queue_add(job)
            self._schedule_queue()
        max_wait = job.spec.max_wait
        if max_wait is not None and job.status == "waiting" and math.isnan(job.start):
            deadline = job.spec.arrival + max_wait
            if deadline <= self.env.now:
                self._abandon(job)
            elif deadline < self.end:
                self.at(deadline, lambda: self._abandon(job))

    def _join_after_pass(self, job: Job) -> bool:
        """Join the end of the queue using the last pass's outcome, when that still holds (no
        room gained, nobody joined or left since): only the newcomer needs deciding. False
        when a full pass is needed instead."""
        last = self._last_pass
        spec = job.spec
        if (last is None or self._queue_changed or self._room_changed
                or not self._skip
                or (-spec.priority, spec.arrival, spec.index) < self.queue.last_key()):
            return False
        blocked, failed, complete, block_sizes = last
        group = (spec.candidates, job.claim)
        smallest_failed = failed.get(group)
        if smallest_failed is None or spec.units < smallest_failed:
            if not self.backfill:  # the head is stuck: nobody passes it
                self._queue_add(job)
                self._queue_changed = False
                return True
            if not complete:
                return False  # blocks of runs after where the pass stopped are not known
            if self._place(job, spec.candidates, blocked):
                return True  # placing takes room only: every waiting run still fails
            failed[group] = spec.units
            ranked = self._ranked
        elif spec.units == smallest_failed:
            self._queue_add(job)  # same request as one that failed: same answer, same block
            self._queue_changed = False
            return True
        else:
            ranked = None
        k = self._block(spec.candidates, spec, ranked)
        if k >= 0:
            blocked.add(k)
            block_sizes.append((k, spec.units))
        self._queue_add(job)
        self._queue_changed = False
        return True

    def _abandon(self, job: Job) -> None:
        """A job that never started within its `max_wait` leaves the queue unserved."""
        if job.status != "waiting" or not math.isnan(job.start):
            return
        if job.group is not None:
            self._queue_remove(job)  # a block it held may be gone
        job.status = "abandoned"
        job.end = self.env.now

    def _training_free(self, p: PoolState) -> float:
        return p.avail - p.train - p.claimed - _rate_hold(p)

    def _holder_free(self, candidates: tuple[int, ...]) -> float:
        return max((self._training_free(self.pools[k]) for k in candidates
                    if self.infos[k].provider == self.holder), default=0.0)

    def _place(self, job: Job, candidates: tuple[int, ...],
               blocked: frozenset[int] | set[int] | tuple[()]) -> bool:
        spec = job.spec
        units = spec.units
        pools = self.pools
        claim = job.claim
        ranked = self._ranking(spec, candidates)
        self._ranked = ranked  # if it fails, its block follows from the same ranking
        if self.sunk and self._any_committed:
            # Idle committed units are already paid for: among the pools that could start it,
            # the lowest marginal price per unit of work (list price only for the units above
            # the idle commitment), ties in the policy's order.
            best, best_key = -1, None
            for pos, k in enumerate(ranked):
                if k != claim and blocked and k in blocked:
                    continue
                p = pools[k]
                if not self._has_room(p, k == claim, units):
                    continue
                paid = min(units, max(0.0, self._committed_room(p))) if p.committed else 0.0
                key = self.policy.marginal_key(p.info, p.price * (units - paid) / units
                                               / p.train_speed, pos)
                if best_key is None or key < best_key:
                    best, best_key = k, key
            if best < 0:
                return False
            if self.holder is not None and self.infos[best].provider != self.holder:
                job.holder_free_at_placement = self._holder_free(spec.candidates)
            self._start(job, pools[best])
            return True
        for k in ranked:
            if k != claim and blocked and k in blocked:
                continue  # kept for a blocked run (its own claim is not blocked to it)
            p = pools[k]
            if not self._has_room(p, k == claim, units):
                continue
            if self.holder is not None and self.infos[k].provider != self.holder:
                job.holder_free_at_placement = self._holder_free(spec.candidates)
            self._start(job, p)
            return True
        return False

    def _ranking(self, spec: CompiledJob, candidates: tuple[int, ...]) -> list[int]:
        """The policy's order of `candidates` for a training run (kept for static rankings)."""
        ranked = self._train_rank.get(candidates)  # filled only for static rankings
        if ranked is None:
            ranked = self.rank("training", spec.name, spec.units, spec.priority, candidates, spec)
            if self.policy.static_ranking:
                self._train_rank[candidates] = ranked
        return ranked

    @staticmethod
    def _committed_room(p: PoolState) -> float:
        """Committed units of `p` a training run would leave idle otherwise: after training and
        the mean rate use over the reserve window (rate demand cycles; at its peak the run
        pays on-demand, off-peak it uses what would sit idle)."""
        rate = p.infer + p.agents
        return p.committed - p.train - (p.rate_mean if p.rate_mean > rate else rate)

    def _has_room(self, p: PoolState, own_claim: bool, units: int) -> bool:
        """Could a run of `units` start in pool `p` now, blocks aside? Training leaves rate
        demand's reserve and others' claims free; back on its own claim the reserve does not
        apply to it. Power counts too."""
        if own_claim:
            if p.avail - p.train - (p.claimed - units) - (p.infer + p.agents) + 1e-9 < units:
                return False
        elif p.avail - p.train - p.claimed - _rate_hold(p) + 1e-9 < units:
            return False
        return not (p.kw and self.power_kw + units * p.kw > self.power_cap + 1e-6)

    def _fits(self, candidates: tuple[int, ...], claim: int, units: int) -> bool:
        """Could a run of `units` (with its claim) start in any of `candidates` now, whatever
        the ranking and blocks?"""
        pools = self.pools
        return any(self._has_room(pools[k], k == claim, units) for k in candidates)

    def _queue_add(self, job: Job) -> None:
        self.queue.add(job)
        self._queue_changed = True

    def _queue_remove(self, job: Job) -> None:
        self.queue.remove(job)
        self._queue_changed = True

    def _block(self, candidates: tuple[int, ...], spec: CompiledJob,
               ranked: list[int] | None = None) -> int:
        """The pool a blocked run keeps first claim on: the first it ranks that it could ever
        fit in with this moment's capacity and rate demand (-1 if none). `ranked`: the
        ranking a failed placement of the same run just made, with nothing changed since."""
        units = spec.units
        if ranked is None:
            ranked = self.rank("training", spec.name, units, spec.priority, candidates, spec)
        pools = self.pools
        for j in ranked:
            if _could_ever_hold(pools[j], units):
                return j
        return -1

    def _schedule_queue(self) -> None:
        """Start waiting jobs in queue order; with backfill, later jobs may pass a blocked one,
        and each blocked job keeps first claim on the pool it ranks first and could ever fit.

        Within a pass placements take room and blocks only grow, so a job fails if one of
        its group (same candidates and claim) as large or smaller failed, and the first
        blocked job of each group and size fixes the block for the rest of them. The pass
        therefore visits, in queue order, only the first job of each (group, size) that can
        still start or add a block (a heap of one cursor per group and size), and ends once no
        group can start anything: its work grows with the number of groups and sizes, not with
        the queue's length. The one placement that frees room, a run restarting away from the
        pool it kept a claim on, starts that reasoning afresh from where the pass is.
        """
        queue = self.queue
        if not queue or not (self._queue_changed or self._room_changed or not self._skip):
            return  # nothing joined or left the queue and no pool gained room: same answer
        by_group = queue.by_group
        backfill = self.backfill
        blocked: set[int] = set()
        failed: dict[Group, int] = {}  # smallest size that failed, per group
        finished: set[Group] = set()  # groups none of whose jobs can start in this pass
        blocks: dict[tuple[tuple[int, ...], int], int] = {}  # (candidates, size) -> pool or -1
        # One cursor per (group, size): (queue key of its next job, group, size, list index).
        cursors = [(same[0][0], g, u, 0) for g, sizes in by_group.items()
                   for u, same in sizes.items()]
        if len(cursors) == 1:  # one group and size (a plain FIFO queue): start runs in order
            self._walk_one(cursors[0][1], cursors[0][2])
            return
        hopeless: set[Group] = set()  # groups whose smallest run fits nowhere now
        if backfill:
            # Such a group starts nothing in this pass (room only shrinks, blocks only grow):
            # found up front without ranking, its runs are not tried, only their blocks kept.
            for g, sizes in by_group.items():
                if not self._fits(g[0], g[1], min(sizes)):
                    hopeless.add(g)
            if len(hopeless) == len(by_group):  # nothing can start: overloaded, the usual case
                # As if each group failed at its smallest size (blocks only matter to runs
                # that could start: a newcomer that might start gets a full pass).
                self._last_pass = (blocked, {g: min(by_group[g]) for g in hopeless}, False, [])
                self._queue_changed = self._room_changed = False
                return
            finished |= hopeless
        heapify(cursors)
        complete = True
        freed = False  # a claim was let go of during this pass
        while cursors:
            at, g, u, idx = heappop(cursors)
            smallest_failed = failed.get(g)
            same = by_group[g][u]
            job = same[idx][1]
            spec = job.spec
            ranked = None
            if smallest_failed is None or u < smallest_failed:
                if g not in hopeless and self._place(job, g[0], blocked):
                    queue.remove(job)
                    if self._claim_freed:  # room grew: what failed so far may fit now
                        self._claim_freed = False
                        freed = True
                        failed.clear()
                        finished.clear()
                        hopeless.clear()
                        cursors = [(same[i][0], g, u, i) for g, sizes in by_group.items()
                                   for u, same in sizes.items()
                                   if (i := bisect_right(same, at, key=entry_key)) < len(same)]
                        heapify(cursors)
                    elif idx < len(same):  # its next job of this group and size, if any
                        heappush(cursors, (same[idx][0], g, u, idx))
                    continue
                if not backfill:
                    complete = False
                    break  # the head is stuck: nobody passes it
                failed[g] = u
                if g not in hopeless:
                    ranked = self._ranked  # the failed placement's ranking, for its block
                if u <= min(by_group[g]):
                    finished.add(g)  # every waiting job of this group is at least this large
                    if len(finished) == len(by_group):
                        complete = False
                        break  # blocks matter only to jobs that could still start
            elif u == smallest_failed:
                continue  # same request as one that failed: same answer, same block
            bkey = (g[0], u)
            k = blocks.get(bkey, -2)
            if k == -2:
                k = blocks[bkey] = self._block(g[0], spec, ranked)
            if k >= 0 and k not in blocked:
                blocked.add(k)
                for other in by_group:  # jobs bound to blocked pools only cannot start
                    if other[1] < 0 and other not in finished and blocked.issuperset(other[0]):
                        finished.add(other)
                if len(finished) == len(by_group):
                    complete = False
                    break
            # Later jobs of this group and size fail too and would block the same pool.
        self._last_pass = (blocked, failed, complete and not freed,
                           [(k, size) for (_, size), k in blocks.items() if k >= 0])
        self._queue_changed = False
        self._room_changed = freed  # jobs the pass went by before the claim was freed may fit

    def _walk_one(self, group: Group, size: int) -> None:
        """The pass when every waiting run has the same group and size: start them in queue
        order until one does not fit; the rest would not fit either and block the same pool."""
        same = self.queue.by_group[group][size]
        failed: dict[Group, int] = {}
        freed = False
        while same:
            job = same[0][1]
            if not self._place(job, group[0], ()):
                if self.backfill:
                    failed[group] = size
                break
            self.queue.remove(job)
            if self._claim_freed:  # room grew, but the next run is tried next anyway
                self._claim_freed = False
                freed = True
        self._last_pass = (set(), failed, not same and not freed, [])
        self._queue_changed = False
        self._room_changed = freed

    def _start(self, job: Job, p: PoolState) -> None:
        now = self.env.now
        spec = job.spec
        p.flush(now)
        p.train += spec.units
        self.power_kw += spec.units * p.kw
        p.running[spec.index] = job
        if job.restarts or job.claim >= 0 or p.family != spec.native_family or spec.frontier:
            setup = self._setup(job, p)
        else:
            setup = 0.0  # the common case: a first start on its own family
        if job.first_pool < 0:
            job.first_pool = p.index
        job.pool = p.index
        job.seg_start = now
        job.seg_setup = setup
        job.seg_speed = p.train_speed
        job.token += 1
        job.status = "running"
        if job.start != job.start:  # NaN: first start
            job.start = now
        finish = now + setup + job.remaining / job.seg_speed
        if finish < self.end:  # never in the past: pushed straight onto simpy's queue
            env = self.env
            heappush(env._queue, (finish, NORMAL, next(env._eid),
                                  _Call(self._finish_ev, (job, job.token))))

    def _setup(self, job: Job, p: PoolState) -> float:
        """Hours before a (re)started run does useful work: restart overhead, porting to a
        family it has not run on; releases its claim and logs restarts and frontier starts."""
        spec = job.spec
        setup = spec.restart_overhead if job.restarts else 0.0
        family = p.family
        if family != spec.native_family and (job.ported is None or family not in job.ported):
            setup += spec.porting
            job.ported = {family} if job.ported is None else job.ported | {family}
        if job.claim >= 0:
            self.pools[job.claim].claimed -= spec.units
            if job.claim != p.index:  # restarted elsewhere: the claimed units are free now
                self._claim_freed = True
            job.claim = -1
        if job.restarts:
            self.log("job_restart", p.index, spec.name, spec.units, f"restart {job.restarts}")
        elif spec.frontier:
            self.log("job_start", p.index, spec.name, spec.units, "frontier run")
        return setup

    def _release(self, job: Job, now: float) -> PoolState:
        p = self.pools[job.pool]
        p.flush(now)
        p.train -= job.spec.units
        if p.train < 1e-9:
            p.train = 0.0
        self.power_kw -= job.spec.units * p.kw
        del p.running[job.spec.index]
        job.token += 1
        self._room_changed = True
        return p

    def _close_segment(self, job: Job, now: float, finished: bool) -> float:
        """Account a segment's held hours, cost and useful work; returns work done in it."""
        wall = now - job.seg_start
        units = job.spec.units
        job.held += units * wall
        job.cost += units * wall * self.infos[job.pool].price_per_hour
        productive = job.remaining if finished else max(0.0, wall - job.seg_setup) * job.seg_speed
        job.productive += productive
        return productive

    def _finish_ev(self, ev: _Call) -> None:
        job, token = ev.args
        if token != job.token:
            return  # interrupted since this end was scheduled
        now = self.env.now
        self._release(job, now)
        self._close_segment(job, now, finished=True)
        job.remaining = 0.0
        job.end = now
        job.status = "finished"
        if self.queue:
            self._schedule_queue()
        if self.desk is not None and self.desk.waiting:
            self.desk.recheck()

    def _interrupt(self, job: Job, reason: str) -> None:
        """Stop a running job: work since its last checkpoint is lost; it waits again."""
        now = self.env.now
        spec = job.spec
        p = self._release(job, now)
        progress = self._close_segment(job, now, finished=False)
        saved_work = 0.0  # without checkpoints a restart starts from scratch
        if spec.checkpoint_interval:
            productive_wall = progress / job.seg_speed
            saved = math.floor(productive_wall / spec.checkpoint_interval + 1e-9)
            saved_work = min(saved * spec.checkpoint_interval * job.seg_speed, job.remaining)
        lost = progress - saved_work
        job.remaining -= saved_work
        job.lost += lost
        job.restarts += 1
        job.status = "waiting"
        if reason in {"outage", "scheduled_outage", "spot_reclaim"}:
            # The run keeps a claim on its pool's units: it restarts there once they are back.
            job.claim = p.index
            p.claimed += spec.units
        self.log("preemption" if reason == "inference" else "job_interrupted", p.index, spec.name,
                 spec.units, f"{reason}; lost {lost:.1f} ref-h")
        self._queue_add(job)
        self._queue_soon()  # it restarts at once wherever it can, rate demand or not

    # ------------------------------------------------------------------ rate demand, per step

    def _tick(self, k: int) -> None:
        now = self.env.now
        if k + 1 < self.c.n_steps:
            self.at((k + 1) * self.step, lambda: self._tick(k + 1), urgent=True)
        pools = self.pools
        m = len(pools)
        new_infer = [0.0] * m
        new_agents = [0.0] * m
        self._use = [0.0] * m  # rate demand placed in each pool so far this step
        # What rate demand keeps from training (and from claims) in each pool, to see below
        # whether that changed.
        kept = [(_rate_hold(p), p.infer + p.agents) for p in pools] if self.queue else None
        power_kw = self.power_kw
        for p in pools:
            p.flush(now)
            if p.infer or p.agents:
                self.power_kw -= (p.infer + p.agents) * p.kw
                p.infer = p.agents = 0.0
        if self.power_cap < math.inf:
            self.power_steps[k] = self.power_cap
        self._in_tick = True
        for svc in self.services:
            self._serve(svc, k, new_infer if svc.section == "inference" else new_agents)
        self._in_tick = False
        for i, p in enumerate(pools):
            p.infer, p.agents = new_infer[i], new_agents[i]
        self.infer_steps[k] = new_infer
        self.agent_steps[k] = new_agents
        lo = max(0, k - self.reserve_steps + 1)
        window = self.infer_steps[lo:k + 1] + self.agent_steps[lo:k + 1]
        peaks = window.max(axis=0)
        means = window.mean(axis=0) if self._any_committed else peaks
        for i, p in enumerate(pools):
            p.reserve = float(peaks[i])
            p.rate_mean = float(means[i])
        if self.queue:
            if kept is not None and not self._room_changed:
                self._room_changed = self._pass_could_differ(kept, power_kw)
            self._schedule_queue()
        if self.desk is not None:
            self.desk.recheck_rate()
            self.desk.recheck()

    def _pass_could_differ(self, kept: list[tuple[float, float]], power_kw: float) -> bool:
        """Could a queue pass now give another answer than the last one, after this step's
        rate demand replaced the last (`kept`: each pool's max(reserve, rate) and rate before)?

        Only if some pool gained room for training or for a claim, power was freed, or a pool
        the last pass blocked can no longer ever hold the run it was blocked for (its block
        would move, and runs could pass there). Room that only shrank fails every run that
        failed before, and blocks computed then fall on the same pools.
        """
        if self.power_cap < math.inf and self.power_kw < power_kw - 1e-9:
            return True
        shrank = False
        for p, (before, rate) in zip(self.pools, kept, strict=True):
            held = _rate_hold(p)
            if held < before - 1e-9 or (p.claimed and p.infer + p.agents < rate - 1e-9):
                return True
            if held > before + 1e-9:
                shrank = True
        if not shrank:
            return False
        last = self._last_pass
        if last is None:
            return True
        pools = self.pools
        return any(not _could_ever_hold(pools[k], units) for k, units in last[3])

    def _serve(self, svc: CompiledService, k: int, level: list[float]) -> None:
        """Serve one service's demand of step `k`: its pools in the policy's order (idle
        committed units first under price-ranking policies, within a policy's share limits),
        under first refusal the holder's pools and contracted units first and others' capacity
        only up to what the holder declined; then, if allowed, by preempting lower-priority
        training; then first refusal's bookkeeping."""
        now = self.env._now
        si = svc.index
        demand = float(svc.demand[k])
        ranked = self.rank(svc.section, svc.name, demand, svc.priority, svc.candidates)
        by_provider = [0.0] * len(self.providers)  # served this step, per provider
        desk = self.desk
        gated = desk is not None and desk.gated[si]
        budget = desk.budget(si, now) if gated else math.inf  # type: ignore[union-attr]
        take = self._take
        remaining = demand
        if self.sunk and self._any_committed:  # already paid for: marginal price 0
            for i in ranked:
                if remaining <= 1e-12:
                    break
                p = self.pools[i]
                if p.committed:
                    remaining = take(i, remaining, level, by_provider,
                                     p.committed - p.train - self._use[i])[0]
        overflow = 0.0  # reference units on others' non-contracted capacity (first refusal)
        holder_pools = self._holder_pools
        limits = None
        if self._limited:
            got = self.policy.share_limits(
                Request(svc.section, svc.name, demand, svc.priority, svc.candidates),  # type: ignore[arg-type]
                self.infos, self)
            if got is not None:
                limits = got
        for i in ranked:
            if remaining <= 1e-12:
                break
            if gated and i not in holder_pools:
                if budget - overflow <= 1e-12:
                    continue
                speed = self.pools[i].infer_speed
                remaining, units = take(i, remaining, level, by_provider, (budget - overflow) / speed)
                overflow += units * speed
            elif limits is not None:
                name = self.infos[i].provider
                left = limits[0].get(name, math.inf)
                remaining, units = take(i, remaining, level, by_provider, left)
                limits[0][name] = left - units
            else:
                remaining = take(i, remaining, level, by_provider, math.inf)[0]
        if limits is not None and not limits[1]:  # not strict: the rest spills past the caps
            for i in ranked:
                if remaining <= 1e-12:
                    break
                remaining = take(i, remaining, level, by_provider, math.inf)[0]
        if remaining > 1e-9 and self.preempt:
            pools = self.pools
            priority = svc.priority
            for i in ranked:
                if remaining <= 1e-9:
                    break
                p = pools[i]
                if not p.running or (gated and i not in holder_pools and budget - overflow <= 1e-12):
                    continue
                victims = sorted((j for j in p.running.values() if j.spec.priority < priority),  # type: ignore[attr-defined]
                                 key=_eviction_order)
                for victim in victims:
                    if remaining <= 1e-9:
                        break
                    self._interrupt(victim, "inference")  # type: ignore[arg-type]
                    if gated and i not in holder_pools:
                        speed = p.infer_speed
                        remaining, units = take(i, remaining, level, by_provider,
                                                (budget - overflow) / speed)
                        overflow += units * speed
                    else:
                        remaining = take(i, remaining, level, by_provider, math.inf)[0]
        self.served_by[k, si] = by_provider
        if remaining < 1e-9 * max(1.0, demand):
            remaining = 0.0  # float dust from splitting demand across pools
        self.served[k, si] = demand - remaining
        if gated:
            desk.after_serve(svc, k, remaining, overflow)  # type: ignore[union-attr]
            if remaining > 0 and self.desk.terms.window_hours <= 0:  # type: ignore[union-attr]
                # A zero window: the offer was answered at once; serve what it freed now.
                extra = desk.budget(si, now) - budget  # type: ignore[union-attr]
                for i in ranked:
                    if remaining <= 1e-12 or extra <= 1e-12:
                        break
                    if i not in holder_pools:
                        speed = self.pools[i].infer_speed
                        remaining, units = take(i, remaining, level, by_provider, extra / speed)
                        extra -= units * speed
                        overflow += units * speed
                self.served_by[k, si] = by_provider
                if remaining < 1e-9 * max(1.0, demand):
                    remaining = 0.0
                self.served[k, si] = demand - remaining
            budget_left = desk.budget(si, now) - overflow  # type: ignore[union-attr]
        else:
            budget_left = math.inf
        if remaining > 0:
            self._explain_unmet(svc, k, remaining, budget_left <= 1e-9)

    def _take(self, i: int, remaining: float, level: list[float], by_provider: list[float],
              most: float) -> tuple[float, float]:
        """Place in pool `i` what it can take of `remaining` work, at most `most` units;
        return the work left and the units placed."""
        p = self.pools[i]
        use = self._use
        free = p.avail - p.train
        claimed = p.claimed  # as _claim_on_rate, inlined: this is the hottest loop of a step
        if claimed and free >= claimed:
            free -= claimed
        free -= use[i]
        if most < free:
            free = most
        kw = p.kw
        if kw and self.power_cap < math.inf:
            free = min(free, (self.power_cap - self.power_kw) / kw)
        if free <= 1e-12:
            return remaining, 0.0
        speed = p.infer_speed
        units = min(remaining / speed, free)
        level[i] += units
        use[i] += units
        self.power_kw += units * kw
        by_provider[p.provider_index] += units * speed
        return remaining - units * speed, units

    # What the first-refusal desk asks of the rate-demand side.

    def holder_outage_units(self, svc: CompiledService, holder_pools: frozenset[int]) -> float:
        """Reference units `svc` lost to outages in the holder's pools (failover may replace)."""
        total = 0.0
        for i in svc.candidates:
            if i in holder_pools:
                p = self.pools[i]
                if p.lost:
                    total += min(p.lost, p.installed) * p.infer_speed
        return total

    def spare_for_term(self, svc: CompiledService, holder_pools: frozenset[int]) -> float:
        """Reference units the holder's pools could give `svc` at every hour of a term: room
        after training, claims and the larger of their recent peak and current rate use."""
        total = 0.0
        for i in svc.candidates:
            if i in holder_pools:
                p = self.pools[i]
                rate = self._rate_now(p)
                spare = p.avail - p.train - p.claimed - (p.reserve if p.reserve > rate else rate)
                if spare > 0:
                    total += spare * p.infer_speed
        return total

    def _explain_unmet(self, svc: CompiledService, k: int, unmet: float, barred: bool) -> None:
        """Split unmet demand into outage, exclusivity (or first refusal) and capacity."""
        pools = self.pools
        outage = 0.0
        for i in svc.candidates:
            p = pools[i]
            if p.lost:
                outage += min(p.lost, p.installed) * p.infer_speed
        u_out = min(unmet, outage)
        si = svc.index
        in_force = barred  # first refusal kept it from capacity elsewhere
        use = self._use
        elsewhere = 0.0
        for i in self._barred[si][0 if in_force else 1]:  # pools it could run on but may not
            p = pools[i]
            elsewhere += max(0.0, p.avail - p.train - _claim_on_rate(p) - use[i]) * p.infer_speed
        u_ex = min(unmet - u_out, elsewhere)
        self.unmet_reason[k, si] = (u_out, u_ex, unmet - u_out - u_ex)


def _rate_hold(p: PoolState) -> float:
    """Units rate demand keeps from training in `p`: its recent peak, or its use now if more."""
    rate = p.infer + p.agents
    return p.reserve if p.reserve > rate else rate


def _could_ever_hold(p: PoolState, units: int) -> bool:
    """Could `p` hold a run of `units` once its training ends? (Where a blocked run waits.)"""
    return p.avail - _rate_hold(p) >= units


def _claim_on_rate(p: PoolState) -> float:
    """Claimed units kept from rate demand: only once the pool can hold the claimants again
    (until then, demand served step by step may use what is left)."""
    claimed = p.claimed
    return claimed if claimed and p.avail - p.train >= claimed else 0.0


def _call_plain(ev: _Call) -> None:
    ev.args()


def _eviction_order(job: Job) -> tuple[int, float]:
    """Evict lowest priority first, then the most recently started."""
    return (job.spec.priority, -job.seg_start)
