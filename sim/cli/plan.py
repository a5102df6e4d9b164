"""`capsim plan`: propose plans with the fast model, check them with the engine, write the plan."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sim.cli.batch import interruptible, run_options
from sim.cli.checks import add_check_options, load_checked
from sim.cli.options import (
    out_dir,
    positive,
)
from sim.cli.outputs import save_results
from sim.cli.progress import ProgressBar
from sim.errors import UserError


def command(args: argparse.Namespace) -> int:
    """capsim plan: propose with the fast model, check with the engine, write plan.yaml/json."""
    from sim.planning.planner import plan, plan_section
    from sim.scenario.risk import RiskError, parse_risk

    scenario = load_checked(args)
    plan_section(scenario, args.file)  # before any output folder is checked or runs start
    if args.risk is not None and args.max_shortfall_prob is not None:
        raise UserError("--risk and --max-shortfall-prob: give one of them")
    risk_text = args.risk
    if args.max_shortfall_prob is not None:
        if not 0 <= args.max_shortfall_prob <= 1:
            raise UserError(f"--max-shortfall-prob: a probability from 0 to 1, got "
                            f"{args.max_shortfall_prob}")
        risk_text = f"shortfall:{args.max_shortfall_prob}"
    try:
        risk = parse_risk(risk_text) if risk_text is not None else None
    except RiskError as exc:
        raise UserError(f"--risk: {exc}") from None
    if args.portfolio is not None and not Path(args.portfolio).is_file():
        raise UserError(f"--portfolio: {args.portfolio}: no such file")
    out = out_dir(args, scenario.name, "plan")
    options = run_options(args, scenario)
    t0 = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    with ProgressBar(f"plan {scenario.name}: engine checks", args.quiet) as bar, \
            interruptible(options):
        result = plan(scenario, source=args.file, portfolio=args.portfolio, risk=risk, policy=args.policy,
                      replications=args.replications, check_replications=args.check_replications,
                      candidates=args.candidates, progress=bar, log=log, **options)
    elapsed = time.perf_counter() - t0
    from sim.plots import figure_makers

    plots = {} if args.no_plots else figure_makers(result)
    save_results(lambda: result.save(out, plots), out)
    print(result.report())
    if args.report:
        from sim.cli.report import write

        print(f"report: {write(out)}")
    print(f"\n{result.simulated} engine runs simulated, {result.reused} reused, in "
          f"{elapsed:.1f} s; plan.yaml, plan.json and tables written to {out}/")
    return 0


def add(sub: Any) -> None:
    """Register `capsim plan`."""
    p = sub.add_parser(
        "plan",
        help="choose what to commit where: cheapest expected total cost within a risk bound",
        description="Read the scenario's `plan:` section (what may be bought, and the what-if "
                    "worlds), propose plans with a fast fluid model (a linear program), check "
                    "the best with the engine on unseen seeds, and write plan.yaml (the scenario "
                    "with the chosen purchases), plan.json, tables and plots.")
    p.add_argument("file", help="scenario YAML file with a `plan:` section")
    p.add_argument("--portfolio", metavar="FILE",
                   help="a YAML file with a `worlds:` mapping that replaces the section's worlds")
    p.add_argument("--risk", metavar="SPEC",
                   help="none | cvar:LEVEL (bound: the hand plan's CVaR) | cvar:LEVEL<=DOLLARS | "
                        "shortfall:PROB (default: the section's `risk`)")
    p.add_argument("--max-shortfall-prob", type=float, metavar="P",
                   help="bound on the share of service hours below target (= --risk "
                        "shortfall:P)")
    p.add_argument("--policy", metavar="NAME",
                   help="policy plans are judged under (default: the section's, else the "
                        "scenario's policy.default)")
    p.add_argument("--replications", "-n", type=positive("--replications"), metavar="N",
                   help="replications per world for the fast model (default: the section's)")
    p.add_argument("--check-replications", type=positive("--check-replications"), metavar="N",
                   help="engine replications per world and candidate (default: the section's)")
    p.add_argument("--candidates", type=positive("--candidates"), metavar="N",
                   help="proposals the engine checks besides the hand plan (default: the "
                        "section's)")
    p.add_argument("--workers", type=positive("--workers"), metavar="N",
                   help="local processes to run on (default: every core)")
    p.add_argument("--dask", metavar="ADDRESS", help="run the engine checks on a Dask cluster")
    p.add_argument("--fresh", action="store_true",
                   help="run the engine checks again instead of reusing finished runs")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: results/<scenario>/plan-<time>)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--report", action="store_true",
                   help="also write report.html into the results folder: one self-contained "
                        "page (figures, plots, scenario) to open in any browser")

    add_check_options(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=command)
