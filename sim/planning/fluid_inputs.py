"""Inputs of the fast model of `capsim plan`: compiled worlds turned into per-slice arrays (supply,
commitments, rate demand, training classes), the part of the fluid model that reads the engine's
compiled form. The MILP over them is in fluid.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.engine.compile import Compiled, CompiledPool

# ------------------------------------------------------------------------- public records


@dataclass
class Sample:
    """One world × one replication, compiled with every decision at 0."""

    compiled: Compiled
    weight: float  # world weight / replications; weights of all samples sum to 1
    world: str


# ------------------------------------------------------------------------- supply, per step


def _supply_levels(cp: CompiledPool, n_steps: int, step: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Installed units, units lost to outages and the cap in force, per engine step.

    Replays the pool's supply events in the order the engine applies them (at one hour:
    installed changes, caps, commitments, then outages and recoveries in list order; each
    outage takes its share of what is installed when it starts) and reads the levels after the
    last change of each step, as the engine's supply log does. Events at or after the horizon
    never show.
    """
    end = n_steps * step
    events: list[tuple[float, int, int, float, float]] = []  # (t, group, seq, a, b)
    for i, (t, delta, _label) in enumerate(cp.installed):
        events.append((t, 0, i, delta, 0.0))
    for i, (t, cap) in enumerate(cp.caps):
        events.append((t, 1, i, cap, 0.0))
    for n, (t0, t1, share, _kind) in enumerate(cp.outages):
        events.append((t0, 3, 2 * n, share, float(n)))
        events.append((t1, 3, 2 * n + 1, 0.0, float(n)))
    events = [e for e in events if e[0] < end]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    installed = lost = 0.0
    cap = math.inf
    out_units: dict[int, float] = {}
    ks: list[int] = [0]
    rows: list[tuple[float, float, float]] = [(0.0, 0.0, math.inf)]
    for j, (t, group, seq, a, b) in enumerate(events):
        if group == 0:
            installed = max(0.0, installed + a)
        elif group == 1:
            cap = a
        elif seq % 2 == 0:
            units = a * installed
            out_units[int(b)] = units
            lost += units
        else:
            lost = max(0.0, lost - out_units.pop(int(b), 0.0))
        if j + 1 < len(events) and events[j + 1][0] == t:
            continue
        k = int(t / step + 1e-9)
        if ks[-1] == k:
            rows[-1] = (installed, lost, cap)
        else:
            ks.append(k)
            rows.append((installed, lost, cap))
    at = np.searchsorted(np.asarray(ks), np.arange(n_steps), side="right") - 1
    levels = np.asarray(rows, dtype=float)[at]
    return levels[:, 0], levels[:, 1], levels[:, 2]


def pool_capacity(compiled: Compiled, p: int) -> np.ndarray:
    """Units of pool `p` this customer can use in each engine step: max(0, min(installed −
    outage losses, cap)), the cap being the tenant cap, or (with availability or blocks) the
    share of the shared capacity open to it plus its own blocks. Equals the steps table's
    `capacity` column."""
    installed, lost, cap = _supply_levels(compiled.pools[p], compiled.n_steps, compiled.step)
    capacity = installed - lost
    np.minimum(capacity, cap, out=capacity)
    np.maximum(0.0, capacity, out=capacity)
    return capacity


