"""More hand-worked checks for mutants of sim/engine/ that bench/mutation.py let survive (see
test_mutants_engine.py): each names the planted change it catches."""

from __future__ import annotations

import pytest

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
