"""`capsim validate`: check scenario files and report every problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.cli.checks import print_warnings
from sim.cli.options import (
    EXIT_USER_ERROR,
)


def command(args: argparse.Namespace) -> int:
    """Check every file given; exit 2 if any has problems."""
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


def add(sub: Any) -> None:
    """Register `capsim validate`."""
    p = sub.add_parser("validate", help="check scenario files and report every problem")
    p.add_argument("files", nargs="+", help="scenario YAML files")
    p.add_argument("--strict", action="store_true",
                   help="treat plausibility warnings as errors (exit code 2)")
    p.set_defaults(func=command)
