"""`capsim sweep`: a scenario over values of its fields."""

from __future__ import annotations

import argparse
import math
from typing import Any

from sim.cli.batch import run_and_save
from sim.cli.checks import check_runs, load_checked
from sim.cli.options import (
    add_common_options,
    policy_list,
)
from sim.errors import UserError


def command(args: argparse.Namespace) -> int:
    """Check the settings, run every point x policy x replication, save and print."""
    from sim.analysis import SettingError, parse_setting, sweep
    from sim.analysis.compare import check_policies
    from sim.analysis.sweep import check_settings

    scenario = load_checked(args)
    settings: dict[str, list[Any]] = {}
    try:
        for text in args.set:
            path, values = parse_setting(text)
            if path in settings:
                raise SettingError(f"{path}: given twice; put every value in one --set")
            settings[path] = values
        combos = check_settings(scenario, settings)
    except SettingError as exc:
        raise UserError(f"--set {exc}") from None
    if not args.force:  # a swept horizon or step can make one point too big
        from sim.engine.compile import size_problems
        from sim.scenario.changes import with_changes

        for combo in combos:
            for problem in size_problems(with_changes(scenario, combo)):
                shown = ", ".join(f"{k}={v}" for k, v in combo.items())
                raise UserError(f"--set {shown}: {'.'.join(problem.path)}: {problem.message}")
    policies = policy_list(args.policies, list(dict.fromkeys(["open_market", scenario.policy.default])))
    try:
        check_policies(policies, args.baseline)
    except ValueError as exc:
        raise UserError(f"--policies: {exc}") from None
    points = math.prod(len(values) for values in settings.values())
    check_runs(args, scenario, points * len(policies) * args.replications)
    return run_and_save(
        args, scenario, "sweep", points * len(policies) * args.replications, "plot",
        lambda bar, options: sweep(scenario, settings, policies, args.replications,
                                   args.baseline, progress=bar, **options))


def add(sub: Any) -> None:
    """Register `capsim sweep`."""
    p = sub.add_parser(
        "sweep",
        help="run a scenario over values of its fields: a table and a plot per metric",
        description="Run every combination of --set values × policies × replications; print "
                    "the headline metrics per point and write the tables and a plot.")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--set", action="append", required=True, metavar="PATH=V1,V2,...",
                   help="a scenario field by dotted path and the values to try (YAML), e.g. "
                        "providers.gcp.pools.tpu-v6e.price_per_hour=1.5,1.9,2.5; repeat for a "
                        "grid")
    p.add_argument("--policies", metavar="NAMES", help="comma-separated policy names, or 'all' "
                   "(default: open_market and the scenario's policy.default; the first is the "
                   "baseline)")
    add_common_options(p, 5)
    p.set_defaults(func=command)
