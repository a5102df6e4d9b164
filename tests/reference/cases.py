"""Random small cases described once and handed to both simulators: as a capsim scenario (a dict
the scenario loader validates) and as the reference simulator's `World`, with the same draws.

A case is plain data (hours on the step grid, arrivals to the minute), so a failing example
prints as something one can read and rebuild by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference.refsim import JobSpec, Outage, Pool, Service, World

START = datetime(2025, 1, 1)
FAMILIES = {"g": "gpu", "t": "tpu"}


@dataclass(frozen=True)
class PoolCase:
    provider: str
    accelerator: str  # "g" (gpu) or "t" (tpu)
    price: float
    capacity: tuple[tuple[int, int], ...]  # (step, units), the first at step 0
    caps: tuple[tuple[int, int], ...]  # (step, tenant cap)


@dataclass(frozen=True)
class JobCase:
    arrival_min: int
    units: int
    work_min: int
    families: tuple[str, ...]
    priority: int
    checkpoint_min: int | None
    restart_min: int
    porting_min: int


@dataclass(frozen=True)
class OutageCase:
    provider: str
    pool: str | None
    start_step: int
    steps: int
    share: float


@dataclass(frozen=True)
class ServiceCase:
    base: float
    amplitude: float
    peak_hour: int
    priority: int
    provider: str | None
    spike: tuple[int, float, int] | None = None  # (step, multiplier at the peak, fade in steps)


@dataclass(frozen=True)
class Case:
    seed: int
    step: float
    n_steps: int
    speeds: dict[str, tuple[float, float]]  # accelerator: (train, infer)
    pools: tuple[PoolCase, ...]
    jobs: tuple[JobCase, ...]
    outages: tuple[OutageCase, ...]
    service: ServiceCase | None
    preempt: bool
    backfill: bool
    reserve_steps: int

    def pool_name(self, i: int) -> str:
        return f"pool{i}"


def _when(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def demand(case: Case) -> tuple[float, ...]:
    """The service's level per step: base x (1 + amplitude x cos(2 pi (hour - peak) / 24)),
    hour of day at the step's start (the scenario starts at midnight), times a launch spike's
    factor: its multiplier at the spike, fading linearly to 1 over its duration."""
    svc = case.service
    assert svc is not None
    times = np.arange(case.n_steps) * case.step
    clock = times % 24.0
    level = svc.base * (1.0 + svc.amplitude * np.cos(2 * np.pi * (clock - svc.peak_hour) / 24))
    if svc.spike is not None:
        at, multiplier, steps = svc.spike
        since = times - at * case.step
        fade = np.clip(1.0 - since / (steps * case.step), 0.0, 1.0) * (since >= 0)
        level = level * (1.0 + (multiplier - 1.0) * fade)
    return tuple(float(x) for x in level)


def to_scenario(case: Case) -> dict[str, Any]:
    """The case as capsim scenario data, every random thing written out explicitly."""
    step = case.step
    providers: dict[str, Any] = {}
    for i, p in enumerate(case.pools):
        pool: dict[str, Any] = {
            "accelerator": p.accelerator, "price_per_hour": p.price,
            "capacity": [{"at": _when(k * step * 60), "units": u} for k, u in p.capacity],
        }
        if p.caps:
            pool["tenant_cap"] = [{"at": _when(k * step * 60), "units": u} for k, u in p.caps]
        providers.setdefault(p.provider, {"pools": {}})["pools"][case.pool_name(i)] = pool
    jobs = []
    for n, j in enumerate(case.jobs):
        job: dict[str, Any] = {
            "name": f"j{n:02d}", "arrival": _when(j.arrival_min), "units": j.units,
            "duration": j.work_min / 60, "families": list(j.families), "priority": j.priority,
            "restart_overhead": j.restart_min / 60, "porting": j.porting_min / 60,
        }
        if j.checkpoint_min is not None:
            job["checkpoint_interval"] = j.checkpoint_min / 60
        jobs.append(job)
    data: dict[str, Any] = {
        "name": "reference", "start": START.isoformat(), "horizon": case.n_steps * step,
        "step": step, "seed": case.seed,
        "accelerators": {a: {"family": FAMILIES[a], "train_speed": ts, "infer_speed": inf,
                             "power_kw": 1.0} for a, (ts, inf) in case.speeds.items()},
        "providers": providers,
        "outages": [{"provider": o.provider, **({"pool": o.pool} if o.pool else {}),
                     "start": _when(o.start_step * step * 60), "duration": o.steps * step,
                     "share": o.share} for o in case.outages],
        "training": {"jobs": jobs},
        "policy": {"default": "cheapest_first"},
        "preemption": {"inference_preempts_training": case.preempt, "spot_reclaim": False},
        "scheduling": {"backfill": case.backfill, "inference_reserve": case.reserve_steps * step},
    }
    if case.service is not None:
        svc = case.service
        data["inference"] = {"chat": {
            "base_units": svc.base, "daily_amplitude": svc.amplitude, "peak_hour": svc.peak_hour,
            "priority": svc.priority, **({"providers": [svc.provider]} if svc.provider else {}),
        }}
        if svc.spike is not None:
            at, multiplier, steps = svc.spike
            data["inference"]["chat"]["spikes"] = [
                {"at": _when(at * step * 60), "multiplier": multiplier, "duration": steps * step}]
    return data


def to_world(case: Case) -> World:
    """The same case as the reference simulator's input."""
    step = case.step
    end = case.n_steps * step
    pools = tuple(
        Pool(p.provider, case.pool_name(i), FAMILIES[p.accelerator], *case.speeds[p.accelerator],
             p.price, tuple((k * step, float(u)) for k, u in p.capacity),
             tuple((k * step, float(u)) for k, u in p.caps))
        for i, p in enumerate(case.pools))
    outages = tuple(
        Outage(i, o.start_step * step, min(end, (o.start_step + o.steps) * step), o.share)
        for o in case.outages for i, p in enumerate(case.pools)
        if p.provider == o.provider and o.pool in (None, case.pool_name(i)))
    jobs = tuple(
        JobSpec(f"j{n:02d}", j.arrival_min / 60, j.units, j.work_min / 60,
                frozenset(j.families), j.priority,
                None if j.checkpoint_min is None else j.checkpoint_min / 60,
                j.restart_min / 60, "gpu", j.porting_min / 60)
        for n, j in enumerate(case.jobs))
    service = None
    if case.service is not None:
        allowed = tuple(i for i, p in enumerate(case.pools)
                        if case.service.provider in (None, p.provider))
        service = Service(demand(case), allowed, case.service.priority)
    return World(case.step, case.n_steps, pools, jobs, outages, service, case.preempt,
                 case.backfill, case.reserve_steps)