def _commit_levels(cp: CompiledPool, n_steps: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Committed units and the commitments' $/h per engine step (the scenario's own)."""
    du = np.zeros(n_steps + 1)
    dr = np.zeros(n_steps + 1)
    for t, u, r in cp.commits:
        if t < n_steps * step:
            k = int(t / step + 1e-9)
            du[k] += u
            dr[k] += r
    units = np.cumsum(du)[:n_steps]
    rate = np.cumsum(dr)[:n_steps]
    units[np.abs(units) < 1e-9] = 0.0
    return units, np.where(units == 0.0, 0.0, rate)


# ------------------------------------------------------------------------- per-slice inputs


@dataclass
class ServiceInputs:
    name: str
    candidates: tuple[int, ...]
    value: float  # $ per unserved reference-unit-hour
    penalty_rate: float  # the SLO penalty spread over the shortfall that misses the target, $/unit-h
    headroom: float  # share of demand that is latency headroom (0 without a latency model)
    slo: float


@dataclass
class TrainClass:
    candidates: tuple[int, ...]
    arrivals: np.ndarray  # (slices,) reference-unit-hours of work due in each slice
    rate: float  # $ per reference-unit-hour of backlog per hour
    jobs: int
    work: float = 0.0  # reference-unit-hours
    # Per candidate pool (same order as `candidates`): the delay cost of porting per
    # reference-unit-hour served there, Σ delay × porting / Σ work over the class's jobs native
    # to another family (a run there finishes `porting` hours later: delay × porting). The
    # units a run holds while porting are left out: charging the stretch as backlog as well
    # would count the same hours twice. Empty: no porting anywhere.
    port_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class FluidInputs:
    """One sample as the fluid model sees it: per sub-slice averages (T sub-slices, P pools,
    S services). A slice is `step_h` hours; with `levels` > 1 its hours are sorted by demand
    and split into that many sub-slices (load levels) that share the slice's training backlog."""

    step: float  # the engine's step, hours
    n_steps: int
    group: np.ndarray  # (n_steps,) sub-slice of each engine step
    counts: np.ndarray  # (T,) engine steps in each sub-slice
    hours: np.ndarray  # (T,)
    slice_of: np.ndarray  # (T,) slice of each sub-slice
    slice_hours: np.ndarray  # (n_slices,)
    capacity: np.ndarray  # (T, P) usable units
    lost_share: np.ndarray  # (T, P) share of installed units out in outages
    price: np.ndarray  # (T, P) on-demand $/unit-hour
    committed: np.ndarray  # (T, P) units committed in the scenario
    committed_cost: float  # $ of the scenario's commitments inside the run (same in every plan)
    demand: np.ndarray  # (T, S) reference units
    services: list[ServiceInputs]
    classes: list[TrainClass]
    pool_keys: list[str]
    infer_speed: np.ndarray  # (P,)
    train_speed: np.ndarray  # (P,)
    # Power ceilings in kW per sub-slice, one row per zone that has one: the whole run's and
    # each provider's, with the pools in the zone (empty: no ceiling)
    power: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    kw_busy: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (P,) on top of idle
    kw_idle: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (P,) per available unit

    @property
    def n_slices(self) -> int:
        return len(self.slice_hours)

    def mean(self, per_step: np.ndarray) -> np.ndarray:
        """Average of a per-engine-step array (steps, ...) over each sub-slice."""
        flat = per_step.reshape(self.n_steps, -1)
        out = np.stack([np.bincount(self.group, weights=flat[:, j], minlength=len(self.counts))
                        for j in range(flat.shape[1])], axis=1) if flat.shape[1] else \
            np.zeros((len(self.counts), 0))
        out /= self.counts[:, None]
        return out.reshape((len(self.counts), *per_step.shape[1:]))


