"""Tidy tables from an engine run: one row per step and pool, job, step and service, and event."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.engine.simulation import RawRun
from sim.results.latency import COLUMNS as LATENCY_COLUMNS
from sim.results.latency import ServiceLatency, lost_load, service_latency
from sim.results.latency import slo_met as latency_slo_met


def _stamp(df: pd.DataFrame, raw: RawRun) -> pd.DataFrame:
    c = raw.compiled
    df.insert(0, "seed", c.seed)
    df.insert(0, "replication", c.replication)
    df.insert(0, "policy", raw.policy)
    df.insert(0, "scenario", c.scenario.name)
    return df


def _times(raw: RawRun, hours: np.ndarray) -> pd.Series:
    start = pd.Timestamp(raw.compiled.scenario.start)
    return start + pd.to_timedelta(np.asarray(hours, dtype=float), unit="h")


def _text(values: list[str], which: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The text column whose row i is `values[which[i]]`: a few strings taken by index, not
    a long object array converted string by string (a third of the steps table's time)."""
    return pd.array(values, dtype="str").take(which)


def steps_table(raw: RawRun) -> pd.DataFrame:
    """Per step and pool: capacity, use by kind, idle, commitments, spend and power.

    Rows run by step, then provider and pool. Every column is worked out as one (steps x
    pools) array with the pools in that order, and flattened: no sort, and no per-pool
    pieces to stitch together, which on runs of several years cost more than all the rest.
    """
    c = raw.compiled
    n, step = c.n_steps, c.step
    pools = sorted(raw.pools, key=lambda p: (p.info.provider, p.info.name))
    m = len(pools)
    at = [p.index for p in pools]

    which = np.tile(np.arange(m), n)  # the pool of each row

    def per_pool(values: list[str]) -> pd.api.extensions.ExtensionArray:  # on every row
        return _text(values, which)

    # The numbers are written straight into one (columns x steps x pools) block that pandas
    # keeps as it is: few temporaries, as fresh memory is what a long run's table costs most.
    names = ["installed", "outage_lost", "in_repair", "tenant_cap", "capacity", "training", "inference",
             "agents", "in_use", "idle", "committed", "committed_used", "price_per_hour",
             "spend_on_demand", "spend_committed", "spend", "power_mw", "installed_mw"]
    block = np.zeros((len(names), n * m))  # zeros: rows before a pool's first log entry
    (installed, outage_lost, in_repair, cap, capacity, training, inference, agents, in_use, idle,
     committed, committed_used, price, spend_on_demand, spend_committed, spend,
     power_mw, installed_mw) = (row.reshape(n, m) for row in block)
    lost = np.zeros((n, m))
    commit_rate = np.zeros((n, m))
    for i, p in enumerate(pools):  # supply, from each pool's change log
        log = p.supply_log
        for j, (k, *values) in enumerate(log):
            k_end = log[j + 1][0] if j + 1 < len(log) else n
            (installed[k:k_end, i], lost[k:k_end, i], cap[k:k_end, i], committed[k:k_end, i],
             commit_rate[k:k_end, i]) = values
    np.minimum(lost, installed, out=outage_lost)
    # Failed units out for repair: the step's mean (they come and go inside a step).
    np.divide(np.array([p.repair_acc for p in pools], dtype=float).reshape(m, n).T, step,
              out=in_repair)
    # max(0, min(installed - lost - in repair, cap)): with the cap binding, the cap applied to
    # the step's mean, never below the mean of what was available.
    np.subtract(installed, lost, out=capacity)
    np.subtract(capacity, in_repair, out=capacity)
    np.minimum(capacity, cap, out=capacity)
    np.maximum(0.0, capacity, out=capacity)
    np.divide(np.array([p.train_acc for p in pools], dtype=float).reshape(m, n).T, step,
              out=training)
    np.take(raw.infer_steps, at, axis=1, out=inference)
    np.take(raw.agent_steps, at, axis=1, out=agents)
    np.add(training, inference, out=in_use)
    np.add(in_use, agents, out=in_use)
    np.subtract(capacity, in_use, out=idle)
    overage = np.array([p.over_acc for p in pools], dtype=float).reshape(m, n).T / step
    np.subtract(in_use, overage, out=committed_used)
    np.minimum(committed_used, committed, out=committed_used)
    for i, p in enumerate(pools):  # the on-demand price in force in each step
        schedule = c.pools[p.index].price
        price[:, i] = schedule if len(schedule) == n else p.price
    np.multiply(overage, step, out=spend_on_demand)
    np.multiply(spend_on_demand, price, out=spend_on_demand)
    np.multiply(commit_rate, step, out=spend_committed)
    np.add(spend_on_demand, spend_committed, out=spend)
    # Every available unit draws its idle share, a unit in use the rest on top.
    np.multiply(in_use, np.array([p.kw_busy for p in pools], dtype=float), out=power_mw)
    power_mw += capacity * np.array([p.kw_idle for p in pools], dtype=float)
    np.divide(power_mw, 1000.0, out=power_mw)
    kw = np.array([p.kw for p in pools], dtype=float)
    np.multiply(np.minimum(installed, cap), kw / 1000.0, out=installed_mw)  # this customer's
    df = pd.DataFrame(block.T, columns=names, copy=False)
    steps = np.repeat(np.arange(n), m)
    hours = steps * step
    for i, (name, values) in enumerate({
        "step": steps, "hour": hours, "time": _times(raw, hours),
        "provider": per_pool([p.info.provider for p in pools]),
        "pool": per_pool([p.info.name for p in pools]),
        "accelerator": per_pool([p.info.accelerator for p in pools]),
        "family": per_pool([p.info.family for p in pools]),
        "spot": np.array([p.info.spot for p in pools], dtype=bool)[which],
    }.items()):
        df.insert(i, name, values)
    ceiling = raw.power_ceiling_steps
    df["power_ceiling_mw"] = np.where(np.isfinite(ceiling), ceiling / 1000.0, np.nan)[steps]
    return _stamp(df, raw)


