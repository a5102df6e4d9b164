"""Loss in capsim agrees with Erlang B (M/M/c/c: what cannot be served at once is lost).

This is the discrete form of "inference with no queue": requests that find no free unit are not
queued but lost. capsim expresses it with training-style jobs that may not wait at all,
`max_wait: 0`: a job that cannot start the moment it arrives gives up at once (status
`abandoned`). One pool of c units, a Poisson stream of one-unit jobs, exponential holding times
(mean 1 h): M/M/c/c with offered load a = λ/μ, whose lost share is Erlang B,

    B(c, a) = (a^c / c!) / Σ_{k=0..c} a^k / k!

(and the same for any holding-time distribution with that mean: Erlang B is insensitive).
The lost share of each replication (jobs arriving after a warm-up) is averaged over independent
replications; theory must lie in the interval (99.9% for the assertion, so a correct model fails
on 0.1% of seeds; 95% in the report and in the slow coverage test). The half-width must be under
10% of theory; the replications are sized for that (`replications_needed`: at most a 0.1% chance
of a too-wide interval on any seed, from the per-replication sd of a pilot at the CI seed).
(capsim's rate demand for inference, served per step, is a fluid model without discrete
arrivals, so it is not the object of this check.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pytest

import sim
from validation.queueing import (
    SEED,
    Interval,
    arrived_in,
    erlang_b,
    mean_ci,
    one_pool,
    replications_needed,
    report,
)

MAX_HALF = 0.1  # of theory


@dataclass(frozen=True)
class Setting:
    c: int
    a: float  # offered load in units (λ with mean holding 1 h)
    horizon: float
    warmup: float
    pilot_sd: float  # sd of one replication's lost share (10 replications, seed SEED)

    @property
    def replications(self) -> int:
        return replications_needed(self.pilot_sd, 10, MAX_HALF * erlang_b(self.c, self.a))

    def __str__(self) -> str:
        return f"M/M/{self.c}/{self.c}, a = {self.a:g}"


SETTINGS = [
    Setting(c=5, a=4.0, horizon=500.0, warmup=10.0, pilot_sd=0.0125),
    Setting(c=10, a=7.0, horizon=800.0, warmup=10.0, pilot_sd=0.0073),
    Setting(c=2, a=3.0, horizon=300.0, warmup=10.0, pilot_sd=0.0128),
]


@cache
def lost_share(setting: Setting, seed: int = SEED) -> Interval:
    s = one_pool(setting.c, {"requests": (setting.a, 0)}, 1.0, setting.horizon, max_wait=0.0,
                 seed=seed)
    shares = []
    for r in range(setting.replications):
        jobs = arrived_in(sim.run(s, replication=r).jobs, setting.warmup, setting.horizon)
        assert set(jobs.status) <= {"finished", "running", "abandoned"}
        lost = jobs.status == "abandoned"
        assert (jobs[~lost].wait_h == 0).all(), "a served job waited in a loss system"
        shares.append(lost.mean())
    return mean_ci(shares)


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_lost_share_agrees_with_erlang_b(setting: Setting) -> None:
    got = lost_share(setting)
    expected = erlang_b(setting.c, setting.a)
    report("Erlang B: lost share", str(setting), "Erlang B", expected, got)
    assert got.covers(expected), f"Erlang B {expected:.4f}, capsim {got} (99.9%)"
    assert got.half <= MAX_HALF * expected, f"interval too wide to test anything: {got}"


def test_erlang_b_formula() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(5, 4.0) == pytest.approx(0.19907, abs=1e-5)
    assert erlang_b(2, 3.0) == pytest.approx(9 / 2 / (1 + 3 + 9 / 2))
