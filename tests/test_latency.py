"""Latency from load: hand-worked queueing cases, the fluid backlog, the two degradation modes,
and how the latency fields reach the compiled demand, services.csv and the summary."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine.compile import compile_scenario
from sim.latency.model import erlang_c, step_latency, ttft_quantiles, year_quantiles
from sim.latency.reference import fifo_ttft
from sim.results.latency import shortfall_basis

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"


def lat1(load: list[float], fleet: list[float], b: float = 1.0, work: float = 1.0,
         prefill: float = 0.0, ca2: float = 1.0, cs2: float = 1.0, step_h: float = 1.0,
         **kw: object):
    """step_latency for a formula service: every request `work` reference seconds."""
    n = len(load)
    return step_latency(np.array(load, float), np.array(fleet, float), b, np.full(n, work),
                        np.array([prefill]), np.full(n, work - prefill), np.full(n, 100.0),
                        ca2, cs2, step_h, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- queueing by hand


def test_erlang_c_matches_hand_worked_values() -> None:
    # C(2, 1): Erlang B = (1/2)/(1 + 1 + 1/2) = 1/5; C = B / (1 - 1/2 (1 - 1/5)) = 1/3.
    assert float(erlang_c(2, 1.0)) == pytest.approx(1 / 3, rel=1e-12)
    assert float(erlang_c(1, 0.5)) == pytest.approx(0.5, rel=1e-12)  # M/M/1: C = rho
    # C(3, 2): terms 1, 2, 2, 4/3 -> B = 4/19; C = (4/19) / (1 - 2/3 * 15/19) = 4/9.
    assert float(erlang_c(3, 2.0)) == pytest.approx(4 / 9, rel=1e-12)
    # Continued to real c, it lies between its integer neighbours.
    assert float(erlang_c(3, 2.0)) > float(erlang_c(3.5, 2.0)) > float(erlang_c(4, 2.0))


def test_mmc_mean_and_p99_wait_are_exact() -> None:
    # Two slots, a = 1, S = 1 s, Poisson and exponential: W > t with chance C e^{-(c-a)t/S}.
    lat = lat1([1.0], [2.0])
    assert float(lat.ttft_mean_s[0]) == pytest.approx(1 / 3, rel=1e-9)
    assert float(ttft_quantiles(lat, 0.99)[0]) == pytest.approx(math.log(100 / 3), rel=1e-9)
    assert float(ttft_quantiles(lat, 0.5)[0]) == pytest.approx(0.0, abs=1e-9)  # 2 in 3 never wait


def test_random_dispatch_to_small_queues_waits_more_than_one_queue() -> None:
    # Two slots as two M/M/1 queues at rho 1/2: mean wait rho S / (1 - rho) = 1 s (not 1/3).
    lat = lat1([1.0], [2.0], queue_units=1.0)
    assert float(lat.ttft_mean_s[0]) == pytest.approx(1.0, rel=1e-9)


def test_an_overload_builds_a_backlog_that_the_next_steps_drain() -> None:
    # F = 10 units, load 12 for an hour: 7200 unit-s queued by its end, waits 0 -> 720 s.
    # Then load 8 drains 2 unit-s per s: 3600 s, the whole next hour, waits 720 -> 0 s.
    # Deterministic arrivals and work (ca² = cs² = 0): no chance waits on top of the fluid ones.
    lat = lat1([12.0, 8.0, 8.0], [10.0, 10.0, 10.0], b=1000.0, work=0.01, ca2=0.0, cs2=0.0)
    assert lat.ttft_mean_s[:2] == pytest.approx([360.0, 360.0], rel=1e-9)
    assert ttft_quantiles(lat, 0.5)[:2] == pytest.approx([360.0, 360.0], rel=1e-6)
    assert ttft_quantiles(lat, 0.99)[:2] == pytest.approx([712.8, 712.8], rel=1e-6)
    assert float(lat.ttft_mean_s[2]) < 1e-3  # steady again at rho 0.8 with 10,000 slots


def test_at_full_load_waits_are_what_a_queue_builds_by_chance_in_a_step() -> None:
    # rho = 1 exactly: no drift, so the wait is reflected Brownian motion's after T = 3600 s:
    # sqrt(2 T S (ca² + cs²) / (pi c)) with S = 10 s, c = 100 slots, ca² + cs² = 2: 4.787 s.
    # The chance wait is exponential with that mean: p99 = mean · ln 100.
    lat = lat1([10.0], [10.0], b=10.0, work=1.0)
    expected = math.sqrt(2 * 3600 * 10 * 2 / (math.pi * 100))
    assert float(lat.ttft_mean_s[0]) == pytest.approx(expected, rel=1e-9)
    assert float(ttft_quantiles(lat, 0.99)[0]) == pytest.approx(expected * math.log(100), rel=1e-6)
    # Just below full load the steady-state wait (Allen-Cunneen: huge) decays no slower: mean
    # C(100, ~100) · expected, and C -> 1.
    below = lat1([10.0 * (1 - 1e-9)], [10.0], b=10.0, work=1.0)
    assert float(below.ttft_mean_s[0]) == pytest.approx(expected, rel=1e-6)


def test_past_the_ceiling_requests_fail_and_the_queue_stops_growing() -> None:
    # F = 10, load 15, ceiling 60 s: the queue holds at most 600 unit-s; of 54,000 unit-s
    # arriving, 18,000 - 600 more than served are dropped: 17,400 / 54,000.
    lat = lat1([15.0], [10.0], b=1000.0, work=0.01, ceiling_s=60.0, ca2=0.0, cs2=0.0)
    assert float(lat.failed_share[0]) == pytest.approx(17400 / 54000, rel=1e-9)
    assert float(ttft_quantiles(lat, 0.99)[0]) <= 60.0 + 1e-6


def test_rate_limit_refuses_the_excess_and_keeps_waits_short() -> None:
    lat = lat1([12.0], [10.0], b=1000.0, work=0.01, mode="rate_limit", admit_utilisation=0.9)
    assert float(lat.refused_share[0]) == pytest.approx(1 - 9 / 12, rel=1e-12)
    assert float(lat.utilisation[0]) == pytest.approx(0.9, rel=1e-12)
    assert float(lat.ttft_mean_s[0]) < 0.01
    queued = lat1([12.0], [10.0], b=1000.0, work=0.01)
    assert float(queued.refused_share[0]) == 0.0 and float(queued.ttft_mean_s[0]) > 100


def test_without_a_fleet_everything_fails_or_waits_for_ever() -> None:
    with_ceiling = lat1([5.0], [0.0], ceiling_s=30.0)
    assert float(with_ceiling.failed_share[0]) == 1.0
    without = lat1([5.0, 5.0], [0.0, 10.0], b=1000.0, work=0.01, ca2=0.0, cs2=0.0)
    assert math.isinf(float(ttft_quantiles(without, 0.5)[0]))
    # The 18,000 unit-s left over drain at 5 unit-s per s: the whole next hour, 1800 s on average.
    assert float(without.ttft_mean_s[1]) == pytest.approx(900.0, rel=1e-6)


def test_the_years_quantiles_mix_the_steps_by_requests() -> None:
    # Step 1: nobody waits, TTFT = prefill = 1 s. Step 2: 100 unit-s queued by its end on 10
    # units, waits 0 -> 10 s: TTFT uniform on [1, 11]. Equal weights: P(TTFT <= t) =
    # 1/2 + (t - 1)/20, so p75 = 6 s and p99 = 10.8 s.
    lat = lat1([5.0, 10.0 + 100 / 3600], [10.0, 10.0], b=1000.0, work=1.5, prefill=1.0,
               ca2=0.0, cs2=0.0)
    p75, p99 = year_quantiles(lat, np.array([1.0, 1.0]), [0.75, 0.99])
    assert p75 == pytest.approx(6.0, rel=1e-6)
    assert p99 == pytest.approx(10.8, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(load=st.floats(0.1, 50), fleet=st.floats(0.1, 50), extra=st.floats(0.01, 20),
       b=st.sampled_from([1.0, 4.0, 64.0]), q=st.sampled_from([0.5, 0.95, 0.99]))
def test_a_larger_fleet_never_makes_first_tokens_slower(load: float, fleet: float, extra: float,
                                                        b: float, q: float) -> None:
    small = lat1([load, load], [fleet, fleet], b=b, work=0.2, prefill=0.05, ceiling_s=120.0)
    large = lat1([load, load], [fleet + extra] * 2, b=b, work=0.2, prefill=0.05, ceiling_s=120.0)
    assert (ttft_quantiles(large, q) <= ttft_quantiles(small, q) * (1 + 1e-9) + 1e-9).all()
    # (a fluid step has no exponential tail: shares may differ by a hair where both are ~0)
    assert (large.failed_share <= small.failed_share + 1e-6).all()


def test_reference_simulation_serves_first_come_first_served() -> None:
    # One slot, work 1 s: starts at 0, 1, 2 -> waits 0, 0.5, 1.4; with a 1 s cap the third gives up.
    arrivals = np.array([0.0, 0.5, 0.6])
    got = fifo_ttft(arrivals, np.ones(3), np.zeros(3), 1, 1.0)
    assert got == pytest.approx([0.0, 0.5, 1.4])
    capped = fifo_ttft(arrivals, np.ones(3), np.zeros(3), 1, 1.0, wait_cap_s=1.0)
    assert capped[:2] == pytest.approx([0.0, 0.5]) and math.isnan(capped[2])


# ---------------------------------------------------------------- scenario to results


def _without_latency(s: sim.Scenario, service: str) -> sim.Scenario:
    svc = s.inference[service].model_copy(update={"latency": None})
    return s.model_copy(update={"inference": {**s.inference, service: svc}})


def test_latency_asks_the_engine_for_load_over_target_utilisation() -> None:
    s = sim.load(TINY)
    with_latency = compile_scenario(s).services[0]
    plain = compile_scenario(_without_latency(s, "chat")).services[0]
    assert with_latency.name == plain.name == "chat"
    assert with_latency.demand == pytest.approx(plain.demand / 0.8, rel=1e-12)
    assert with_latency.latency is not None and plain.latency is None
    assert with_latency.latency.load == pytest.approx(plain.demand, rel=1e-12)


def _tiny_with_target(ttft_s: float) -> sim.Scenario:
    s = sim.load(TINY)
    chat = s.inference["chat"]
    assert chat.latency is not None and chat.latency.target is not None
    lat = chat.latency.model_copy(update={
        "target": chat.latency.target.model_copy(update={"ttft_s": ttft_s})})
    return s.model_copy(update={"inference": {
        **s.inference, "chat": chat.model_copy(update={"latency": lat})}})


def test_slo_follows_the_latency_target_when_one_is_set() -> None:
    # Prefill alone takes 1000 / 12000 s = 0.083 s: a 0.01 s target is missed in every step,
    # a 100 s one met in every step where the fleet is served.
    strict = sim.run(_tiny_with_target(0.01), policy="cheapest_first")
    chat = strict.summary["inference"]["services"]["chat"]
    assert chat["slo_attainment"] == 0.0
    assert chat["hours_above_target"] == pytest.approx(7 * 24)
    assert chat["ttft_p50_s"] == pytest.approx(1000 / 12000, rel=1e-6)
    loose = sim.run(_tiny_with_target(100.0), policy="cheapest_first")
    assert loose.summary["inference"]["services"]["chat"]["hours_above_target"] == 0.0
    rows = loose.services[loose.services["service"] == "chat"]
    assert rows["ttft_p99_s"].notna().all() and rows["latency_met"].all()


def test_services_table_has_latency_columns_only_where_modelled() -> None:
    run = sim.run(TINY, policy="cheapest_first")
    svc = run.services
    for col in ("load", "ttft_mean_s", "ttft_p50_s", "ttft_p95_s", "ttft_p99_s", "tpot_s",
                "refused_share", "failed_share", "latency_met"):
        assert col in svc.columns
    assert svc.loc[svc["kind"] == "agents", "ttft_p99_s"].isna().all()
    assert svc["latency_met"].dtype == bool  # true where no latency target applies
    assert svc.loc[svc["kind"] == "agents", "latency_met"].all()
    assert svc.loc[svc["kind"] == "inference", "ttft_p99_s"].notna().all()
    # time per output token: the slot's share, 64 / 2500 s per token, less the prefill's part
    chat = svc[svc["service"] == "chat"]
    work = 1000 / 12000 + 300 / 2500
    assert chat["tpot_s"].to_numpy() == pytest.approx((64 * work - 1000 / 12000) / 300)


def test_shortfall_basis_charges_latency_services_on_requests_lost() -> None:
    services = pd.DataFrame({
        "step": [0, 0], "service": ["chat", "agents"], "unmet": [25.0, 3.0],
        "slo_met": [False, True], "load": [100.0, np.nan],
        "refused_share": [0.1, np.nan], "failed_share": [0.05, np.nan]})
    basis = shortfall_basis(services)
    assert basis["unmet_units"].tolist() == pytest.approx([15.0, 3.0])
    assert basis["below_target"].tolist() == [True, False]


def test_latency_without_request_sizes_is_a_clear_error(tmp_path: Path) -> None:
    text = TINY.read_text().replace("      prompt_tokens: 1000          # mean tokens per request\n",
                                    "", 1)
    assert text != TINY.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    done = subprocess.run([sys.executable, "-m", "sim", "validate", str(bad)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "latency.prompt_tokens" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_scaled_traces_counting_noise_shrinks_but_its_rate_changes_stay() -> None:
    from sim.latency.inputs import smooth_counting_noise

    # Two parts; 10 s of work with E[w²]/E[w] = 1 s: counting noise Σ shape·1/10 = 0.1.
    shape = np.array([[0.6, 0.4], [0.9, 0.1]])
    same = smooth_counting_noise(shape, np.array([10.0, 10.0]), 1.0, 1.0)
    assert same == pytest.approx(shape)  # one copy: the trace as it is
    many = smooth_counting_noise(shape, np.array([10.0, 10.0]), 1.0, 1e12)
    # Spread 0.02 < noise 0.1: all noise, even. Spread 0.32: keep sqrt(1 - 0.1/0.32) of it.
    keep = math.sqrt(1 - 0.1 / 0.32)
    assert many[0] == pytest.approx([0.5, 0.5])
    assert many[1] == pytest.approx([0.5 + 0.4 * keep, 0.5 - 0.4 * keep])


# ---------------------------------------------------------------- plots and comparisons


def test_latency_plot_draws_the_tables_percentiles_and_the_target() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sim import plots

    run = sim.run(_tiny_with_target(0.05), policy="cheapest_first")
    fig = plots.latency_over_time(run, service="chat")
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    chat = run.services[run.services["service"] == "chat"]
    assert lines["p99"].get_ydata()[:-1] == pytest.approx(chat["ttft_p99_s"].to_numpy())
    assert lines["p50"].get_ydata()[:-1] == pytest.approx(chat["ttft_p50_s"].to_numpy())
    (target,) = [k for k in lines if k.startswith("target")]
    assert target == "target p99 ≤ 0.05 s"
    assert list(lines[target].get_ydata()) == [0.05, 0.05]
    assert "168 h above target" in ax.get_title()
    assert {"latency-chat", "latency-api"} <= set(plots.run_figures(run))


def test_compare_reports_latency_per_policy_with_intervals() -> None:
    from sim.analysis import compare

    s = sim.with_changes(sim.load(TINY), {"horizon": "2d", "outages": []})
    cmp = compare(s, ["cheapest_first", "microsoft_first"], replications=2)
    names = set(cmp.metrics["metric"])
    assert {"inference.services.chat.ttft_p99_s", "inference.services.chat.hours_above_target",
            "inference.services.api.refused_share"} <= names
    rows = cmp.table[cmp.table["metric"] == "inference.services.chat.ttft_p99_s"]
    assert len(rows) == 2 and rows["ci_low"].notna().all()
    from sim.plots import comparison_figures

    assert "latency-chat" in comparison_figures(cmp)
