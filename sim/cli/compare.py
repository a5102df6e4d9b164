"""`capsim compare`: policies over replications, a table with intervals and plots."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.batch import run_and_save
from sim.cli.checks import check_runs, load_checked
from sim.cli.options import (
    add_common_options,
    policy_list,
)
from sim.errors import UserError


def command(args: argparse.Namespace) -> int:
    """Check the options, run every policy x replication, save and print the table."""
    from sim.analysis import DEFAULT_POLICIES, compare
    from sim.analysis.compare import check_policies

    scenario = load_checked(args)
    policies = policy_list(args.policies, list(DEFAULT_POLICIES))
    try:
        check_policies(policies, args.baseline)
    except ValueError as exc:
        raise UserError(f"--policies: {exc}" if "baseline" not in str(exc)
                        else f"--baseline: {exc}") from None
    check_runs(args, scenario, len(policies) * args.replications)
    return run_and_save(
        args, scenario, "compare", len(policies) * args.replications, "plots",
        lambda bar, options: compare(scenario, policies, args.replications, args.baseline,
                                     progress=bar, **options))


def add(sub: Any) -> None:
    """Register `capsim compare`."""
    p = sub.add_parser(
        "compare",
        help="compare policies over replications: a table with 95%% intervals, and plots",
        description="Run every policy × replication with common random numbers and print each "
                    "summary metric as mean ± 95% CI per policy, with the paired difference "
                    "to the baseline policy; write the tables and plots to a results folder.")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--policies", metavar="NAMES", help="comma-separated policy names, or 'all' "
                   "(default: open_market,microsoft_first,perf_per_dollar,diversified; the "
                   "first is the baseline)")
    add_common_options(p, 10)
    p.add_argument("--tables", nargs="?", const="", metavar="POLICIES",
                   help="also write the full tables (steps, jobs, services, ...) of replication "
                        "0 of these policies to tables/<policy>/: comma-separated names, 'all', "
                        "or no value for the baseline (default: none; every run's summary "
                        "figures are always in metrics.csv)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="format of full run tables written with --tables (default: parquet; "
                        "csv is about ten times larger and slower)")
    p.set_defaults(func=command)
