"""Training placement and restarts on small scenarios worked out by hand: claims after an outage,
evictions when an outage leaves too little, list cost across a price step, placement order."""

from __future__ import annotations

import pytest
from scenario_edit import at, job, scenario

import sim
from sim.scenario import scenario_from_data


def _two_providers(jobs: list[dict], outages: list[dict], horizon: float = 48) -> sim.Scenario:
    """Provider `a` (pool of 8 at $1/h) and `b` (pool of 8 at $2/h), cheapest first."""
    pools = {name: {"pools": {"gpu": {"accelerator": "acc", "price_per_hour": price,
                                      "capacity": [{"at": "2025-01-01", "units": 8}]}}}
             for name, price in (("a", 1.0), ("b", 2.0))}
    return scenario_from_data({
        "name": "two", "start": "2025-01-01", "horizon": horizon, "seed": 1,
        "accelerators": {"acc": {"family": "gpu", "power_kw": 0}}, "providers": pools,
        "training": {"jobs": jobs}, "policy": {"default": "cheapest_first"},
        "outages": outages})


def test_a_run_restarting_away_from_its_claim_frees_it_for_the_queue_at_once() -> None:
    """X (8 units) runs on a; W (4 units, only a) waits behind it from hour 1. At hour 5 half of
    a fails for 10 h: X is interrupted and claims a's 8 units, of which 4 work. X cannot restart
    on them (4 < 8) and restarts on b at once, letting its claim go: a's 4 working units are
    free, and W starts there at hour 5 (not when a is whole again at 15).
    Catches training._setup: `self._claim_freed = True` -> False (the pass that moved X did not
    start over for the runs it had passed by)."""
    s = _two_providers([job("x", 0, 8, 40), job("w", 1, 4, 2, providers=["a"])],
                       [{"provider": "a", "start": at(5), "duration": 10, "share": 0.5}])
    j = sim.run(s).jobs.set_index("job")
    assert (j.loc["x", "restarts"], j.loc["x", "provider"]) == (1, "b")
    assert j.loc["w", "provider"] == "a"
    assert j.loc["w", "start_h"] == pytest.approx(5.0)


def test_runs_an_outage_spares_are_evicted_when_the_rest_cannot_hold_them() -> None:
    """Ten 1-unit runs fill a 10-unit pool; an outage takes 0.44 of it at hour 5: 4.4 units of
    capacity, and the 4 whole units it takes (to the nearest unit) stop the 4 runs on them. The
    6 runs it spares no longer fit in the 5.6 units left, so the lowest-priority, latest of
    them must go (MODEL: never hold more than is available), in every replication.
    Catches supply._outage: dropping `self._after_supply(p, increased=False)`."""
    s = scenario(10, horizon=12, jobs=[job(f"r{i}", 0, 1, 100) for i in range(10)],
                 outages=[{"provider": "cloud", "start": at(5), "duration": 3, "share": 0.44}])
    for rep in range(5):
        r = sim.run(s, replication=rep)
        assert (r.steps.training <= r.steps.capacity + 1e-9).all(), rep
        ev = r.events
        stops = ev[ev.kind == "job_interrupted"].detail.astype(str)
        assert stops.str.startswith("scheduled_outage").sum() == 4, rep
        assert stops.str.startswith("capacity").sum() == 1, rep


def test_a_runs_list_cost_follows_a_price_step_during_it() -> None:
    """$2/h until hour 10, then $3/h (a price step). A run of 4 units from hour 5 to 15 costs
    4 x (5 h x $2 + 5 h x $3) = $100 at list price; one of 2 units from 2:15 to 2:45, inside
    one step, 2 x 0.5 h x $2 = $2.
    Catches training._close_segment: `units * list price hours` -> `/`;
    training._list_price_hours: dropping the within-one-step `return`."""
    s = scenario(8, horizon=24, jobs=[job("r", 5, 4, 10), job("s", 2.25, 2, 0.5)],
                 pool={"price_per_hour": 2.0,
                       "prices": {"steps": [{"at": at(10), "price_per_hour": 3.0}]}})
    j = sim.run(s).jobs.set_index("job")
    assert (j.loc["r", "start_h"], j.loc["r", "end_h"]) == pytest.approx((5.0, 15.0))
    assert j.loc["r", "cost_at_list_price"] == pytest.approx(100.0)
    assert (j.loc["s", "start_h"], j.loc["s", "end_h"]) == pytest.approx((2.25, 2.75))
    assert j.loc["s", "cost_at_list_price"] == pytest.approx(2.0)


def test_a_policy_that_does_not_sink_commitments_places_by_its_own_order() -> None:
    """Diversified (share cap 1: plain price order) does not treat idle committed units as
    free: a 4-unit run goes to provider a at $1/h, not to b at $2/h although b has 4 idle
    units committed at $1.5/h (that is what cheapest_first, which sinks them, would do).
    Catches training._place: `self.sunk and self._any_committed` -> `or`."""
    pools = {name: {"pools": {"gpu": {
        "accelerator": "acc", "price_per_hour": price,
        "capacity": [{"at": "2025-01-01", "units": 8}], **extra}}}
        for name, price, extra in (
            ("a", 1.0, {}),
            ("b", 2.0, {"commitments": [{"units": 4, "price_per_hour": 1.5,
                                         "start": "2025-01-01", "term": "1y"}]}))}
    data = {"name": "sunk", "start": "2025-01-01", "horizon": 10, "seed": 1,
            "accelerators": {"acc": {"family": "gpu", "power_kw": 0}}, "providers": pools,
            "training": {"jobs": [job("r", 0, 4, 5)]},
            "policy": {"default": "diversified", "params": {"diversified": {"share_cap": 1.0}}}}
    s = scenario_from_data(data)
    assert sim.run(s).jobs.set_index("job").loc["r", "provider"] == "a"
    assert sim.run(s, policy="cheapest_first").jobs.set_index("job").loc["r", "provider"] == "b"
