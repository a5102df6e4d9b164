"""Turn a validated scenario into what the engine runs: schedules in simulation hours, on the grid.

Everything random that does not depend on decisions (site slips, outages, spot reclaims, job
arrivals and sizes, demand noise) is drawn here, from streams keyed by position, so that all
policies of one replication face the same world.
Supply changes take effect at step boundaries, so rate demand is constant within a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

import numpy as np

from sim.engine import rng as streams
from sim.engine.demand import demand_series, service_demand
from sim.engine.procurement import (
    Contract,
    ask_for_block,
    availability_steps,
    caps_with_availability,
    contract_terms,
    price_function,
    price_per_step,
)
from sim.latency.inputs import LatencyInputs, latency_inputs
from sim.policies import PoolInfo
from sim.scenario.models import Distribution, JobTraits, Pool
from sim.scenario.scenario import Scenario
from sim.timeparse import format_hours, hours_between


@dataclass
class CompiledPool:
    """A pool's schedules: (hour, change) lists, all on the step grid."""

    info: PoolInfo
    installed: list[tuple[float, float, str]] = field(default_factory=list)  # (t, +units, label)
    caps: list[tuple[float, float]] = field(default_factory=list)  # (t, cap units)
    commits: list[tuple[float, float, float]] = field(default_factory=list)  # (t, +units, +$/h)
    outages: list[tuple[float, float, float, str]] = field(default_factory=list)  # start,end,share
    # On-demand price per step (empty: the list price throughout).
    price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Units of the shared capacity the market withholds per step (availability below the tenant
    # cap): where this is above 0, capacity this customer lacks is a stockout. Empty: never.
    withheld: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Unit failures: interruptions per unit-hour, the planned share of them, repair hours (a
    # mean, exponential, or a distribution).
    failure_rate: float = 0.0
    planned_share: float = 0.0
    repair: float | Distribution = 0.0


@dataclass(slots=True)
class CompiledJob:
    """A training run as the engine sees it."""

    index: int
    name: str
    source: str
    arrival: float
    units: int
    duration: float
    candidates: tuple[int, ...]
    native_family: str
    porting: float
    checkpoint_interval: float | None
    restart_overhead: float
    priority: int
    frontier: bool
    max_wait: float | None = None
    delay_cost_per_hour: float = 0.0  # value of service: dollars per hour it finishes late
    target_finish: float = math.nan  # hour it is wanted by (explicit runs), for the credit
    value_per_day_early: float = 0.0
    checkpoint_auto: bool = False  # interval chosen per start for the gang's failure rate
    checkpoint_stall: float = 0.0  # hours progress stalls per checkpoint write (sync share)
    spares: int = 0  # spare units held idle beside the gang
    hold: int = field(init=False, default=0)  # units it asks for and holds: gang and spares

    def __post_init__(self) -> None:
        self.hold = self.units + self.spares


def _checkpoint(traits: JobTraits) -> dict[str, object]:
    """The checkpoint and restart fields of a compiled job from a job's traits."""
    auto = traits.checkpoint_interval == "auto"
    return {"checkpoint_interval": None if auto else traits.checkpoint_interval,
            "restart_overhead": traits.restart.hours if traits.restart else traits.restart_overhead,
            "checkpoint_auto": auto,
            "checkpoint_stall": traits.checkpoint_write * (1.0 - traits.checkpoint_async),
            "spares": traits.spares}


@dataclass
class CompiledService:
    """Rate demand of one inference service or agent fleet, per step."""

    index: int
    name: str
    section: str
    demand: np.ndarray
    candidates: tuple[int, ...]
    compatible: tuple[int, ...]
    slo: float
    priority: int
    latency: LatencyInputs | None = None  # its requests' load and sizes, when latency is modelled


@dataclass
class Compiled:
    """The whole run, ready for the engine."""

    scenario: Scenario
    replication: int
    seed: int
    step: float
    n_steps: int
    pools: list[CompiledPool]
    jobs: list[CompiledJob]
    services: list[CompiledService]
    power: list[tuple[float, float]]  # (t, ceiling kW)
    notes: list[tuple[float, str, str, str, str]]  # events known up front: (t, kind, prov, pool, detail)
    provider_power: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # kW
    clipped: list[str] = field(default_factory=list)  # scenario dates past the horizon, left out
    contracts: list[Contract] = field(default_factory=list)  # every contract and block, as signed

    @property
    def end(self) -> float:
        return self.n_steps * self.step


def sample(dist: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` draws of a scenario distribution."""
    match dist.dist:
        case "fixed":
            return np.full(n, dist.value)
        case "exponential":
            return rng.exponential(dist.mean, n)
        case "lognormal":
            return dist.median * np.exp(dist.sigma * rng.standard_normal(n))
        case "uniform":
            return rng.uniform(dist.low, dist.high, n)
        case "choice":
            weights = None
            if dist.weights is not None:
                weights = np.asarray(dist.weights, dtype=float) / sum(dist.weights)
            return rng.choice(np.asarray(dist.values, dtype=float), size=n, p=weights)
    raise AssertionError(dist)


def tranche_offsets(ramp: float, increments: int) -> list[float]:
    """Hours after a site's online date at which its equal tranches arrive.

    The first tranche comes at the online date and the last at online + ramp, evenly spaced
    between (so the units-hours over the ramp equal those of a linear ramp); a site without a
    ramp arrives whole at its date, and one with a single tranche arrives whole at online + ramp.
    """
    if ramp <= 0:
        return [0.0]
    if increments == 1:
        return [ramp]
    return [ramp * i / (increments - 1) for i in range(increments)]


def job_candidates(s: Scenario, pools: list[PoolInfo], traits: JobTraits) -> tuple[int, ...]:
    """Pools a training job may use: family, accelerator and provider allowed."""
    return tuple(
        p.index
        for p in pools
        if p.family in traits.families
        and (traits.accelerators is None or p.accelerator in traits.accelerators)
        and (traits.providers is None or p.provider in traits.providers)
    )


def pool_infos(s: Scenario) -> list[PoolInfo]:
    """Static facts of every pool, in file order (provider, then pool)."""
    infos = []
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            acc = s.accelerators[pool.accelerator]
            infos.append(PoolInfo(
                index=len(infos), key=f"{pname}/{poolname}", provider=pname, name=poolname,
                accelerator=pool.accelerator, family=acc.family, train_speed=acc.train_speed,
                infer_speed=acc.infer_speed, power_kw=acc.power_kw,
                idle_power_share=acc.idle_power_share,
                price_per_hour=pool.price_per_hour, spot=pool.spot is not None,
            ))
    return infos


def compile_scenario(s: Scenario, replication: int = 0, seed: int | None = None) -> Compiled:
    """Schedules, jobs and demand of one replication of `s` (seed defaults to the scenario's)."""
    seed = s.seed if seed is None else seed
    step = s.step
    n_steps = max(1, math.ceil(s.horizon / step - 1e-9))
    end = n_steps * step

    def hours(moment: datetime) -> float:
        return hours_between(s.start, moment)

    def snap(h: float) -> float:
        return min(max(0.0, round(h / step) * step), end)

    infos = pool_infos(s)
    pools = [CompiledPool(info) for info in infos]
    notes: list[tuple[float, str, str, str, str]] = []
    clipped: list[str] = []
    contracts: list[Contract] = []

    def clip(moment: datetime, what: str) -> bool:
        """True (and a note for the run's metadata) if `moment` lies past the horizon."""
        if hours(moment) < end:
            return False
        clipped.append(f"{what} on {moment.isoformat(timespec='minutes').removesuffix('T00:00')} "
                       f"is after the horizon ({format_hours(s.start, end)}): left out")
        return True

    slip_rng = streams.stream(seed, replication, streams.SLIPS)
    delays = {name: (float(streams.stream(seed, replication, streams.PROGRAMMES, i)
                           .exponential(prog.slip_mean)) if prog.slip_mean > 0 else 0.0)
              for i, (name, prog) in enumerate(s.programmes.items())}
    for cp, (pname, poolname, pool) in zip(pools, _pool_specs(s), strict=True):
        where = f"{pname}/{poolname}"
        failures = pool.failures or s.accelerators[pool.accelerator].failures
        if failures is not None:
            cp.failure_rate, cp.planned_share, cp.repair = (
                failures.per_unit_hour, failures.planned_share, failures.repair)
        previous = 0.0
        for cstep in pool.capacity:
            if not clip(cstep.at, f"{where}: capacity step"):
                cp.installed.append((snap(hours(cstep.at)), cstep.units - previous, "schedule"))
            previous = cstep.units
        if pool.buildout:
            bo = pool.buildout
            shared = delays.get(bo.programme or "", 0.0)
            for site in bo.sites:
                slip_mean = bo.slip_mean if site.slip_mean is None else site.slip_mean
                # The site's own draw comes first and from the same stream as ever, so adding a
                # programme leaves every other draw of the replication as it was.
                slip = float(slip_rng.exponential(slip_mean)) if slip_mean > 0 else 0.0
                if clip(site.online, f"{where}: site {site.name}"):
                    continue
                slip += shared
                online = hours(site.online) + slip
                offsets = tranche_offsets(site.ramp, bo.ramp_increments)
                n = len(offsets)
                units = site.units
                kw = s.accelerators[pool.accelerator].power_kw
                if site.power_mw is not None and kw > 0 and site.power_mw * 1000.0 / kw < units:
                    # a site's feed powers this many units at full draw; the rest are stranded
                    units = site.power_mw * 1000.0 / kw
                    notes.append((snap(online), "site_power_limited", pname, poolname,
                                  f"site {site.name}: {site.power_mw:g} MW powers {units:,.0f} of "
                                  f"its {site.units:,.0f} units"))
                for i, offset in enumerate(offsets):
                    label = f"site {site.name}" + (f" tranche {i + 1}/{n}" if n > 1 else "")
                    if online + offset < end:
                        cp.installed.append((snap(online + offset), units / n, label))
                if slip > 0:
                    own = f"; {shared / 24:.1f} of them the programme's" if shared > 0 else ""
                    notes.append((snap(hours(site.online)), "site_slip", pname, poolname,
                                  f"site {site.name} slips {slip / 24:.1f} days{own}"))
        price_steps = [(hours(p.at), p.price_per_hour)
                       for p in (pool.prices.steps if pool.prices else [])
                       if not clip(p.at, f"{where}: price step")]
        price_at = price_function(pool.price_per_hour, pool.prices, price_steps)
        cp.price = price_per_step(pool.price_per_hour, pool.prices, price_steps, n_steps, step)
        shared_installed = [(t, d) for t, d, _ in cp.installed]
        block_installed = _blocks(cp, pool, pname, poolname, hours, snap, end, price_at,
                                  streams.stream(seed, replication, streams.BLOCKS, cp.info.index),
                                  notes, clipped, contracts, s)
        tenant = [(snap(hours(cap.at)), cap.units) for cap in pool.tenant_cap or []
                  if not clip(cap.at, f"{where}: tenant cap")]
        if pool.availability is None and (not block_installed or pool.tenant_cap is None):
            cp.caps += tenant
        else:
            share = [(snap(t), v) for t, v in availability_steps(
                pool.availability, hours, end,
                streams.stream(seed, replication, streams.AVAILABILITY, cp.info.index))
            ] if pool.availability else []
            if pool.availability and pool.availability.series:
                for point in pool.availability.series:
                    clip(point.at, f"{where}: availability")
            withheld = np.zeros(n_steps)
            rows = caps_with_availability(shared_installed, block_installed,
                                          tenant if pool.tenant_cap is not None else None, share)
            for j, (t, cap, held) in enumerate(rows):
                cp.caps.append((t, cap))
                k_end = round(rows[j + 1][0] / step) if j + 1 < len(rows) else n_steps
                withheld[round(t / step):k_end] = held
            cp.withheld = withheld
        for i, c in enumerate(pool.commitments):
            c0 = hours(c.start)
            length = c.hours
            contracts.append(Contract(pname, poolname, "commitment", c0, c0 + length, c.units,
                                      c.price_per_hour, c.on_end))
            if clip(c.start, f"{where}: commitment {i + 1}"):
                continue
            if c.on_end == "lapse" and c0 + length > end:
                clipped.append(f"{where}: commitment {i + 1} runs to "
                               f"{format_hours(s.start, c0 + length).removesuffix('T00:00')}, "
                               f"after the horizon: billed to the horizon only")
            _add_terms(cp, contract_terms(c0, length, c.price_per_hour, c.on_end, end, price_at),
                       c.units, snap, end, notes, pname, poolname)
        if pool.outages:
            rel = pool.outages
            cp.outages += _random_intervals(
                streams.stream(seed, replication, streams.OUTAGES, cp.info.index),
                rel.mtbf, rel.mttr, rel.share, "outage", end, snap, step)
        if pool.spot and s.preemption.spot_reclaim:
            sp = pool.spot
            cp.outages += _random_intervals(
                streams.stream(seed, replication, streams.SPOT, cp.info.index),
                sp.reclaim_mtbf, sp.reclaim_duration, sp.reclaim_share, "spot_reclaim", end,
                snap, step)
    _group_outages(s, pools, seed, replication, end, snap, step)
    for i, outage in enumerate(s.outages):
        if clip(outage.start, f"scheduled outage {i + 1} ({outage.provider})"):
            continue
        t0 = snap(hours(outage.start))
        t1 = max(t0 + step, snap(hours(outage.start) + outage.duration))
        for cp in pools:
            if cp.info.provider == outage.provider and outage.pool in (None, cp.info.name):
                cp.outages.append((t0, min(t1, end), outage.share, "scheduled_outage"))
    for cp in pools:
        cp.installed.sort(key=lambda x: x[0])
        cp.caps.sort(key=lambda x: x[0])
        cp.commits.sort(key=lambda x: (x[0], x[1] > 0))  # a renewal: the old term ends first
        cp.outages.sort()
    for job in s.training.jobs:
        clip(job.arrival, f"training job {job.name}: arrival")
    for gname, gen in s.training.generators.items():
        if gen.start is not None:
            clip(gen.start, f"training generator {gname}: start")
    for section in ("inference", "agents"):
        for name, svc in getattr(s, section).items():
            for sp in svc.spikes:
                clip(sp.at, f"{section} {name}: spike")
    notes = [n for n in notes if n[0] < end]
    jobs = _jobs(s, infos, seed, replication, end)
    services = _services(s, infos, seed, replication, n_steps, step)
    power: list[tuple[float, float]] = []
    provider_power: dict[str, list[tuple[float, float]]] = {}
    if s.power:
        power = [(snap(hours(p.at)), p.mw * 1000.0) for p in s.power.ceiling
                 if not clip(p.at, "power ceiling step")]
        provider_power = {name: [(snap(hours(p.at)), p.mw * 1000.0) for p in steps
                                 if not clip(p.at, f"power ceiling step of {name}")]
                          for name, steps in s.power.providers.items()}
    return Compiled(s, replication, seed, step, n_steps, pools, jobs, services, power, notes,
                    provider_power, clipped, contracts)


def _add_terms(cp: CompiledPool, terms: list[tuple[float, float, float]], units: float,
               snap: Any, end: float, notes: list[tuple[float, str, str, str, str]],
               pname: str, poolname: str) -> None:
    """Commitment events of a contract's terms inside the run: start, renewals, end."""
    for j, (a, b, price) in enumerate(terms):
        cp.commits.append((snap(a), units, units * price))
        if j > 0:
            notes.append((snap(a), "commitment_renewed", pname, poolname,
                          f"{units:g} units renewed at ${price:.4g}/h"))
        if b < end:
            cp.commits.append((snap(b), -units, -units * price))


def _blocks(cp: CompiledPool, pool: Pool, pname: str, poolname: str, hours: Any, snap: Any,
            end: float, price_at: Any, rng: np.random.Generator,
            notes: list[tuple[float, str, str, str, str]], clipped: list[str],
            contracts: list[Contract], s: Scenario) -> list[tuple[float, float]]:
    """Blocks ordered from the pool's offer: asked for, had (or refused), online after the lead
    time, billed from then for their term. Returns the blocks' (hour, +units) installed changes."""
    if pool.blocks is None:
        return []
    b = pool.blocks
    changes: list[tuple[float, float]] = []
    for i, order in enumerate(b.orders):
        t_order = hours(order.at)
        term = order.term if order.term is not None else b.min_term
        if t_order >= end:
            clipped.append(f"{pname}/{poolname}: block order {i + 1} on "
                           f"{format_hours(s.start, t_order)} is after the horizon: left out")
            continue
        notes.append((snap(t_order), "block_ordered", pname, poolname,
                      f"order {i + 1}: {order.count} x {b.size:g} units, lead time "
                      f"{b.lead_time / 24:g} days, term {term / 24:g} days"))
        for k in range(order.count):
            got = ask_for_block(b, t_order, end, rng)
            name = f"block {k + 1}/{order.count} of order {i + 1}"
            for t in got.asks_out_of_stock:
                notes.append((snap(t), "block_stockout", pname, poolname,
                              f"{name}: out of stock, asking again in {b.retry / 24:g} days"))
            if got.refused:
                notes.append((snap(got.asks_out_of_stock[-1]), "block_refused", pname, poolname,
                              f"{name}: refused (stockout), not had within "
                              f"{(b.max_wait or 0) / 24:g} days"))
            if math.isnan(got.had):
                continue
            online = got.had + b.lead_time
            contracts.append(Contract(pname, poolname, "block", online, online + term, b.size,
                                      b.price_per_hour, b.on_end))
            terms = contract_terms(online, term, b.price_per_hour, b.on_end, end, price_at)
            if not terms:
                continue  # online only after the horizon
            cp.installed.append((snap(online), b.size, name))
            changes.append((snap(online), b.size))
            last_end = terms[-1][1]
            if b.on_end == "lapse" and last_end < end:
                cp.installed.append((snap(last_end), -b.size, f"{name} lapses"))
                changes.append((snap(last_end), -b.size))
            _add_terms(cp, terms, b.size, snap, end, notes, pname, poolname)
    return changes


def _group_outages(s: Scenario, pools: list[CompiledPool], seed: int, replication: int,
                   end: float, snap: Any, step: float) -> None:
    """Outages of a whole provider or region: one draw, every pool in it hit at once."""
    for i, (pname, provider) in enumerate(s.providers.items()):
        groups = [("provider_outage", None, provider.outages)] + [
            ("region_outage", rname, region.outages) for rname, region in provider.regions.items()]
        for j, (kind, region, rel) in enumerate(groups):
            if rel is None:
                continue
            rng = streams.stream(seed, replication, streams.REGIONS, i * 1000 + j)
            hit = [cp for cp, (_, _, pool) in zip(pools, _pool_specs(s), strict=True)
                   if cp.info.provider == pname and (region is None or pool.region == region)]
            for interval in _random_intervals(rng, rel.mtbf, rel.mttr, rel.share, kind, end,
                                              snap, step):
                for cp in hit:
                    cp.outages.append(interval)


def _pool_specs(s: Scenario):  # type: ignore[no-untyped-def]
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            yield pname, poolname, pool


def _random_intervals(rng: np.random.Generator, mtbf: float, mttr: float, share: float, kind: str,
                      end: float, snap, step: float) -> list[tuple[float, float, float, str]]:  # type: ignore[no-untyped-def]
    out = []
    t = float(rng.exponential(mtbf))
    while t < end:
        repair = float(rng.exponential(mttr))
        t0 = snap(t)
        t1 = max(t0 + step, snap(t + repair))
        if t0 < end:
            out.append((t0, min(t1, end), share, kind))
        t += repair + float(rng.exponential(mtbf))
    return out


def _jobs(s: Scenario, infos: list[PoolInfo], seed: int, replication: int,
          end: float) -> list[CompiledJob]:
    jobs: list[CompiledJob] = []
    for job in s.training.jobs:
        if hours_between(s.start, job.arrival) >= end:
            continue  # past the horizon: clipped (noted by the caller)
        jobs.append(CompiledJob(
            0, job.name, "explicit", hours_between(s.start, job.arrival), job.units, job.duration,
            job_candidates(s, infos, job), job.native_family, job.porting,
            priority=job.priority, frontier=job.frontier, max_wait=job.max_wait,
            delay_cost_per_hour=job.delay_cost_per_hour,
            target_finish=hours_between(s.start, job.target_finish) if job.target_finish else math.nan,
            value_per_day_early=job.value_per_day_early, **_checkpoint(job)))  # type: ignore[arg-type]
    for g, (gname, gen) in enumerate(s.training.generators.items()):
        rng = streams.stream(seed, replication, streams.ARRIVALS, g)
        t0 = hours_between(s.start, gen.start) if gen.start else 0.0
        t1 = min(hours_between(s.start, gen.end), end) if gen.end else end
        if t1 <= t0:
            continue  # starts after the horizon (clipped, noted by the caller)
        mean_gap = 24.0 / gen.arrivals_per_day
        expected = (t1 - t0) / mean_gap
        n = int(expected + 6 * math.sqrt(expected) + 16)
        times = t0 + np.cumsum(rng.exponential(mean_gap, n))
        while times[-1] < t1:  # practically never: top up rather than truncate the process
            times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(mean_gap, n))])
        times = times[times < t1]
        units = np.maximum(1, np.rint(sample(gen.units, rng, len(times)))).astype(int)
        durations = np.maximum(sample(gen.duration, rng, len(times)), 1e-9)
        # One generator's runs share their traits: look them up once, not per run.
        candidates = job_candidates(s, infos, gen)
        traits = {"native_family": gen.native_family, "porting": gen.porting, "priority": gen.priority,
                  "frontier": False, "max_wait": gen.max_wait,
                  "delay_cost_per_hour": gen.delay_cost_per_hour, **_checkpoint(gen)}
        jobs.extend(CompiledJob(0, f"{gname}-{i}", gname, t, u, d, candidates, **traits)  # type: ignore[arg-type]
                    for i, (t, u, d) in enumerate(zip(times.tolist(), units.tolist(),
                                                      durations.tolist(), strict=True), start=1))
    # In order of arrival, then name. Arrival times almost never tie: order by them with
    # numpy, and fall back to comparing (arrival, name) only when two do.
    arrivals = np.fromiter((job.arrival for job in jobs), float, len(jobs))
    order = np.argsort(arrivals, kind="stable")
    if len(jobs) > 1 and not (np.diff(arrivals[order]) > 0).all():
        jobs.sort(key=attrgetter("arrival", "name"))
    else:
        jobs = [jobs[i] for i in order.tolist()]
    for i, job in enumerate(jobs):
        job.index = i
    return jobs


def _services(s: Scenario, infos: list[PoolInfo], seed: int, replication: int, n_steps: int,
              step: float) -> list[CompiledService]:
    times = np.arange(n_steps) * step
    hour0 = s.start.hour + s.start.minute / 60.0
    services = []
    for section, default_families in (("inference", ("gpu", "tpu")), ("agents", ("cpu",))):
        for name, svc in getattr(s, section).items():
            idx = len(services)
            families = tuple(svc.families or default_families)
            compatible = tuple(p.index for p in infos if p.family in families)
            allowed = tuple(i for i in compatible
                            if svc.providers is None or infos[i].provider in svc.providers)
            spikes = [hours_between(s.start, sp.at) for sp in svc.spikes]
            noise = streams.stream(seed, replication, streams.DEMAND, idx)
            if svc.trace is None:
                demand = demand_series(svc, times, hour0, s.start.weekday(), spikes, noise)
            else:
                demand = service_demand(svc, times, step, hour0, s.start.weekday(), spikes, noise)
            latency = None
            if svc.latency is not None:  # the fleet asked for has headroom: load ÷ target
                latency = latency_inputs(svc, demand, step)
                demand = demand / svc.latency.target_utilisation
            services.append(CompiledService(idx, name, section, demand, allowed, compatible,
                                            svc.slo, svc.priority, latency))
    return services


# ---------------------------------------------------------------- size before work

MEMORY_LIMIT_BYTES = 4 << 30
"""What a run (or a compare or sweep) may be estimated to need before `--force` is required."""
_STEP_POOL_BYTES = 700  # one step × pool: engine arrays, steps table row (tiny, 5 y at 10 min:
# 262,800 steps × 3 pools and 3 services peaked at 0.9 GB)
_STEP_SERVICE_BYTES = 400  # one step × service: demand, served, unmet by reason, SLO
_JOB_BYTES = 1000  # one training run: compiled job, queue entry, jobs row, events
_INTERVAL_BYTES = 500  # one outage or reclaim: its interval and events
_RUN_BYTES = 50_000  # what a compare or sweep keeps of each run: its metrics and summary


_HINTS = {"horizon": "use a longer step or a shorter horizon, ",
          "arrivals_per_day": "use a lower rate or a shorter window, ",
          "mtbf": "use a longer mean time between failures, ",
          "reclaim_mtbf": "use a longer mean time between reclaims, "}


@dataclass(frozen=True)
class SizeProblem:
    """A part of a scenario (or of a request for many runs) estimated to need too much memory."""

    path: tuple[str, ...]  # the field (or the command-line option, `--replications`) behind it
    message: str


def _gb(n: float) -> str:
    return f"{n / (1 << 30):,.1f} GB" if n >= 1 << 30 else f"{n / (1 << 20):,.0f} MB"


def size_problems(s: Scenario, runs: int = 1, runs_option: str = "--replications",
                  limit: int | None = None) -> list[SizeProblem]:
    """What makes one run of `s`, or `runs` runs of it, need more than `limit` bytes (estimated
    from steps × pools, expected generated jobs and outages), checked before anything is
    allocated. Empty when it fits; the CLI's `--force` skips the check."""
    limit = MEMORY_LIMIT_BYTES if limit is None else limit
    n_steps = max(1, math.ceil(s.horizon / s.step - 1e-9))
    pools = sum(len(p.pools) for p in s.providers.values())
    services = len(s.inference) + len(s.agents)
    parts: list[tuple[float, tuple[str, ...], str]] = [
        (n_steps * (pools * _STEP_POOL_BYTES + services * (_STEP_SERVICE_BYTES + 8 * pools)),
         ("horizon",), f"{n_steps:,} steps of {s.step:g} h × {pools} pools"
         + (f" and {services} services" if services else "")),
    ]
    for gname, gen in s.training.generators.items():
        t0 = hours_between(s.start, gen.start) if gen.start else 0.0
        t1 = hours_between(s.start, gen.end) if gen.end else s.horizon
        expected = max(0.0, min(t1, s.horizon) - t0) / 24.0 * gen.arrivals_per_day
        parts.append((expected * _JOB_BYTES, ("training", "generators", gname, "arrivals_per_day"),
                      f"about {expected:,.0f} generated training runs"))
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            for key, rel in (("outages", pool.outages), ("spot", pool.spot)):
                if rel is None:
                    continue
                up, down = ((rel.mtbf, rel.mttr) if key == "outages" else
                            (rel.reclaim_mtbf, rel.reclaim_duration))  # type: ignore[union-attr]
                expected = s.horizon / (up + down)
                field_name = "mtbf" if key == "outages" else "reclaim_mtbf"
                parts.append((expected * _INTERVAL_BYTES,
                              ("providers", pname, "pools", poolname, key, field_name),
                              f"about {expected:,.0f} random {key}"))
    per_run = sum(p[0] for p in parts)
    problems = []
    if per_run > limit:
        size, path, what = max(parts)
        problems.append(SizeProblem(path, (
            f"{what} need about {_gb(size)} in one run (all of it: {_gb(per_run)}), more than "
            f"the {_gb(limit)} allowed; {_HINTS.get(path[-1], '')}"
            "or use --force to run it anyway")))
    if runs > 1 and runs * _RUN_BYTES > limit:
        problems.append(SizeProblem((runs_option,), (
            f"{runs:,} runs keep about {_gb(runs * _RUN_BYTES)} of results, more than the "
            f"{_gb(limit)} allowed; ask for fewer, or use --force")))
    return problems
