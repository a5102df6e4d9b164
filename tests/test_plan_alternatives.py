"""Near-optimal alternatives of `capsim plan`, on a plan whose every candidate's cost, committed
spend and concentration are worked by hand.

Two providers, each one pool of 1,000 identical GPUs at $2 an hour on demand, and a constant
demand of 1,000 GPUs (no noise, no outages: every replication costs the same). Each pool offers
a one-week commitment in steps of 500 units: $1.00 an hour at `a`, $1.01 at `b`. The best plan
commits 1,000 at `a`: $1,000 an hour. The file's own (hand) plan splits 500 and 500: $1,005 an
hour, 0.5 % dearer, and the least concentrated plan there is (HHI of committed spend
(500² + 505²) / 1005² = 0.500006, against 1 for the chosen plan). The planner's moves from the
hand plan towards the chosen one, (1000, 500) and (500, 0), cost $1,505 and $1,500 an hour:
50 % above the chosen plan, so outside the 5 % band.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sim
from sim.planning.alternatives import concentration, near_optimal

HOURS = 168.0

SPLIT = """\
name: plan_split
start: 2025-01-06
horizon: 7d
step: 1h
seed: 5
accelerators:
  g: {family: gpu, power_kw: 1.0}
providers:
  a:
    pools:
      g:
        accelerator: g
        capacity: [{at: 2025-01-06, units: 1000}]
        price_per_hour: 2.0
        commitments: [{units: 500, price_per_hour: 1.00, start: 2025-01-06, term: 7d}]
  b:
    pools:
      g:
        accelerator: g
        capacity: [{at: 2025-01-06, units: 1000}]
        price_per_hour: 2.0
        commitments: [{units: 500, price_per_hour: 1.01, start: 2025-01-06, term: 7d}]
inference:
  chat: {base_units: 1000, value_per_unit_hour: 50.0}
policy:
  default: cheapest_first
plan:
  buy:
    - pool: a/g
      commitment: {start: 2025-01-06, term: 7d, price_per_hour: 1.00,
                   units: {min: 0, max: 1000, step: 500}}
    - pool: b/g
      commitment: {start: 2025-01-06, term: 7d, price_per_hour: 1.01,
                   units: {min: 0, max: 1000, step: 500}}
  replications: 1
  check_replications: 2
  candidates: 2
"""

A = "a/g commitment from 2025-01-06 for 7d"
B = "b/g commitment from 2025-01-06 for 7d"


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> sim.PlanResult:
    folder = tmp_path_factory.mktemp("split")
    path = folder / "plan_split.yaml"
    path.write_text(SPLIT)
    return sim.plan(path, store_dir=folder / "runs", workers=1)


def _row(result: sim.PlanResult, choice: dict[str, float]) -> dict[str, object]:
    label = next(c.label for c in result.candidates if c.choice == choice)
    return result.table[result.table["candidate"] == label].iloc[0].to_dict()


def test_the_chosen_plan_and_the_candidates_cost_what_the_hand_says(
        planned: sim.PlanResult) -> None:
    assert planned.choice == {A: 1000, B: 0}
    for choice, per_hour, committed in (({A: 1000, B: 0}, 1000.0, 1000.0),
                                        ({A: 500, B: 500}, 1005.0, 1005.0),
                                        ({A: 1000, B: 500}, 1505.0, 1505.0),
                                        ({A: 500, B: 0}, 1500.0, 500.0)):
        row = _row(planned, choice)
        assert row["cost_total"] == pytest.approx(per_hour * HOURS, rel=1e-9), choice
        assert row["spend_committed"] == pytest.approx(committed * HOURS, rel=1e-9), choice


def test_the_split_plan_is_the_one_alternative_the_least_concentrated(
        planned: sim.PlanResult, tmp_path: Path) -> None:
    """Catches: the band read in the wrong direction or as an absolute sum (the 50 % moves
    listed), the chosen plan offered as its own alternative, concentration taken the wrong way
    round (most concentrated first) or shares of the wrong provider (b holds 505 of 1005)."""
    alt = planned.alternatives
    assert list(alt["candidate"]) == ["hand"] and list(alt["reason"]) == ["least concentrated"]
    row = alt.iloc[0]
    assert row["committed_hhi"] == pytest.approx((500**2 + 505**2) / 1005**2, rel=1e-9)
    assert row["committed_top_provider"] == "b"
    assert row["vs_chosen"] == pytest.approx(5.0 * HOURS, rel=1e-9)
    chosen = _row(planned, {A: 1000, B: 0})
    assert chosen["committed_hhi"] == pytest.approx(1.0)
    # plan.json, the report and the report page say the same
    out = planned.save(tmp_path / "plan")
    meta = json.loads((out / "plan.json").read_text())
    [item] = meta["alternatives"]
    assert item["candidate"] == "hand" and item["reason"] == "least concentrated"
    assert item["differences"] == {A: {"chosen": 1000, "alternative": 500},
                                   B: {"chosen": 0, "alternative": 500}}
    assert "least concentrated: hand" in planned.report()
    from sim.report.plan_page import plan_page

    page = plan_page(out)
    assert 'data-alternative="hand"' in page
    assert '<td class="num" data-expected="committed_hhi" data-value="1.0">1.000</td>' in page
    # and the cost-against-risk plot marks it, at its risk and cost
    from sim.plots.plan import plan_frontier

    [marker] = [line for line in plan_frontier(planned).axes[0].get_lines()
                if line.get_label() == "near-optimal alternative"]
    assert list(marker.get_ydata()) == pytest.approx([row["cost_total"]])


def test_a_wider_band_lets_in_the_least_committed_and_the_most_different(
        planned: sim.PlanResult) -> None:
    """With a 60 % band the two moves come in: (500, 0) commits least ($500 an hour against
    $1,000), and of what is left (1000, 500) is the only plan, half a range away (distance 0.5).
    Catches a pick that ignores what an earlier reason took, or a least-committed pick that
    reads total spend (where (500, 0) is no cheaper than (1000, 500))."""
    choices = {c.label: c.choice for c in planned.candidates}
    alt = near_optimal(planned.table, choices, planned.decisions, planned.chosen, band=0.6)
    picked = {r["reason"]: choices[r["candidate"]] for _, r in alt.iterrows()}
    assert picked == {"least concentrated": {A: 500, B: 500},
                      "least committed spend": {A: 500, B: 0},
                      "most different": {A: 1000, B: 500}}
    assert list(alt["distance"]) == pytest.approx([1.0, 0.5, 0.5])


def test_concentration_by_hand() -> None:
    assert concentration({"x": 3.0, "y": 1.0}) == pytest.approx((0.625, "x", 0.75))
    hhi, top, share = concentration({"x": 0.0})
    assert top == "" and hhi != hhi and share != share  # nothing committed: no figure
