"""A small reference simulator for part of capsim's model, written from the rules, not the engine.

It imports nothing from `sim/`: a plain heapq event loop over a plain `World` (hours, not dates;
demand already worked out per step). The subset: pools with capacity and tenant-cap steps and a
list price; scripted outages that take a share of a pool; gang-scheduled training runs with
priorities, families, porting, checkpoints and restart overhead; one rate-demand service with a
priority that may preempt training; the `cheapest_first` ranking. The rules, as read from
README.md, MODEL.md and the scenario docs:

- Clock: events at one moment run supply changes first (pool by pool, in pool order; in a pool
  capacity, then tenant cap, then outage starts and ends in order of start), then the step's
  rate demand, then everything else in the order it was scheduled.
- A pool offers max(0, min(installed - outage losses, tenant cap)) units. An outage takes
  share x installed units until it ends. It hits the gangs whose units it takes: of the pool's
  N installed units (busy or idle, to the nearest whole unit) it takes k (share x installed to
  the nearest whole unit, halves up), drawn without replacement, jointly for every running
  gang there: one multivariate hypergeometric draw over (units of each gang in job order, the
  rest of the N); a gang with a unit drawn is hit. No draw when no gang runs there, k = 0 (none
  hit) or k >= N (all hit). Runs that no longer fit after a supply cut are evicted, lowest
  priority first, then the most recently started.
- Training runs queue by priority, then arrival. A queue pass walks the queue in order: a run
  starts in the first pool of its ranking with room that is not blocked; with backfill a run
  that cannot start blocks the first pool of its ranking that could ever hold it (capacity
  less rate demand's hold) for the runs behind it, without backfill it stops the pass.
  Training leaves free rate demand's hold (the peak of the last `reserve_steps` steps, or its
  use now if more) and other runs' claims.
- A run interrupted by an outage loses the work since its last checkpoint (checkpoints every
  `checkpoint` hours of productive time on the accelerator it runs on; none: all work) and
  waits again, keeping a claim on its units in that pool: back there it needs only room left by
  training, other claims and rate demand now (not the reserve); anywhere else it starts as
  any run would, at once if it can. Any restart pays the restart overhead; a first run on a
  family other than its native one pays porting.
- A queue pass happens when a run arrives or ends, after the supply changes of a moment that
  added room or interrupted a run, and after each step's rate demand is served.
- Rate demand is served each step in ranking order from what training and (once the pool could
  hold them again) claims leave; what is short evicts lower-priority runs in those pools, lowest
  priority first, then the most recently started, one at a time until it is served.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

EPS = 1e-9
SUPPLY, NORMAL = 0, 1  # event classes at one moment: supply and step first


@dataclass(frozen=True)
class Pool:
    """One pool: accelerator traits, list price and supply schedules (hour, level from then)."""

    provider: str
    name: str
    family: str
    train_speed: float
    infer_speed: float
    price: float
    capacity: tuple[tuple[float, float], ...]
    caps: tuple[tuple[float, float], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.name}"


@dataclass(frozen=True)
class Outage:
    """`share` of pool `pool` lost from hour `start` to hour `end`."""

    pool: int
    start: float
    end: float
    share: float


@dataclass(frozen=True)
class JobSpec:
    """A gang-scheduled training run; `work` in reference-accelerator hours."""

    name: str
    arrival: float
    units: int
    work: float
    families: frozenset[str]
    priority: int = 0
    checkpoint: float | None = None
    restart_overhead: float = 0.0
    native_family: str = "gpu"
    porting: float = 0.0


@dataclass(frozen=True)
class Service:
    """Rate demand in reference units per step, the pools it may use, its priority."""

    demand: tuple[float, ...]
    pools: tuple[int, ...]
    priority: int


@dataclass(frozen=True)
class World:
    """Everything a run needs; every time is in hours on the step grid, except job arrivals."""

    step: float
    n_steps: int
    pools: tuple[Pool, ...]
    jobs: tuple[JobSpec, ...]
    outages: tuple[Outage, ...] = ()
    service: Service | None = None
    preempt: bool = True
    backfill: bool = True
    reserve_steps: int = 24


@dataclass
class JobResult:
    """What happened to one run (pool indices; -1: never started)."""

    name: str
    status: str = "waiting"
    start: float = math.nan
    end: float = math.nan
    pool: int = -1
    first_pool: int = -1
    restarts: int = 0
    work_done: float = 0.0
    work_lost: float = 0.0
    unit_hours: float = 0.0


@dataclass
class Result:
    """Per job, and per step and pool: capacity, training units (step average), inference units."""

    jobs: list[JobResult]
    capacity: list[list[float]]
    training: list[list[float]]
    inference: list[list[float]]


@dataclass(eq=False)
class _Run:
    spec: JobSpec
    index: int
    out: JobResult
    candidates: tuple[int, ...]
    remaining: float
    claim: int = -1
    pool: int = -1
    seg_start: float = 0.0
    seg_setup: float = 0.0
    order: int = 0  # when it last started, as a count: ties of equal start times
    token: int = 0
    ported: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _PoolState:
    installed: float = 0.0
    lost: float = 0.0
    cap: float = math.inf
    train: float = 0.0
    infer: float = 0.0
    reserve: float = 0.0
    claimed: float = 0.0
    running: list[_Run] = field(default_factory=list)
    outage_units: dict[int, float] = field(default_factory=dict)

    def avail(self) -> float:
        return max(0.0, min(self.installed - self.lost, self.cap))

    def rate_hold(self) -> float:
        return max(self.reserve, self.infer)


def _eviction_key(run: _Run) -> tuple[int, float, int]:
    """Lowest priority first, then the most recently started (equal times: first started)."""
    return (run.spec.priority, -run.seg_start, run.order)


# Units taken of each colour when `k` units are drawn without replacement from urns of these
# sizes (numpy's Generator.multivariate_hypergeometric is one).
Hypergeometric = Callable[[list[int], int], Sequence[int]]


def _whole(units: float) -> int:
    """To the nearest whole unit, halves up."""
    return int(units + 0.5 + 1e-9)


class ReferenceSim:
    """One run of a `World`; `draw(colours, k)` is the joint draw that decides outage hits."""

    def __init__(self, world: World, draw: Hypergeometric,
                 pass_on_interrupt: bool = True) -> None:
        self.w = world
        # False: the rule before issue 12 (no pass when a supply change interrupts a run; the
        # next arrival, end, gain or step passes). Only to tell that case apart in a report.
        self.pass_on_interrupt = pass_on_interrupt
        self.draw = draw
        self.end = world.n_steps * world.step
        self.now = 0.0
        self.heap: list[tuple[float, int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.pools = [_PoolState() for _ in world.pools]
        self.specs = sorted(world.jobs, key=lambda j: (j.arrival, j.name))
        self.runs: list[_Run] = []
        self.queue: list[_Run] = []
        self.segments: list[tuple[int, int, float, float]] = []  # pool, units, from, to
        self.pass_pending = False
        self.starts = 0
        n = world.n_steps
        self.capacity = [[0.0] * len(world.pools) for _ in range(n)]
        self.inference = [[0.0] * len(world.pools) for _ in range(n)]

    # ---------------------------------------------------------------- clock

    def push(self, t: float, cls: int, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.heap, (t, cls, self.seq, fn, args))
        self.seq += 1

    def run(self) -> Result:
        for i, pool in enumerate(self.w.pools):
            for t, units in pool.capacity:
                self.push(t, SUPPLY, self.set_installed, i, units)
            for t, units in pool.caps:
                self.push(t, SUPPLY, self.set_cap, i, units)
            mine = sorted((o.start, o.end, o.share, n) for n, o in enumerate(self.w.outages)
                          if o.pool == i)
            for _, _, _, n in mine:
                self.push(self.w.outages[n].start, SUPPLY, self.outage_start, n)
                self.push(self.w.outages[n].end, SUPPLY, self.outage_end, n)
        if self.specs:
            self.push(self.specs[0].arrival, NORMAL, self.arrive, 0)
        self.push(0.0, SUPPLY, self.tick, 0)
        while self.heap and self.heap[0][0] < self.end:
            t, _, _, fn, args = heapq.heappop(self.heap)
            self.now = t
            fn(*args)
        self.now = self.end
        for run in self.runs:
            if run.out.status == "running":
                self.close_segment(run, finished=False)
        return Result([r.out for r in self.runs], self.capacity, self.training(), self.inference)

    def training(self) -> list[list[float]]:
        """Step averages of training units per pool, from the segments runs held."""
        step = self.w.step
        out = [[0.0] * len(self.pools) for _ in range(self.w.n_steps)]
        for pool, units, t0, t1 in self.segments:
            for k in range(int(t0 // step), min(self.w.n_steps, math.ceil(t1 / step))):
                overlap = min(t1, (k + 1) * step) - max(t0, k * step)
                if overlap > 0:
                    out[k][pool] += units * overlap / step
        return out

    # ---------------------------------------------------------------- supply

    def set_installed(self, i: int, units: float) -> None:
        p = self.pools[i]
        before = p.installed
        p.installed = units
        self.after_supply(i, gained=units > before)

    def set_cap(self, i: int, units: float) -> None:
        p = self.pools[i]
        before = p.cap
        p.cap = units
        self.after_supply(i, gained=units > before)

    def outage_start(self, n: int) -> None:
        o = self.w.outages[n]
        p = self.pools[o.pool]
        p.outage_units[n] = o.share * p.installed
        p.lost += p.outage_units[n]
        hit = self.outage_hits(p, p.outage_units[n])
        for run in hit:
            self.interrupt(run, claim=True)
        hit_any = bool(hit)
        if hit_any and self.pass_on_interrupt:
            self.pass_soon()
        self.after_supply(o.pool, gained=False)

    def outage_hits(self, p: _PoolState, lost: float) -> list[_Run]:
        """The running gangs of `p` that hold one of the `lost` units, in job order."""
        gangs = sorted(p.running, key=lambda r: r.index)
        k = _whole(lost)
        if not gangs or k == 0:
            return []
        busy = [r.spec.units for r in gangs]
        idle = max(0, _whole(p.installed) - sum(busy))  # gangs cannot hold more than is there
        if k >= sum(busy) + idle:
            return gangs
        taken = self.draw([*busy, idle], k)
        return [r for r, t in zip(gangs, taken, strict=False) if t > 0]

    def outage_end(self, n: int) -> None:
        o = self.w.outages[n]
        p = self.pools[o.pool]
        p.lost = max(0.0, p.lost - p.outage_units.pop(n))
        self.after_supply(o.pool, gained=True)

    def after_supply(self, i: int, gained: bool) -> None:
        """More room: a pass once this moment's changes are in. Less: evict what no longer fits."""
        if gained:
            self.pass_soon()
            return
        p = self.pools[i]
        while p.running and p.train > p.avail() + EPS:
            self.interrupt(min(p.running, key=_eviction_key), claim=False)
            if self.pass_on_interrupt:
                self.pass_soon()

    def pass_soon(self) -> None:
        if not self.pass_pending and self.queue:
            self.pass_pending = True
            self.push(self.now, NORMAL, self.pass_event)

    def pass_event(self) -> None:
        self.pass_pending = False
        self.queue_pass()

    # ---------------------------------------------------------------- training

    def rank(self, candidates: tuple[int, ...], training: bool) -> list[int]:
        """cheapest_first: list price per unit of work, then the pool's key."""
        pools = self.w.pools

        def price(i: int) -> float:
            return pools[i].price / (pools[i].train_speed if training else pools[i].infer_speed)

        return sorted(candidates, key=lambda i: (price(i), pools[i].key))

    def arrive(self, n: int) -> None:
        if n + 1 < len(self.specs):
            self.push(self.specs[n + 1].arrival, NORMAL, self.arrive, n + 1)
        spec = self.specs[n]
        candidates = tuple(i for i, p in enumerate(self.w.pools) if p.family in spec.families)
        run = _Run(spec, n, JobResult(spec.name), candidates, spec.work)
        self.runs.append(run)
        if not candidates:
            run.out.status, run.out.end = "unplaceable", self.now
            return
        self.queue.append(run)
        self.queue_pass()

    def room(self, i: int, run: _Run) -> bool:
        p = self.pools[i]
        units = run.spec.units
        left = p.avail() - p.train - p.claimed
        if i == run.claim:  # its own claimed units count as free; only rate demand now binds
            return left + units - p.infer + EPS >= units
        return left - p.rate_hold() + EPS >= units

    def queue_pass(self) -> None:
        blocked: set[int] = set()
        for run in sorted(self.queue, key=lambda r: (-r.spec.priority, r.spec.arrival, r.index)):
            ranked = self.rank(run.candidates, training=True)
            where = next((i for i in ranked
                          if (i not in blocked or i == run.claim) and self.room(i, run)), None)
            if where is not None:
                self.start(run, where)
                continue
            if not self.w.backfill:
                return
            units = run.spec.units
            hold = next((i for i in ranked
                         if self.pools[i].avail() - self.pools[i].rate_hold() >= units), None)
            if hold is not None:
                blocked.add(hold)

    def start(self, run: _Run, i: int) -> None:
        spec = run.spec
        pool = self.w.pools[i]
        p = self.pools[i]
        self.queue.remove(run)
        setup = spec.restart_overhead if run.out.restarts else 0.0
        if pool.family != spec.native_family and pool.family not in run.ported:
            setup += spec.porting
            run.ported.add(pool.family)
        if run.claim >= 0:
            self.pools[run.claim].claimed -= spec.units
            run.claim = -1
        p.train += spec.units
        p.running.append(run)
        self.starts += 1
        run.order = self.starts
        run.pool = run.out.pool = i
        if run.out.first_pool < 0:
            run.out.first_pool, run.out.start = i, self.now
        run.seg_start, run.seg_setup = self.now, setup
        run.out.status = "running"
        run.token += 1
        finish = self.now + setup + run.remaining / pool.train_speed
        if finish < self.end:
            self.push(finish, NORMAL, self.finish, run, run.token)

    def release(self, run: _Run) -> None:
        p = self.pools[run.pool]
        p.train -= run.spec.units
        p.running.remove(run)
        run.token += 1

    def close_segment(self, run: _Run, finished: bool) -> float:
        """Account the hours held; returns the useful work done in the segment."""
        wall = self.now - run.seg_start
        run.out.unit_hours += run.spec.units * wall
        self.segments.append((run.pool, run.spec.units, run.seg_start, self.now))
        if finished:
            return run.remaining
        done = max(0.0, wall - run.seg_setup) * self.w.pools[run.pool].train_speed
        run.out.work_done += done
        return done

    def finish(self, run: _Run, token: int) -> None:
        if token != run.token:
            return
        self.release(run)
        run.out.work_done += self.close_segment(run, finished=True)
        run.remaining = 0.0
        run.out.status, run.out.end = "finished", self.now
        if self.queue:
            self.queue_pass()

    def interrupt(self, run: _Run, claim: bool) -> None:
        """Stop `run`: the work since its last checkpoint is lost; it waits again."""
        spec = run.spec
        speed = self.w.pools[run.pool].train_speed
        self.release(run)
        productive_h = max(0.0, self.now - run.seg_start - run.seg_setup)
        self.close_segment(run, finished=False)
        saved = 0.0
        if spec.checkpoint:
            checkpoints = math.floor(productive_h / spec.checkpoint + EPS)
            saved = min(checkpoints * spec.checkpoint * speed, run.remaining)
        lost = productive_h * speed - saved
        run.out.work_done -= lost
        run.out.work_lost += lost
        run.remaining -= saved
        run.out.restarts += 1
        run.out.status = "waiting"
        if claim:
            run.claim = run.pool
            self.pools[run.pool].claimed += spec.units
        self.queue.append(run)

    # ---------------------------------------------------------------- rate demand

    def tick(self, k: int) -> None:
        if k + 1 < self.w.n_steps:
            self.push((k + 1) * self.w.step, SUPPLY, self.tick, k + 1)
        self.capacity[k] = [p.avail() for p in self.pools]
        svc = self.w.service
        if svc is None:
            return
        for p in self.pools:
            p.infer = 0.0
        self.serve(svc, svc.demand[k])
        self.inference[k] = [p.infer for p in self.pools]
        lo = max(0, k - self.w.reserve_steps + 1)
        for i, p in enumerate(self.pools):
            p.reserve = max(self.inference[j][i] for j in range(lo, k + 1))
        if self.queue:
            self.queue_pass()

    def serve(self, svc: Service, demand: float) -> None:
        ranked = self.rank(svc.pools, training=False)
        remaining = demand
        for i in ranked:
            remaining = self.fill(i, remaining)
        if not self.w.preempt:
            return
        for i in ranked:
            victims = sorted((r for r in self.pools[i].running if r.spec.priority < svc.priority),
                             key=_eviction_key)
            for victim in victims:
                if remaining <= EPS:
                    return
                self.interrupt(victim, claim=False)
                remaining = self.fill(i, remaining)

    def fill(self, i: int, remaining: float) -> float:
        """Serve what pool `i` can of `remaining` reference units; return what is left."""
        if remaining <= 0:
            return remaining
        p = self.pools[i]
        free = p.avail() - p.train - p.infer
        if p.claimed and p.avail() - p.train >= p.claimed:
            free -= p.claimed  # claims hold once the pool could take their runs back
        if free <= 1e-12:
            return remaining
        speed = self.w.pools[i].infer_speed
        units = min(remaining / speed, free)
        p.infer += units
        return remaining - units * speed


def simulate(world: World, draw: Hypergeometric, pass_on_interrupt: bool = True) -> Result:
    """Run `world`; `draw(colours, k)` gives the units an outage takes of each colour."""
    return ReferenceSim(world, draw, pass_on_interrupt).run()
