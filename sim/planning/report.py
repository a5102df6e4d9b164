"""A plan's outputs: the text report, plan.json, plan.yaml, tidy tables and the plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sim.about import provenance
from sim.analysis.metrics import short_number
from sim.planning.space import Decision, file_with_choice
from sim.results.atomic import atomic_folder
from sim.results.shares import format_share
from sim.scenario.risk import risk_measure

if TYPE_CHECKING:
    from sim.planning.planner import PlanResult
    from sim.scenario import Scenario


def _money(x: float) -> str:
    """Dollars in the project's short form, four significant figures: candidates differ by
    less than 1 % of their cost."""
    return f"${short_number(x, 4)}" if math.isfinite(x) else "–"


def _json_number(x: Any) -> Any:
    """JSON-safe number: NaN and infinities become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        return _json_number(x.item())
    return x


def risk_name(result: PlanResult) -> str:
    return "none" if result.risk.kind == "none" else risk_measure(result.risk)


def _risk_text(result: PlanResult, value: float) -> str:
    if result.risk.kind == "shortfall":
        return format_share(value)
    return _money(value) if result.risk.kind == "cvar" else "–"


def model_error(result: PlanResult, label: str) -> float:
    """(fast model − engine) / engine for a candidate's expected cost_total."""
    row = result.table[result.table["candidate"] == label].iloc[0]
    engine, fluid = float(row["cost_total"]), float(row["predicted_cost_total"])
    return (fluid - engine) / engine if engine else math.nan


def _concentration_text(row: Any) -> str:
    hhi = row.get("committed_hhi", math.nan)
    if not isinstance(hhi, float) or not math.isfinite(hhi):
        return "nothing committed"
    return (f"HHI {hhi:.2f}, {row['committed_top_provider']} "
            f"{format_share(float(row['committed_top_share']))}")


def alternatives_lines(result: PlanResult) -> list[str]:
    """The near-optimal alternatives as report lines: cost, interval, risk, concentration and
    the decisions each changes against the chosen plan."""
    from sim.planning.alternatives import BAND, differences

    lines = ["", f"near-optimal alternatives (checked plans within {BAND:.0%} of the chosen "
             "plan's expected cost that differ from it most; check seeds, 95% intervals; "
             "concentration: HHI of committed spend by provider, and the largest share):"]
    chosen_row = result.table[result.table["candidate"] == result.chosen].iloc[0]
    lines.append(f"  chosen {result.chosen}: {_money(chosen_row['cost_total'])}, "
                 f"{_concentration_text(chosen_row.to_dict())}, committed "
                 f"{_money(chosen_row['spend_committed'])}")
    if result.alternatives.empty:
        lines.append("  none: no other checked plan is within the band")
        return lines
    choices = {c.label: c.choice for c in result.candidates}
    units = {d.key: ("units" if d.kind == "commitment" else "blocks") for d in result.decisions}
    for _, row in result.alternatives.iterrows():
        r = row.to_dict()
        bound = "" if r["within_bound"] else " (outside the risk bound)"
        lines.append(f"  {r['reason']}: {r['candidate']}, {_money(r['cost_total'])} "
                     f"[{_money(r['cost_total_low'])}, {_money(r['cost_total_high'])}], vs chosen "
                     f"{_money(r['vs_chosen'])} [{_money(r['vs_chosen_low'])}, "
                     f"{_money(r['vs_chosen_high'])}], risk {_risk_text(result, r['risk'])}{bound}, "
                     f"{_concentration_text(r)}, committed {_money(r['spend_committed'])}")
        for key, (was, now) in differences(result.decisions, choices[r["candidate"]],
                                           result.choice).items():
            lines.append(f"      {key}: {was:,.0f} -> {now:,.0f} {units[key]}")
    return lines


