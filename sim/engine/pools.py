"""Run-time state of one pool: levels in units, and exact per-step integrals of what varies in a step.

Supply (installed, outage loss, tenant cap, commitments) changes only at step boundaries and rate
demand is set once per step, so only training use (and the on-demand overage it causes) can
change inside a step; those two are integrated exactly, so no unit-hour is created or lost.
"""

from __future__ import annotations

import math

from sim.engine.compile import CompiledPool


class PoolState:
    """Levels of one pool now, plus the per-step records the results are built from."""

    __slots__ = (
        "agents", "avail", "cap", "claimed", "commit_rate", "committed", "family", "family_cpu", "index",
        "infer", "infer_speed", "info", "installed", "kw", "kw_busy", "kw_idle", "last_t", "lost",
        "n_steps", "outage_units", "over_acc", "price", "provider_index", "rate_mean", "repair_acc",
        "repairing", "reserve", "running", "step", "supply_log", "train", "train_acc", "train_speed",
        "zone",
    )

    def __init__(self, compiled: CompiledPool, step: float, n_steps: int) -> None:
        info = compiled.info
        self.info = info
        self.index = info.index
        self.price = info.price_per_hour
        self.kw = info.power_kw
        self.kw_idle = info.power_kw * info.idle_power_share  # drawn by every available unit
        self.kw_busy = info.power_kw - self.kw_idle  # drawn on top by a unit in use
        self.zone = 0  # its provider's power zone (1 + provider index); zone 0 is global
        self.family = info.family
        self.family_cpu = info.family == "cpu"
        self.train_speed = info.train_speed
        self.infer_speed = info.infer_speed
        self.provider_index = 0  # position of its provider in the run's provider list
        self.step = step
        self.n_steps = n_steps
        self.installed = 0.0
        self.lost = 0.0  # units lost to outages
        self.repairing = 0.0  # failed units out for repair (changes inside a step: integrated)
        self.outage_units: dict[int, float] = {}
        self.cap = math.inf
        self.avail = 0.0
        self.committed = 0.0
        self.commit_rate = 0.0
        self.train = 0.0
        self.infer = 0.0
        self.agents = 0.0
        self.reserve = 0.0
        self.rate_mean = 0.0  # mean rate use over the reserve window
        self.claimed = 0.0  # units held for runs interrupted here by an outage, until they restart
        self.last_t = 0.0
        self.train_acc = [0.0] * n_steps
        self.over_acc = [0.0] * n_steps
        self.repair_acc = [0.0] * n_steps
        self.running: dict[int, object] = {}
        # (step index, installed, lost, cap, committed, commit $/h), one row per supply change.
        self.supply_log: list[tuple[int, float, float, float, float, float]] = []

    def used(self) -> float:
        return self.train + self.infer + self.agents

    def flush(self, t: float) -> None:
        """Integrate training use, on-demand overage and units in repair from the last change
        up to `t`."""
        t0 = self.last_t
        if t <= t0:
            return
        self.last_t = t
        train = self.train
        over = train + self.infer + self.agents - self.committed
        if over < 0.0:
            over = 0.0
        step = self.step
        k = int(t0 / step + 1e-9)
        boundary = (k + 1) * step
        rep = self.repairing
        if t <= boundary + 1e-9:
            dt = t - t0
            self.train_acc[k] += train * dt
            self.over_acc[k] += over * dt
            if rep:
                self.repair_acc[k] += rep * dt
            return
        # The interval spans step boundaries (only when nothing ticks each step).
        self.train_acc[k] += train * (boundary - t0)
        self.over_acc[k] += over * (boundary - t0)
        if rep:
            self.repair_acc[k] += rep * (boundary - t0)
        last = min(int(t / step + 1e-9), self.n_steps)
        for j in range(k + 1, last):
            self.train_acc[j] += train * step
            self.over_acc[j] += over * step
            if rep:
                self.repair_acc[j] += rep * step
        if last < self.n_steps and t > last * step:
            self.train_acc[last] += train * (t - last * step)
            self.over_acc[last] += over * (t - last * step)
            if rep:
                self.repair_acc[last] += rep * (t - last * step)

    def update_avail(self, t: float) -> None:
        """Recompute available units after a supply change at step boundary `t`."""
        self.avail = max(0.0, min(self.installed - self.lost - self.repairing, self.cap))
        k = int(t / self.step + 1e-9)
        if k >= self.n_steps:
            return  # at the horizon: no step of the run sees it (the last row stays as it was)
        row = (k, self.installed, self.lost, self.cap, self.committed, self.commit_rate)
        if self.supply_log and self.supply_log[-1][0] == k:
            self.supply_log[-1] = row
        else:
            self.supply_log.append(row)

    def free(self) -> float:
        """Units not in use now."""
        return self.avail - self.train - self.infer - self.agents
