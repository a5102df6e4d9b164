"""The fast model of `capsim plan`: a fluid, two-stage stochastic MILP that proposes contract mixes.

"Propose fast, check exactly": fluid_inputs.py turns compiled worlds into per-slice arrays and this
module solves one mixed-integer LP (scipy.optimize.milp, HiGHS) per trade-off; the discrete-event
engine then checks what it proposes. Everything here is a pure function of its inputs.

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

from sim.planning.fluid_inputs import (
    FluidInputs,
    Sample,
    expected_wait_for_stock,
    fluid_inputs,
    headroom_price,
    mean_inputs,
)
from sim.planning.space import Decision
from sim.planning.stats import cvar

# ------------------------------------------------------------------------- public records


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
            time_limit: float = 120.0, mean_world: bool = False) -> list[FluidResult]:
    """Candidate plans: one solve per (λ, shortfall weight), minimising
    (1 − λ)·E[C] + λ·CVaR_alpha(C) with unserved demand priced × the weight; each reported at
    its true (weight 1) cost by `evaluate`, deduplicated by choice (the first label kept, the
    others appended). `solve_s` is the proposing solve's time plus the evaluation's; `stats`
    counts the solves that gave the choice and their time (`solves`, `propose_solve_s`).

    `levels` > 1 splits each slice into that many load levels (hours sorted by demand);
    `mip_gap` is HiGHS's relative gap. Size and time (openai_2025, 3 worlds × 2 replications,
    4 decisions): daily slices 88k columns, 51k rows, ~10 s a solve on a busy 2-core machine;
    weekly (`step_h=168`) 13k columns, 7.5k rows, ~1-2 s. `mean_world`: solve the
    expected-value problem instead, one sample of the samples' mean inputs (`mean_inputs`); each
    plan is still reported at its cost over the mean sample."""
    inputs, weights = _prepare(samples, step_h, levels)
    if mean_world:
        inputs, weights = [mean_inputs(inputs, weights)], np.ones(1)
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
