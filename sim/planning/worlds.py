"""The what-if worlds a plan is judged in: the scenario's `plan.worlds` (or a `--portfolio`
file's `worlds`), each made a whole scenario with its weight scaled so the weights sum to 1.

A world is the scenario with `changes` set by dotted path and `outages` added to its scripted
ones, or another scenario `file` (relative paths from the file that names it) that has the
pools the plan buys in. A world's scenario has no `plan:` section of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.errors import UserError
from sim.scenario import Problem, Scenario, ScenarioError, read_yaml, scenario_from_data
from sim.scenario.plan import PlanWorld, Portfolio


class WorldError(ScenarioError, UserError):
    """A world that cannot be built; each problem names its file, line and field."""


@dataclass(frozen=True)
class World:
    """One what-if world: its name, its weight (all weights sum to 1) and its scenario."""

    name: str
    weight: float
    scenario: Scenario


def plan_worlds(scenario: Scenario, source_path: Path | None,
                portfolio: Path | None = None) -> list[World]:
    """The worlds of `scenario`'s plan (`portfolio`: those of that file instead), in order.

    `source_path` is the scenario's file: its folder is where relative `file` worlds are read
    from, and problems are located in it. Without a `plan:` section or worlds: one world `base`.
    WorldError (a UserError and ScenarioError) for a world that cannot be built.
    """
    from sim.scenario.cross_checks import world_problems
    from sim.scenario.yaml_lines import dotted, line_for

    if portfolio is not None:
        worlds, file, lines, base = _portfolio(scenario, Path(portfolio))
        folder = Path(portfolio).parent
    else:
        worlds = dict(scenario.plan.worlds) if scenario.plan is not None else {
            "base": PlanWorld(weight=1.0)}
        file = str(source_path) if source_path is not None else f"<{scenario.name}>"
        lines = read_yaml(source_path)[1] if source_path is not None else {}
        base = ("plan", "worlds")
        folder = source_path.parent if source_path is not None else None
    problems = [Problem(file, line_for(path, lines), dotted(path), msg)
                for path, msg in world_problems(scenario, worlds, base)]
    if problems:
        raise WorldError(problems)
    total = sum(w.weight for w in worlds.values())
    plain = _without_plan(scenario)
    out = []
    for name, world in worlds.items():
        at = (*base, name)
        if world.file is not None:
            built = _file_world(scenario, world.file, folder, file, lines, at)
        else:
            built = _changed_world(plain, world, file, lines, at)
        out.append(World(name, world.weight / total, built))
    return out


def _without_plan(scenario: Scenario) -> Scenario:
    return scenario.model_copy(update={"plan": None}) if scenario.plan is not None else scenario


def _portfolio(scenario: Scenario, path: Path) -> tuple[dict[str, PlanWorld], str, Any, Any]:
    """The worlds of a portfolio file, validated (problems located in that file)."""
    from sim.scenario.messages import friendly
    from sim.scenario.yaml_lines import dotted, line_for

    data, lines = read_yaml(path)
    try:
        parsed = Portfolio.model_validate(data)
    except ValidationError as exc:
        raise WorldError([Problem(str(path), line_for(tuple(e["loc"]), lines),
                                  dotted(tuple(e["loc"])), friendly(e, Portfolio))
                          for e in exc.errors(include_url=False)]) from None
    return dict(parsed.worlds), str(path), lines, ("worlds",)


def _changed_world(plain: Scenario, world: PlanWorld, file: str, lines: Any,
                   at: tuple[str | int, ...]) -> Scenario:
    """The scenario with the world's changes set and its outages added."""
    from sim.scenario.paths import set_path
    from sim.scenario.yaml_lines import dotted, line_for

    if not world.changes and not world.outages:
        return plain
    data = plain.model_dump(mode="json")
    data["outages"] = [*data["outages"],
                       *(o.model_dump(mode="json") for o in world.outages or [])]
    for path, value in (world.changes or {}).items():
        set_path(data, str(path), copy.deepcopy(value))  # paths were checked: they exist
    try:
        return scenario_from_data(data, file=f"<{plain.name} in world {at[-1]}>")
    except ScenarioError as exc:
        where = (*at, "changes") if world.changes else (*at, "outages")
        raise WorldError([Problem(file, line_for(where, lines), dotted(where),
                                  f"the world's scenario is not valid: {p.path}: {p.message}")
                          for p in exc.problems]) from None


def _file_world(scenario: Scenario, name: str, folder: Path | None, file: str, lines: Any,
                at: tuple[str | int, ...]) -> Scenario:
    """The scenario in a world's `file`, which must have the pools the plan buys in."""
    from sim.planning.space import decision_space
    from sim.scenario import load_scenario
    from sim.scenario.yaml_lines import dotted, line_for

    where = (*at, "file")

    def problem(message: str) -> WorldError:
        return WorldError([Problem(file, line_for(where, lines), dotted(where), message)])

    path = Path(name).expanduser()
    if not path.is_absolute():
        if folder is None:
            raise problem(f"the relative path {name!r} needs the scenario's file to be read "
                          "from (load the scenario from its file, or give an absolute path)")
        path = folder / path
    if not path.is_file():
        raise problem(f"no such file: {path}" if not path.is_dir() else
                      f"{path} is a folder, expected a scenario YAML file")
    try:
        world = load_scenario(path)
    except ScenarioError as exc:
        n = len(exc.problems)
        raise WorldError([*exc.problems, Problem(
            file, line_for(where, lines), dotted(where),
            f"the world's file {path} cannot be used: {n} problem{'s' if n > 1 else ''} "
            "(listed above)")]) from None
    missing = []
    for d in decision_space(scenario):
        provider = world.providers.get(d.provider)
        pool = provider.pools.get(d.pool) if provider is not None else None
        if pool is None:
            missing.append(f"the pool {d.provider}/{d.pool} (the plan buys in it)")
        elif d.kind == "blocks" and pool.blocks is None:
            missing.append(f"a `blocks` offer in {d.provider}/{d.pool} (the plan orders blocks)")
    if missing:
        shown = ", ".join(dict.fromkeys(missing))
        raise problem(f"the world's file {path} lacks {shown}")
    return _without_plan(world)
