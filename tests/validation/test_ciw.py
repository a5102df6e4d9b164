"""capsim and ciw, an independent queueing-network simulator, run the same multi-server queues
and agree on mean waits.

The same model, side by side:

| model element  | capsim (scenario built by `one_pool`)      | ciw                                   |
| -------------- | ------------------------------------------ | ------------------------------------- |
| c servers      | one pool, `capacity: [{units: c}]`          | `number_of_servers=[c]`                |
| class k, λ_k/h | generator, `arrivals_per_day: 24·λ_k`       | `ciw.dists.Exponential(rate=λ_k)`      |
| service, μ/h   | `units: 1`, `duration: exponential, 1/μ`    | `ciw.dists.Exponential(rate=μ)`        |
| discipline     | higher `priority` first, then arrival;      | `priority_classes={class: rank}`, 0    |
|                | a running job is never displaced by a job   | first; a dict means non-preemptive     |
| wait           | `jobs.wait_h` = start − arrival             | `record.waiting_time`                  |
| clock          | hours                                       | hours                                  |

The two functions that build and run the model, `capsim_waits` and `ciw_waits`, sit next to each
other below, reading the same `Model`.

Both start empty; customers arriving in the warm-up or in the last `tail` hours are not counted
(every counted one has started, in both tools). Each tool runs independent replications (capsim:
`replication=r`; ciw: `ciw.seed(r)`); a class's mean wait per replication is averaged over them.
The tools agree when the interval of the difference of their means (Welch) contains 0; each
interval must also contain the queueing-theory figure (Erlang C for M/M/c, Cobham's formula for
non-preemptive priorities on c servers with one service rate). Assertions use 99.9% intervals
(a correct model fails a check on 0.1% of seeds); the report and the slow coverage test use 95%.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import ciw
import numpy as np
import pytest

import sim
from validation.queueing import (
    SEED,
    Interval,
    arrived_in,
    difference_ci,
    mean_ci,
    one_pool,
    priority_mean_waits,
    replications_needed,
    report,
)


@dataclass(frozen=True)
class Model:
    """A multi-server queue: c servers, service rate mu, classes listed highest priority first."""

    name: str
    c: int
    mu: float
    classes: tuple[tuple[str, float], ...]  # (class, arrivals per hour)
    horizon: float
    warmup: float
    tail: float
    pilot_sd: tuple[float, ...]  # per class: sd of capsim's mean wait in one replication
    # (12 replications at seed SEED)

    @property
    def replications(self) -> int:
        """Enough for the half-width cap on every class (MAX_HALF of theory; see below)."""
        theory = priority_mean_waits(self.c, [lam for _, lam in self.classes], self.mu)
        return max(replications_needed(sd, 12, MAX_HALF * w)
                   for sd, w in zip(self.pilot_sd, theory, strict=True))

    def __str__(self) -> str:
        return self.name


MAX_HALF = 0.25
"""capsim's 95% half-width must be under this share of theory. Replications are sized so that
fails on at most 0.1% of seeds (`replications_needed`, from the pilot sd)."""

MODELS = [
    Model("M/M/3, load 0.8", c=3, mu=1.0, classes=(("jobs", 2.4),), horizon=800.0, warmup=50.0,
          tail=30.0, pilot_sd=(0.26,)),
    Model("M/M/2, two priority classes, load 0.75", c=2, mu=1.0,
          classes=(("high", 0.6), ("low", 0.9)), horizon=2000.0, warmup=50.0, tail=60.0,
          pilot_sd=(0.026, 0.40)),
]


def capsim_waits(m: Model, replication: int, seed: int = SEED) -> dict[str, float]:
    """Mean wait per class in one capsim replication."""
    n = len(m.classes)
    s = one_pool(m.c, {name: (lam, n - rank) for rank, (name, lam) in enumerate(m.classes)},
                 1.0 / m.mu, m.horizon, seed=seed)
    jobs = arrived_in(sim.run(s, replication=replication).jobs, m.warmup, m.horizon - m.tail)
    assert jobs.start_h.notna().all(), "a counted job never started: lengthen the tail"
    return {name: float(jobs[jobs.source == name].wait_h.mean()) for name, _ in m.classes}


def ciw_waits(m: Model, replication: int, seed: int = SEED) -> dict[str, float]:
    """Mean wait per class in one ciw replication of the same model."""
    network = ciw.create_network(
        arrival_distributions={name: [ciw.dists.Exponential(rate=lam)] for name, lam in m.classes},
        service_distributions={name: [ciw.dists.Exponential(rate=m.mu)] for name, _ in m.classes},
        number_of_servers=[m.c],
        priority_classes={name: rank for rank, (name, _) in enumerate(m.classes)},
    )
    ciw.seed(seed * 100_003 + replication)
    q = ciw.Simulation(network)
    q.simulate_until_max_time(m.horizon)
    t0, t1 = m.warmup, m.horizon - m.tail
    still_waiting = [i for i in q.nodes[1].all_individuals if t0 <= i.arrival_date < t1
                     and i.service_start_date is False]
    assert not still_waiting, "a counted customer never started: lengthen the tail"
    waits: dict[str, list[float]] = {name: [] for name, _ in m.classes}
    for rec in q.get_all_records():
        if t0 <= rec.arrival_date < t1:
            waits[rec.customer_class].append(rec.waiting_time)
    for ind in q.nodes[1].all_individuals:  # in service at the end: started, wait known
        if t0 <= ind.arrival_date < t1:
            waits[ind.customer_class].append(ind.service_start_date - ind.arrival_date)
    return {name: float(np.mean(w)) for name, w in waits.items()}


@cache
def results(m: Model, seed: int = SEED) -> dict[str, dict[str, Interval]]:
    cap = [capsim_waits(m, r, seed) for r in range(m.replications)]
    peer = [ciw_waits(m, r, seed) for r in range(m.replications)]
    return {name: {"capsim": mean_ci([x[name] for x in cap]),
                   "ciw": mean_ci([x[name] for x in peer])} for name, _ in m.classes}


CASES = [pytest.param(m, name, id=f"{m}-{name}") for m in MODELS for name, _ in m.classes]


@pytest.mark.parametrize(("model", "cls"), CASES)
def test_mean_wait_agrees_with_ciw(model: Model, cls: str) -> None:
    got = results(model)[cls]
    diff = difference_ci(got["capsim"], got["ciw"])
    label = model.name + ("" if len(model.classes) == 1 else f", class {cls}")
    report("ciw: mean wait (h)", label, "ciw (its 95% CI "
           f"[{got['ciw'].lo:.3f}, {got['ciw'].hi:.3f}])", got["ciw"].mean, got["capsim"],
           note=f"difference {diff.mean:+.3f} ± {diff.half:.3f}")
    assert diff.covers(0.0), f"capsim {got['capsim']} vs ciw {got['ciw']}: difference {diff}"


@pytest.mark.parametrize(("model", "cls"), CASES)
def test_both_tools_agree_with_theory(model: Model, cls: str) -> None:
    rates = [lam for _, lam in model.classes]
    theory = dict(zip([n for n, _ in model.classes],
                      priority_mean_waits(model.c, rates, model.mu), strict=True))[cls]
    got = results(model)[cls]
    label = model.name + ("" if len(model.classes) == 1 else f", class {cls}")
    reference = "Erlang C" if len(model.classes) == 1 else "Cobham (M/M/c priority)"
    report("theory: mean wait (h)", label, reference, theory, got["capsim"],
           note=f"ciw {got['ciw']}")
    assert got["capsim"].covers(theory), f"theory {theory:.4f}, capsim {got['capsim']} (99.9%)"
    assert got["ciw"].covers(theory), f"theory {theory:.4f}, ciw {got['ciw']} (99.9%)"
    assert got["capsim"].half <= MAX_HALF * theory, f"interval too wide: {got['capsim']}"


def test_priority_formula_reduces_to_erlang_c() -> None:
    from validation.queueing import mmc_mean_wait

    assert priority_mean_waits(3, [2.4], 1.0)[0] == pytest.approx(mmc_mean_wait(3, 2.4, 1.0))
    # Conservation: the load-weighted mean over classes equals the FCFS mean wait.
    waits = priority_mean_waits(2, [0.6, 0.9], 1.0)
    assert (0.6 * waits[0] + 0.9 * waits[1]) / 1.5 == pytest.approx(mmc_mean_wait(2, 1.5, 1.0))
