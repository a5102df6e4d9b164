"""Read a scenario file into a validated `Scenario`, or report every problem with file and line.

YAML is composed into nodes (PyYAML) so every key and item keeps its line; pydantic errors and the
cross-checks (cross_checks.py) are mapped back to `file:line: field.path: what was expected`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.scenario.cross_checks import bools_as_numbers, cross_check
from sim.scenario.messages import (
    pydantic_problems,
)
from sim.scenario.models import Service
from sim.scenario.problems import Problem, ScenarioError
from sim.scenario.repair import related, with_stand_ins
from sim.scenario.scenario import Scenario
from sim.scenario.traces import period_problem, read_trace
from sim.scenario.yaml_lines import PathT, dotted, line_for, read_yaml


def scenario_from_data(data: dict[str, Any], file: str = "<scenario>",
                       lines: dict[PathT, int] | None = None,
                       base_dir: str | Path | None = None) -> Scenario:
    """Validate already-parsed scenario data (e.g. a dict built in a notebook).

    Relative trace files are read from `base_dir` (default: the current folder); the scenario
    returned holds their absolute paths.
    """
    lines = lines or {}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        # Report every problem in one pass: the type problems, and the reference and date
        # problems of the file with each bad value replaced by a stand-in (whose own checks
        # are left out: its problem is already reported).
        problems = pydantic_problems(exc, file, lines, data)
        repaired, replaced = with_stand_ins(data, exc)
        if repaired is not None:
            clock = {("start",), ("horizon",), ("step",)} & replaced
            problems += [Problem(file, line_for(path, lines), dotted(path), msg)
                         for path, msg in [*bools_as_numbers(data, repaired),
                                           *cross_check(repaired, dates=not clock)]
                         if not any(related(path, r) for r in replaced)]
        raise ScenarioError(_in_file_order(problems)) from None
    problems = [Problem(file, line_for(path, lines), dotted(path), msg)
                for path, msg in [*bools_as_numbers(data, scenario), *cross_check(scenario)]]
    if problems:
        raise ScenarioError(_in_file_order(problems))
    if any(svc.trace for svc in (*scenario.inference.values(), *scenario.agents.values())):
        scenario = _resolve_traces(scenario, file, lines, Path(base_dir or "."))
    return scenario


def _resolve_traces(s: Scenario, file: str, lines: dict[PathT, int], base_dir: Path) -> Scenario:
    """`s` with absolute trace paths, after reading each trace; ScenarioError for a bad one."""
    import os

    problems: list[Problem] = []
    changed: dict[str, dict[str, Service]] = {}
    for section in ("inference", "agents"):
        services: dict[str, Service] = getattr(s, section)
        for name, svc in services.items():
            if svc.trace is None:
                continue
            at = {key: (file, line_for((section, name, "trace", key), lines),
                        dotted((section, name, "trace", key))) for key in ("file", "period")}
            where = Path(svc.trace.file).expanduser()
            where = Path(os.path.abspath(where if where.is_absolute() else base_dir / where))
            if not where.exists() and not where.is_symlink():  # a symlink loop: read_trace says so
                problems.append(Problem(*at["file"], f"no such file: {where}"))
                continue
            if where.is_dir():
                problems.append(Problem(*at["file"], f"{where} is a folder, expected a trace CSV"))
                continue
            trace = svc.trace.model_copy(update={"file": str(where)})
            try:
                data = read_trace(where, trace.columns)
            except ScenarioError as exc:
                n = len(exc.problems)
                problems.extend(exc.problems)
                problems.append(Problem(*at["file"], f"the trace {where} cannot be used: {n} "
                                        f"problem{'s' if n > 1 else ''} (listed above)"))
                continue
            message = period_problem(trace, data)
            if message:
                problems.append(Problem(*at["period"], message))
            changed.setdefault(section, dict(services))[name] = svc.model_copy(
                update={"trace": trace})
    if problems:
        raise ScenarioError(problems)
    return s.model_copy(update=changed) if changed else s


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: p.line or 0)


def load_scenario(source: str | Path) -> Scenario:
    """The validated scenario in a YAML file; ScenarioError lists each problem with its line."""
    data, lines = read_yaml(source)
    return scenario_from_data(data, str(source), lines, base_dir=Path(source).parent)
