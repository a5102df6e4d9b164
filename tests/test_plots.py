"""Each plot drawn from a small run (Agg backend): what it shows matches the result tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

import sim
from sim import plots
from sim.analysis import Comparison, Sweep, compare, sweep
from sim.plots.style import WAITING, provider_colors

matplotlib.use("Agg")  # figures are drawn off-screen (sim.plots never touches pyplot)

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
POLICIES = ["cheapest_first", "microsoft_first"]


@pytest.fixture(scope="module")
def run() -> sim.RunResult:
    return sim.run(TINY)  # microsoft_first, a week, one outage


@pytest.fixture(scope="module")
def cheap() -> sim.RunResult:
    return sim.run(TINY, policy="cheapest_first")


@pytest.fixture(scope="module")
def cmp() -> Comparison:
    return compare(sim.with_changes(sim.load(TINY), {"horizon": "3d", "outages": []}), POLICIES,
                   replications=3)


@pytest.fixture(scope="module")
def swept() -> Sweep:
    s = sim.with_changes(sim.load(TINY), {"horizon": "3d", "outages": []})
    return sweep(s, {"providers.gcp.pools.tpu-v5.price_per_hour": [1.5, 2.2, 3.0]}, POLICIES,
                 replications=2)


def stacks(ax: matplotlib.axes.Axes) -> dict[str, PolyCollection]:
    """Labelled filled areas of an axes (stackplot layers, fill_between), by label."""
    return {c.get_label(): c for c in ax.collections if isinstance(c, PolyCollection)
            and not c.get_label().startswith("_")}


def top(poly: PolyCollection) -> float:
    return float(max(p.vertices[:, 1].max() for p in poly.get_paths()))


def color(artist: object) -> str:
    fc = artist.get_facecolor()  # type: ignore[attr-defined]
    return to_hex(fc[0] if np.ndim(fc) == 2 else fc, keep_alpha=False)


# ---------------------------------------------------------------- spend and differences


def test_spend_bars_stack_provider_means_up_to_the_total(cmp: Comparison) -> None:
    fig = plots.spend_by_provider(cmp)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert {b.get_label().split(":")[0] for b in bars} == {"azure", "gcp"}
    assert [t.get_text() for t in ax.get_xticklabels()] == POLICIES
    heights = np.sum([[r.get_height() for r in b] for b in bars], axis=0)
    total = cmp.table.query("metric == 'spend_total'").set_index("policy")["mean"]
    assert heights == pytest.approx(total[POLICIES].to_numpy(), rel=1e-6)
    azure = cmp.table.query("metric == 'spend_by_provider.azure'").set_index("policy")["mean"]
    azure_bars = [b for b in bars if b.get_label().startswith("azure:")]
    assert np.sum([[r.get_height() for r in b] for b in azure_bars], axis=0) == pytest.approx(
        azure[POLICIES].to_numpy(), rel=1e-6)
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert "Spend by provider" in ax.get_title() and "95% CI" in ax.get_title()
    assert "USD" in ax.get_ylabel()
    assert color(azure_bars[0][0]) == provider_colors(["azure"])["azure"].lower()


def test_spend_bars_split_each_provider_into_what_it_paid_for(cmp: Comparison) -> None:
    # tiny.yaml: azure's H100s are under a 600-unit take-or-pay contract, so azure's stack
    # holds a used and an idle committed part; gcp has no contract, only on-demand spend.
    ax = plots.spend_by_provider(cmp).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    t = cmp.table.set_index(["metric", "policy"])["mean"]
    for label, metric in (("azure: committed, idle", "committed_idle_cost_by_provider.azure"),
                          ("gcp: on demand", "spend_on_demand_by_provider.gcp")):
        assert [r.get_height() for r in bars[label]] == pytest.approx(
            [t[(metric, p)] for p in POLICIES])
    assert "gcp: committed, used" not in bars  # nothing of the kind: no empty segment
    assert bars["azure: committed, idle"][0].get_hatch() == "////"


def test_cost_bars_stack_spend_shortfall_and_delay_up_to_the_total(cmp: Comparison) -> None:
    ax = plots.cost_by_policy(cmp).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    t = cmp.table.set_index(["metric", "policy"])["mean"]
    spend = [r.get_height() for r in bars["spend"]]
    assert spend == pytest.approx([t[("spend_total", p)] for p in POLICIES])
    heights = np.sum([[r.get_height() for r in b] for b in bars.values()], axis=0)
    assert heights == pytest.approx([t[("cost_total", p)] for p in POLICIES], rel=1e-6)
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert "Total cost" in ax.get_title()


def test_differences_show_each_policy_against_the_baseline(cmp: Comparison) -> None:
    fig = plots.policy_differences(cmp)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    spend = next(ax for ax in visible if ax.get_title() == "Spend, total")
    (point,) = [ln for ln in spend.lines if ln.get_marker() == "o"]  # one non-baseline policy
    diff = cmp.table.query("metric == 'spend_total' and policy == 'microsoft_first'")["diff"]
    unit = spend.get_xlabel()
    scale = 1e3 if "thousand" in unit else 1e6 if "million" in unit else 1.0
    assert point.get_xdata()[0] * scale == pytest.approx(float(diff.iloc[0]))
    assert "cheapest_first" in fig.get_suptitle()
    assert [t.get_text() for t in visible[0].get_yticklabels()] == ["microsoft_first"]


# ---------------------------------------------------------------- time series of one run


def test_capacity_stacks_use_and_idle_per_provider_up_to_capacity(run: sim.RunResult) -> None:
    fig = plots.capacity_use(run)
    ax = fig.axes[0]
    layers = stacks(ax)
    assert set(layers) == {"azure in use", "azure idle", "gcp in use", "gcp idle"}
    acc = run.steps[run.steps["family"] != "cpu"]
    # reference units: tiny.yaml's TPU v5 chips train at 0.9 of an H100
    weight = acc["accelerator"].map({"h100": 1.0, "tpu-v5": 0.9})
    capacity = (acc["capacity"] * weight).groupby(acc["step"]).sum()
    assert max(top(p) for p in layers.values()) == pytest.approx(capacity.max())
    # the outage is marked: one ▼ marker; legend names both kinds of marker
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "outage starts" in labels and "azure in use" in labels
    assert ax.get_ylabel() == "reference units (H100-equivalent)" and "idle" in ax.get_title()
    assert color(layers["azure in use"]) == provider_colors(["azure"])["azure"].lower()
    physical = plots.capacity_use(run, reference=False).axes[0]
    assert max(top(p) for p in stacks(physical).values()) == pytest.approx(
        acc.groupby("step")["capacity"].sum().max())
    assert "physical" in physical.get_ylabel()


def test_capacity_by_family_has_a_panel_per_family_in_its_own_units(run: sim.RunResult) -> None:
    fig = plots.capacity_by_family(run)
    axes = [ax for ax in fig.axes if stacks(ax)]
    assert [ax.get_ylabel() for ax in axes] == ["GPUs", "TPU chips", "vCPUs"]
    cpu = run.steps[run.steps["family"] == "cpu"]
    assert max(top(p) for p in stacks(axes[2]).values()) == pytest.approx(
        cpu.groupby("step")["capacity"].sum().max())


def test_agents_plot_shows_agent_demand_in_vcpus(run: sim.RunResult) -> None:
    ax = plots.agents_served(run).axes[0]
    (demand,) = [ln for ln in ax.lines if ln.get_label() == "demand"]
    agents = run.services[run.services["kind"] == "agents"]
    assert demand.get_ydata()[:-1] == pytest.approx(agents.groupby("step")["demand"].sum())
    assert ax.get_ylabel().startswith("vCPUs") and ax.get_title().startswith("Agent demand")
    assert "unmet demand" in stacks(ax)
    assert "agents" in plots.run_figures(run)


def test_inference_demand_line_matches_the_services_table(run: sim.RunResult) -> None:
    ax = plots.inference_served(run).axes[0]
    (demand,) = [ln for ln in ax.lines if ln.get_label() == "demand"]
    svc = run.services[run.services["kind"] == "inference"]
    expected = svc.groupby("step")["demand"].sum().to_numpy()
    assert demand.get_ydata()[:-1] == pytest.approx(expected)  # the last step held once more
    layers = stacks(ax)
    assert "served at azure" in layers and "unmet demand" in layers
    served = svc.groupby("step")["served"].sum().max()
    assert max(top(p) for k, p in layers.items() if k.startswith("served")) == \
        pytest.approx(served)
    assert "unmet" in ax.get_title() and "reference units (H100-equivalent)" in ax.get_ylabel()


def test_training_timeline_rows_are_the_largest_jobs(run: sim.RunResult) -> None:
    ax = plots.training_timeline(run, max_jobs=10).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 10
    assert "big-run (512 units)" in labels  # the frontier run is always shown
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "waiting" in legend and any(x.startswith("running at ") for x in legend)
    waiting = next(c for c in ax.containers if c.get_label() == "waiting")
    assert len(waiting) == 10
    # each bar is a job's wait in days, as the jobs table has it
    waits = set(np.round(run.jobs["wait_h"].dropna() / 24, 9))
    assert all(round(r.get_width(), 9) in waits for r in waiting)
    # the count is the run's jobs (a random number here: one explicit run plus Poisson arrivals)
    assert f"the 10 largest of {len(run.jobs):,} jobs" in ax.get_title()


def test_training_timeline_title_counts_the_scenarios_jobs() -> None:
    """Twelve explicit runs (no generators): the title says 12, whatever is shown."""
    data = sim.load(TINY).model_dump(mode="json")
    data["training"] = {"jobs": [
        {"name": f"r{i}", "arrival": f"2025-01-06T{i:02d}:00", "units": 8 + i, "duration": 5}
        for i in range(12)]}
    r = sim.run(sim.scenario.scenario_from_data(data))
    few = plots.training_timeline(r, max_jobs=5).axes[0]
    assert "the 5 largest of 12 jobs" in few.get_title()
    assert len(few.get_yticklabels()) == 5
    # the largest by units x duration: r7..r11
    assert {t.get_text().split(" ")[0] for t in few.get_yticklabels()} == {
        f"r{i}" for i in range(7, 12)}
    every = plots.training_timeline(r, max_jobs=30).axes[0]
    assert "all 12 jobs" in every.get_title()


def test_wait_distribution_bars_are_shares_of_jobs(run: sim.RunResult,
                                                  cheap: sim.RunResult) -> None:
    fig = plots.wait_distribution({"cheapest_first": cheap, "microsoft_first": run})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == POLICIES
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    widths = np.array([[r.get_width() for r in b] for b in bars])
    assert widths.sum(axis=0) == pytest.approx([1.0, 1.0])
    buckets = [b.get_label() for b in bars]
    jobs = run.jobs
    wait = jobs["wait_h"].where(jobs["start_h"].notna())
    # microsoft_first row (index 1): runs on contracted units start at once, others wait
    assert widths[buckets.index("at once"), 1] == pytest.approx((wait == 0).mean())
    assert widths[buckets.index("up to 6 h"), 1] == pytest.approx(
        ((wait > 0) & (wait <= 6)).mean())
    assert widths[buckets.index("not started by the end"), 1] == pytest.approx(
        jobs["start_h"].isna().mean())


def test_ettr_by_gang_size_puts_each_started_run_at_its_units_and_ettr(run: sim.RunResult) -> None:
    """Every run that started is a dot at (its units, its table ETTR), the frontier run a star
    of its own; runs that never started are not drawn; the mean bar of a gang size is the mean of
    its dots. Catches: never-started runs drawn at ETTR 0, the frontier run among the dots (or
    left out), another column plotted (work lost, restarts), a linear x axis."""
    ax = plots.ettr_by_gang_size(run.jobs).axes[0]
    drawn = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    jobs = run.jobs
    started = jobs[jobs["start_h"].notna()]
    assert started["ettr"].notna().all() and jobs.loc[jobs["start_h"].isna(), "ettr"].isna().all()
    rest = started[~started["frontier"]]
    want = sorted(zip(rest["units"].astype(float), rest["ettr"], strict=True))
    assert np.array(sorted(map(tuple, drawn["training runs"]))) == pytest.approx(np.array(want))
    big = jobs.set_index("job").loc["big-run"]
    assert drawn["frontier runs"].tolist() == [[512.0, pytest.approx(big["ettr"])]]
    for units, mean in drawn["mean per gang size"]:
        assert mean == pytest.approx(np.mean([e for u, e in want if u == units]))
    assert {u for u, _ in drawn["mean per gang size"]} == {u for u, _ in want}
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
    assert "ettr-by-gang-size" in plots.run_figures(run)


def test_ettr_by_gang_size_per_policy_is_the_mean_over_runs_of_every_replication(
        cmp: Comparison) -> None:
    """One line per policy in its colour: at each gang size, the mean ETTR of the non-frontier
    runs that started in any of the 3 replications (read here from each replication's own jobs
    table), and a star at the frontier run's mean. Catches: replication 0 alone, a mean of
    per-replication means (unequal counts), frontier runs in the line, policies swapped."""
    ax = plots.ettr_by_gang_size_per_policy(cmp).axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {*POLICIES, *(f"{p}: frontier runs" for p in POLICIES)}
    s = sim.with_changes(sim.load(TINY), {"horizon": "3d", "outages": []})
    colours = plots.policy_colors(POLICIES)
    for policy in POLICIES:
        jobs = pd.concat([sim.run(s, policy=policy, replication=r).jobs for r in range(3)])
        started = jobs[jobs["start_h"].notna()]
        rest = started[~started["frontier"]]
        sizes = sorted(set(rest["units"]))
        line = lines[policy]
        assert list(line.get_xdata()) == pytest.approx(sizes)
        assert list(line.get_ydata()) == pytest.approx(
            [rest.loc[rest["units"] == u, "ettr"].mean() for u in sizes], rel=1e-9)
        assert to_hex(line.get_color()) == colours[policy].lower()
        star = lines[f"{policy}: frontier runs"]
        front = started[started["frontier"]]
        assert list(star.get_xdata()) == [512.0]
        assert star.get_ydata()[0] == pytest.approx(front["ettr"].mean(), rel=1e-9)
    assert "3 replications" in ax.get_title()
    assert "ettr-by-gang-size" in plots.comparison_figure_makers(cmp)


def test_power_stacks_providers_under_the_ceiling(run: sim.RunResult) -> None:
    ax = plots.power_use(run).axes[0]
    layers = stacks(ax)
    assert set(layers) == {"azure", "gcp"}
    assert max(top(p) for p in layers.values()) == pytest.approx(run.summary["peak_power_mw"])
    (ceiling,) = [ln for ln in ax.lines if ln.get_label() == "power ceiling"]
    assert set(ceiling.get_ydata()) == {3.0}
    assert ax.get_ylabel() == "power (MW)" and "peak" in ax.get_title()


def test_first_refusal_counts_every_offer(run: sim.RunResult, cheap: sim.RunResult) -> None:
    fig = plots.first_refusal(run)
    per_day, by_request, delays = fig.axes[:3]
    offers = int((run.events["kind"] == "rofr_offer").sum())
    heights = sum(r.get_height() for c in per_day.containers for r in c)
    assert heights == offers
    answered = run.events[run.events["kind"] == "rofr_answer"]
    declined = int((answered["detail"] == "declined").sum())
    declined_bars = next(c for c in per_day.containers if c.get_label() == "declined")
    assert sum(r.get_height() for r in declined_bars) == declined
    assert f"{offers:,} offers to azure" in fig.get_suptitle()
    kinds = sorted(run.events.loc[run.events["kind"] == "rofr_offer", "detail"].unique())
    assert [t.get_text().split("\n")[0] for t in by_request.get_yticklabels()] == kinds
    # answer delays vary (accepted after a drawn delay, declined at the window): a histogram
    # of every answer, its mean marked
    assert sum(r.get_height() for r in delays.patches) == len(answered)
    assert delays.get_legend().get_texts()[0].get_text() == f"mean {answered.delay_h.mean():.1f} h"
    # a policy without first refusal draws a note, not an empty chart
    empty = plots.first_refusal(cheap)
    assert "no first-refusal offers" in empty.axes[0].texts[0].get_text()


# ---------------------------------------------------------------- sweep


def test_sweep_lines_follow_the_table(swept: Sweep) -> None:
    ax = plots.sweep_metric(swept, "spend_total").axes[0]
    lines = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in lines] == POLICIES
    for line, policy in zip(lines, POLICIES, strict=True):
        t = swept.table[(swept.table["metric"] == "spend_total")
                        & (swept.table["policy"] == policy)]
        assert list(line.get_xdata()) == [1.5, 2.2, 3.0]
        assert line.get_ydata() == pytest.approx(t["mean"].to_numpy())
    assert ax.get_xlabel() == "tpu-v5.price_per_hour" and ax.get_title() == "Spend, total"
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2  # bands


def test_sweep_figure_has_a_panel_per_headline_metric(swept: Sweep) -> None:
    fig = plots.figure_makers(swept)["sweep"]()
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "Spend, total" in titles and "Training wait, mean" in titles
    assert len(fig.legends) == 1


# ---------------------------------------------------------------- shared conventions


def test_every_comparison_figure_is_drawn_and_titled(cmp: Comparison) -> None:
    figs = sim.plots.comparison_figures(cmp)
    assert {"cost", "spend", "differences", "waits", "capacity", "inference", "power",
            "training-microsoft_first", "first-refusal-microsoft_first"} <= set(figs)
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        assert fig.get_suptitle() or fig.axes[0].get_title(), name
    capacity = figs["capacity"]
    assert [ax.get_title() for ax in capacity.axes] == POLICIES


def test_plots_draw_into_a_given_axes(run: sim.RunResult) -> None:
    fig = Figure()
    a, b = fig.subplots(1, 2)
    assert plots.power_use(run, ax=a) is fig
    assert plots.capacity_use(run, ax=b) is fig
    assert len(fig.axes) == 2


def test_one_colour_per_provider_throughout(run: sim.RunResult) -> None:
    azure = provider_colors(["gcp", "azure"])["azure"].lower()
    cap = stacks(plots.capacity_use(run).axes[0])["azure in use"]
    inf = stacks(plots.inference_served(run).axes[0])["served at azure"]
    pw = stacks(plots.power_use(run).axes[0])["azure"]
    assert color(cap) == color(inf) == color(pw) == azure
    assert provider_colors(["zeta", "alpha"]) == provider_colors(["alpha", "zeta", "alpha"])
    assert WAITING not in provider_colors(["a", "b", "c"]).values()


def test_no_pyplot_and_no_matplotlib_for_the_cli_parser() -> None:
    code = ("import sys, sim.cli; sim.cli.build_parser();"
            "assert 'matplotlib' not in sys.modules and 'pandas' not in sys.modules;"
            "import sim.plots, sim.analysis;"
            "assert 'matplotlib.pyplot' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
