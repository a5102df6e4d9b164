"""Checks the CLI makes before any work: plausibility warnings (errors with --strict) and the
memory estimate (skipped with --force), shared by run, compare and sweep."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.errors import UserError


def print_warnings(warnings: list[Any], strict: bool) -> None:
    """Print plausibility warnings; with --strict they are errors (ScenarioError, exit 2)."""
    from sim.scenario import ScenarioError

    if strict and warnings:
        raise ScenarioError(warnings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def load_checked(args: argparse.Namespace) -> Any:
    """The scenario of `args.file`, its warnings printed (errors with --strict), and, unless
    --force, refused if one run of it is estimated to need too much memory."""
    from sim.engine.compile import size_problems
    from sim.scenario.plausibility import load_with_warnings

    scenario, warnings, lines = load_with_warnings(args.file)
    print_warnings(warnings, args.strict)
    if not args.force:
        refuse_problems(args.file, lines, size_problems(scenario))
    return scenario


def check_runs(args: argparse.Namespace, scenario: Any, runs: int) -> None:
    """Unless --force, refuse a compare or sweep whose `runs` runs would keep too much."""
    from sim.engine.compile import size_problems

    if not args.force:
        for problem in size_problems(scenario, runs):
            if problem.path == ("--replications",):
                raise UserError(f"--replications: {problem.message}")


def refuse_problems(file: str, lines: dict[Any, int], problems: list[Any]) -> None:
    """Raise the problems found after loading as a ScenarioError located in the file."""
    from sim.scenario import Problem, ScenarioError
    from sim.scenario.yaml_lines import dotted, line_for

    if problems:
        raise ScenarioError([Problem(file, line_for(p.path, lines), dotted(p.path), p.message)
                             for p in problems])


def add_check_options(p: argparse.ArgumentParser) -> None:
    """--force and --strict, shared by run, compare and sweep."""
    p.add_argument("--force", action="store_true",
                   help="run even when the run is estimated to need more memory than allowed")
    p.add_argument("--strict", action="store_true",
                   help="treat plausibility warnings as errors (exit code 2)")
