"""The report of one results folder (run, compare, sweep or plan) as one HTML page, read from the
files the command wrote."""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.metrics import HEADLINE, Metric, describe, format_delta, format_value
from sim.analysis.report import metric_rows
from sim.errors import UserError
from sim.report.html import cell, esc, image, page, pre, table
from sim.results.shares import format_share

KINDS = {"compare.json": "compare", "sweep.json": "sweep", "plan.json": "plan",
         "summary.json": "run"}
RUN_HEADLINE = ("cost_total", "spend_total", "shortfall_cost", "delay_cost", "spend_committed_used",
                "committed_idle_cost", "spend_on_demand", "spend_spot", "committed_utilisation",
                "training_wait_mean_h", "training_wait_p95_h", "frontier_end_h",
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


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot be read as JSON ({exc})") from None


def _csv(path: Path) -> pd.DataFrame:
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


def _figure(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _about(rows: list[tuple[str, object]]) -> str:
    return table(["", ""], [[esc(k), cell(v, {"data-about": k})] for k, v in rows], "about-table")


def _plots(folder: Path, extra: dict[str, bytes] | None = None) -> str:
    pngs = {p.stem: p.read_bytes() for p in sorted(folder.glob("*.png"))}
    pngs.update(extra or {})
    if not pngs:
        return '<p class="note">No plots in this folder (written with --no-plots?).</p>'
    return "".join(image(name, data) for name, data in pngs.items())


def _scenario_text(folder: Path, meta: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        if (folder / name).is_file():
            return (folder / name).read_text()
    for rel in meta.get("representative_paths", {}).values():  # compare: from its stored runs
        if (folder / rel / "scenario.yaml").is_file():
            return (folder / rel / "scenario.yaml").read_text()
    return ""


def _scenario_section(text: str) -> tuple[str, str, str]:
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
            diff = _figure(r.diff)
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
    from sim.analysis.metrics import key_metrics

    nonzero = set(metrics.loc[metrics["value"].fillna(0) != 0, "metric"])
    chosen = key_metrics(set(metrics["metric"]), nonzero)
    rows = metric_rows(tab, chosen, policies, baseline, start, replications)
    return table(["", *policies], [[esc(c) for c in r] for r in rows], "compare-table")


def compare_page(folder: Path) -> str:
    meta = _json(folder / "compare.json")
    tab, metrics = _csv(folder / "table.csv"), _csv(folder / "metrics.csv")
    start = datetime.fromisoformat(meta["start"])
    policies, baseline = meta["policies"], meta["baseline"]
    head, diffs = _interval_tables(tab, policies, baseline, start, meta["level"])
    about = _about([("command", "capsim compare"), ("scenario", meta["scenario"]),
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
                 ("plots", "Plots", _plots(folder)),
                 _scenario_section(_scenario_text(folder, meta, ("scenario.yaml",)))]
    return page(f"capsim compare · {meta['scenario']}", sections)


def sweep_page(folder: Path) -> str:
    meta = _json(folder / "sweep.json")
    tab = _csv(folder / "table.csv")
    start = datetime.fromisoformat(meta["start"])
    params = list(meta["params"])
    policies = meta["policies"]
    parts = []
    for key, group in tab.groupby(params, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        point = ", ".join(f"{p}={v}" for p, v in zip(params, key, strict=True))
        head, _ = _interval_tables(group, policies, None, start, meta["level"])
        parts.append(f"<h3>{esc(point)}</h3>{head}")
    about = _about([("command", "capsim sweep"), ("scenario", meta["scenario"]),
                    ("swept", "; ".join(f"{p} = {', '.join(map(str, v))}"
                                        for p, v in meta["params"].items())),
                    ("policies", ", ".join(policies)), ("replications", meta["replications"]),
                    ("seeds", f"scenario seed {meta['seed']}, replications 0 to "
                              f"{meta['replications'] - 1} (common random numbers)"),
                    ("capsim version", meta.get("capsim_version", "—")),
                    ("code digest", meta.get("code_digest", "—"))])
    return page(f"capsim sweep · {meta['scenario']}",
                [("about", "What was run", about), ("headline", "Headline figures", "".join(parts)),
                 ("plots", "Plots", _plots(folder)),
                 _scenario_section(_scenario_text(folder, meta, ("scenario.yaml",)))])


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
    summary = _json(folder / "summary.json")
    meta = _json(folder / "meta.json") if (folder / "meta.json").is_file() else {}
    start = datetime.fromisoformat(summary["start"])
    rows = []
    for name in RUN_HEADLINE:
        value = _figure(_flat(summary, name))
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
    about = _about([("command", "capsim run"), ("scenario", summary["scenario"]),
                    ("start", summary["start"]), ("policy", summary["policy"]),
                    ("seed", summary["seed"]), ("replication", summary["replication"]),
                    ("capsim version", meta.get("capsim_version", "—")),
                    ("code digest", meta.get("code_digest", "—"))])
    return page(f"capsim run · {summary['scenario']} · {summary['policy']}",
                [("about", "What was run", about), ("headline", "Headline figures", head),
                 ("plots", "Plots", _plots(folder, _run_figures(folder))),
                 _scenario_section(_scenario_text(folder, meta, ("scenario.yaml",)))])


def _money(x: object) -> str:
    value = _figure(x)
    return "—" if value is None else format_value(describe("cost_total"), value)


def _plan_value(name: str, value: object, risk_kind: str) -> str:
    """A plan figure as text: risk in its measure's unit, the rest by the metric's kind."""
    figure = _figure(value)
    if figure is None:
        return "—" if value is None else str(value)
    if name.endswith(("risk", "risk_low", "risk_high")):
        return format_share(figure) if risk_kind == "shortfall" else _money(figure)
    if name.startswith("vs_chosen"):
        return _money(figure)
    m = describe(name.removesuffix("_low").removesuffix("_high"))
    return value_text(m, figure, None) if m.kind != "count" else f"{figure:,.0f}"


def plan_page(folder: Path) -> str:
    plan = _json(folder / "plan.json")
    risk_kind = plan["risk"]["kind"]
    decisions = [[esc(d["decision"]), esc(d["kind"]), cell(d["hand"], num=True),
                  cell(d["chosen"], {"data-decision": d["decision"], "data-chosen": d["chosen"]},
                       True),
                  cell(f"{d['units']:,}", num=True), cell(d["price_per_hour"], num=True)]
                 for d in plan["decision"]]
    expected = [[esc(k), cell(_plan_value(k, v, risk_kind),
                              {"data-expected": k, "data-value": repr(v)}, True)]
                for k, v in plan["expected"].items()]
    evaluation = []
    for figure, plans in plan["evaluation"].items():
        row = [esc(figure)]
        for who in ("hand", "chosen", "chosen - hand"):
            e = plans.get(who) or {}
            text = (f"{_plan_value(figure, e.get('mean'), risk_kind)} "
                    f"[{_plan_value(figure, e.get('low'), risk_kind)}, "
                    f"{_plan_value(figure, e.get('high'), risk_kind)}]" if e else "—")
            row.append(cell(text, {"data-figure": figure, "data-plan": who,
                                   "data-mean": repr(e.get("mean"))}, True))
        evaluation.append(row)
    worlds = ", ".join(f"{w['name']} ({w['weight']:.0%}, seed {w['seed']})"
                       for w in plan["worlds"])
    about = _about([("command", "capsim plan"), ("scenario", plan["scenario"]),
                    ("source", plan.get("source") or "—"), ("policy", plan["policy"]),
                    ("worlds", worlds), ("risk", plan["risk"]["measure"]),
                    ("chosen candidate", plan["chosen"]),
                    ("seeds", "; ".join(f"{k.removesuffix('_seeds')}: {v}"
                                        for k, v in plan["settings"].items()
                                        if k.endswith("_seeds"))),
                    ("capsim version", plan.get("capsim_version", "—")),
                    ("code digest", plan.get("code_digest", "—"))])
    body = (table(["decision", "kind", "hand plan", "chosen", "units", "price per hour"],
                  decisions, "decisions-table") +
            "<h3>Expected figures of the chosen plan</h3>" +
            table(["figure", "value"], expected, "expected-table") +
            "<h3>Evaluation on fresh seeds (mean [low, high])</h3>" +
            table(["figure", "hand", "chosen", "chosen − hand"], evaluation, "evaluation-table"))
    report = (folder / "report.txt").read_text() if (folder / "report.txt").is_file() else ""
    sections = [("about", "What was run", about), ("plan", "The plan's decisions", body)]
    if report:
        sections.append(("plan-report", "The planner's report", pre(report)))
    sections += [("plots", "Plots", _plots(folder)),
                 ("scenario", "Scenario file (plan.yaml: the scenario with the chosen purchases)",
                  pre(_scenario_text(folder, {}, ("plan.yaml",)), "scenario-file"))]
    return page(f"capsim plan · {plan['scenario']}", sections)


PAGES = {"compare": compare_page, "sweep": sweep_page, "run": run_page, "plan": plan_page}


def report_html(folder: str | Path) -> str:
    """The report of the results folder `folder` as one self-contained HTML page."""
    d = Path(folder)
    kind = folder_kind(d)
    try:
        return PAGES[kind](d)
    except KeyError as exc:
        raise ReportError(f"{d}: its {kind} files lack {exc} (written by another capsim "
                          f"version?)") from None
