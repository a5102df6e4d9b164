"""The `plan:` section: its decisions (worked by hand from the YAML below), a choice applied to
a scenario and billed by the engine, the worlds, plan.yaml, and located errors."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.api import run, with_changes
from sim.cli import EXIT_USER_ERROR, main
from sim.errors import UserError
from sim.planning.report import write_plan_yaml
from sim.planning.space import (
    apply_choice,
    choice_changes,
    decision_space,
    hand_choice,
    zeroed,
)
from sim.planning.worlds import WorldError, plan_worlds
from sim.scenario import ScenarioError, load_scenario, scenario_from_data
from sim.scenario.plan import commitment_key

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
BAD = Path(__file__).resolve().parent / "bad_scenarios"

# tiny.yaml starts 2025-01-06 (hour 0) and already holds, in azure/h100:
#   commitments: [{units: 600, price_per_hour: 2.0, start: 2024-01-01, term: 3y}]
# Added here: a second contract with the same start and term, and a blocks offer with one order.
POOL = """\
        commitments:
          - {units: 600, price_per_hour: 2.0, start: 2024-01-01, term: 3y}
          - {units: 100, price_per_hour: 2.2, start: 2024-01-01, term: 3y}
          - {units: 50, price_per_hour: 2.4, start: 2024-06-01, term: 2y}
        blocks:
          size: 100
          lead_time: 2d
          min_term: 1y
          price_per_hour: 2.5
          available: 0.8
          retry: 3d
          orders: [{at: 2025-01-07, count: 2}]
"""
PLAN = """
plan:
  buy:
    - pool: azure/h100
      commitment:
        start: [2024-01-01, 2025-01-07]
        term: [3y, 1y]
        price_per_hour: 2.0
        units: {min: 0, max: 1200, step: 200}
    - pool: azure/h100
      blocks: {at: [2025-01-07, 2025-01-08T12:00], count: {max: 3}}
  worlds:
    base: {weight: 2}
    busy: {weight: 1, changes: {inference.chat.growth_per_month: 0.3}}
    cut: {weight: 1, outages: [{provider: gcp, start: 2025-01-07, duration: 1d, share: 0.5}]}
    other: {weight: 1, file: worlds/other.yaml}
  risk: cvar:0.9
"""
ORIGINAL = "        commitments: [{units: 600, price_per_hour: 2.0, start: 2024-01-01, term: 3y}]\n"


def tiny_text(pool: str = POOL, plan: str = PLAN, **replace: str) -> str:
    text = TINY.read_text()
    assert ORIGINAL in text
    text = text.replace(ORIGINAL, pool) + plan
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest.fixture
def planned(tmp_path: Path) -> Path:
    """tiny.yaml with the pool and plan above, and the file world it names."""
    (tmp_path / "worlds").mkdir()
    other = TINY.read_text().replace("name: tiny", "name: other").replace("seed: 7", "seed: 9")
    (tmp_path / "worlds" / "other.yaml").write_text(other.replace(ORIGINAL, POOL))
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text())
    return path


def items(models: list[Any]) -> Counter[str]:
    """A list of commitments or orders as a multiset."""
    return Counter(yaml.safe_dump(m.model_dump(mode="json"), sort_keys=True) for m in models)


# ---------------------------------------------------------------- the decisions


def test_decisions_expand_dates_and_terms_in_file_order(planned: Path) -> None:
    s = load_scenario(planned)
    ds = decision_space(s)
    assert [d.key for d in ds] == [
        "azure/h100 commitment from 2024-01-01 for 3y",
        "azure/h100 commitment from 2024-01-01 for 1y",
        "azure/h100 commitment from 2025-01-07 for 3y",
        "azure/h100 commitment from 2025-01-07 for 1y",
        "azure/h100 blocks ordered 2025-01-07 for 1y",
        "azure/h100 blocks ordered 2025-01-08T12:00 for 1y",
    ]
    assert decision_space(load_scenario(planned)) == ds  # stable
    # 2024-01-01 is 366 (leap year) + 5 days before 2025-01-06: -371 × 24 = -8904 h.
    assert [d.start_h for d in ds] == [-8904, -8904, 24, 24, 24, 60]
    assert [d.term_h for d in ds] == [26280, 8760, 26280, 8760, 8760, 8760]
    # Hand: the two 2024-01-01 3y contracts (600 + 100); the 2024-06-01 2y one matches nothing;
    # the order of 2 blocks on 2025-01-07 (its term: the offer's minimum, 1y).
    assert [d.hand for d in ds] == [700, 0, 0, 0, 2, 0]
    c, b = ds[0], ds[4]
    assert (c.kind, c.lo, c.hi, c.step, c.price_per_hour, c.size) == (
        "commitment", 0, 1200, 200, 2.0, 1.0)
    assert list(c.values()) == [0, 200, 400, 600, 800, 1000, 1200]
    assert (b.kind, b.lo, b.hi, b.step, b.size, b.price_per_hour) == ("blocks", 0, 3, 1, 100, 2.5)
    assert (b.lead_time_h, b.online_h, b.available, b.retry_h) == (48, 72, 0.8, 72)
    assert hand_choice(ds) == {d.key: d.hand for d in ds}
    assert set(zeroed(ds).values()) == {0.0}


def test_a_blocks_term_of_its_own_and_single_values(tmp_path: Path) -> None:
    plan = """