def plan_report(result: PlanResult) -> str:
    """The decision, the candidates the engine checked and the evaluation, as text."""
    lines = [f"capsim plan — {result.scenario.name}, policy {result.policy}, "
             f"{len(result.worlds)} world(s): " +
             ", ".join(f"{w.name} {w.weight:.0%}" for w in result.worlds)]
    bound = "no bound" if not math.isfinite(result.bound) else _risk_text(result, result.bound)
    lines.append(f"risk: {risk_name(result)} (bound {bound}"
                 f"{', the hand plan' if result.risk.bound is None and result.risk.kind != 'none' else ''})")
    lines.append("")
    lines.append("decisions (hand -> chosen):")
    for d in result.decisions:
        unit = "units" if d.kind == "commitment" else "blocks"
        lines.append(f"  {d.key}: {d.hand:,.0f} -> {result.choice[d.key]:,.0f} {unit}")
    lines.append("")
    lines.append("candidates checked by the engine (check seeds; 95% intervals; vs chosen is "
                 "paired):")
    lines.append(f"  {'candidate':<10} {'cost_total':>12} {'interval':>27} {'risk':>12} "
                 f"{'vs chosen':>12} {'fast model':>12}")
    for _, row in result.table.sort_values("cost_total").iterrows():
        mark = "*" if row["candidate"] == result.chosen else (" " if row["within_bound"] else "!")
        interval = f"[{_money(row['cost_total_low'])}, {_money(row['cost_total_high'])}]"
        lines.append(f"{mark} {row['candidate']:<10} {_money(row['cost_total']):>12} "
                     f"{interval:>27} {_risk_text(result, row['risk']):>12} "
                     f"{_money(row['vs_chosen']):>12} {_money(row['predicted_cost_total']):>12}")
    lines.append("  (* chosen, ! outside the risk bound)")
    for c in result.candidates:
        if c.note:
            lines.append(f"  {c.label}: {c.note}")
    lines += alternatives_lines(result)
    lines.append("")
    lines.append("evaluation on fresh seeds (neither the proposal nor the choice saw them):")
    ev = result.evaluation
    for part in ("cost_total", "spend_total", "shortfall_cost", "delay_cost", "miss_share"):
        sub = ev[ev["figure"] == part].set_index("plan")
        fmt = format_share if part == "miss_share" else _money

        def cell(plan: str, sub: Any = sub, fmt: Any = fmt) -> str:
            if plan not in sub.index:
                return "–"
            r = sub.loc[plan]
            return f"{fmt(r['mean'])} [{fmt(r['low'])}, {fmt(r['high'])}]"

        lines.append(f"  {part:<15} hand {cell('hand')}   chosen {cell('chosen')}   "
                     f"chosen − hand {cell('chosen - hand')}")
    ws = ev[(ev["figure"] == "cost_total") & (ev["plan"] == "wait-and-see")]
    if not ws.empty:
        sub = ev[ev["figure"] == "cost_total"].set_index("plan")

        def value(plan: str) -> str:
            r = sub.loc[plan]
            return f"{_money(r['mean'])} [{_money(r['low'])}, {_money(r['high'])}]"

        lines.append("")
        lines.append("value of planning for uncertainty and of knowing the world in advance "
                     "(fresh seeds; 95% intervals):")
        lines.append(f"  RP  expected cost of the chosen plan          {value('chosen')}")
        if "mean-world" in sub.index:
            lines.append(f"  EEV the plan made for the mean world          {value('mean-world')}")
            lines.append(f"  VSS = EEV − RP (paired)                       "
                         f"{value('mean-world - chosen')}")
        lines.append(f"  WS  each world planned with hindsight         {value('wait-and-see')}")
        lines.append(f"  EVPI >= RP − WS (paired)                      "
                     f"{value('chosen - wait-and-see')}")
        lines.append("  (a world's hindsight plan is the cheapest there of the checked plans and the "
                     "fast model's plan for it alone, so WS is an upper bound on perfect foresight's "
                     f"cost; the fast model's own WS: {_money(result.hindsight_predicted)}; the plans "
                     "in plan.json)")
    err = model_error(result, result.chosen)
    lines.append("")
    lines.append(f"fast model error on the chosen plan's expected cost_total: {err:+.1%}")
    t = result.timings
    lines.append(f"time: proposal {t.get('proposal_compile_s', 0) + t.get('proposal_solve_s', 0):.1f} s, "
                 f"engine checks {t.get('engine_check_s', 0):.1f} s, evaluation "
                 f"{t.get('engine_evaluate_s', 0):.1f} s, hindsight "
                 f"{t.get('hindsight_s', 0):.1f} s, mean world {t.get('mean_world_s', 0):.1f} s, "
                 f"total {t.get('total_s', 0):.1f} s")
    return "\n".join(lines)