# Interruption reasons the engine gives, by the cause a job row counts them under.
CAUSES = {"unit_failure": "unit_failure", "planned": "planned", "outage": "outage",
          "scheduled_outage": "outage", "provider_outage": "outage", "region_outage": "outage",
          "inference": "preemption", "power": "power", "spot_reclaim": "reclaim", "capacity": "capacity"}


def jobs_table(raw: RawRun) -> pd.DataFrame:
    """One row per training job: when it arrived, started, ended, where, and what it cost."""
    infos = [p.info for p in raw.pools]
    jobs = raw.jobs
    specs = [job.spec for job in jobs]
    where = [infos[job.pool] if job.pool >= 0 else None for job in jobs]
    arrival = [spec.arrival for spec in specs]
    start = [job.start for job in jobs]
    end = [job.end for job in jobs]
    horizon = raw.compiled.end
    lost = [job.lost for job in jobs]
    # Hours from first start to its end (the horizon if unfinished): the span ETTR and MTTI
    # are taken over; NaN for a run that never started.
    span = [(job.end if job.end == job.end else horizon) - job.start for job in jobs]
    df = pd.DataFrame({  # built column by column: one dict per row costs 4 us a job
        "job": [spec.name for spec in specs], "source": [spec.source for spec in specs],
        "frontier": [spec.frontier for spec in specs],
        "priority": [spec.priority for spec in specs], "units": [spec.units for spec in specs],
        "spares": [spec.spares for spec in specs],
        "duration_h": [spec.duration for spec in specs], "arrival_h": arrival,
        "start_h": start, "end_h": end, "status": [job.status for job in jobs],
        # Until it started, gave up or was turned away; still waiting: until the horizon.
        "wait_h": [(t0 if not math.isnan(t0) else t1 if not math.isnan(t1) else horizon) - a
                   for t0, t1, a in zip(start, end, arrival, strict=True)],
        # Waiting again after interruptions, to restart (or to the horizon): not in wait_h.
        "requeue_wait_h": [job.requeue_wait for job in jobs],
        "provider": [info.provider if info else "" for info in where],
        "pool": [info.name if info else "" for info in where],
        "first_provider": [infos[job.first_pool].provider if job.first_pool >= 0 else ""
                           for job in jobs],
        "accelerator": [info.accelerator if info else "" for info in where],
        "restarts": [job.restarts for job in jobs],
        **{f"interrupts_{cause}": [sum(n for r, n in job.causes.items() if CAUSES.get(r, "capacity") == cause)
                                   for job in jobs] for cause in dict.fromkeys(CAUSES.values())},
        "work_done_h": [job.productive - job.lost for job in jobs], "work_lost_h": lost,
        "work_lost_unit_hours": [x * spec.units for x, spec in zip(lost, specs, strict=True)],
        "hours_writing_checkpoints": [job.writing for job in jobs],
        "hours_restarting": [job.restarting for job in jobs],
        "checkpoint_interval_h": [job.seg_tau or math.nan for job in jobs],
        # Effective training time ratio: hours of work kept / hours from first start to its end.
        "ettr": [job.kept / h if h > 0 else math.nan for job, h in zip(jobs, span, strict=True)],
        # Mean time to interrupt: that span per interruption; NaN with none (or never started).
        "mtti_h": [h / job.restarts if job.restarts and h > 0 else math.nan
                   for job, h in zip(jobs, span, strict=True)],
        "unit_hours": [job.held for job in jobs],
        "cost_at_list_price": [job.cost for job in jobs],
        "spare_idle_cost": [job.spare_cost for job in jobs],
        "rofr_offer": [job.offer for job in jobs],
        "rofr_holder_free_units": [job.holder_free_at_placement for job in jobs],
        "waiting_for": [job.waiting_for for job in jobs],
    })
    delay_rate = np.array([job.spec.delay_cost_per_hour for job in jobs], dtype=float)
    target = np.array([job.spec.target_finish for job in jobs], dtype=float)
    per_day_early = np.array([job.spec.value_per_day_early for job in jobs], dtype=float)
    # Delay against the earliest it could have finished: arrival + its shortest run time on
    # the pools it may use (duration / speed, plus porting off its native family), as if it
    # started at once on the fastest. A run not finished (waiting, running, gave up, turned
    # away) is charged up to the horizon.
    earliest_end = np.array(arrival, dtype=float) + _shortest_run(raw)
    finished = (df["status"] == "finished").to_numpy()
    finish = np.where(finished, np.array(end, dtype=float), horizon)
    delay = np.maximum(0.0, np.minimum(finish, horizon) - earliest_end)
    early_days = np.where(finished & np.isfinite(target),
                          np.maximum(0.0, np.nan_to_num(target - finish, nan=0.0)) / 24.0, 0.0)
    df["earliest_end_h"] = earliest_end
    df["delay_h"] = delay
    df["delay_cost"] = delay * delay_rate
    df["early_credit"] = early_days * per_day_early
    for col in ("arrival", "start", "end"):
        df.insert(df.columns.get_loc(f"{col}_h") + 1, col, _times(raw, df[f"{col}_h"].to_numpy()))
    return _stamp(df, raw)


