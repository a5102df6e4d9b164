"""The fast model of `capsim plan`: a fluid, two-stage stochastic MILP that proposes contract mixes.

"Propose fast, check exactly": this module turns compiled worlds into per-slice arrays and solves
one mixed-integer LP (scipy.optimize.milp, HiGHS) per trade-off; the discrete-event engine then
checks what it proposes. Everything here is a pure function of its inputs.

The model, per sample s (one world × one replication, weight w_s) and slice τ (`step_h` hours,
optionally split into a few load levels of sorted hours), with decisions x_k chosen once:

    use        Σ_i y[i,p] + Σ_c z[c,p] ≤ cap[p] + Σ_blocks k on p  size·(1 − lost[p])·on_k·x_k
    on demand  od[p] ≥ Σ_i y[i,p] + Σ_c z[c,p] − com[p] − Σ_k on p  size_k·on_k·x_k,  od ≥ 0
    demand     Σ_p speed_p·y[i,p] + u1[i] + u2[i] ≥ D[i],  0 ≤ u1[i] ≤ (1 − target_util)·D[i]
    training   B[c,τ] ≥ B[c,τ−1] + A[c,τ] − Σ_p train_speed_p·hours·z[c,p],  B ≥ 0
    cost C_s = existing commitments + Σ_k price_k·size_k·hours_k·x_k + Σ od·price·hours
               + Σ (h_i·u1 + (v_i + h_i)·u2)·hours + Σ r_c·B[c,τ]·hours(τ)   (reported)
    minimise (1 − λ)·Σ_s w_s C_s + λ·(η + Σ_s w_s ν_s / (1 − α)),  ν_s ≥ C_s − η, ν_s ≥ 0

`y`, `z` are units of pool p given to service i or training class c (services and classes only on
their candidate pools), `cap` the units the engine would let this customer use (installed minus
outage losses, capped by the tenant cap and the market's availability: `pool_capacity`), `com`
the units already committed in the scenario, `on_k` the share of the slice a decision is in force,
`D` the rate demand in reference units, `v_i` its value per unit-hour and `h_i` the SLO penalty
spread over the shortfall that misses the target: a latency service's fleet is its load ÷ target
utilisation, and the engine charges only load lost, so the headroom tier u1 is reported at `h_i`
(`headroom_price`) and only the load tier u2 at its value (the solve prices u1 at the value too,
as the engine serves the whole fleet whenever it can); without a latency model the penalty is
spread over the (1 − slo) share of mean demand and added to the value. Power ceilings (the
run's and each provider's) bound Σ kw_busy·use by the ceiling less the idle draw of every
available unit, per slice.

What the model leaves out, so that it is optimistic against the engine: gang placement and
queueing (a class's work may use any number of units), porting, preemption order, first refusal,
policies' rankings (use is placed at least cost), capacity and demand varying within a slice
(unless `levels` > 1), renewals of decided commitments (they lapse), the early-finish credit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from sim.engine.compile import Compiled, CompiledPool
from sim.planning.space import Decision
from sim.planning.stats import cvar

# ------------------------------------------------------------------------- public records


@dataclass
class Sample:
    """One world × one replication, compiled with every decision at 0."""

    compiled: Compiled
    weight: float  # world weight / replications; weights of all samples sum to 1
    world: str


@dataclass(frozen=True)
class RiskSpec:
    """What the candidates trade off: the level of the CVaR of total cost."""

    alpha: float = 0.95  # CVaR level (1.0: the worst sample)


@dataclass
class FluidResult:
    """A plan the fluid model proposed (or was asked to price), and what it costs there."""

    choice: dict[str, float]  # decision key -> value (on each decision's grid)
    label: str  # how it was proposed, e.g. "lambda=0.5"
    expected: dict[str, float]  # cost_total, spend, spend_committed, ... (weighted means)
    per_sample: np.ndarray  # cost_total per sample, in Sample order
    cvar: float  # CVaR_alpha of cost_total over the samples (weighted)
    unmet_share: float  # weighted share of rate-demand slices below their slo (the fluid view)
    solve_s: float
    stats: dict[str, float] = field(default_factory=dict)  # variables, rows, build_s, ...


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


def _decision_terms(d: Decision, fi: FluidInputs, pool_index: dict[str, int]
                    ) -> tuple[int, np.ndarray, float]:
    """Pool, share of each sub-slice the decision is in force, and its billed hours per unit
    of value (snapped to the engine's grid as the engine snaps contracts)."""
    key = f"{d.provider}/{d.pool}"
    if key not in pool_index:
        raise KeyError(f"decision {d.key!r}: no pool {key!r} in the scenario")
    step, n = fi.step, fi.n_steps
    end = n * step
    online = d.online_h
    if d.kind == "blocks" and d.available < 1:
        online = online + expected_wait_for_stock(d.retry_h, d.available)
    def snap(h: float) -> float:
        return min(max(0.0, round(h / step) * step), end) if math.isfinite(h) else end
    k0 = round(snap(online) / step)
    k1 = round(snap(online + d.term_h) / step)
    on = np.zeros(n)
    on[k0:k1] = 1.0
    share = np.bincount(fi.group, weights=on, minlength=len(fi.counts)) / fi.counts
    return pool_index[key], share, max(0, k1 - k0) * step


# ------------------------------------------------------------------------- the LP



class _Builder:
    """Columns and rows of a sparse LP, added in vectorised blocks (COO triplets)."""

    def __init__(self) -> None:
        self.n = 0
        self.m = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lb_row: list[np.ndarray] = []
        self.ub_row: list[np.ndarray] = []
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.mag: list[np.ndarray] = []

    def var(self, k: int, lb: np.ndarray | float = 0.0, ub: np.ndarray | float = np.inf,
            mag: np.ndarray | float = 1.0) -> np.ndarray:
        """`k` new columns; `mag`: their expected size, to scale them near 1 for the solver."""
        ids = np.arange(self.n, self.n + k)
        self.n += k
        self.mag.append(np.maximum(1e-6, np.broadcast_to(np.asarray(mag, dtype=float), (k,))))
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (k,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (k,)).copy())
        return ids

    def row(self, k: int, lb: np.ndarray | float, ub: np.ndarray | float) -> np.ndarray:
        ids = np.arange(self.m, self.m + k)
        self.m += k
        self.lb_row.append(np.broadcast_to(np.asarray(lb, dtype=float), (k,)).copy())
        self.ub_row.append(np.broadcast_to(np.asarray(ub, dtype=float), (k,)).copy())
        return ids

    def add(self, r: np.ndarray | Sequence[int], c: np.ndarray | Sequence[int],
            v: np.ndarray | float) -> None:
        ra, ca = np.asarray(r, dtype=int), np.asarray(c, dtype=int)
        va = np.broadcast_to(np.asarray(v, dtype=float), ra.shape)
        keep = va != 0
        self.rows.append(ra[keep])
        self.cols.append(ca[keep])
        self.vals.append(va[keep])

    def matrix(self) -> sp.csr_matrix:
        cat = np.concatenate
        return sp.coo_matrix((cat([*self.vals, np.zeros(0)]),
                              (cat([*self.rows, np.zeros(0, int)]),
                               cat([*self.cols, np.zeros(0, int)]))),
                             shape=(self.m, self.n)).tocsr()


