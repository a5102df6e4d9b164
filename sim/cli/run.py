"""`capsim run`: one run of a scenario, its tables written and its summary printed."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sim.cli.checks import add_check_options, load_checked
from sim.cli.outputs import output_path, save_results
from sim.errors import UserError


def fmt(value: Any, unit: str = "") -> str:
    """A summary value for the table: large numbers with separators, small ones to 3 figures."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 1e6:
            text = f"{value:,.0f}"
        elif abs(value) >= 100:
            text = f"{value:,.1f}"
        else:
            text = f"{value:.3g}"
    else:
        text = str(value)
    return f"{text}{unit}"


def main_causes(counts: dict[str, int], most: int = 3) -> str:
    """The `most` commonest causes with their counts, the rest summed: 'unit_failure 412 ·
    planned 47 · outage 5 · other 2'."""
    ranked = sorted(((n, c) for c, n in counts.items() if n), key=lambda x: (-x[0], x[1]))
    parts = [f"{c} {n:,}" for n, c in ranked[:most]]
    if len(ranked) > most:
        parts.append(f"other {sum(n for n, _ in ranked[most:]):,}")
    return " · ".join(parts)


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as a readable table, grouped by the planner's questions."""
    from sim.results.shares import format_share  # here: sim.results loads pandas

    s = summary
    lines = [f"capsim · {s['scenario']} · policy {s['policy']} · seed {s['seed']} "
             f"· replication {s['replication']}", ""]

    def row(label: str, value: Any, unit: str = "") -> None:
        lines.append(f"  {label:<38} {fmt(value, unit)}")

    if "cost_total" in s:  # summaries saved before costs were priced have no cost parts
        lines.append("Total cost")
        row("total (spend + shortfall + delay)", s["cost_total"], " $")
        row("  value of demand left unserved", s["shortfall_cost"], " $")
        row("  training finishing late", s["delay_cost"], " $")
        if s.get("early_finish_credit"):
            row("  less credit for finishing early", s["early_finish_credit"], " $")
    lines.append("Spend")
    row("total", s["spend_total"], " $")
    for prov, v in s["spend_by_provider"].items():
        share = s["provider_share_of_spend"].get(prov)
        row(f"  {prov}", v, f" $  ({format_share(share)})")
    row("committed (take-or-pay)", s["spend_committed"], " $")
    row("committed utilisation", None if s["committed_utilisation"] is None
        else s["committed_utilisation"] * 100, " %")
    row("paid for idle commitments", s["committed_idle_cost"], " $")
    if "spend_spot" in s:
        row("on demand / spot", f"{fmt(s['spend_on_demand'])} / {fmt(s['spend_spot'])} $")
    if s.get("committed_value_by_provider"):
        lines.append("Contracts signed (value of first terms, past the horizon too)")
        for prov, v in s["committed_value_by_provider"].items():
            row(f"  {prov}", v, " $")
    if s.get("installed_mw_by_year"):
        lines.append("Installed for this customer, end of year")
        for year, mw in s["installed_mw_by_year"].items():
            row(f"  {year}", mw, " MW")
    if s.get("clipped"):
        row("dates past the horizon, left out", s["clipped"], "  (see meta.json)")
    lines.append("First refusal")
    fr = s["first_refusal"]
    row("offers / accepted / declined", f"{fr['offers']} / {fr['accepted']} / {fr['declined']}")
    row("mean answer delay", fr["mean_delay_h"], " h")
    lines.append("Training")
    row("jobs arrived / finished", f"{s['jobs_total']} / {s['jobs_finished']}")
    row("running / waiting at end", f"{s['jobs_running_at_end']} / {s['jobs_waiting_at_end']}")
    row("wait mean / p95", f"{fmt(s['training_wait_mean_h'])} / "
        f"{fmt(s['training_wait_p95_h'])} h")
    row("restarts / work lost", f"{s['training_restarts']} / "
        f"{fmt(s['training_work_lost_unit_hours'])} ref-unit-h")
    for f in s["frontier"]:
        row(f"frontier {f['job']} ({f['units']:,} units)",
            f"start {f['start'] or '—'} · end {f['end'] or '—'} · {f['provider'] or '—'}")
        if "ettr" in f:  # summaries saved before unit failures have no ETTR
            row("  ETTR / interruptions / MTTI", f"{format_share(f['ettr'])} / "
                f"{f['interruptions']:,} / {fmt(f['mtti_h'], ' h')}")
            if f["interruptions"]:
                row("  interruptions by cause", main_causes(f["interruptions_by_cause"]))
        if f.get("spares"):
            row("  spares / their idle cost", f"{f['spares']:,} / {fmt(f['spare_idle_cost'])} $")
    for kind in ("inference", "agents"):
        k = s[kind]
        if k["demand_unit_hours"]:
            lines.append(kind.capitalize())
            row("served share of demand", format_share(k["served_share"]))
            row("steps meeting the SLO", format_share(k["slo_attainment"]))
            reasons = k["unmet_by_reason_unit_hours"]
            row("unmet: outage / exclusivity / capacity",
                " / ".join(fmt(reasons[r]) for r in ("outage", "exclusivity", "capacity")),
                " ref-unit-h" if kind == "inference" else " vCPU-h")
            for name, v in k["services"].items():
                row(f"  {name}: served / SLO steps", f"{format_share(v['served_share'])} / "
                    f"{format_share(v['slo_attainment'])}")
    lines.append("Power and concentration")
    row("peak power", s["peak_power_mw"], " MW")
    row("least headroom under ceiling", s["min_power_headroom_mw"], " MW")
    row("HHI of spend / accelerator-hours", f"{fmt(s['hhi_spend'])} / "
        f"{fmt(s['hhi_accelerator_hours'])}")
    row("outages / spot reclaims / preemptions",
        f"{s['outages']} / {s['spot_reclaims']} / {s['preemptions']}")
    lines.append("")
    lines.append("ref-unit-h: reference-accelerator hours (H100-equivalent in the shipped "
                 "scenarios)")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> int:
    """Run one replication, write its tables and print its summary."""
    from sim.api import run
    from sim.policies import REGISTRY, policy_names

    scenario = load_checked(args)
    policy = args.policy or scenario.policy.default
    if policy not in REGISTRY:
        raise UserError(f"--policy: unknown policy {policy!r}; known: {', '.join(policy_names())}")
    seed = scenario.seed if args.seed is None else args.seed
    out = output_path(args.out, scenario.name, f"{policy}-seed{seed}")
    t0 = time.perf_counter()
    result = run(scenario, policy=policy, seed=seed)
    elapsed = time.perf_counter() - t0
    save_results(lambda: result.save(out, format=args.format), out)
    print(summary_text(result.summary))
    print(f"\nsimulated in {elapsed:.2f} s ({result.meta['events_processed']:,} events); "
          f"tables in {out}/")
    if args.report:
        from sim.cli.report import write

        print(f"report: {write(out)}")
    return 0


def add(sub: Any) -> None:
    """Register `capsim run`."""
    p = sub.add_parser("run", help="run a scenario file and write its tables to results/")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--policy", help="placement policy (default: the scenario's policy.default)")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's seed)")
    p.add_argument("--out", help="output folder (default: results/<scenario>/<policy>-seed<N>)")
    add_check_options(p)
    p.add_argument("--report", action="store_true",
                   help="also write report.html into the results folder: one self-contained "
                        "page (figures, plots, scenario) to open in any browser")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="table format (default: parquet, read with pandas.read_parquet; csv is "
                        "about ten times larger and slower to write)")
    p.set_defaults(func=command)
