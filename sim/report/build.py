"""The report of a run, compare or sweep folder as one HTML page, read from the files the command
wrote; what every page shares (the folder's kind, figures as text, plots, the scenario)."""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.metrics import (
    HEADLINE,
    Metric,
    describe,
    format_delta,
    format_value,
    key_metrics,
)
from sim.analysis.report import metric_rows
from sim.errors import UserError
from sim.report.html import cell, esc, image, page, pre, table
from sim.results.shares import format_share

KINDS = {"compare.json": "compare", "sweep.json": "sweep", "plan.json": "plan",
         "summary.json": "run"}
RUN_HEADLINE = ("cost_total", "spend_total", "shortfall_cost", "delay_cost", "spend_committed_used",
                "committed_idle_cost", "spend_on_demand", "spend_spot", "committed_utilisation",
                "training_wait_mean_h", "training_wait_p95_h", "frontier_end_h", "frontier_ettr",
                "inference.served_share", "inference.slo_attainment", "inference.unmet_unit_hours",
                "agents.served_share", "agents.unmet_unit_hours", "peak_power_mw", "hhi_spend")


class ReportError(UserError):
    """The folder is missing, not a capsim results folder, or its files are damaged."""


def folder_kind(folder: Path) -> str:
    """'run', 'compare', 'sweep' or 'plan', from the file that command writes."""
    from sim.results.atomic import RUNS_MARKER, is_result

    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    resolved = folder.resolve()
    if any((f / RUNS_MARKER).is_file() for f in (resolved, *resolved.parents)):
        raise ReportError(f"{folder}: is inside the runs cache (records capsim reuses, never "
                          f"edited); give the folder of a run, compare, sweep or plan")
    for name, kind in KINDS.items():
        if (folder / name).is_file() and is_result(folder):
            return kind
    raise ReportError(f"{folder}: not a capsim results folder (expected compare.json, "
                      f"sweep.json, plan.json or summary.json with capsim's .capsim-result "
                      f"mark, as capsim compare, sweep, plan or run write them)")


def read_json(path: Path) -> Any:
    """A JSON file of the folder; unreadable is a ReportError naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot be read as JSON ({exc})") from None


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV file of the folder; unreadable is a ReportError naming it."""
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot be read as CSV ({exc})") from None


def value_text(metric: Metric, value: float | None, start: datetime | None) -> str:
    """A figure as shown in the report; shares through the one share format."""
    if metric.kind == "share":
        return format_share(value)
    return format_value(metric, value, start)


def interval_text(metric: Metric, mean: float, low: float, high: float,
                  start: datetime | None) -> str:
    if metric.kind == "share":
        return f"{format_share(mean)} [{format_share(low)}, {format_share(high)}]"
    if low == high:
        return format_value(metric, mean, start)
    return (f"{format_value(metric, mean, start)} [{format_value(metric, low, start)}, "
            f"{format_value(metric, high, start)}]")


def finite(x: object) -> float | None:
    """`x` as a finite float, else None."""
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def about_table(rows: list[tuple[str, object]]) -> str:
    """The 'what was run' table, each value cell tagged data-about with its name."""
    return table(["", ""], [[esc(k), cell(v, {"data-about": k})] for k, v in rows], "about-table")


def plots_html(folder: Path, extra: dict[str, bytes] | None = None) -> str:
    """Every PNG of the folder (and `extra`), embedded as data: URIs."""
    pngs = {p.stem: p.read_bytes() for p in sorted(folder.glob("*.png"))}
    pngs.update(extra or {})
    if not pngs:
        return '<p class="note">No plots in this folder (written with --no-plots?).</p>'
    return "".join(image(name, data) for name, data in pngs.items())


def scenario_text(folder: Path, meta: dict[str, Any], names: tuple[str, ...]) -> str:
    """The first of `names` in the folder, else a compare's stored run's scenario.yaml."""
    for name in names:
        if (folder / name).is_file():
            return (folder / name).read_text()
    for rel in meta.get("representative_paths", {}).values():  # compare: from its stored runs
        if (folder / rel / "scenario.yaml").is_file():
            return (folder / rel / "scenario.yaml").read_text()
    return ""