def interrupt_draws(seed: int) -> Any:
    """The joint draws capsim uses for outage hits: multivariate hypergeometric draws from the
    INTERRUPTS stream (source 4) of replication 0, derived as sim/engine/rng.py documents:
    SeedSequence(seed, (rep, source, 0))."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(0, 4, 0))
    return np.random.Generator(np.random.PCG64(ss)).multivariate_hypergeometric


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """1-2 providers, 1-3 pools, 1-12 runs, 0-3 scripted outages, tenant-cap steps, maybe one
    inference service above or below training's priorities, preemption and backfill on or off."""
    step = draw(st.sampled_from([1.0, 2.0]))
    n = draw(st.integers(12, 60))
    speeds = {a: (draw(st.sampled_from([0.5, 0.8, 1.0, 1.5])), draw(st.sampled_from([0.7, 1.0, 1.3])))
              for a in ("g", "t")}
    n_providers = draw(st.integers(1, 2))
    n_pools = draw(st.integers(n_providers, 3))
    providers = [f"p{i}" for i in range(n_providers)]
    owners = providers + [draw(st.sampled_from(providers)) for _ in range(n_pools - n_providers)]
    sizes = st.integers(0, 48)
    when = st.integers(1, n - 1)
    pools = tuple(
        PoolCase(
            owner, draw(st.sampled_from(["g", "t"])), draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])),
            ((0, draw(st.integers(1, 48))),
             *draw(st.lists(st.tuples(when, sizes), max_size=1))),
            tuple(sorted(draw(st.lists(st.tuples(st.integers(0, n - 1), sizes), max_size=2)))),
        ) for owner in owners)
    horizon_min = int(n * step * 60)
    # Sizes: any, or exactly a pool's first level (a run that just fits an empty pool).
    units = st.integers(1, 40) | st.sampled_from([p.capacity[0][1] for p in pools])
    jobs = tuple(
        JobCase(
            draw(st.integers(0, horizon_min - 1)), draw(units),
            draw(st.integers(10, 40 * 60)),
            draw(st.sampled_from([("gpu",), ("tpu",), ("gpu", "tpu")])), draw(st.integers(1, 9)),
            draw(st.none() | st.integers(15, 8 * 60)), draw(st.sampled_from([0, 10, 45, 90])),
            draw(st.sampled_from([0, 0, 60, 150])),
        ) for _ in range(draw(st.integers(1, 12))))
    pool_names = [f"pool{i}" for i in range(n_pools)]
    outages = []
    for _ in range(draw(st.sampled_from([0, 1, 2, 3, 3]))):
        target = draw(st.none() | st.sampled_from(pool_names))
        provider = owners[int(target[4:])] if target else draw(st.sampled_from(providers))
        outages.append(OutageCase(provider, target, draw(st.integers(0, n - 2)),
                                  draw(st.integers(1, n)),
                                  draw(st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0]))))
    # Mostly with rate demand, a launch spike and preemption on, so that demand often outgrows
    # what training left it and evicts runs.
    often = st.sampled_from([True, True, True, False])
    spike = st.tuples(st.integers(1, n - 1), st.sampled_from([1.5, 3.0, 6.0]), st.integers(1, 12))
    service = None
    if draw(often):
        service = ServiceCase(
            # A share of the first levels, to the half unit: room is left for training.
            max(0.5, round(draw(st.sampled_from([0.05, 0.1, 0.2, 0.4, 0.8]))
                           * sum(p.capacity[0][1] for p in pools) * 2) / 2),
            draw(st.sampled_from([0.0, 0.3, 0.7])),
            draw(st.integers(0, 23)), draw(st.integers(0, 10) | st.just(10)),
            draw(st.none() | st.sampled_from(providers)), draw(spike) if draw(often) else None)
    return Case(draw(st.integers(0, 2**16)), step, n, speeds, pools, jobs, tuple(outages),
                service, draw(often), draw(st.booleans()), draw(st.integers(1, 24)))


def interrupted_without_steps(case: Case) -> bool:
    """Could a run be interrupted by a supply change in a case without rate demand? There,
    capsim before the lead's change runs no queue pass at the interruption (see the report)."""
    return case.service is None and (bool(case.outages) or any(p.caps or len(p.capacity) > 1
                                                               for p in case.pools))


def close(a: float, b: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return abs(a - b) <= 1e-6
