"""Rate demand (inference and agents), served once per step from numpy demand series."""

from __future__ import annotations

import math

import numpy as np

from sim.engine.compile import CompiledService
from sim.engine.pools import PoolState
from sim.engine.state import (
    _Call,
    claim_on_rate,
    could_ever_hold,
    eviction_order,
    rate_hold,
)
from sim.policies import Request


class RateDemand:
    """Part of `Simulation`: serves each step's rate demand in priority order, preempts training
    where allowed, and explains what goes unmet (state lives on the simulation)."""

    def _tick_ev(self, ev: _Call) -> None:
        self._tick(ev.args)

    def _tick(self, k: int) -> None:
        """Serve step `k`'s rate demand: clear the last step's, serve each service in priority
        order, record the step and the reserve window, then let waiting training runs try."""
        now = self.env._now
        if k + 1 < self.c.n_steps:
            self.push((k + 1) * self.step, self._tick_ev, k + 1, urgent=True)
        pools = self.pools
        m = len(pools)
        new_infer = [0.0] * m
        new_agents = [0.0] * m
        self._use = [0.0] * m  # rate demand placed in each pool so far this step
        # What rate demand keeps from training (and from claims) in each pool, to see below
        # whether that changed.
        kept = [(rate_hold(p), p.infer + p.agents) for p in pools] if self.queue else None
        drawn = list(self.zone_kw)
        self._clear_rate(now)
        # (Any test here is equivalent: _power already wrote the ceiling from its step on.)
        if self.zone_cap[0] < math.inf:  # pragma: no mutate
            self.power_steps[k] = self.zone_cap[0]
        self._in_tick = True
        for svc in self.services:
            self._serve(svc, k, new_infer if svc.section == "inference" else new_agents)
        self._in_tick = False
        for i, p in enumerate(pools):
            p.infer, p.agents = new_infer[i], new_agents[i]
        self.infer_steps[k] = new_infer
        self.agent_steps[k] = new_agents
        rate = self._rate_steps
        row = rate[k]
        np.add(self.infer_steps[k], self.agent_steps[k], out=row)
        lo = max(0, k - self.reserve_steps + 1)
        window = rate[lo:k + 1]
        peaks = self._window_peaks(k, lo, row, window)
        # As window.mean(axis=0): the same sum, row by row, then divided.
        means = (np.add.reduce(window, axis=0) / (k + 1 - lo)).tolist() if self._any_committed else peaks
        for p, peak, mean in zip(pools, peaks, means, strict=True):
            p.reserve = peak
            p.rate_mean = mean
        if self.queue:
            if kept is not None and not self._room_changed:
                self._room_changed = self._pass_could_differ(kept, drawn)
            self._schedule_queue()
        if self.desk is not None:
            self.desk.recheck_rate()
            self.desk.recheck()

    def _clear_rate(self, now: float) -> None:
        """Integrate every pool's use up to `now` (a step boundary) and take the last step's
        rate demand, and the power it drew, out of the pools. (`PoolState.flush` written out
        for the usual case, the last change in the step before: one call per pool and step.)"""
        step = self.step
        z = self.zone_kw
        for p in self.pools:
            t0 = p.last_t
            if t0 < now:
                j = int(t0 / step + 1e-9)
                if now <= (j + 1) * step + 1e-9:
                    p.last_t = now
                    train = p.train
                    over = train + p.infer + p.agents - p.committed
                    dt = now - t0
                    if train:  # (adding 0.0 changes nothing)
                        p.train_acc[j] += train * dt
                    if p.repairing:
                        p.repair_acc[j] += p.repairing * dt
                    if over > 0.0:
                        p.over_acc[j] += over * dt
                else:
                    p.flush(now)
            if p.infer or p.agents:
                kw = -(p.infer + p.agents) * p.kw_busy
                z[0] += kw
                z[p.zone] += kw
                p.infer = p.agents = 0.0

    def _window_peaks(self, k: int, lo: int, row: np.ndarray, window: np.ndarray) -> list[float]:
        """Each pool's peak rate use over the reserve window ending at step `k` (`window`): the
        last peaks with the new `row` folded in, unless the step that left held a peak."""
        last = self._peaks
        if k and last is not None and (lo == 0 or (self._rate_steps[lo - 1] < last).all()):
            peaks = np.maximum(last, row)
        else:
            peaks = window.max(axis=0)
        self._peaks = peaks
        return peaks.tolist()

    def _pass_could_differ(self, kept: list[tuple[float, float]], drawn: list[float]) -> bool:
        """Could a queue pass now give another answer than the last one, after this step's
        rate demand replaced the last (`kept`: each pool's max(reserve, rate) and rate before)?

        Only if some pool gained room for training or for a claim, power was freed, or a pool
        the last pass blocked can no longer ever hold the run it was blocked for (its block
        would move, and runs could pass there). Room that only shrank fails every run that
        failed before, and blocks computed then fall on the same pools.
        """
        if self._powered and any(now < before - 1e-9
                                 for now, before in zip(self.zone_kw, drawn, strict=True)):
            return True
        shrank = False
        for p, (before, rate) in zip(self.pools, kept, strict=True):
            held = rate_hold(p)
            if held < before - 1e-9 or (p.claimed and p.infer + p.agents < rate - 1e-9):
                return True
            if held > before + 1e-9:
                shrank = True
        if not shrank:
            return False
        last = self._last_pass
        if last is None:
            return True
        pools = self.pools
        return any(not could_ever_hold(pools[k], units) for k, units in last[3])

    def _serve(self, svc: CompiledService, k: int, level: list[float]) -> None:
        """Serve one service's demand of step `k`: its pools in the policy's order (idle
        committed units first under price-ranking policies, within a policy's share limits),
        under first refusal the holder's pools and contracted units first and others' capacity
        only up to what the holder declined; then, if allowed, by preempting lower-priority
        training; then first refusal's bookkeeping."""
        now = self.env._now
        si = svc.index
        demand = float(svc.demand[k])
        ranked = self._service_ranks[si]  # a static ranking, worked out once
        if ranked is None:
            ranked = self.rank(svc.section, svc.name, demand, svc.priority, svc.candidates)
            if self.policy.static_ranking:
                self._service_ranks[si] = ranked
        by_provider = [0.0] * len(self.providers)  # served this step, per provider
        desk = self.desk
        gated = desk is not None and desk.gated[si]
        budget = desk.budget(si, now) if gated else math.inf  # type: ignore[union-attr]
        take = self._take
        remaining = demand
        if self.sunk and self._any_committed:  # already paid for: marginal price 0
            for i in ranked:
                if remaining <= 1e-12:
                    break
                p = self.pools[i]
                if p.committed:
                    remaining = take(i, remaining, level, by_provider,
                                     p.committed - p.train - self._use[i])[0]
        overflow = 0.0  # reference units on others' non-contracted capacity (first refusal)
        holder_pools = self._holder_pools
        limits = None
        if self._limited:
            got = self.policy.share_limits(
                Request(svc.section, svc.name, demand, svc.priority, svc.candidates),  # type: ignore[arg-type]
                self.infos, self)
            if got is not None:
                limits = got
        for i in ranked:
            if remaining <= 1e-12:
                break
            if gated and i not in holder_pools:
                if budget - overflow <= 1e-12:
                    continue
                speed = self.pools[i].infer_speed
                remaining, units = take(i, remaining, level, by_provider, (budget - overflow) / speed)
                overflow += units * speed
            elif limits is not None:
                name = self.infos[i].provider
                left = limits[0].get(name, math.inf)
                remaining, units = take(i, remaining, level, by_provider, left)
                limits[0][name] = left - units
            else:
                remaining = take(i, remaining, level, by_provider, math.inf)[0]
        if limits is not None and not limits[1]:  # not strict: the rest spills past the caps
            for i in ranked:
                if remaining <= 1e-12:
                    break
                remaining = take(i, remaining, level, by_provider, math.inf)[0]
        if remaining > 1e-9 and self.preempt:
            pools = self.pools
            priority = svc.priority
            for i in ranked:
                if remaining <= 1e-9:
                    break
                p = pools[i]
                if not p.running or (gated and i not in holder_pools and budget - overflow <= 1e-12):
                    continue
                victims = sorted((j for j in p.running.values() if j.spec.priority < priority),  # type: ignore[attr-defined]
                                 key=eviction_order)
                for victim in victims:
                    if remaining <= 1e-9:
                        break
                    self._interrupt(victim, "inference")  # type: ignore[arg-type]
                    if gated and i not in holder_pools:
                        speed = p.infer_speed
                        remaining, units = take(i, remaining, level, by_provider,
                                                (budget - overflow) / speed)
                        overflow += units * speed
                    else:
                        remaining = take(i, remaining, level, by_provider, math.inf)[0]
            if remaining > 1e-9 and self._powered:
                # Short of power rather than of units: lower-priority training anywhere in
                # the binding zone stops so that this demand can be powered.
                usable = [i for i in ranked
                          if not (gated and i not in holder_pools)
                          and self._power_blocked_units(pools[i]) > 1e-9]
                zones = {z for i in usable for z in (0, pools[i].zone)
                         if self.zone_cap[z] - self.zone_kw[z] <= 1e-6}
                victims = sorted((j for q in pools if zones & {0, q.zone}
                                  for j in q.running.values() if j.spec.priority < priority),  # type: ignore[attr-defined]
                                 key=eviction_order)
                for victim in victims:
                    if remaining <= 1e-9:
                        break
                    self._interrupt(victim, "power")  # type: ignore[arg-type]
                    for i in usable:
                        if remaining <= 1e-12:
                            break
                        remaining = take(i, remaining, level, by_provider, math.inf)[0]
        self.served_by[k, si] = by_provider
        if remaining < 1e-9 * max(1.0, demand):
            remaining = 0.0  # float dust from splitting demand across pools
        self.served[k, si] = demand - remaining
        if gated:
            desk.after_serve(svc, k, remaining, overflow)  # type: ignore[union-attr]
            if remaining > 0 and self.desk.terms.window_hours <= 0:  # type: ignore[union-attr]
                # A zero window: the offer was answered at once; serve what it freed now.
                extra = desk.budget(si, now) - budget  # type: ignore[union-attr]
                for i in ranked:
                    if remaining <= 1e-12 or extra <= 1e-12:
                        break
                    if i not in holder_pools:
                        speed = self.pools[i].infer_speed
                        remaining, units = take(i, remaining, level, by_provider, extra / speed)
                        extra -= units * speed
                        overflow += units * speed
                self.served_by[k, si] = by_provider
                if remaining < 1e-9 * max(1.0, demand):
                    remaining = 0.0
                self.served[k, si] = demand - remaining
            budget_left = desk.budget(si, now) - overflow  # type: ignore[union-attr]
        else:
            budget_left = math.inf
        if remaining > 0:
            self._explain_unmet(svc, k, remaining, budget_left <= 1e-9)

    def _take(self, i: int, remaining: float, level: list[float], by_provider: list[float],
              most: float) -> tuple[float, float]:
        """Place in pool `i` what it can take of `remaining` work, at most `most` units;
        return the work left and the units placed."""
        p = self.pools[i]
        use = self._use
        free = p.avail - p.train
        claimed = p.claimed  # as claim_on_rate, inlined: this is the hottest loop of a step
        if claimed and free >= claimed:
            free -= claimed
        free -= use[i]
        if most < free:
            free = most
        kw = p.kw_busy
        if kw and self._powered:
            room = self._power_room(p) / kw
            if room < free:
                free = room
        if free <= 1e-12:
            return remaining, 0.0
        speed = p.infer_speed
        units = min(remaining / speed, free)
        level[i] += units
        use[i] += units
        if kw:
            z = self.zone_kw
            z[0] += units * kw
            z[p.zone] += units * kw
        by_provider[p.provider_index] += units * speed
        return remaining - units * speed, units

    # What the first-refusal desk asks of the rate-demand side.

    def holder_outage_units(self, holder_candidates: tuple[int, ...]) -> float:
        """Reference units lost to outages in a service's pools at the holder (failover may
        replace them); `holder_candidates`: those pools, in the service's candidate order."""
        total = 0.0
        pools = self.pools
        for i in holder_candidates:
            p = pools[i]
            if p.lost:
                total += min(p.lost, p.installed) * p.infer_speed
        return total

    def spare_for_term(self, holder_candidates: tuple[int, ...]) -> float:
        """Reference units a service's pools at the holder (`holder_candidates`, in candidate
        order) could give it at every hour of a term: room after training, claims and the
        larger of their recent peak and current rate use."""
        total = 0.0
        pools = self.pools
        for i in holder_candidates:
            p = pools[i]
            rate = self._rate_now(p)
            spare = p.avail - p.train - p.claimed - (p.reserve if p.reserve > rate else rate)
            if spare > 0:
                total += spare * p.infer_speed
        return total

    def _explain_unmet(self, svc: CompiledService, k: int, unmet: float, barred: bool) -> None:
        """Split unmet demand into outage, exclusivity (or first refusal), stockout (units the
        market holds back from this customer), power and capacity, in that order."""
        pools = self.pools
        outage = 0.0
        for i in svc.candidates:
            p = pools[i]
            if p.lost:
                outage += min(p.lost, p.installed) * p.infer_speed
        u_out = min(unmet, outage)
        si = svc.index
        in_force = barred  # first refusal kept it from capacity elsewhere
        use = self._use
        elsewhere = 0.0
        for i in self._barred[si][0 if in_force else 1]:  # pools it could run on but may not
            p = pools[i]
            elsewhere += max(0.0, p.avail - p.train - claim_on_rate(p) - use[i]) * p.infer_speed
        u_ex = min(unmet - u_out, elsewhere)
        barred_pools = self._barred[si][0 if in_force else 1]
        u_stock = 0.0
        if self._any_withheld:  # units other tenants hold in pools it may use
            held = sum(float(w[k]) * pools[i].infer_speed for i in svc.candidates
                       if i not in barred_pools and len(w := self._withheld[i]))
            u_stock = min(unmet - u_out - u_ex, held)
        u_pow = 0.0
        if self._powered:  # units it may use that stand idle for want of power
            blocked = sum(self._power_blocked_units(pools[i]) * pools[i].infer_speed
                          for i in svc.candidates if i not in barred_pools)
            u_pow = min(unmet - u_out - u_ex - u_stock, blocked)
        self.unmet_reason[k, si] = (u_out, u_ex, unmet - u_out - u_ex - u_stock - u_pow, u_pow,
                                    u_stock)

    def _power_blocked_units(self, p: PoolState) -> float:
        """Units of `p` free for rate demand now that the power ceilings leave unpowered."""
        if not p.kw_busy:
            return 0.0
        free = p.avail - p.train - claim_on_rate(p) - self._use[p.index]
        powered = max(0.0, self._power_room(p)) / p.kw_busy
        return max(0.0, free - powered)
