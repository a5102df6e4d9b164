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

import numpy as np

from sim.engine import rng as streams
from sim.engine.demand import demand_series
from sim.engine.trace import service_demand
from sim.latency.inputs import LatencyInputs, latency_inputs
from sim.policies import PoolInfo
from sim.scenario.models import Distribution, JobTraits, Scenario
from sim.timeparse import hours_between

INF = math.inf


@dataclass
class CompiledPool:
    """A pool's schedules: (hour, change) lists, all on the step grid."""

    info: PoolInfo
    installed: list[tuple[float, float, str]] = field(default_factory=list)  # (t, +units, label)
    caps: list[tuple[float, float]] = field(default_factory=list)  # (t, cap units)
    commits: list[tuple[float, float, float]] = field(default_factory=list)  # (t, +units, +$/h)
    outages: list[tuple[float, float, float, str]] = field(default_factory=list)  # start,end,share


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
    slip_rng = streams.stream(seed, replication, streams.SLIPS)
    for cp, (pname, poolname, pool) in zip(pools, _pool_specs(s), strict=True):
        previous = 0.0
        for cstep in pool.capacity:
            cp.installed.append((snap(hours(cstep.at)), cstep.units - previous, "schedule"))
            previous = cstep.units
        if pool.buildout:
            bo = pool.buildout
            for site in bo.sites:
                slip_mean = bo.slip_mean if site.slip_mean is None else site.slip_mean
                slip = float(slip_rng.exponential(slip_mean)) if slip_mean > 0 else 0.0
                online = hours(site.online) + slip
                n = bo.ramp_increments if site.ramp > 0 else 1
                for i in range(n):
                    t = snap(online + site.ramp * i / n)
                    label = f"site {site.name}" + (f" tranche {i + 1}/{n}" if n > 1 else "")
                    if online + site.ramp * i / n < end:
                        cp.installed.append((t, site.units / n, label))
                if slip > 0:
                    notes.append((snap(hours(site.online)), "site_slip", pname, poolname,
                                  f"site {site.name} slips {slip / 24:.1f} days"))
        for cap in pool.tenant_cap or []:
            cp.caps.append((snap(hours(cap.at)), cap.units))
        for c in pool.commitments:
            c0, c1 = hours(c.start), hours(c.start) + c.term
            if c1 <= 0 or c0 >= end:
                continue
            cp.commits.append((snap(c0), c.units, c.units * c.price_per_hour))
            if c1 < end:
                cp.commits.append((snap(c1), -c.units, -c.units * c.price_per_hour))
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
    for outage in s.outages:
        t0 = snap(hours(outage.start))
        t1 = max(t0 + step, snap(hours(outage.start) + outage.duration))
        for cp in pools:
            if cp.info.provider == outage.provider and outage.pool in (None, cp.info.name):
                cp.outages.append((t0, min(t1, end), outage.share, "scheduled_outage"))
    for cp in pools:
        cp.installed.sort(key=lambda x: x[0])
        cp.outages.sort()

    jobs = _jobs(s, infos, seed, replication, end)
    services = _services(s, infos, seed, replication, n_steps, step)
    power: list[tuple[float, float]] = []
    if s.power:
        power = [(snap(hours(p.at)), p.mw * 1000.0) for p in s.power.ceiling]
    return Compiled(s, replication, seed, step, n_steps, pools, jobs, services, power, notes)


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
        jobs.append(CompiledJob(
            0, job.name, "explicit", hours_between(s.start, job.arrival), job.units, job.duration,
            job_candidates(s, infos, job), job.native_family, job.porting,
            job.checkpoint_interval, job.restart_overhead, job.priority, job.frontier, job.max_wait))
    for g, (gname, gen) in enumerate(s.training.generators.items()):
        rng = streams.stream(seed, replication, streams.ARRIVALS, g)
        t0 = hours_between(s.start, gen.start) if gen.start else 0.0
        t1 = hours_between(s.start, gen.end) if gen.end else end
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
        traits = (gen.native_family, gen.porting, gen.checkpoint_interval, gen.restart_overhead,
                  gen.priority, False, gen.max_wait)
        jobs.extend(CompiledJob(0, f"{gname}-{i}", gname, t, u, d, candidates, *traits)
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