plan:
  buy:
    - pool: azure/h100
      blocks: {at: 2025-01-07, count: {min: 1, max: 2}, term: 2y}
    - pool: gcp/tpu-v5
      commitment: {start: 2025-01-06T06:00, term: 90d, price_per_hour: 1.5,
                   units: {max: 400, step: 50}, on_end: renew}
"""
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(plan=plan))
    ds = decision_space(load_scenario(path))
    assert [(d.key, d.hand, d.start_h, d.term_h, d.lo, d.on_end) for d in ds] == [
        ("azure/h100 blocks ordered 2025-01-07 for 2y", 0, 24, 17520, 1, "lapse"),
        ("gcp/tpu-v5 commitment from 2025-01-06T06:00 for 90d", 0, 6, 2160, 0, "renew"),
    ]


def test_the_hand_choice_changes_nothing(planned: Path) -> None:
    s = load_scenario(planned)
    ds = decision_space(s)
    assert choice_changes(s, ds, hand_choice(ds)) == ()
    same = apply_choice(s, ds, hand_choice(ds))
    pool, again = s.providers["azure"].pools["h100"], same.providers["azure"].pools["h100"]
    assert items(again.commitments) == items(pool.commitments)
    assert pool.blocks is not None and again.blocks is not None
    assert items(again.blocks.orders) == items(pool.blocks.orders)


def test_a_choice_replaces_the_matching_purchases_and_keeps_the_rest(planned: Path) -> None:
    s = load_scenario(planned)
    ds = decision_space(s)
    choice = hand_choice(ds) | {
        "azure/h100 commitment from 2024-01-01 for 3y": 0,      # both 2024 contracts go
        "azure/h100 commitment from 2025-01-07 for 1y": 400,
        "azure/h100 blocks ordered 2025-01-07 for 1y": 0,
        "azure/h100 blocks ordered 2025-01-08T12:00 for 1y": 1,
    }
    changes = dict(choice_changes(s, ds, choice))
    assert set(changes) == {"providers.azure.pools.h100.commitments",
                            "providers.azure.pools.h100.blocks.orders"}
    pool = with_changes(s, changes).providers["azure"].pools["h100"]
    assert [(c.units, c.price_per_hour, c.start.isoformat(), c.hours, c.on_end)
            for c in pool.commitments] == [
        (50, 2.4, "2024-06-01T00:00:00", 17520, "lapse"),       # no decision: kept
        (400, 2.0, "2025-01-07T00:00:00", 8760, "lapse"),
    ]
    assert pool.blocks is not None
    assert [(o.at.isoformat(), o.count, o.term) for o in pool.blocks.orders] == [
        ("2025-01-08T12:00:00", 1, None)]
    # 700 → 600: the two contracts become one of 600 at the decision's price.
    pool = apply_choice(s, ds, hand_choice(ds) | {ds[0].key: 600}).providers["azure"].pools["h100"]
    assert sorted((c.units, c.price_per_hour) for c in pool.commitments) == [(50, 2.4), (600, 2.0)]
    with pytest.raises(KeyError, match="no decision named"):
        choice_changes(s, ds, {"azure/h100 commitment from 2030-01-01 for 1y": 1})


def test_the_engine_bills_the_chosen_commitments(tmp_path: Path) -> None:
    plan = """
