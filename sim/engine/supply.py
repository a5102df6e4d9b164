"""Supply changes: capacity coming online or leaving, tenant caps, contracts, outages, power."""

from __future__ import annotations

import math

from sim.engine.pools import PoolState
from sim.engine.state import (
    Job,
    _Call,
    eviction_order,
)


class SupplyEvents:
    """Part of `Simulation`: applies supply changes at step boundaries and evicts what no longer
    fits (state lives on the simulation)."""

    def _installed(self, p: PoolState, delta: float, label: str) -> None:
        p.flush(self.env.now)
        p.installed = max(0.0, p.installed + delta)
        self._set_avail(p)
        if label != "schedule" or self.env.now > 0:
            self.log("capacity_change", p.index, label, delta)
        self._after_supply(p, increased=delta > 0)

    def _cap(self, p: PoolState, cap: float) -> None:
        p.flush(self.env.now)
        before = p.cap
        p.cap = cap
        self._set_avail(p)
        self.log("tenant_cap", p.index, "", cap)
        self._after_supply(p, increased=cap > before)

    def _commit(self, p: PoolState, du: float, dr: float) -> None:
        p.flush(self.env.now)
        p.committed += du
        p.commit_rate += dr
        if abs(p.committed) < 1e-9:
            p.committed = p.commit_rate = 0.0
        self._set_avail(p)
        self.log("commitment_start" if du > 0 else "commitment_end", p.index, "", du)

    def _outage(self, p: PoolState, n: int, share: float, kind: str) -> None:
        p.flush(self.env.now)
        units = share * p.installed
        p.outage_units[n] = units
        p.lost += units
        self._set_avail(p)
        self.log(f"{kind}_start", p.index, "", units, f"share {share:g}")
        gangs: list[Job] = sorted(p.running.values(), key=lambda j: j.spec.index)  # type: ignore[attr-defined]
        for job, hit in zip(gangs, self._outage_hits(p, units, gangs), strict=True):
            if hit:
                self._interrupt(job, kind)  # type: ignore[attr-defined]
        self._after_supply(p, increased=False)

    def _outage_hits(self, p: PoolState, units: float, gangs: list[Job]) -> list[bool]:
        """Which of `gangs` (in job order) hold one of the units lost: the lost units are drawn
        among all of the pool's installed units, busy and idle, without replacement, jointly."""
        if not gangs:
            return []
        # Capacity loses `units` exactly (fractional); the draw needs whole units, so the units
        # lost and installed are rounded to the nearest whole unit, halves up (an outage of 0.4
        # of a unit hits no gang, one of 0.5 hits one unit). Gangs never hold more than is
        # installed; if they seemed to, the idle colour is clipped to 0 and the gangs fill it.
        sizes = [int(job.spec.units) for job in gangs]  # whole units (the scenario's ints)
        total = max(math.floor(p.installed + 0.5 + 1e-9), sum(sizes))
        lost = math.floor(units + 0.5 + 1e-9)
        if lost <= 0:
            return [False] * len(gangs)
        if lost >= total:
            return [True] * len(gangs)
        # One joint draw over the colours [g_1, ..., g_m, idle], gangs in job order; no draw when
        # no unit or every unit is lost.
        taken = self.interrupt_rng.multivariate_hypergeometric([*sizes, total - sum(sizes)], lost)
        return [bool(t > 0) for t in taken[:-1]]

    def _recover(self, p: PoolState, n: int, kind: str) -> None:
        p.flush(self.env.now)
        p.lost = max(0.0, p.lost - p.outage_units.pop(n, 0.0))
        self._set_avail(p)
        self.log(f"{kind}_end", p.index)
        self._after_supply(p, increased=True)

    def _power(self, zone: int, kw: float) -> None:
        """A power ceiling changes: `zone` 0 for every provider, 1 + i for provider i. Above a
        lower ceiling, the lowest-priority, most recent runs in the zone stop."""
        before = self.zone_cap[zone]
        self.zone_cap[zone] = kw
        if zone == 0:
            k = min(int(self.env.now / self.step + 1e-9), self.c.n_steps - 1)
            self.power_steps[k:] = kw
        self.log("power_ceiling", None, "", kw / 1000.0, "MW",
                 provider="" if zone == 0 else self.providers[zone - 1])
        if kw < before:
            while self.zone_kw[zone] > kw + 1e-6:
                victims = [j for p in self.pools if zone in (0, p.zone) for j in p.running.values()]
                if not victims:
                    break
                self._interrupt(min(victims, key=eviction_order), "power")  # type: ignore[arg-type]
        else:
            self._queue_soon()

    def _set_avail(self, p: PoolState) -> None:
        """Recompute `p`'s available units; each draws its idle share of power."""
        before = p.avail
        p.update_avail(self.env.now)
        if p.kw_idle and p.avail != before:
            self._draw(p, (p.avail - before) * p.kw_idle)

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
            self._interrupt(min(p.running.values(), key=eviction_order), "capacity")  # type: ignore[arg-type]
        over = p.used() - p.avail
        if over > 1e-9:  # rate demand loses what no longer fits until the next step reallocates
            cut_agents = min(p.agents, over)
            cut_infer = min(p.infer, over - cut_agents)
            p.agents -= cut_agents
            p.infer -= cut_infer
            self._draw(p, -(cut_agents + cut_infer) * p.kw_busy)
            if p.kw:
                self._room_changed = True  # power no longer drawn here may start a run elsewhere