def plan_json(result: PlanResult) -> dict[str, Any]:
    """Everything a reader needs to trust the choice, as plain JSON."""
    table = result.table
    chosen_row = table[table["candidate"] == result.chosen].iloc[0]
    runners = table[table["candidate"] != result.chosen].sort_values("cost_total")

    def ev(figure: str, plan: str) -> dict[str, Any]:
        sub = result.evaluation
        row = sub[(sub["figure"] == figure) & (sub["plan"] == plan)]
        if row.empty:
            return {}
        r = row.iloc[0]
        return {key: _json_number(r[key]) for key in ("mean", "low", "high")}

    figures = [*dict.fromkeys(result.evaluation["figure"])]
    return {
        "scenario": result.scenario.name,
        "source": str(result.source) if result.source else None,
        "policy": result.policy,
        "worlds": [{"name": w.name, "weight": w.weight, "seed": w.scenario.seed}
                   for w in result.worlds],
        "risk": {"kind": result.risk.kind, "level": result.risk.level,
                 "bound": _json_number(result.bound), "measure": risk_name(result),
                 "bound_from": "given" if result.risk.bound is not None else "hand plan"},
        "decision": [{"decision": d.key, "provider": d.provider, "pool": d.pool,
                      "kind": d.kind, "hand": d.hand, "chosen": result.choice[d.key],
                      "units": result.choice[d.key] * d.size, "price_per_hour": d.price_per_hour,
                      "online_h": d.online_h, "term_h": d.term_h}
                     for d in result.decisions],
        "chosen": result.chosen,
        "expected": {c: _json_number(chosen_row[c]) for c in table.columns
                     if c not in {"candidate", "note", "within_bound"}},
        "runner_up": [{k: _json_number(v) for k, v in row.items()} for _, row in runners.iterrows()],
        "alternatives": alternatives_json(result),
        "evaluation": {f: {p: ev(f, p) for p in ("hand", "chosen", "chosen - hand")}
                       for f in figures},
        "value_of_information": {
            "RP": ev("cost_total", "chosen"), "WS": ev("cost_total", "wait-and-see"),
            "EVPI": ev("cost_total", "chosen - wait-and-see"),
            "EEV": ev("cost_total", "mean-world"), "VSS": ev("cost_total", "mean-world - chosen"),
            "mean_world_plan": result.mean_world_plan,
            "WS_fast_model": _json_number(result.hindsight_predicted),
            "hindsight_plans": result.hindsight},
        "fast_model_error": {"cost_total": _json_number(model_error(result, result.chosen)),
                             "hand_cost_total": _json_number(model_error(result, "hand"))},
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "settings": result.settings,
        "runs": {"simulated": result.simulated, "reused": result.reused},
        "candidates": [{"candidate": c.label, "note": c.note, "choice": c.choice}
                       for c in result.candidates],
        **provenance(),
    }


def alternatives_json(result: PlanResult) -> list[dict[str, Any]]:
    """The near-optimal alternatives: each one's figures (check seeds), why it was picked and the
    decisions where it differs from the chosen plan (chosen value, its value)."""
    from sim.planning.alternatives import differences

    choices = {c.label: c.choice for c in result.candidates}
    keep = ("candidate", "reason", "note", "cost_total", "cost_total_low", "cost_total_high",
            "vs_chosen", "vs_chosen_low", "vs_chosen_high", "risk", "within_bound",
            "spend_committed", "committed_hhi", "committed_top_provider", "committed_top_share",
            "distance", "changed")
    out = []
    for _, row in result.alternatives.iterrows():
        item = {k: _json_number(row[k]) for k in keep if k in row.index}
        item["differences"] = {k: {"chosen": a, "alternative": b} for k, (a, b) in differences(
            result.decisions, choices[str(row["candidate"])], result.choice).items()}
        item["choice"] = choices[str(row["candidate"])]
        out.append(item)
    return out