plan:
  buy:
    - pool: azure/h100
      commitment: {start: 2024-01-01, term: 3y, price_per_hour: 2.0, units: {max: 1000, step: 100}}
    - pool: azure/h100
      commitment: {start: 2025-01-07, term: 1y, price_per_hour: 2.5, units: {max: 1000, step: 100}}
"""
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(pool=ORIGINAL, plan=plan, **{"horizon: 7d": "horizon: 2d"}))
    s = load_scenario(path)
    ds = decision_space(s)
    assert [d.hand for d in ds] == [600, 0]
    chosen = apply_choice(s, ds, {ds[0].key: 300, ds[1].key: 400})
    summary = run(chosen).summary
    # 300 units × 2.0 $/h over the whole 48 h run, and 400 × 2.5 $/h from hour 24 to 48.
    assert summary["spend_committed"] == pytest.approx(300 * 2.0 * 48 + 400 * 2.5 * 24)
    assert summary["committed_unit_hours"] == pytest.approx(300 * 48 + 400 * 24)



def test_a_price_path_gives_each_start_its_price_and_the_engine_bills_it(tmp_path: Path) -> None:
    """`price_per_hour: [a, b]` with two starts: the contract from the first start at a, from
    the second at b (a list of one price, or one price, holds for every start). Catches a path
    read in the wrong order, or one price applied to every start."""
    plan = """
plan:
  buy:
    - pool: azure/h100
      commitment: {start: [2025-01-06, 2025-01-07], term: 1d, price_per_hour: [3.0, 1.5],
                   units: {max: 1000, step: 100}}