def _groups(c: Compiled, step_h: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-slice of each engine step, and the slice of each sub-slice."""
    n, step = c.n_steps, c.step
    per = max(1, round(step_h / step))
    slice_k = np.arange(n) // per
    if levels <= 1 or per == 1 or not c.services:
        return slice_k, np.arange(slice_k[-1] + 1)
    means = np.array([max(float(sv.demand.mean()), 1e-12) for sv in c.services])
    load = np.stack([sv.demand for sv in c.services], axis=1) / means
    key = load.sum(axis=1)
    levels = min(levels, per)
    order = np.lexsort((-key, slice_k))  # by slice, then busiest first
    rank = np.empty(n, dtype=int)
    starts = np.searchsorted(slice_k[order], np.arange(slice_k[-1] + 1))
    rank[order] = np.arange(n) - starts[slice_k[order]]
    size = np.bincount(slice_k)
    level = np.minimum(levels - 1, rank * levels // size[slice_k])
    group = slice_k * levels + level
    used, group = np.unique(group, return_inverse=True)
    return group, used // levels


def fluid_inputs(sample: Sample | Compiled, step_h: float = 24.0, levels: int = 1) -> FluidInputs:
    """Per-slice arrays of one sample: capacity, losses, prices, commitments, demand, training."""
    c = sample.compiled if isinstance(sample, Sample) else sample
    s = c.scenario
    n, step = c.n_steps, c.step
    group, slice_of = _groups(c, step_h, levels)
    counts = np.bincount(group).astype(float)
    hours = counts * step
    slice_hours = np.bincount(slice_of, weights=hours)
    npools = len(c.pools)
    cap = np.empty((n, npools))
    lost_share = np.empty((n, npools))
    price = np.empty((n, npools))
    com = np.empty((n, npools))
    com_cost = 0.0
    for p, cp in enumerate(c.pools):
        installed, lost, capl = _supply_levels(cp, n, step)
        capacity = installed - lost
        np.minimum(capacity, capl, out=capacity)
        np.maximum(0.0, capacity, out=capacity)
        cap[:, p] = capacity
        lost_share[:, p] = np.divide(np.minimum(lost, installed), installed,
                                     out=np.zeros(n), where=installed > 0)
        price[:, p] = cp.price if len(cp.price) == n else cp.info.price_per_hour
        units, rate = _commit_levels(cp, n, step)
        com[:, p] = units
        com_cost += float(rate.sum() * step)
    fi = FluidInputs(step, n, group, counts, hours, slice_of, slice_hours, cap, lost_share, price,
                     com, com_cost, np.zeros((len(counts), 0)), [], [],
                     [cp.info.key for cp in c.pools],
                     np.array([cp.info.infer_speed for cp in c.pools]),
                     np.array([cp.info.train_speed for cp in c.pools]))
    fi.capacity, fi.lost_share, fi.price, fi.committed = (
        fi.mean(cap), fi.mean(lost_share), fi.mean(price), fi.mean(com))
    if c.services:
        fi.demand = fi.mean(np.stack([sv.demand for sv in c.services], axis=1))
    for sv in c.services:
        spec = getattr(s, sv.section)[sv.name]
        headroom = 1.0 - spec.latency.target_utilisation if spec.latency is not None else 0.0
        mean_d = float(sv.demand.mean())
        gap = (headroom if headroom > 0 else 1.0 - sv.slo) * mean_d
        penalty_rate = (spec.penalty_per_step_below_target / (step * gap)
                        if gap > 0 and spec.penalty_per_step_below_target else 0.0)
        fi.services.append(ServiceInputs(sv.name, sv.candidates, spec.value_per_unit_hour,
                                         penalty_rate, headroom, sv.slo))
    fi.classes = _train_classes(c, slice_of, hours)
    fi.kw_idle = np.array([cp.info.power_kw * cp.info.idle_power_share for cp in c.pools])
    fi.kw_busy = np.array([cp.info.power_kw for cp in c.pools]) - fi.kw_idle
    zones = [(c.power, np.arange(npools))] + [
        (steps, np.array([p for p, cp in enumerate(c.pools) if cp.info.provider == name]))
        for name, steps in c.provider_power.items()]
    for steps, pools in zones:
        if not steps or not len(pools):
            continue
        at = np.array([t for t, _ in steps])
        kw = np.array([v for _, v in steps] + [math.inf])
        idx = np.searchsorted(at, np.arange(n) * step, side="right") - 1
        per_step = np.where(idx >= 0, kw[idx], math.inf)
        ceiling = np.full(len(counts), math.inf)
        finite = np.bincount(group, weights=np.isinf(per_step), minlength=len(counts)) == 0
        ceiling[finite] = fi.mean(np.where(np.isinf(per_step), 0.0, per_step))[finite]
        fi.power.append((ceiling, pools))
    return fi


def _train_classes(c: Compiled, slice_of: np.ndarray, hours: np.ndarray,
                   merge_share: float = 0.01) -> list[TrainClass]:
    """Training as fluid work per class of jobs with the same candidate pools.

    A job's work (units × duration, reference-unit-hours) falls due evenly over the time it
    would take on the fastest pool it may use, from its arrival (cut at the horizon): the
    backlog is then the work behind that ideal schedule. A job started D hours late and then
    run at full size is behind by units × speed × D for its whole run, so its backlog-hours
    are D × work; charging each backlog reference-unit-hour per hour Σ delay_cost_per_hour /
    Σ work of the class charges such a job exactly its delay cost. (Work added all at arrival
    would charge a job that starts at once half its run time.) Work not done by the horizon is
    charged up to the horizon only, as the engine charges a run still unfinished there.
    """
    if not c.jobs:
        return []
    bounds = np.concatenate([[0.0], np.cumsum(np.bincount(slice_of, weights=hours))])
    speeds = np.array([cp.info.train_speed for cp in c.pools])
    by: dict[tuple[int, ...], list[int]] = {}
    for j in c.jobs:
        if j.candidates:
            by.setdefault(j.candidates, []).append(j.index)
    out = []
    for cand, idx in by.items():
        jobs = [c.jobs[i] for i in idx]
        arrival = np.array([j.arrival for j in jobs])
        work = np.array([j.units * j.duration for j in jobs], dtype=float)
        length = np.array([j.duration for j in jobs]) / float(speeds[list(cand)].max())
        delay = np.array([j.delay_cost_per_hour for j in jobs])
        rate = work / np.maximum(length, 1e-12)
        # work due by each slice boundary, per job: rate × clip(t − arrival, 0, length)
        due = (rate[:, None] * np.clip(bounds[None, :] - arrival[:, None], 0.0,
                                       length[:, None])).sum(axis=0)
        total_work = float(work.sum())
        # porting: a run off its native family finishes `porting` hours later (delay × porting)
        port = np.array([j.porting for j in jobs])
        native = np.array([j.native_family for j in jobs])
        fams = np.array([c.pools[p].info.family for p in cand])
        ported = (native[:, None] != fams[None, :]) & (port[:, None] > 0)
        port_cost = ((delay * port)[:, None] * ported).sum(axis=0) / max(total_work, 1e-12)
        out.append(TrainClass(cand, np.diff(due), float(delay.sum()) / total_work
                              if total_work > 0 else 0.0, len(jobs), total_work, port_cost))
    return _merge_small(out, merge_share)


def _merge_small(classes: list[TrainClass], share: float) -> list[TrainClass]:
    """Fold each class with less than `share` of all training work into the largest class whose
    pools it may all use (it then waits for those only, a little pessimistic): a class is one
    variable per pool and slice, and on the flagship the 735 small experiments (0.2 % of the
    work) cost as many variables as the research runs."""
    total = sum(tc.work for tc in classes)
    out = sorted(classes, key=lambda tc: -tc.work)
    for small in [tc for tc in out[::-1] if tc.work < share * total]:
        hosts = [tc for tc in out if tc is not small and set(tc.candidates) <= set(small.candidates)]
        if not hosts:
            continue
        host = hosts[0]
        work = host.work + small.work
        host.rate = (host.rate * host.work + small.rate * small.work) / work if work else 0.0
        host.arrivals = host.arrivals + small.arrivals
        host.jobs += small.jobs
        if len(host.port_cost) and len(small.port_cost):  # the small class's, per host pool
            at = [small.candidates.index(p) for p in host.candidates]
            host.port_cost = (host.port_cost * host.work + small.port_cost[at] * small.work) \
                / work if work else host.port_cost
        host.work = work
        out.remove(small)
    return out


def headroom_price(penalty_rate: np.ndarray, value: np.ndarray) -> np.ndarray:
    """$ per unit-hour of a latency service's headroom left unserved, as the engine charges it:
    slow answers lose no load, but miss the target, so the SLO penalty spread over the headroom
    (at most the value of load). The solve itself prices unserved headroom at the value of load:
    the engine serves a service's whole fleet whenever it has the units, whatever they cost, so
    a plan must expect to pay for them."""
    return np.minimum(penalty_rate, value)


# ------------------------------------------------------------------------- decisions


def expected_wait_for_stock(retry_h: float, available: float) -> float:
    """Mean hours until a block is had when each ask, the first at once and then one every
    `retry_h`, succeeds with probability `available`: r(1 - p)/p (inf when p is 0)."""
    if available <= 0:
        return math.inf
    return retry_h * (1 - available) / available


def mean_inputs(inputs: Sequence[FluidInputs], weights: np.ndarray) -> FluidInputs:
    """The expected-value sample: every random input replaced by its weighted mean (capacity,
    outage losses, prices, commitments, demand, power ceilings), each sample's training classes
    kept with their work scaled by its weight (the backlog is linear in arrivals, so their sum
    is the expected work). What "the plan chosen for the mean world" is planned on (EEV).
    Samples must share their slices (one load level) and services; ValueError otherwise."""
    first = inputs[0]
    for fi in inputs[1:]:
        if (not np.array_equal(fi.group, first.group) or fi.pool_keys != first.pool_keys
                or [x.name for x in fi.services] != [x.name for x in first.services]
                or len(fi.power) != len(first.power)):
            raise ValueError("samples differ in their slices, pools, services or power zones: "
                             "no mean sample (use one load level)")
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))

    def avg(name: str) -> np.ndarray:
        return np.tensordot(w, np.stack([getattr(fi, name) for fi in inputs]), axes=1)

    classes = [TrainClass(tc.candidates, tc.arrivals * wk, tc.rate, tc.jobs, tc.work * wk,
                          tc.port_cost)
               for wk, fi in zip(w, inputs, strict=True) for tc in fi.classes]
    power = [(np.tensordot(w, np.stack([fi.power[z][0] for fi in inputs]), axes=1),
              first.power[z][1]) for z in range(len(first.power))]
    return FluidInputs(
        first.step, first.n_steps, first.group, first.counts, first.hours, first.slice_of,
        first.slice_hours, avg("capacity"), avg("lost_share"), avg("price"), avg("committed"),
        float(np.dot(w, [fi.committed_cost for fi in inputs])), avg("demand"),
        first.services, classes, first.pool_keys, first.infer_speed, first.train_speed, power,
        first.kw_busy, first.kw_idle)