def _shortest_run(raw: RawRun) -> np.ndarray:
    """Per job: hours it would run, uninterrupted, on the fastest pool it may use (its
    duration on reference accelerators where it may use none)."""
    infos = [p.info for p in raw.pools]
    out = np.empty(len(raw.jobs))
    for i, job in enumerate(raw.jobs):
        spec = job.spec
        out[i] = min((spec.duration / infos[k].train_speed
                      + (spec.porting if infos[k].family != spec.native_family else 0.0)
                      for k in spec.candidates), default=spec.duration)
    return out


def services_table(raw: RawRun, latency: dict[str, ServiceLatency] | None = None) -> pd.DataFrame:
    """Per step and service: demand, served, unmet and why (outage, exclusivity, capacity,
    power), what the shortfall costs, and for services with a latency model its time to first
    token (`latency`: from `service_latency(raw)`, worked out here when not given)."""
    c = raw.compiled
    n = c.n_steps
    latency = service_latency(raw) if latency is None else latency
    frames = []
    for svc in c.services:
        demand = svc.demand
        served = raw.served[:, svc.index]
        reasons = raw.unmet_reason[:, svc.index]
        unmet = demand - served
        unmet = np.where(unmet > 1e-9 * np.maximum(1.0, demand), unmet, 0.0)  # float dust
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(demand > 0, served / demand, 1.0)
        lat = latency.get(svc.name)
        # The target follows the latency objective where there is one (results/latency.py);
        # shortfall is then charged on the load refused or failed, not on unused headroom.
        slo_met = latency_slo_met(lat.columns, svc.slo) if lat else share >= svc.slo - 1e-12
        lost = lost_load(lat.columns) if lat else unmet
        spec = getattr(c.scenario, svc.section)[svc.name]
        unmet_cost = lost * c.step * spec.value_per_unit_hour
        penalty = np.where(slo_met, 0.0, spec.penalty_per_step_below_target)
        frames.append(pd.DataFrame({
            "step": np.arange(n), "hour": np.arange(n) * c.step, "service": svc.name,
            "kind": svc.section, "demand": demand, "served": served,
            "unmet": unmet, "unmet_outage": reasons[:, 0],
            "unmet_exclusivity": reasons[:, 1], "unmet_capacity": reasons[:, 2],
            "unmet_power": reasons[:, 3], "unmet_stockout": reasons[:, 4],
            "served_share": share, "slo": svc.slo, "slo_met": slo_met,
            "unmet_cost": unmet_cost, "slo_penalty": penalty,
            "shortfall_cost": unmet_cost + penalty,
        }))
        for col in LATENCY_COLUMNS:  # latency_met: true where no latency target applies
            frames[-1][col] = lat.columns[col] if lat else (True if col == "latency_met" else np.nan)
    columns = ["step", "hour", "service", "kind", "demand", "served", "unmet", "unmet_outage",
               "unmet_exclusivity", "unmet_capacity", "unmet_power", "unmet_stockout",
               "served_share", "slo",
               "slo_met", "unmet_cost", "slo_penalty", "shortfall_cost", *LATENCY_COLUMNS]
    if frames:  # by step, then service name (ties in section order), as a stable sort would
        names = [svc.name for svc in c.services]
        rank = np.array([sorted(names).index(name) for name in names])
        order = np.lexsort((np.arange(n * len(names)), np.repeat(rank, n), np.tile(np.arange(n), len(names))))
        df = pd.concat(frames, ignore_index=True).take(order)
    else:
        df = pd.DataFrame(columns=columns)
    df.insert(2, "time", _times(raw, df["hour"].to_numpy()))
    return _stamp(df.reset_index(drop=True), raw)