@dataclass
class _SampleVars:
    """Where one sample's priced variables are, to read a solution back."""

    cost: dict[str, tuple[np.ndarray, np.ndarray]]  # part -> (variables, true $ per unit)
    when: dict[str, np.ndarray]  # part -> slice of each of those variables
    u1: np.ndarray
    u2: np.ndarray
    head: np.ndarray  # positions (into the demand cells) of the u1 variables
    cell_t: np.ndarray
    cell_i: np.ndarray
    steer: np.ndarray  # $ per unit of the shortfall variables (in `cost` order) the solve uses


@dataclass
class _Model:
    c: np.ndarray
    A: sp.csr_matrix
    lb_row: np.ndarray
    ub_row: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    mag: np.ndarray  # expected size of each variable (column scaling)
    first_cost: np.ndarray  # (samples, K) $ per unit of each first-stage variable (one grid step)
    consts: np.ndarray  # per sample: existing commitments + the decisions' `lo` part
    samples: list[_SampleVars]
    build_s: float


def _build(decisions: Sequence[Decision], inputs: list[FluidInputs], weights: np.ndarray,
           lam: float, alpha: float, short_w: float, fixed: np.ndarray | None = None,
           cost_chunk: int = 7) -> _Model:
    """The MILP: first-stage n_k (x_k = lo_k + step_k·n_k), then each sample's slices.

    `fixed`: n_k given (evaluate a plan): the first stage becomes bounds."""
    t0 = time.perf_counter()
    b = _Builder()
    K = len(decisions)
    lo = np.array([d.lo for d in decisions], dtype=float)
    stepv = np.array([d.step for d in decisions], dtype=float)
    nmax = np.array([np.floor((d.hi - d.lo) / d.step + 1e-9) for d in decisions], dtype=float)
    xs = b.var(K, 0.0, nmax) if fixed is None else b.var(K, fixed, fixed)
    first_cost = np.zeros((len(inputs), K))  # per sample: worlds may differ in horizon
    lo_cost = np.zeros(len(inputs))
    samples: list[_SampleVars] = []
    for s, fi in enumerate(inputs):
        T, P = fi.capacity.shape
        pool_index = {key: i for i, key in enumerate(fi.pool_keys)}
        terms = [_decision_terms(d, fi, pool_index) for d in decisions]
        for k, d in enumerate(decisions):
            first_cost[s, k] = d.price_per_hour * d.size * terms[k][2] * d.step
            lo_cost[s] += d.price_per_hour * d.size * terms[k][2] * d.lo
        add_com = np.zeros((K, T, P))  # per unit of x_k
        add_cap = np.zeros((K, T, P))
        for k, (d, (p, share, _h)) in enumerate(zip(decisions, terms, strict=True)):
            add_com[k, :, p] = d.size * share
            if d.kind == "blocks":
                add_cap[k, :, p] = d.size * share * (1.0 - fi.lost_share[:, p])
        cap_lo = fi.capacity + np.einsum("k,ktp->tp", lo, add_cap)
        cap_max = fi.capacity + np.einsum("k,ktp->tp", lo + nmax * stepv, add_cap)
        com_lo = fi.committed + np.einsum("k,ktp->tp", lo, add_com)
        cost: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
            "on_demand": [], "shortfall": [], "delay": []}
        when: dict[str, list[np.ndarray]] = {k: [] for k in cost}
        # rate use y[t, (service, pool)]
        pairs = [(i, p) for i, sv in enumerate(fi.services) for p in sv.candidates]
        pi = np.array([q[0] for q in pairs], dtype=int)
        pp = np.array([q[1] for q in pairs], dtype=int)
        ymask = (fi.demand[:, pi] > 0) & (cap_max[:, pp] > 1e-9)
        yt, yr = np.nonzero(ymask)
        y = b.var(len(yt), mag=np.maximum(1.0, cap_max[yt, pp[yr]]))
        # training use z[t, (class, pool)], from the class's first work on
        cpairs = [(ci, p) for ci, tc in enumerate(fi.classes) for p in tc.candidates]
        qc = np.array([q[0] for q in cpairs], dtype=int)
        qp = np.array([q[1] for q in cpairs], dtype=int)
        qi = np.array([fi.classes[ci].candidates.index(p) for ci, p in cpairs], dtype=int)
        if cpairs:
            due = np.stack([np.cumsum(tc.arrivals) for tc in fi.classes], axis=1)
            zmask = (cap_max[:, qp] > 1e-9) & (due[fi.slice_of][:, qc] > 0)
        else:
            zmask = np.zeros((T, 0), bool)
        zt, zr = np.nonzero(zmask)
        z = b.var(len(zt), mag=np.maximum(1.0, cap_max[zt, qp[zr]]))
        ut = np.concatenate([yt, zt])
        up = np.concatenate([pp[yr], qp[zr]]).astype(int)
        uvar = np.concatenate([y, z])
        used = np.zeros((T, P), bool)
        used[ut, up] = True
        ot, op = np.nonzero(used)
        cell = -np.ones((T, P), dtype=int)
        cell[ot, op] = np.arange(len(ot))
        # capacity: use ≤ capacity + blocks
        cap_rows = b.row(len(ot), -np.inf, cap_lo[ot, op])
        b.add(cap_rows[cell[ut, up]], uvar, 1.0)
        for k in range(K):
            b.add(cap_rows, np.full(len(ot), xs[k]), -add_cap[k, ot, op] * stepv[k])
        # on demand: use − od − decided commitments ≤ committed; where nothing is or can be
        # committed, od = use: the use itself is priced (no od column, no row)
        direct = (com_lo[ot, op] <= 0) & ~(add_com[:, ot, op] != 0).any(axis=0)
        dcol = direct[cell[ut, up]]
        cost["on_demand"].append((uvar[dcol], fi.price[ut[dcol], up[dcol]] * fi.hours[ut[dcol]]))
        when["on_demand"].append(fi.slice_of[ut[dcol]])
        kt, kp = ot[~direct], op[~direct]
        kcell = -np.ones((T, P), dtype=int)
        kcell[kt, kp] = np.arange(len(kt))
        od = b.var(len(kt), mag=np.maximum(1.0, cap_max[kt, kp]))
        od_rows = b.row(len(kt), -np.inf, com_lo[kt, kp])
        b.add(od_rows[kcell[ut[~dcol], up[~dcol]]], uvar[~dcol], 1.0)
        b.add(od_rows, od, -1.0)
        for k in range(K):
            b.add(od_rows, np.full(len(kt), xs[k]), -add_com[k, kt, kp] * stepv[k])
        cost["on_demand"].append((od, fi.price[kt, kp] * fi.hours[kt]))
        when["on_demand"].append(fi.slice_of[kt])
        # demand: served + unmet ≥ D; unmet in two tiers (latency headroom, then load)
        dt, di = np.nonzero(fi.demand > 0)
        dcell = -np.ones(fi.demand.shape, dtype=int)
        dcell[dt, di] = np.arange(len(dt))
        dem_rows = b.row(len(dt), -np.inf, -fi.demand[dt, di])
        b.add(dem_rows[dcell[yt, pi[yr]]], y, -fi.infer_speed[pp[yr]])
        head = np.array([sv.headroom for sv in fi.services] + [0.0])[di]
        value = np.array([sv.value for sv in fi.services] + [0.0])[di]
        pen = np.array([sv.penalty_rate for sv in fi.services] + [0.0])[di]
        u2 = b.var(len(dt), mag=fi.demand[dt, di])
        b.add(dem_rows, u2, -1.0)
        h1 = np.nonzero(head > 0)[0]
        u1 = b.var(len(h1), 0.0, head[h1] * fi.demand[dt[h1], di[h1]],
                   mag=head[h1] * fi.demand[dt[h1], di[h1]])
        b.add(dem_rows[h1], u1, -1.0)
        # power: busy draw of what is used ≤ ceiling − idle draw of every available unit (the
        # decided blocks' idle draw is left out, so that no choice makes the model infeasible)
        for ceiling, pools in fi.power:
            inzone = np.isin(up, pools)
            pt = np.nonzero(np.isfinite(ceiling))[0]
            prow = -np.ones(T, dtype=int)
            prow[pt] = np.arange(len(pt))
            idle = (fi.capacity[pt][:, pools] * fi.kw_idle[pools]).sum(axis=1)
            rows = b.row(len(pt), -np.inf, np.maximum(0.0, ceiling[pt] - idle))
            keep = inzone & (prow[ut] >= 0)
            b.add(rows[prow[ut[keep]]], uvar[keep], fi.kw_busy[up[keep]])
        cost["shortfall"] += [(u2, (value + pen) * fi.hours[dt]),
                              (u1, headroom_price(pen[h1], value[h1]) * fi.hours[dt[h1]])]
        when["shortfall"] += [fi.slice_of[dt], fi.slice_of[dt[h1]]]
        # training: backlog per class and slice
        for ci, tc in enumerate(fi.classes):
            if not (tc.arrivals > 0).any():
                continue
            first = int(np.argmax(tc.arrivals > 0))
            taus = np.arange(first, fi.n_slices)
            bv = b.var(len(taus), mag=max(1.0, float(tc.arrivals.max())))
            rows = b.row(len(taus), -np.inf, -tc.arrivals[taus])
            b.add(rows, bv, -1.0)
            b.add(rows[1:], bv[:-1], 1.0)
            mine = qc[zr] == ci
            at = qi[zr[mine]]  # position of each variable's pool among the class's candidates
            served = fi.train_speed[qp[zr[mine]]] * fi.hours[zt[mine]]
            b.add(rows[fi.slice_of[zt[mine]] - first], z[mine], -served)
            cost["delay"].append((bv, tc.rate * fi.slice_hours[taus]))
            when["delay"].append(taus)
            if len(tc.port_cost) and (tc.port_cost > 0).any():  # porting's delay, per work served
                cost["delay"].append((z[mine], tc.port_cost[at] * served))
                when["delay"].append(fi.slice_of[zt[mine]])
        cat = np.concatenate
        samples.append(_SampleVars(
            {k: (cat([v for v, _ in lst] + [np.zeros(0, int)]),
                 cat([c for _, c in lst] + [np.zeros(0)])) for k, lst in cost.items()},
            {k: cat([*lst, np.zeros(0, int)]) for k, lst in when.items()},
            u1, u2, h1, dt, di,
            # headroom a hair cheaper than load, so that a fleet short of units loses headroom
            # first (at one price the solver could report load lost instead)
            np.concatenate([(value + pen) * fi.hours[dt],
                            (1 - 1e-3) * value[h1] * fi.hours[dt[h1]]])))
    consts = np.array([fi.committed_cost for fi in inputs]) + lo_cost

    def weighted(sv: _SampleVars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = ("on_demand", "shortfall", "delay")
        ids = np.concatenate([sv.cost[k][0] for k in parts])
        cst = np.concatenate([sv.cost["on_demand"][1], sv.steer * short_w,
                              sv.cost["delay"][1]])
        return ids, cst, np.concatenate([sv.when[k] for k in parts])

    # risk: η free, ν_s ≥ C_s − η, ν_s ≥ 0 (α = 1: η ≥ C_s, the worst sample)
    worst = alpha >= 1.0 - 1e-12
    S = len(inputs)
    if lam > 0:
        size = max(1.0, float(np.abs(consts).mean()))
        eta = b.var(1, -np.inf, np.inf, size)[0]
        nu = b.var(0 if worst else S, mag=size)
        cut = b.row(S, -np.inf, -consts)
        for s, sv in enumerate(samples):
            # C_s through one cost variable per `cost_chunk` slices (k = its cost there): a
            # row holding every priced variable of a sample slows the simplex several times
            ids, cst, when = weighted(sv)
            chunk = when // cost_chunk
            n_chunks = int(chunk.max()) + 1 if len(chunk) else 0
            kv = b.var(n_chunks, 0.0, np.inf, mag=size / max(1, n_chunks))
            krows = b.row(n_chunks, -np.inf, 0.0)  # k ≥ its cost (costs are never negative)
            b.add(krows[chunk], ids, cst)
            b.add(krows, kv, -1.0)
            b.add(np.full(n_chunks, cut[s]), kv, 1.0)
            b.add(np.full(K, cut[s]), xs, first_cost[s])
            b.add([cut[s]], [eta], -1.0)
            if not worst:
                b.add([cut[s]], [nu[s]], -1.0)
    # λ = 1: the expected cost still breaks ties (1 % of it), or every sample outside the tail
    # could be served anyhow and the simplex wanders through that freedom (flagship: 40 s, 14).
    lam = min(lam, 1.0 - 1e-2)
    c = np.zeros(b.n)
    for s, sv in enumerate(samples):
        ids, cst, _ = weighted(sv)
        np.add.at(c, ids, (1.0 - lam) * weights[s] * cst)  # a variable may carry two costs
    c[xs] += (1.0 - lam) * (weights @ first_cost)
    if lam > 0:
        c[eta] += lam
        if not worst:
            c[nu] += lam * weights / (1.0 - alpha)
    integrality = np.zeros(b.n, dtype=np.uint8)
    return _Model(c, b.matrix(), np.concatenate(b.lb_row), np.concatenate(b.ub_row),
                  np.concatenate(b.lb), np.concatenate(b.ub), integrality,
                  np.concatenate(b.mag), first_cost, consts,
                  samples, time.perf_counter() - t0)


_DISP = False


def _solve(model: _Model, integer_vars: int, mip_gap: float, time_limit: float
           ) -> tuple[np.ndarray, float]:
    integrality = model.integrality.copy()
    integrality[:integer_vars] = 1
    t0 = time.perf_counter()
    # Units run from tens to tens of millions and dollars to 10^10: columns are scaled by their
    # expected size, then rows and the objective by their largest coefficient, so that HiGHS's
    # tolerances mean the same everywhere (unscaled, its presolved solution needed thousands of
    # clean-up iterations and was off by a third before them).
    col = model.mag.copy()
    col[:integer_vars] = 1.0  # integer columns stay on their grid
    A = model.A @ sp.diags(col)
    row = np.abs(A).max(axis=1).toarray().ravel()
    row[row == 0] = 1.0
    A = sp.diags(1.0 / row) @ A
    c = model.c * col
    cmax = float(np.abs(c).max()) or 1.0
    res = milp(c / cmax, integrality=integrality,
               bounds=Bounds(model.lb / col, model.ub / col),
               constraints=LinearConstraint(A.tocsr(), model.lb_row / row, model.ub_row / row),
               options={"mip_rel_gap": mip_gap, "time_limit": time_limit, "disp": _DISP})
    if res.x is None:
        raise RuntimeError(f"fluid model: the solver found no solution ({res.message})")
    res.x = res.x * col
    return res.x, time.perf_counter() - t0


def _result(model: _Model, x: np.ndarray, decisions: Sequence[Decision],
            inputs: list[FluidInputs], weights: np.ndarray, alpha: float, label: str,
            solve_s: float) -> FluidResult:
    """A solution read back: the choice, true costs per sample and their weighted summaries."""
    K = len(decisions)
    n = x[:K]
    choice = {d.key: float(d.lo + d.step * n[k]) for k, d in enumerate(decisions)}
    parts = {k: np.zeros(len(inputs)) for k in
             ("spend_committed", "spend_on_demand", "shortfall_cost", "delay_cost")}
    below = np.zeros(len(inputs))
    for s, sv in enumerate(model.samples):
        parts["spend_committed"][s] = model.consts[s] + float(model.first_cost[s] @ n)
        for key, name in (("on_demand", "spend_on_demand"), ("shortfall", "shortfall_cost"),
                          ("delay", "delay_cost")):
            ids, cst = sv.cost[key]
            parts[name][s] = float(cst @ x[ids])
        fi = inputs[s]
        unmet = x[sv.u2].copy()
        unmet[sv.head] += x[sv.u1]
        d = fi.demand[sv.cell_t, sv.cell_i]
        slo = np.array([svc.slo for svc in fi.services])[sv.cell_i]
        miss = (d - unmet) < (slo - 1e-9) * d
        total_h = fi.hours.sum() * max(1, len(fi.services))
        below[s] = float((fi.hours[sv.cell_t] * miss).sum() / total_h)
    spend = parts["spend_committed"] + parts["spend_on_demand"]
    total = spend + parts["shortfall_cost"] + parts["delay_cost"]
    expected = {"cost_total": float(weights @ total), "spend": float(weights @ spend)}
    expected.update({k: float(weights @ v) for k, v in parts.items()})
    stats = {"variables": float(model.A.shape[1]), "rows": float(model.A.shape[0]),
             "nonzeros": float(model.A.nnz), "build_s": model.build_s}
    return FluidResult(choice, label, expected, total, cvar(total, weights, alpha),
                       float(weights @ below), solve_s, stats)


def _prepare(samples: Sequence[Sample], step_h: float, levels: int
             ) -> tuple[list[FluidInputs], np.ndarray]:
    if not samples:
        raise ValueError("the fluid model needs at least one sample")
    inputs = [fluid_inputs(s, step_h, levels) for s in samples]
    weights = np.array([s.weight for s in samples], dtype=float)
    return inputs, weights / weights.sum()


def _grid(d: Decision, value: float) -> float:
    """Grid steps n of a value (not rounded: a hand value may lie off the grid)."""
    return (value - d.lo) / d.step


def evaluate(decisions: Sequence[Decision], samples: Sequence[Sample],
             choice: dict[str, float], step_h: float = 24.0, *, risk: RiskSpec = RiskSpec(),
             levels: int = 1, label: str = "evaluate",
             _inputs: tuple[list[FluidInputs], np.ndarray] | None = None) -> FluidResult:
    """The fluid model's cost of a fixed choice (decision key -> value; missing keys: the
    decision's hand value): the best use of what it buys, sample by sample, at the true prices."""
    inputs, weights = _inputs or _prepare(samples, step_h, levels)
    fixed = np.array([_grid(d, choice.get(d.key, d.hand)) for d in decisions], dtype=float)
    model = _build(decisions, inputs, weights, 0.0, risk.alpha, 1.0, fixed)
    x, solve_s = _solve(model, 0, 1e-9, 600.0)
    x[:len(decisions)] = fixed
    res = _result(model, x, decisions, inputs, weights, risk.alpha, label, solve_s)
    res.choice = {d.key: float(choice.get(d.key, d.hand)) for d in decisions}  # as given, not
    return res  # lo + step × ((v − lo) / step), which may differ from v in its last digit


def propose(decisions: list[Decision], samples: list[Sample], *, risk: RiskSpec = RiskSpec(),
            lambdas: Sequence[float] = (0.0, 0.5, 1.0),
            shortfall_weights: Sequence[float] = (1.0, 4.0), step_h: float = 24.0,
            integer: bool = True, levels: int = 1, mip_gap: float = 1e-3,
            time_limit: float = 120.0) -> list[FluidResult]:
    """Candidate plans: one solve per (λ, shortfall weight), minimising
    (1 − λ)·E[C] + λ·CVaR_alpha(C) with unserved demand priced × the weight; each reported at
    its true (weight 1) cost by `evaluate`, deduplicated by choice (the first label kept, the
    others appended). `solve_s` is the proposing solve's time plus the evaluation's; `stats`
    counts the solves that gave the choice and their time (`solves`, `propose_solve_s`).

    `levels` > 1 splits each slice into that many load levels (hours sorted by demand);
    `mip_gap` is HiGHS's relative gap. Size and time (openai_2025, 3 worlds × 2 replications,
    4 decisions): daily slices 88k columns, 51k rows, ~10 s a solve on a busy 2-core machine;
    weekly (`step_h=168`) 13k columns, 7.5k rows, ~1-2 s."""
    inputs, weights = _prepare(samples, step_h, levels)
    out: list[FluidResult] = []
    seen: dict[tuple[float, ...], FluidResult] = {}
    for w in shortfall_weights:
        for lam in lambdas:
            label = f"lambda={lam:g}" + (f" shortfall_weight={w:g}" if w != 1.0 else "")
            model = _build(decisions, inputs, weights, lam, risk.alpha, w)
            x, solve_s = _solve(model, len(decisions) if integer else 0, mip_gap, time_limit)
            n = np.round(x[:len(decisions)])  # a continuous solve: the nearest grid value
            choice = {d.key: float(d.lo + d.step * n[k]) for k, d in enumerate(decisions)}
            key = tuple(choice[d.key] for d in decisions)
            if key in seen:
                seen[key].label += f", {label}"
                seen[key].stats["solves"] += 1
                seen[key].stats["propose_solve_s"] += solve_s
                continue
            res = evaluate(decisions, samples, choice, step_h, risk=risk, levels=levels,
                           label=label, _inputs=(inputs, weights))
            res.solve_s += solve_s
            res.stats.update({"propose_variables": float(model.A.shape[1]),
                              "propose_rows": float(model.A.shape[0]),
                              "propose_build_s": model.build_s, "propose_solve_s": solve_s,
                              "solves": 1.0})
            seen[key] = res
            out.append(res)
    return out
