"""The `capsim` command: a thin layer over the Python API.

User mistakes (bad scenario files, unknown policies, bad options) print one clear line per problem
and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.checks import add_check_options, load_checked, print_warnings
from sim.errors import UserError
from sim.outputs import output_path, save_results

EXIT_USER_ERROR = 2
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by SIGTERM




class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C (workers stopped, finished runs kept), exit 143."""


def _sigterm_handler(owner: int) -> Callable[[int, object], None]:
    """A SIGTERM handler that stops the `capsim` process like Ctrl-C; a process forked from it
    (which inherits the handler) just ends, as it would by default."""

    def handle(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    return handle


def _fmt(value: Any, unit: str = "") -> str:
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


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as a readable table, grouped by the planner's questions."""
    from sim.results.shares import format_share  # here: sim.results loads pandas

    s = summary
    lines = [f"capsim · {s['scenario']} · policy {s['policy']} · seed {s['seed']} "
             f"· replication {s['replication']}", ""]

    def row(label: str, value: Any, unit: str = "") -> None:
        lines.append(f"  {label:<38} {_fmt(value, unit)}")

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
        row("on demand / spot", f"{_fmt(s['spend_on_demand'])} / {_fmt(s['spend_spot'])} $")
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
    row("wait mean / p95", f"{_fmt(s['training_wait_mean_h'])} / "
        f"{_fmt(s['training_wait_p95_h'])} h")
    row("restarts / work lost", f"{s['training_restarts']} / "
        f"{_fmt(s['training_work_lost_unit_hours'])} ref-unit-h")
    for f in s["frontier"]:
        row(f"frontier {f['job']} ({f['units']:,} units)",
            f"start {f['start'] or '—'} · end {f['end'] or '—'} · {f['provider'] or '—'}")
    for kind in ("inference", "agents"):
        k = s[kind]
        if k["demand_unit_hours"]:
            lines.append(kind.capitalize())
            row("served share of demand", format_share(k["served_share"]))
            row("steps meeting the SLO", format_share(k["slo_attainment"]))
            reasons = k["unmet_by_reason_unit_hours"]
            row("unmet: outage / exclusivity / capacity",
                " / ".join(_fmt(reasons[r]) for r in ("outage", "exclusivity", "capacity")),
                " ref-unit-h" if kind == "inference" else " vCPU-h")
            for name, v in k["services"].items():
                row(f"  {name}: served / SLO steps", f"{format_share(v['served_share'])} / "
                    f"{format_share(v['slo_attainment'])}")
    lines.append("Power and concentration")
    row("peak power", s["peak_power_mw"], " MW")
    row("least headroom under ceiling", s["min_power_headroom_mw"], " MW")
    row("HHI of spend / accelerator-hours", f"{_fmt(s['hhi_spend'])} / "
        f"{_fmt(s['hhi_accelerator_hours'])}")
    row("outages / spot reclaims / preemptions",
        f"{s['outages']} / {s['spot_reclaims']} / {s['preemptions']}")
    lines.append("")
    lines.append("ref-unit-h: reference-accelerator hours (H100-equivalent in the shipped "
                 "scenarios)")
    return "\n".join(lines)


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario import ScenarioError
    from sim.scenario.plausibility import load_with_warnings

    failed = 0
    for file in args.files:  # check every file, not just up to the first bad one
        try:
            s, warnings, _ = load_with_warnings(file)
            print_warnings(warnings, args.strict)
        except ScenarioError as exc:
            failed += 1
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            continue
        pools = sum(len(p.pools) for p in s.providers.values())
        print(f"{file}: ok ({len(s.providers)} providers, {pools} pools, "
              f"{len(s.training.jobs)} jobs, {len(s.training.generators)} job generators, "
              f"{len(s.inference)} inference services, {len(s.agents)} agent fleets)")
    if failed and len(args.files) > 1:
        print(f"{failed} of {len(args.files)} files have problems", file=sys.stderr)
    return EXIT_USER_ERROR if failed else 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from sim.scenario.schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def param_text(field: Any) -> str:
    """A policy parameter's default with its unit: '48 h', '0.4 (fraction 0-1)', "'azure'"."""
    from pydantic.functional_validators import BeforeValidator

    from sim.timeparse import parse_duration

    value = field.default
    if any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in field.metadata):
        return f"{value:g} h" + (f" ({value / 24:g} d)" if value >= 48 and value % 24 == 0 else "")
    bounds = {type(m).__name__: m for m in field.metadata}
    if isinstance(value, float) and ("Le" in bounds or "Lt" in bounds) and (
            getattr(bounds.get("Le"), "le", None) == 1 or getattr(bounds.get("Lt"), "lt", None) == 1):
        return f"{value:g} (fraction 0-1)"
    return repr(value)


def _cmd_policies(args: argparse.Namespace) -> int:
    from sim.policies import REGISTRY

    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        print(f"{name:<18} {cls.summary}")
        fields = cls.Params.model_fields
        width = max((len(k) + len(param_text(v)) for k, v in fields.items()), default=0) + 3
        for k, v in fields.items():
            setting = f"{k} = {param_text(v)}"
            print(f"{'':<18}   {setting:<{width}}  {v.description or ''}".rstrip())
    print("\nSet parameters in a scenario under policy.params.<name>; durations take units "
          "(48h, 2d, 1w).")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
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
    return 0


class _Version(argparse.Action):
    """`--version`: print capsim's version and code digest (worked out only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from sim.about import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsim", description="Multi-cloud capacity planning simulator for AI compute.")
    parser.add_argument("--version", action=_Version,
                        help="print capsim's version and the digest of its model code")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="run a scenario file and write its tables to results/")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--policy", help="placement policy (default: the scenario's policy.default)")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's seed)")
    p.add_argument("--out", help="output folder (default: results/<scenario>/<policy>-seed<N>)")
    add_check_options(p)
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="table format (default: parquet, read with pandas.read_parquet; csv is "
                        "about ten times larger and slower to write)")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("validate", help="check scenario files and report every problem")
    p.add_argument("files", nargs="+", help="scenario YAML files")
    p.add_argument("--strict", action="store_true",
                   help="treat plausibility warnings as errors (exit code 2)")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(func=_cmd_schema)
    p = sub.add_parser("policies", help="list the placement policies and their parameters")
    p.set_defaults(func=_cmd_policies)
    from sim.cli_analysis import add_commands  # compare, sweep, plot

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `capsim` command; returns the exit code."""
    from sim.scenario import ScenarioError
    from sim.scenario.models import MAX_INT

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "seed", None) is not None and not 0 <= args.seed <= MAX_INT:
        parser.error(f"--seed must be a whole number from 0 to {MAX_INT:,} (2^63 - 1), "
                     f"got {args.seed}")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_handler(os.getpid()))
    try:
        return int(args.func(args))
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except ScenarioError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # e.g. --out in a folder that cannot be created or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