def scenario_section(text: str) -> tuple[str, str, str]:
    """The scenario file as escaped preformatted text, or a note that it was not saved."""
    body = pre(text, "scenario-file") if text else \
        '<p class="note">The scenario file was not saved with this result.</p>'
    return ("scenario", "Scenario file", body)


def _interval_tables(tab: pd.DataFrame, policies: list[str], baseline: str | None,
                     start: datetime | None, level: float) -> tuple[str, str]:
    """Headline figures (mean [low, high]) and paired differences to the baseline as tables
    whose cells carry the exact figures of table.csv."""
    by_key = {(r.metric, r.policy): r for r in tab.itertuples(index=False)}
    names = [n for n in HEADLINE if any((n, p) in by_key for p in policies)]
    rows, diffs = [], []
    for name in names:
        m = describe(name)
        row, drow = [esc(m.label)], [esc(m.label)]
        for p in policies:
            r = by_key.get((name, p))
            if r is None:
                row.append(cell(""))
                drow.append(cell(""))
                continue
            data = {"data-metric": name, "data-policy": p, "data-mean": repr(float(r.mean)),
                    "data-low": repr(float(r.ci_low)), "data-high": repr(float(r.ci_high))}
            row.append(cell(interval_text(m, r.mean, r.ci_low, r.ci_high, start), data, True))
            if baseline is None or p == baseline:
                continue
            diff = finite(r.diff)
            if diff is None:
                drow.append(cell("—"))
                continue
            low, high = float(r.diff_ci_low), float(r.diff_ci_high)
            star = " *" if bool(r.excludes_zero) else ""
            text = (f"{format_delta(m, diff)} [{format_delta(m, low)}, {format_delta(m, high)}]"
                    f"{star}")
            drow.append(cell(text, {"data-metric": name, "data-policy": p,
                                    "data-diff": repr(diff), "data-low": repr(low),
                                    "data-high": repr(high)}, True))
        rows.append(row)
        diffs.append(drow)
    note = (f'<p class="note">mean [low, high] of the {level:.0%} confidence interval over '
            f"replications.</p>")
    head = table(["", *policies], rows, "headline-table") + note
    others = [p for p in policies if p != baseline]
    if baseline is None or not others:
        return head, ""
    diff_note = (f'<p class="note">paired difference to {esc(baseline)} (the same random '
                 f"streams in each replication), mean [low, high] of its {level:.0%} interval; "
                 f"* the interval excludes zero.</p>")
    return head, table(["", *others], diffs, "differences-table") + diff_note


def _full_table(tab: pd.DataFrame, metrics: pd.DataFrame, policies: list[str],
                baseline: str | None, start: datetime | None, replications: int) -> str:
    """Every figure of the compare, as the text table prints it (mean ± half-width, Δ)."""
    nonzero = set(metrics.loc[metrics["value"].fillna(0) != 0, "metric"])
    chosen = key_metrics(set(metrics["metric"]), nonzero)
    rows = metric_rows(tab, chosen, policies, baseline, start, replications)
    return table(["", *policies], [[esc(c) for c in r] for r in rows], "compare-table")


def compare_page(folder: Path) -> str:
    """A compare folder: headline intervals, paired differences, the whole table, plots."""
    meta = read_json(folder / "compare.json")
    tab, metrics = read_csv(folder / "table.csv"), read_csv(folder / "metrics.csv")
    start = datetime.fromisoformat(meta["start"])
    policies, baseline = meta["policies"], meta["baseline"]
    head, diffs = _interval_tables(tab, policies, baseline, start, meta["level"])
    about = about_table([("command", "capsim compare"), ("scenario", meta["scenario"]),
                    ("start", meta["start"]), ("policies", ", ".join(policies)),
                    ("baseline", baseline), ("replications", meta["replications"]),
                    ("seeds", f"scenario seed {meta['seed']}, replications 0 to "
                              f"{meta['replications'] - 1} (common random numbers)"),
                    ("capsim version", meta.get("capsim_version", "—")),
                    ("code digest", meta.get("code_digest", "—")),
                    ("failed runs", len(meta.get("failures", [])))])
    sections = [("about", "What was run", about), ("headline", "Headline figures", head)]
    if diffs:
        sections.append(("differences", f"Paired differences to {baseline}", diffs))
    sections += [("table", "Every figure",
                  _full_table(tab, metrics, policies, baseline, start, meta["replications"])),
                 ("plots", "Plots", plots_html(folder)),
                 scenario_section(scenario_text(folder, meta, ("scenario.yaml",)))]
    return page(f"capsim compare · {meta['scenario']}", sections)