"""
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(pool=ORIGINAL, plan=plan, **{"horizon: 7d": "horizon: 2d"}))
    s = load_scenario(path)
    ds = decision_space(s)
    assert [(d.start_h, d.price_per_hour) for d in ds] == [(0, 3.0), (24, 1.5)]
    summary = run(apply_choice(s, ds, {ds[0].key: 200, ds[1].key: 400})).summary
    # the file's own 600 units at 2.0 over 48 h, 200 × 3.0 over hours 0-24, 400 × 1.5 over 24-48
    assert summary["spend_committed"] == pytest.approx(600 * 2.0 * 48 + 200 * 3.0 * 24
                                                       + 400 * 1.5 * 24)


# ---------------------------------------------------------------- the worlds


def test_worlds_are_weighted_changed_and_read_from_files(planned: Path) -> None:
    s = load_scenario(planned)
    worlds = plan_worlds(s, planned)
    assert [(w.name, w.weight) for w in worlds] == [
        ("base", 0.4), ("busy", 0.2), ("cut", 0.2), ("other", 0.2)]  # 2, 1, 1, 1 of 5
    base, busy, cut, other = (w.scenario for w in worlds)
    assert all(w.scenario.plan is None for w in worlds)
    assert base.model_dump() == s.model_copy(update={"plan": None}).model_dump()
    assert busy.inference["chat"].growth_per_month == 0.3
    assert s.inference["chat"].growth_per_month == 0.1
    assert cut.outages[:-1] == s.outages and len(cut.outages) == len(s.outages) + 1
    added = cut.outages[-1]
    assert (added.provider, added.start.isoformat(), added.duration, added.share) == (
        "gcp", "2025-01-07T00:00:00", 24, 0.5)
    assert (other.name, other.seed) == ("other", 9)
    # a choice applies in every world
    ds = decision_space(s)
    for w in worlds:
        pool = apply_choice(w.scenario, ds, zeroed(ds)).providers["azure"].pools["h100"]
        assert [c.units for c in pool.commitments] == [50]


def test_without_worlds_there_is_one_base_world(tmp_path: Path) -> None:
    plan = PLAN.split("  worlds:")[0]
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(plan=plan))
    s = load_scenario(path)
    assert [(w.name, w.weight) for w in plan_worlds(s, path)] == [("base", 1.0)]
    assert [(w.name, w.weight) for w in plan_worlds(s, None)] == [("base", 1.0)]


def test_a_portfolio_file_replaces_the_worlds(planned: Path, tmp_path: Path) -> None:
    s = load_scenario(planned)
    portfolio = tmp_path / "portfolio.yaml"
    portfolio.write_text("worlds:\n  calm: {weight: 3}\n  seeded: {weight: 1, changes: {seed: 5}}\n")
    worlds = plan_worlds(s, planned, portfolio)
    assert [(w.name, w.weight, w.scenario.seed) for w in worlds] == [
        ("calm", 0.75, 7), ("seeded", 0.25, 5)]
    portfolio.write_text("worlds:\n  calm: {weight: 3}\n  bad:\n    weight: 1\n"
                         "    changes: {inference.chatt.noise: 0}\n")
    with pytest.raises(WorldError) as info:
        plan_worlds(s, planned, portfolio)
    assert isinstance(info.value, UserError)
    assert [str(p) for p in info.value.problems] == [
        f"{portfolio}:5: worlds.bad.changes.inference.chatt.noise: no such field: "
        "inference.chatt: no field 'chatt' here; known: chat, api"]
    portfolio.write_text("worlds:\n  calm: {weight: 0}\n")
    with pytest.raises(WorldError, match=r"portfolio.yaml:2: worlds.calm.weight: must be greater"):
        plan_worlds(s, planned, portfolio)


def test_a_file_world_must_exist_and_have_the_pools_bought_in(planned: Path) -> None:
    s = load_scenario(planned)
    other = planned.parent / "worlds" / "other.yaml"
    other.write_text(TINY.read_text())  # no blocks offer in azure/h100
    with pytest.raises(WorldError) as info:
        plan_worlds(s, planned)
    [problem] = info.value.problems
    line = planned.read_text().splitlines().index(
        "    other: {weight: 1, file: worlds/other.yaml}") + 1
    assert (problem.line, problem.path) == (line, "plan.worlds.other.file")
    assert "lacks a `blocks` offer in azure/h100 (the plan orders blocks)" in problem.message
    other.unlink()
    with pytest.raises(WorldError, match=r"plan\.worlds\.other\.file: no such file"):
        plan_worlds(s, planned)


def test_a_world_change_the_scenario_refuses_is_located(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(plan=PLAN.replace("growth_per_month: 0.3", "growth_per_month: x")))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    [problem] = info.value.problems
    assert problem.path == "plan.worlds.busy.changes"
    assert problem.message == ("the world's scenario is not valid: "
                               "inference.chat.growth_per_month: expected a number, got 'x'")


def test_a_decision_given_twice_is_located(tmp_path: Path) -> None:
    plan = """
plan:
  buy:
    - pool: azure/h100
      commitment: {start: 2025-01-07, term: 1y, price_per_hour: 2.0, units: {max: 10, step: 5}}
    - pool: azure/h100
      commitment: {start: [2025-01-08, 2025-01-07], term: 8760, price_per_hour: 2.1,
                   units: {max: 10, step: 5}}
