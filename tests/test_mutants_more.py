"""More hand-worked checks for mutants of sim/engine/ that bench/mutation.py let survive (see
test_mutants_engine.py): each names the planted change it catches."""

from __future__ import annotations

import pytest
from test_model_rules import scenario

from sim.engine.compile import compile_scenario
from sim.engine.procurement import caps_with_availability


def test_availability_caps_change_only_when_a_level_does() -> None:
    """100 shared units from hour 0; the open share is 0.5 at hours 0 and 10, 0.8 at 20 and
    0.5 again at 30; no tenant cap, no blocks. The customer may hold 0.5 x 100 = 50 (50
    withheld) from hour 0, 80 (20 withheld) from hour 20 and 50 again from 30; hour 10 changes
    no level, so no row.
    Catches procurement.caps_with_availability: comparing whole rows, hour included
    (`out[-1][1:]` -> `out[-1][0:]`), which repeats unchanged levels; comparing with the first
    row (`out[-1]` -> `out[0]`), which drops the return to 50."""
    rows = caps_with_availability([(0.0, 100.0)], [], None,
                                  [(0.0, 0.5), (10.0, 0.5), (20.0, 0.8), (30.0, 0.5)])
    assert rows == [pytest.approx((0.0, 50.0, 50.0)), pytest.approx((20.0, 80.0, 20.0)),
                    pytest.approx((30.0, 50.0, 50.0))]


def test_the_weekend_dip_falls_on_saturdays_and_sundays() -> None:
    """2025-01-01 is a Wednesday. A service of 10 units with a weekly amplitude of 0.5 (the
    weekend dip, MODEL/README) needs 5 on Saturday 4 and Sunday 5 January and on the 11th and
    12th, 10 on every other day of the first two weeks.
    Catches demand.demand_series: the weekday taken `% 6` instead of `% 7`."""
    s = scenario(1, horizon=14 * 24, inference={"chat": {"base_units": 10,
                                                          "weekly_amplitude": 0.5}})
    demand = compile_scenario(s).services[0].demand
    by_day = [float(demand[24 * d]) for d in range(14)]
    assert all(float(x) == by_day[d] for d in range(14) for x in demand[24 * d:24 * d + 24])
    assert by_day == pytest.approx([10, 10, 10, 5, 5, 10, 10, 10, 10, 10, 5, 5, 10, 10])
