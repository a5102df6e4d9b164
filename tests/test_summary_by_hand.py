"""The run summary on a scenario small enough to work out every figure by hand.

Provider a: 10 units at $2/h, 4 of them committed at $1/h for the whole 10 h run. Provider b:
10 units at $3/h. Accelerators draw 1 MW each (so MW = units). Runs (cheapest_first):
  r1: 6 units on a, 5 h, arrives at 0  -> runs 0-5, waits 0
  r2: 6 units on a, 2 h, arrives at 1  -> only 4 free until 5: runs 5-7, waits 4
  r3: 2 units on b, 5 h, arrives at 0  -> runs 0-5, waits 0
Spend at a: committed 4 x $1 x 10 h = 40; on demand (6 − 4) x $2 x 7 h = 28. At b: 2 x $3 x 5 = 30.
Committed units used 7 h of 10: utilisation 0.7, idle cost 0.3 x 40 = 12.
Waits of started runs 0, 4, 0: mean 4/3; p95 by linear interpolation 3.6.
Accelerator-hours: a 42, b 10. Peak power (hours 0-5): the 20 available units draw their idle
share (default 0.3) of 1 MW, 6 MW, and the 8 in use the other 0.7 MW each: 6 + 5.6 = 11.6 MW.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.scenario import scenario_from_data


@pytest.fixture(scope="module")
def summary() -> dict:  # type: ignore[type-arg]
    def pool(price: float, **extra: object) -> dict[str, object]:
        return {"accelerator": "acc", "price_per_hour": price,
                "capacity": [{"at": "2025-01-01", "units": 10}], **extra}

    def run(name: str, at: str, units: int, hours: float, provider: str) -> dict[str, object]:
        return {"name": name, "arrival": f"2025-01-01T{at}", "units": units, "duration": hours,
                "providers": [provider]}

    s = scenario_from_data({
        "name": "by_hand", "start": "2025-01-01", "horizon": 10, "seed": 1,
        "accelerators": {"acc": {"family": "gpu", "power_kw": 1000}},
        "providers": {
            "a": {"pools": {"p": pool(2.0, commitments=[
                {"units": 4, "price_per_hour": 1.0, "start": "2025-01-01", "term": 10}])}},
            "b": {"pools": {"q": pool(3.0)}}},
        "training": {"jobs": [run("r1", "00:00", 6, 5, "a"), run("r2", "01:00", 6, 2, "a"),
                              run("r3", "00:00", 2, 5, "b")]},
        "policy": {"default": "cheapest_first"},
    })
    return sim.run(s).summary


def test_spend_and_commitments(summary: dict) -> None:  # type: ignore[type-arg]
    assert summary["spend_total"] == pytest.approx(98.0)
    assert summary["spend_by_provider"] == pytest.approx({"a": 68.0, "b": 30.0})
    assert summary["spend_committed"] == pytest.approx(40.0)
    assert summary["spend_on_demand"] == pytest.approx(58.0)
    assert summary["committed_unit_hours"] == pytest.approx(40.0)
    assert summary["committed_utilisation"] == pytest.approx(0.7)
    assert summary["committed_idle_cost"] == pytest.approx(12.0)


def test_training_figures(summary: dict) -> None:  # type: ignore[type-arg]
    assert summary["jobs_total"] == 3 and summary["jobs_finished"] == 3
    assert summary["jobs_running_at_end"] == summary["jobs_waiting_at_end"] == 0
    assert summary["training_wait_mean_h"] == pytest.approx(4 / 3)
    # p95 of (0, 0, 4) by linear interpolation: position 0.95 x 2 = 1.9 -> 0 + 0.9 x 4
    assert summary["training_wait_p95_h"] == pytest.approx(3.6)
    assert summary["training_restarts"] == 0


def test_power_and_concentration(summary: dict) -> None:  # type: ignore[type-arg]
    assert summary["peak_power_mw"] == pytest.approx(20 * 0.3 + 8 * 0.7)
    assert summary["min_power_headroom_mw"] is None and summary["power_ceiling_breach_steps"] == 0
    spend = np.array([68.0, 30.0]) / 98.0
    hours = np.array([42.0, 10.0]) / 52.0
    assert summary["provider_share_of_spend"] == pytest.approx(dict(zip("ab", spend, strict=True)))
    assert summary["provider_share_of_accelerator_hours"] == pytest.approx(
        dict(zip("ab", hours, strict=True)))
    assert summary["hhi_spend"] == pytest.approx(float((spend**2).sum()))
    assert summary["hhi_accelerator_hours"] == pytest.approx(float((hours**2).sum()))