"""
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(plan=plan))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    [problem] = info.value.problems
    assert problem.path == "plan.buy[1].pool"
    assert "'azure/h100 commitment from 2025-01-07 for 1y' is also made by plan.buy[0]" in \
        problem.message


@pytest.mark.parametrize(("edit", "path", "message"), [
    ({"blocks": {"at": "2025-01-07", "count": {"max": 2}, "term": "90d"}},
     "plan.buy[0].blocks.term", "90 days is shorter than the offer's minimum term (365 days)"),
    ({"blocks": {"at": "2025-01-01", "count": {"max": 2}}},
     "plan.buy[0].blocks.at[0]", "date 2025-01-01 is before the scenario starts"),
    ({"pool": "azure-h100"}, "plan.buy[0].pool", "expected provider/pool"),
    ({"pool": "aws/h100"}, "plan.buy[0].pool", "unknown provider 'aws'"),
    ({"outages": [{"provider": "gcp", "pool": "tpu-v9", "start": "2025-01-07", "duration": 1}]},
     "plan.worlds.w.outages[0].pool", "unknown pool of gcp 'tpu-v9'"),
    ({"policy": "cheapest"}, "plan.policy", "unknown policy 'cheapest'"),
    ({"commitment": {"start": "2025-01-07", "term": [], "price_per_hour": 1,
                     "units": {"max": 5, "step": 1}}},
     "plan.buy[0].commitment.term", "give at least one value"),
    ({"commitment": {"start": "2025-01-07", "term": "1y", "price_per_hour": 1,
                     "units": {"max": 5, "step": 0}}},
     "plan.buy[0].commitment.units.step", "must be greater than 0"),
    ({"worlds": {"w": {"weight": 1, "file": "x.yaml", "changes": {"seed": 1}}}},
     "plan.worlds.w", "either a `file` or `changes`"),
])
def test_what_the_loader_refuses_in_a_plan(edit: dict[str, Any], path: str, message: str) -> None:
    data = yaml.safe_load(tiny_text(plan=""))
    buy: dict[str, Any] = {"pool": "azure/h100"}
    plan: dict[str, Any] = {"buy": [buy], "worlds": {"w": {"weight": 1}}}
    for key, value in edit.items():
        if key in ("outages",):
            plan["worlds"]["w"][key] = value
        elif key in ("policy", "worlds"):
            plan[key] = value
        else:
            buy[key] = value
    if "commitment" not in buy and "blocks" not in buy:
        buy["commitment"] = {"start": "2025-01-07", "term": "1y", "price_per_hour": 1,
                             "units": {"max": 5, "step": 1}}
    data["plan"] = plan
    with pytest.raises(ScenarioError) as info:
        scenario_from_data(data)
    found = [(p.path, p.message) for p in info.value.problems]
    assert any(p == path and message in m for p, m in found), found


def test_risk_and_settings_are_read(planned: Path) -> None:
    section = load_scenario(planned).plan
    assert section is not None
    risk = section.parsed_risk
    assert (risk.kind, risk.level, risk.bound) == ("cvar", 0.9, None)
    assert (section.policy, section.replications, section.check_replications,
            section.candidates, section.proposal.step) == (None, 4, 8, 6, 24)


BAD_PLANS = ["plan_unknown_pool", "plan_blocks_without_offer", "plan_min_above_max",
             "plan_bad_risk", "plan_unknown_change_path", "plan_unknown_key"]


@pytest.mark.parametrize("name", BAD_PLANS)
def test_bad_plan_sections_exit_2_with_the_line(name: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / f"{name}.yaml"
    expect = path.read_text().splitlines()[1].removeprefix("# expect: ")
    line, field, message = expect.split(": ", 2)
    assert main(["validate", str(path)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:{line}: {field}: ") and message in err
    assert err.count("error:") == 1


# ---------------------------------------------------------------- plan.yaml


def test_plan_yaml_loads_as_the_chosen_scenario_from_another_folder(
        planned: Path, tmp_path: Path) -> None:
    s = load_scenario(planned)
    ds = decision_space(s)
    choice = hand_choice(ds) | {ds[0].key: 0, ds[3].key: 400, ds[4].key: 0, ds[5].key: 3}
    dest = tmp_path / "results" / "plan" / "plan.yaml"
    dest.parent.mkdir(parents=True)
    write_plan_yaml(planned, s, ds, choice, dest, "capsim plan of tiny\nchosen: best")
    text = dest.read_text()
    assert text.startswith("# capsim plan of tiny\n# chosen: best\nname: tiny\n")
    assert [p.name for p in dest.parent.iterdir()] == ["plan.yaml"]  # no temporary left
    written = load_scenario(dest)
    expected = with_changes(s, dict(choice_changes(s, ds, choice)))
    got, want = written.model_dump(mode="json"), expected.model_dump(mode="json")
    assert got["plan"]["worlds"]["other"].pop("file") == "../../worlds/other.yaml"
    assert want["plan"]["worlds"]["other"].pop("file") == "worlds/other.yaml"
    assert got == want
    # the file world still loads from the new folder, and the plan again has the chosen values
    assert plan_worlds(written, dest)[-1].scenario.name == "other"
    assert [d.hand for d in decision_space(written)] == [0, 0, 0, 400, 0, 3]


def test_plan_yaml_adds_the_lists_a_pool_lacks(tmp_path: Path) -> None:
    pool = POOL.replace("          orders: [{at: 2025-01-07, count: 2}]\n", "").replace(
        "        commitments:\n          - {units: 600, price_per_hour: 2.0, start: 2024-01-01,"
        " term: 3y}\n          - {units: 100, price_per_hour: 2.2, start: 2024-01-01, term: 3y}\n"
        "          - {units: 50, price_per_hour: 2.4, start: 2024-06-01, term: 2y}\n", "")
    plan = PLAN.split("  worlds:")[0]
    path = tmp_path / "s.yaml"
    path.write_text(tiny_text(pool=pool, plan=plan))
    s = load_scenario(path)
    ds = decision_space(s)
    assert hand_choice(ds) == zeroed(ds)
    choice = zeroed(ds) | {ds[2].key: 200, ds[4].key: 1}
    dest = tmp_path / "plan.yaml"
    write_plan_yaml(path, s, ds, choice, dest, "x")
    data = yaml.safe_load(dest.read_text())["providers"]["azure"]["pools"]["h100"]
    assert data["commitments"] == [{"units": 200, "price_per_hour": 2.0, "start": "2025-01-07",
                                    "term": "3y"}]
    assert data["blocks"]["orders"] == [{"at": "2025-01-07", "count": 1}]
    assert load_scenario(dest).model_dump() == apply_choice(s, ds, choice).model_dump()


# ---------------------------------------------------------------- the shipped scenarios


def test_openai_2025_plan_includes_the_hand_written_contracts() -> None:
    s = load_scenario(ROOT / "scenarios" / "openai_2025.yaml")
    ds = decision_space(s)
    hand = hand_choice(ds)
    assert 4 <= len(ds) <= 8
    # the file's own azure/gb200 contracts of 2025-06-01 (60k) and 2025-09-01 (40k), 5y each
    assert hand["azure/gb200 commitment from 2025-06-01 for 5y"] == 60000
    assert hand["azure/gb200 commitment from 2025-09-01 for 5y"] == 40000
    for d in ds:
        assert d.lo <= d.hand <= d.hi and d.hand in d.values(), d.key
    worlds = plan_worlds(s, ROOT / "scenarios" / "openai_2025.yaml")
    assert len(worlds) == 3 and sum(w.weight for w in worlds) == pytest.approx(1)


def test_openai_2030_plan_sizes_every_contract_signed_in_the_run() -> None:
    """Issue 23, item 1: tens of decisions (>= 30), at every provider, dated in every year
    2025-2030; every contract and block order the file signs from the start on is one of them
    at its written size (so the hand plan is a point of the space), and only the contract
    signed before the run (Azure's H100s from 2024) is not."""
    s = load_scenario(ROOT / "scenarios" / "openai_2030.yaml")
    ds = decision_space(s)
    hand = hand_choice(ds)
    assert len(ds) >= 30
    assert {d.provider for d in ds} == {"azure", "oracle", "aws", "coreweave", "gcp"}
    years = {(s.start + timedelta(hours=d.start_h)).year for d in ds}
    assert years == set(range(2025, 2031))
    for day in ("2025-11-03", "2026-03-01", "2026-07-01"):  # one block ordered on each
        assert hand[f"aws/gb300 blocks ordered {day} for 7y"] == 1
    signed = []
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            signed += [(pname, poolname, c.start, c.hours, c.units) for c in pool.commitments]
    for pname, poolname, start, hours, units in signed:
        key = commitment_key(pname, poolname, start, hours)
        if start < s.start:
            assert key not in hand
            continue
        assert hand[key] == units, key
    assert sum(1 for _, _, start, _, _ in signed if start >= s.start) == 10
    for d in ds:
        assert d.lo <= d.hand <= d.hi and d.hand in d.values(), d.key
    assert choice_changes(s, ds, hand) == ()
    worlds = plan_worlds(s, ROOT / "scenarios" / "openai_2030.yaml")
    assert len(worlds) == 3 and sum(w.weight for w in worlds) == pytest.approx(1)