def save_plan(result: PlanResult, directory: Path,
              plots: Mapping[str, Callable[[], Any]] | None = None) -> Path:
    """Write plan.yaml, plan.json, candidates.csv, decisions.csv, runs.csv, report.txt and the
    plots `plots` draws to `directory`, atomically (a half-written plan never looks complete)."""
    from sim.planning.space import choice_changes

    with atomic_folder(directory) as tmp:
        header = (f"capsim plan of {result.scenario.name}: chosen plan {result.chosen!r} "
                  f"(policy {result.policy}; see plan.json for its figures)")
        if result.source is not None:
            write_plan_yaml(result.source, result.scenario, result.decisions, result.choice,
                            tmp / "plan.yaml", header)
        else:
            from sim.scenario.changes import with_changes

            chosen = with_changes(result.scenario, dict(choice_changes(
                result.scenario, result.decisions, result.choice)))
            text = yaml.safe_dump(chosen.model_dump(mode="json"), sort_keys=False)
            (tmp / "plan.yaml").write_text(f"# {header}\n{text}")
        (tmp / "plan.json").write_text(json.dumps(plan_json(result), indent=2) + "\n")
        result.table.to_csv(tmp / "candidates.csv", index=False)
        result.decisions_frame().to_csv(tmp / "decisions.csv", index=False)
        result.runs.to_csv(tmp / "runs.csv", index=False)
        result.evaluation.to_csv(tmp / "evaluation.csv", index=False)
        (tmp / "report.txt").write_text(plan_report(result) + "\n")
        for name, make in (plots or {}).items():
            make().savefig(tmp / f"{name}.png", dpi=110, bbox_inches="tight")
    return directory


def write_plan_yaml(source: Path, scenario: Scenario, decisions: list[Decision],
                    choice: dict[str, float], dest: Path, header: str) -> None:
    """Write `dest`: the scenario file `source` with `choice` bought (`file_with_choice`), under
    a `# header`; comments are not kept. Relative paths (world files, traces) are rewritten to
    hold from `dest`'s folder. The file is written whole or not at all. `scenario` is the one
    the choice was made for; the file's own scenario decides which items match, so the two
    should be the same.
    """
    del scenario  # the file's own scenario decides which items match
    source, dest = Path(source), Path(dest)
    data = file_with_choice(source, decisions, choice)
    _move_relative_paths(data, source.parent, dest.parent)
    lines = [f"# {line}".rstrip() for line in (header.splitlines() or [""])]
    text = "\n".join(lines) + "\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _move_relative_paths(data: dict[str, Any], old: Path, new: Path) -> None:
    """Relative world files and trace files of `data` (read from folder `old`) rewritten to be
    read from folder `new`."""
    if Path(os.path.abspath(old)) == Path(os.path.abspath(new)):
        return

    def moved(name: str) -> str:
        path = Path(name).expanduser()
        if path.is_absolute():
            return name
        target = os.path.abspath(old / path)
        try:
            return os.path.relpath(target, os.path.abspath(new))
        except ValueError:  # another drive: no relative path
            return target

    plan = data.get("plan")
    worlds = plan.get("worlds") if isinstance(plan, dict) else None
    for world in worlds.values() if isinstance(worlds, dict) else []:
        if isinstance(world, dict) and isinstance(world.get("file"), str):
            world["file"] = moved(world["file"])
    for section in ("inference", "agents"):
        services = data.get(section)
        for svc in services.values() if isinstance(services, dict) else []:
            trace = svc.get("trace") if isinstance(svc, dict) else None
            if isinstance(trace, dict) and isinstance(trace.get("file"), str):
                trace["file"] = moved(trace["file"])
