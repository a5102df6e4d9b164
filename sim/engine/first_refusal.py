"""The right of first refusal on new capacity, as the deal sets it. The whole rule lives here.

The holder (Azure) is offered *new* capacity before anyone else may supply it:

- Capacity already contracted (idle take-or-pay units at any provider) is not new: a training
  run that fits in a pool's idle commitment starts there without an offer, and rate demand
  fills idle committed units anywhere first.
- Use that exists at the start of the horizon is grandfathered: training runs that arrive at
  hour 0, and what each rate service uses at other providers during its first
  `GRANDFATHER_HOURS` (its daily and weekly cycle as it stood), kept for the whole horizon.
- A request for new capacity is an offer of a quantity over a term: a training run's units
  for its run; a rate-demand shortfall sized as the peak extra demand over the coming release
  term (from the service's demand path), not one instant.
- The holder answers as soon as it can decide: when it can supply the quantity it accepts after
  a delay drawn from an exponential with the terms' mean, capped at the window (a training run's
  units are set aside meanwhile); otherwise it keeps looking and accepts the moment it can,
  else declines by the end of the window. For rate demand it may accept part: what it can
  supply for the whole term (room left after its pools' recent peak use), and declines the rest.
- A decline frees exactly the declined quantity for the release term (a grant); growth beyond
  the grants is a new offer. A grant is offered again a window before it lapses only if it was
  used over its term, for the peak of that use; a grant never used simply lapses.
- During an outage at the holder, the units it lost may be replaced elsewhere without an offer
  (`failover`, on by default).

The engine asks this desk what a request may use and tells it what happened; the desk keeps
offers and grants and writes the `rofr_offer` / `rofr_answer` events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.policies import FirstRefusal

if TYPE_CHECKING:
    from sim.engine.compile import CompiledService
    from sim.engine.simulation import Simulation
    from sim.engine.state import Job

GRANDFATHER_HOURS = 168.0
"""Rate use elsewhere in the first week is use that existed before the horizon."""

TOL = 1e-9


@dataclass(slots=True, eq=False)
class Grant:
    """A declined quantity (reference units) a service may place elsewhere until `until`."""

    amount: float
    start: float
    until: float
    peak_used: float = 0.0


@dataclass(slots=True, eq=False)
class RateOffer:
    """An open offer of rate demand to the holder."""

    service: int
    quantity: float
    made: float
    renewal: Grant | None = None
    open: bool = True


class RightOfFirstRefusal:
    """Offers, answers and grants of one run under one holder's right."""

    def __init__(self, sim: Simulation, terms: FirstRefusal, rng: np.random.Generator) -> None:
        self.sim = sim
        self.terms = terms
        self.holder = terms.provider
        self.rng = rng
        infos = sim.infos
        self.holder_pools = frozenset(i for i, info in enumerate(infos) if info.provider == terms.provider)
        services = sim.c.services
        # A service is gated when the holder can serve it and someone else could too.
        self.gated = [any(i in self.holder_pools for i in sv.candidates)
                      and any(i not in self.holder_pools for i in sv.candidates)
                      for sv in services]
        # Each service's candidate pools at the holder, in candidate order.
        self.holder_candidates = [tuple(i for i in sv.candidates if i in self.holder_pools)
                                  for sv in services]
        n = len(services)
        self.grandfathered = [0.0] * n
        self.grants: list[list[Grant]] = [[] for _ in range(n)]
        self.offers: list[list[RateOffer]] = [[] for _ in range(n)]
        self.waiting: list[Job] = []  # training offers the holder cannot supply yet
        # An offer made now is answered within the window and released for the term after it.
        self.term_steps = max(1, math.ceil((terms.window_hours + terms.release_hours) / sim.step
                                           - 1e-9))

    # ------------------------------------------------------------------ training

    def offer_run(self, job: Job) -> bool:
        """A training run arrives. Returns False when the right does not apply (the engine
        queues it as usual); else the run is started, set aside or offered here."""
        sim = self.sim
        spec = job.spec
        on_holder = [k for k in spec.candidates if k in self.holder_pools]
        if not on_holder or len(on_holder) == len(spec.candidates):
            return False  # only the holder, or only others, could supply it: nothing to offer
        if sim.now <= 0.0:
            job.offer = "grandfathered"
            return False
        if sim.place_contracted(job):
            job.offer = "contracted"
            return True
        job.offer = "pending"
        sim.log("rofr_offer", None, spec.name, spec.units, "training", provider=self.holder)
        k = sim.holder_room(job, self.holder_pools)
        if k >= 0:
            delay = min(float(self.rng.exponential(self.terms.answer_delay_hours))
                        if self.terms.answer_delay_hours > 0 else 0.0, self.terms.window_hours)
            self._accept_run(job, k, delay)
        else:
            self.waiting.append(job)
            sim.at(sim.now + self.terms.window_hours, lambda: self._decline_run(job))
        return True

    def _accept_run(self, job: Job, pool: int, delay: float) -> None:
        sim = self.sim
        made = job.spec.arrival
        if delay <= 0.0:
            job.offer = "accepted"
            sim.log("rofr_answer", None, job.spec.name, job.spec.units, "accepted",
                    sim.now - made, provider=self.holder)
            sim.start_on(job, pool)
            return
        sim.set_aside(job, pool)  # the units are the holder's answer: kept for the run

        def answer() -> None:
            job.offer = "accepted"
            sim.log("rofr_answer", None, job.spec.name, job.spec.units, "accepted",
                    sim.now - made, provider=self.holder)
            sim.start_set_aside(job, tuple(k for k in job.spec.candidates if k in self.holder_pools))

        sim.at(sim.now + delay, answer)

    def recheck(self) -> None:
        """Room may have grown at the holder: accept waiting offers it can supply now."""
        if not self.waiting:
            return
        sim = self.sim
        still = []
        for job in self.waiting:
            k = sim.holder_room(job, self.holder_pools)
            if k >= 0:
                self._accept_run(job, k, 0.0)
            else:
                still.append(job)
        self.waiting = still

    def _decline_run(self, job: Job) -> None:
        if job not in self.waiting:
            return  # accepted meanwhile
        self.waiting.remove(job)
        sim = self.sim
        job.offer = "declined"
        sim.log("rofr_answer", None, job.spec.name, job.spec.units, "declined",
                sim.now - job.spec.arrival, provider=self.holder)
        sim.enqueue(job)

    # ------------------------------------------------------------------ rate demand

    def budget(self, si: int, now: float) -> float:
        """Reference units service `si` may place on others' non-contracted capacity now."""
        if not self.gated[si] or now < GRANDFATHER_HOURS:
            return math.inf
        total = self.grandfathered[si]
        for g in self.grants[si]:
            if g.until > now + TOL or self._renewing(si, g):
                total += g.amount
        if self.terms.failover:
            total += self.sim.holder_outage_units(self.holder_candidates[si])
        return total

    def after_serve(self, svc: CompiledService, k: int, unmet: float, overflow: float) -> None:
        """Book one step of a gated service: grandfathered use, grant use, new offers.
        `overflow`: reference units served on others' non-contracted capacity this step."""
        si = svc.index
        sim = self.sim
        now = sim.now
        if now < GRANDFATHER_HOURS:
            if overflow > self.grandfathered[si]:
                self.grandfathered[si] = overflow
            return
        used = overflow - self.grandfathered[si]
        if self.terms.failover:
            used -= sim.holder_outage_units(self.holder_candidates[si])
        grants = self.grants[si]
        if grants:
            live = [g for g in grants if g.until > now + TOL or self._renewing(si, g)]
            for g in live:  # oldest first
                if used <= TOL:
                    break
                take = min(used, g.amount)
                if take > g.peak_used:
                    g.peak_used = take
                used -= take
            self.grants[si] = live
        if unmet > TOL * max(1.0, float(svc.demand[k])) and not any(
                o.open and o.renewal is None for o in self.offers[si]):
            served = float(svc.demand[k]) - unmet
            peak = float(svc.demand[k:k + self.term_steps].max())
            self._offer_rate(svc, max(unmet, peak - served), None)

    def _renewing(self, si: int, g: Grant) -> bool:
        """Whether an open renewal offer keeps `g` alive past its term (until answered)."""
        return any(o.open and o.renewal is g for o in self.offers[si])

    def _offer_rate(self, svc: CompiledService, quantity: float, renewal: Grant | None) -> None:
        sim = self.sim
        offer = RateOffer(svc.index, quantity, sim.now, renewal)
        self.offers[svc.index].append(offer)
        sim.log("rofr_offer", None, svc.name, quantity,
                f"{svc.section} renewal" if renewal else svc.section, provider=self.holder)
        if self.holder_spare(svc) >= quantity - TOL:
            self._answer_rate(svc, offer, at_end=False)
        elif self.terms.window_hours <= 0:
            self._answer_rate(svc, offer, at_end=True)
        else:
            # answered before that step's demand is served: the grant covers that step
            sim.at(sim.now + self.terms.window_hours, lambda: self._answer_rate(svc, offer, True),
                   urgent=True)

    def recheck_rate(self) -> None:
        """After a step: accept open offers the holder can now supply in full."""
        for si, offers in enumerate(self.offers):
            if not offers:
                continue
            svc = self.sim.c.services[si]
            for offer in offers:
                if offer.open and self.holder_spare(svc) >= offer.quantity - TOL:
                    self._answer_rate(svc, offer, at_end=False)
            self.offers[si] = [o for o in offers if o.open]

    def _answer_rate(self, svc: CompiledService, offer: RateOffer, at_end: bool) -> None:
        if not offer.open:
            return
        offer.open = False
        sim = self.sim
        now = sim.now
        si = svc.index
        accepted = min(offer.quantity, self.holder_spare(svc)) if at_end else offer.quantity
        declined = offer.quantity - accepted
        if declined > TOL * max(1.0, offer.quantity):
            self.grants[si].append(Grant(declined, now, now + self.terms.release_hours))
            self._schedule_renewal(svc, self.grants[si][-1])
            answer = "partial" if accepted > TOL else "declined"
        else:
            answer = "accepted"
        if offer.renewal is not None:
            offer.renewal.until = min(offer.renewal.until, now)  # replaced by this answer
        # units: the quantity released to others (0 when the holder took it all)
        sim.log("rofr_answer", None, svc.name, declined if answer != "accepted" else 0.0, answer,
                now - offer.made, provider=self.holder)

    def _schedule_renewal(self, svc: CompiledService, grant: Grant) -> None:
        sim = self.sim
        t = max(sim.now, grant.until - self.terms.window_hours)
        if t < sim.end:  # before the step's demand is served at that moment
            sim.at(t, lambda: self._renew(svc, grant), urgent=True)

    def _renew(self, svc: CompiledService, grant: Grant) -> None:
        """A window before a grant lapses: offer again what was used of it, if anything, grown
        as the service's peak demand grows from this term to the next."""
        if grant.until <= self.sim.now + TOL and self.terms.window_hours > 0:
            return  # already replaced
        if grant.peak_used > TOL:
            step = self.sim.step
            k0 = int(grant.start / step + 1e-9)
            k = min(int(self.sim.now / step + 1e-9), len(svc.demand) - 1)
            past = float(svc.demand[k0:k + 1].max())
            coming = float(svc.demand[k:k + self.term_steps].max())
            self._offer_rate(svc, grant.peak_used + max(0.0, coming - past), grant)

    def holder_spare(self, svc: CompiledService) -> float:
        """Reference units the holder could give `svc` for a whole term: room in its pools
        after training, claims and their recent peak rate use (so not a night-time low)."""
        return self.sim.spare_for_term(self.holder_candidates[svc.index])
