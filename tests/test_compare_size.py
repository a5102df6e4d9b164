"""The default compare folder stays small as the model grows: a budget per part, measured on the
tiny scenario scaled up (the flagship's 10 replications, three weeks), not a timing."""

from __future__ import annotations

from pathlib import Path

import sim
from sim.plots import figure_makers

ROOT = Path(__file__).resolve().parents[1]

FLAGSHIP_RUNS = 40  # default compare: 4 policies x 10 replications
FLAGSHIP_METRICS = 4 * 126  # figures per run: 126 in 2026-12 (5 providers, 3 services); 4x room
FLAGSHIP_PLOTS = 30  # 15 in 2026-12: a fixed set, one per policy (training) and latency service
BYTES_PER_METRIC_ROW = 100  # metrics.csv: scenario, policy, replication, seed, metric, value
BYTES_PER_TABLE_ROW = 400  # table.csv + table.txt: one row per policy x metric
BYTES_PER_PLOT = 390_000  # a PNG of fixed pixel size; the flagship's largest was 304 kB
FIXED_BYTES = 200_000  # compare.json, scenario.yaml, the marker
BUDGET = 15_000_000


def test_default_compare_folder_extrapolates_to_at_most_15_mb(tmp_path: Path) -> None:
    """What grows with the flagship is per run x metric (metrics.csv rows), per policy x metric
    (table rows) and per plot (a PNG whose pixel size is fixed, so its bytes are bounded however
    long the horizon); full run tables are written only with --tables. So the flagship's folder
    is at most 40 runs x 504 metrics x 100 B + 4 x 504 x 400 B + 30 plots x 390 kB + 200 kB
    = 2.0 + 0.8 + 11.7 + 0.2 = 14.7 MB, if each part stays within its per-unit budget here."""
    assert (FLAGSHIP_RUNS * FLAGSHIP_METRICS * BYTES_PER_METRIC_ROW
            + 4 * FLAGSHIP_METRICS * BYTES_PER_TABLE_ROW + FLAGSHIP_PLOTS * BYTES_PER_PLOT
            + FIXED_BYTES) <= BUDGET
    scenario = sim.with_changes(sim.load(ROOT / "scenarios" / "tiny.yaml"), {"horizon": "21d"})
    cmp = sim.compare(scenario, replications=10, workers=1, store_dir=tmp_path / "runs")
    folder = cmp.save(tmp_path / "compare", plots=figure_makers(cmp))
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    assert not [p for p in folder.iterdir() if p.is_dir()], "full tables written by default"

    metric_rows = len(cmp.metrics)
    per_run = cmp.metrics["metric"].nunique()
    assert metric_rows == 4 * 10 * per_run
    # the flagship has 1.2x the tiny's figures per run (more providers and services); 1.5x room
    assert per_run * 1.5 <= FLAGSHIP_METRICS
    assert sizes.pop("metrics.csv") <= BYTES_PER_METRIC_ROW * metric_rows
    table_rows = len(cmp.table)
    assert sizes.pop("table.csv") + sizes.pop("table.txt") <= BYTES_PER_TABLE_ROW * table_rows
    plots = {n: b for n, b in sizes.items() if n.endswith(".png")}
    assert 10 <= len(plots) <= FLAGSHIP_PLOTS
    assert max(plots.values()) <= BYTES_PER_PLOT, plots
    rest = sum(b for n, b in sizes.items() if n not in plots)
    assert rest <= FIXED_BYTES, sizes
