"""The report page of a plan folder: decisions, expected figures, the evaluation on fresh seeds."""

from __future__ import annotations

from pathlib import Path

from sim.analysis.metrics import describe, format_value
from sim.report.build import about_table, finite, plots_html, read_json, scenario_text, value_text
from sim.report.html import cell, esc, page, pre, table
from sim.results.shares import format_share


def _money(x: object) -> str:
    """Dollars in the project's short form; '—' for what is no finite number."""
    value = finite(x)
    return "—" if value is None else format_value(describe("cost_total"), value)


def _plan_value(name: str, value: object, risk_kind: str) -> str:
    """A plan figure as text: risk in its measure's unit, the rest by the metric's kind."""
    figure = finite(value)
    if figure is None:
        return "—" if value is None else str(value)
    if name.endswith(("risk", "risk_low", "risk_high")):
        return format_share(figure) if risk_kind == "shortfall" else _money(figure)
    if name.startswith("vs_chosen"):
        return _money(figure)
    if name == "committed_hhi":  # an index from 1/providers to 1
        return f"{figure:.3f}"
    m = describe(name.removesuffix("_low").removesuffix("_high"))
    return value_text(m, figure, None) if m.kind != "count" else f"{figure:,.0f}"


def _amount(x: float) -> str:
    """A decision's size: whole numbers without decimals, with thousands separators."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,}"


def _concentration(a: dict[str, object]) -> str:
    hhi, share = finite(a.get("committed_hhi")), finite(a.get("committed_top_share"))
    if hhi is None or share is None:
        return "nothing committed"
    return f"{hhi:.2f} ({a.get('committed_top_provider', '')} {format_share(share)})"


def plan_page(folder: Path) -> str:
    """A plan folder: the decisions, expected figures, the evaluation and the planner's text."""
    plan = read_json(folder / "plan.json")
    risk_kind = plan["risk"]["kind"]
    decisions = [[esc(d["decision"]), esc(d["kind"]), cell(_amount(d["hand"]), num=True),
                  cell(_amount(d["chosen"]),
                       {"data-decision": d["decision"], "data-chosen": d["chosen"]},
                       True),
                  cell(_amount(d["units"]), num=True),
                  cell(f"${d['price_per_hour']:,.2f}", num=True)]
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
    alternatives = [[esc(a.get("reason", "")), esc(a["candidate"]),
                     cell(f"{_money(a.get('cost_total'))} [{_money(a.get('cost_total_low'))}, "
                          f"{_money(a.get('cost_total_high'))}]",
                          {"data-alternative": a["candidate"],
                           "data-cost": repr(a.get("cost_total"))}, True),
                     cell(f"{_money(a.get('vs_chosen'))} [{_money(a.get('vs_chosen_low'))}, "
                          f"{_money(a.get('vs_chosen_high'))}]", num=True),
                     cell(_plan_value("risk", a.get("risk"), risk_kind), num=True),
                     cell(_concentration(a), num=True),
                     cell(_money(a.get("spend_committed")), num=True),
                     esc("; ".join(f"{k}: {_amount(v['chosen'])} → {_amount(v['alternative'])}"
                                   for k, v in a.get("differences", {}).items()))]
                    for a in plan.get("alternatives", [])]
    worlds = ", ".join(f"{w['name']} ({w['weight']:.0%}, seed {w['seed']})"
                       for w in plan["worlds"])
    about = about_table([("command", "capsim plan"), ("scenario", plan["scenario"]),
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
            "<h3>Near-optimal alternatives (within 5 % of the chosen plan's expected cost; "
            "check seeds)</h3>" +
            (table(["picked as", "candidate", "cost_total [95 %]", "vs chosen [95 %]", "risk",
                    "concentration (HHI of committed spend, largest share)", "committed spend",
                    "decisions changed (chosen → alternative)"],
                   alternatives, "alternatives-table") if alternatives
             else "<p>None: no other checked plan is within 5 % of the chosen plan's cost.</p>") +
            "<h3>Evaluation on fresh seeds (mean [low, high])</h3>" +
            table(["figure", "hand", "chosen", "chosen − hand"], evaluation, "evaluation-table"))
    report = (folder / "report.txt").read_text() if (folder / "report.txt").is_file() else ""
    sections = [("about", "What was run", about), ("plan", "The plan's decisions", body)]
    if report:
        sections.append(("plan-report", "The planner's report", pre(report)))
    sections += [("plots", "Plots", plots_html(folder)),
                 ("scenario", "Scenario file (plan.yaml: the scenario with the chosen purchases)",
                  pre(scenario_text(folder, {}, ("plan.yaml",)), "scenario-file"))]
    return page(f"capsim plan · {plan['scenario']}", sections)