def service_providers_table(raw: RawRun) -> pd.DataFrame:
    """Where each service was served: per step, service and provider (rows with service only)."""
    c = raw.compiled
    k, s, p = np.nonzero(raw.served_by > 0)
    df = pd.DataFrame({
        "step": k, "hour": k * c.step,
        "service": _text([svc.name for svc in c.services], s),
        "provider": _text(raw.providers, p),
        "served": raw.served_by[k, s, p],
    })
    return _stamp(df, raw)


EVENT_COLUMNS = ["hour", "kind", "provider", "pool", "subject", "units", "detail", "delay_h"]


def events_table(raw: RawRun) -> pd.DataFrame:
    """The event log: outages, capacity changes, first-refusal offers and answers, preemptions,
    and every training run's arrival, first start, interruption, restart and exit from the
    queue, in the order the engine logged them."""
    df = pd.DataFrame(raw.events, columns=EVENT_COLUMNS)
    at = raw.job_log[2]
    if len(at):
        log = job_log_frame(raw)
        n = len(df)
        if n:  # the engine's job log entry goes before the event `at` it logged ahead of
            order = np.lexsort((np.arange(n + len(at)),
                                np.concatenate([np.ones(n, dtype=np.int64), np.zeros_like(at)]),
                                np.concatenate([np.arange(n), at])))
            df = pd.concat([df, log], ignore_index=True).take(order).reset_index(drop=True)
        else:
            df = log
    df.insert(1, "time", _times(raw, df["hour"].to_numpy()))
    return _stamp(df, raw)


def job_log_frame(raw: RawRun) -> pd.DataFrame:
    """The engine's job log as event rows: `job_arrival`, and `job_start` (first start, in its
    pool; detail "frontier run" for a frontier run)."""
    hours, codes, _ = raw.job_log
    m = len(raw.pools)
    start = codes < 0
    code = np.where(start, ~codes, codes)
    job = np.where(start, code // m, code)
    pool = np.where(start, code % m, m)  # m: no pool
    specs = raw.compiled.jobs
    frontier = np.array([spec.frontier for spec in specs], dtype=bool)[job]
    return pd.DataFrame({
        "hour": hours,
        "kind": np.where(start, "job_start", "job_arrival").astype(object),
        "provider": np.array([p.info.provider for p in raw.pools] + [""], dtype=object)[pool],
        "pool": np.array([p.info.name for p in raw.pools] + [""], dtype=object)[pool],
        "subject": np.array([spec.name for spec in specs], dtype=object)[job],
        "units": np.array([spec.units for spec in specs], dtype=float)[job],
        "detail": np.where(start & frontier, "frontier run", "").astype(object),
        "delay_h": np.full(len(hours), np.nan),
    })