def sweep_page(folder: Path) -> str:
    """A sweep folder: a headline table per swept point, the plot."""
    meta = read_json(folder / "sweep.json")
    tab = read_csv(folder / "table.csv")
    start = datetime.fromisoformat(meta["start"])
    params = list(meta["params"])
    policies = meta["policies"]
    parts = []
    for key, group in tab.groupby(params, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        point = ", ".join(f"{p}={v}" for p, v in zip(params, key, strict=True))
        head, _ = _interval_tables(group, policies, None, start, meta["level"])
        parts.append(f"<h3>{esc(point)}</h3>{head}")
    about = about_table([("command", "capsim sweep"), ("scenario", meta["scenario"]),
                    ("swept", "; ".join(f"{p} = {', '.join(map(str, v))}"
                                        for p, v in meta["params"].items())),
                    ("policies", ", ".join(policies)), ("replications", meta["replications"]),
                    ("seeds", f"scenario seed {meta['seed']}, replications 0 to "
                              f"{meta['replications'] - 1} (common random numbers)"),
                    ("capsim version", meta.get("capsim_version", "—")),
                    ("code digest", meta.get("code_digest", "—"))])
    return page(f"capsim sweep · {meta['scenario']}",
                [("about", "What was run", about), ("headline", "Headline figures", "".join(parts)),
                 ("plots", "Plots", plots_html(folder)),
                 scenario_section(scenario_text(folder, meta, ("scenario.yaml",)))])


def _flat(summary: dict[str, Any], name: str) -> Any:
    value: Any = summary
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _run_figures(folder: Path) -> dict[str, bytes]:
    """The single-run plots, drawn from the saved tables (a run folder holds no PNGs)."""
    from sim.plots import run_figures
    from sim.results import RunResult

    try:
        figures = run_figures(RunResult.load(folder))
    except (OSError, ValueError, KeyError) as exc:
        raise ReportError(f"{folder}: its tables cannot be read ({exc})") from None
    out = {}
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        out[name] = buffer.getvalue()
    import matplotlib.pyplot as plt

    plt.close("all")
    return out


def run_page(folder: Path) -> str:
    """A run folder: its summary figures, spend by provider and the single-run plots."""
    summary = read_json(folder / "summary.json")
    meta = read_json(folder / "meta.json") if (folder / "meta.json").is_file() else {}
    start = datetime.fromisoformat(summary["start"])
    rows = []
    for name in RUN_HEADLINE:
        value = finite(_flat(summary, name))
        if value is None:
            continue
        m = describe(name)
        rows.append([esc(m.label), cell(value_text(m, value, start),
                                        {"data-metric": name, "data-value": repr(value)}, True)])
    spend = summary.get("spend_by_provider", {})
    shares = summary.get("provider_share_of_spend", {})
    by_provider = [[esc(p), cell(format_value(describe("spend_total"), v),
                                 {"data-metric": f"spend_by_provider.{p}", "data-value": repr(v)},
                                 True),
                    cell(format_share(shares.get(p)), {"data-share": repr(shares.get(p))}, True)]
                   for p, v in spend.items()]
    head = (table(["", summary["policy"]], rows, "headline-table") +
            '<p class="note">One run: no intervals (capsim compare gives them over '
            "replications).</p>" + table(["provider", "spend", "share of spend"], by_provider,
                                         "provider-table"))
    about = about_table([("command", "capsim run"), ("scenario", summary["scenario"]),
                    ("start", summary["start"]), ("policy", summary["policy"]),
                    ("seed", summary["seed"]), ("replication", summary["replication"]),
                    ("capsim version", meta.get("capsim_version", "—")),
                    ("code digest", meta.get("code_digest", "—"))])
    return page(f"capsim run · {summary['scenario']} · {summary['policy']}",
                [("about", "What was run", about), ("headline", "Headline figures", head),
                 ("plots", "Plots", plots_html(folder, _run_figures(folder))),
                 scenario_section(scenario_text(folder, meta, ("scenario.yaml",)))])
