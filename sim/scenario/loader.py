"""Read a scenario file into a validated `Scenario`, or report every problem with file and line.

YAML is composed into nodes (PyYAML) so every key and item keeps its line; pydantic errors and the
cross-checks below are mapped back to `file:line: field.path: what was expected`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.scenario.models import Scenario, Service
from sim.timeparse import hours_between

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ScenarioError(Exception):
    """A scenario file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps the node tree (for line numbers)."""


def _to_data(node: yaml.Node, loader: _Loader, path: PathT, lines: dict[PathT, int],
             problems: list[Problem], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                problems.append(Problem(file, key_node.start_mark.line + 1, _dotted(path),
                                        "a key must be a plain value"))
                continue
            key = key if isinstance(key, str) else str(key)
            if key in out:
                problems.append(Problem(file, key_node.start_mark.line + 1, _dotted((*path, key)),
                                        f"duplicate key {key!r} (first given on line "
                                        f"{lines.get((*path, key), '?')})"))
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_data(value_node, loader, (*path, key), lines, problems, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, loader, (*path, i), lines, problems, file)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_for(path: PathT, lines: dict[PathT, int]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def read_yaml(source: str | Path) -> tuple[dict[str, Any], dict[PathT, int]]:
    """The mapping in a YAML file and the line of every key; ScenarioError if it is not one."""
    file = str(source)
    path = Path(source)
    if not path.exists():
        raise ScenarioError([Problem(file, None, "", "no such file")])
    if path.is_dir():
        raise ScenarioError([Problem(file, None, "", "is a directory, expected a YAML file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(file, None, "", f"cannot be read as UTF-8 text: {exc}")]) from None
    loader = _Loader(text)
    problems: list[Problem] = []
    lines: dict[PathT, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(file, None, "", "is empty, expected a scenario mapping")])
        data = _to_data(node, loader, (), lines, problems, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(file, line, "", f"not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(file, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise ScenarioError(problems)
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "", "expected a mapping of scenario fields at the "
                                     f"top level, got {type(data).__name__}")])
    return data, lines


def _pydantic_problems(exc: ValidationError, file: str, lines: dict[PathT, int]) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc: PathT = tuple(err["loc"])
        # Discriminated unions add the tag to the location (e.g. `units.exponential.mean`).
        clean = tuple(p for p in loc if p not in {"fixed", "exponential", "lognormal", "uniform",
                                                   "choice", "function-after[...]"})
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling and indentation)"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif "input" in err and err["type"] not in {"value_error"} and not isinstance(
                err["input"], dict | list):
            message = f"{message} (got {err['input']!r})"
        problems.append(Problem(file, _line_for(clean, lines), _dotted(clean), message))
    return problems


def cross_check(s: Scenario) -> Iterator[tuple[PathT, str]]:
    """Rules across fields: references exist, dates in the horizon, policies known and valid."""
    from sim.policies import REGISTRY

    end = s.horizon

    def inside(path: PathT, moment: datetime, what: str = "date") -> Iterator[tuple[PathT, str]]:
        h = hours_between(s.start, moment)
        if h < 0 or h > end:
            yield path, (f"{what} {moment.date().isoformat()} is outside the scenario "
                         f"({s.start.date().isoformat()} + {end:g}h)")

    if s.step > s.horizon:
        yield ("step",), "the step is longer than the horizon"
    pools_by_provider = {name: set(p.pools) for name, p in s.providers.items()}
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            base: PathT = ("providers", pname, "pools", poolname)
            if pool.accelerator not in s.accelerators:
                yield (*base, "accelerator"), (f"unknown accelerator {pool.accelerator!r}; "
                                               f"known: {', '.join(sorted(s.accelerators))}")
            if not pool.capacity and pool.buildout is None:
                yield base, "a pool needs `capacity` or `buildout`"
            for i, step in enumerate(pool.capacity):
                yield from inside((*base, "capacity", i, "at"), step.at)
            if pool.capacity and any(b.at < a.at for a, b in zip(pool.capacity, pool.capacity[1:],
                                                                  strict=False)):
                yield (*base, "capacity"), "capacity steps must be in date order"
            if pool.buildout:
                for i, site in enumerate(pool.buildout.sites):
                    yield from inside((*base, "buildout", "sites", i, "online"), site.online)
            for i, cap in enumerate(pool.tenant_cap or []):
                yield from inside((*base, "tenant_cap", i, "at"), cap.at)
            for i, c in enumerate(pool.commitments):
                if hours_between(s.start, c.start) > end:
                    yield (*base, "commitments", i, "start"), "the contract starts after the horizon"
    for i, outage in enumerate(s.outages):
        if outage.provider not in s.providers:
            yield ("outages", i, "provider"), _unknown("provider", outage.provider, s.providers)
        elif outage.pool is not None and outage.pool not in pools_by_provider[outage.provider]:
            yield ("outages", i, "pool"), _unknown(f"pool of {outage.provider}", outage.pool,
                                                    pools_by_provider[outage.provider])
        yield from inside(("outages", i, "start"), outage.start)
    if s.power:
        for i, p in enumerate(s.power.ceiling):
            yield from inside(("power", "ceiling", i, "at"), p.at)
    names: set[str] = set()
    for i, job in enumerate(s.training.jobs):
        base = ("training", "jobs", i)
        if job.name in names:
            yield (*base, "name"), f"two jobs are named {job.name!r}"
        names.add(job.name)
        yield from inside((*base, "arrival"), job.arrival)
        yield from _trait_refs(s, base, job.accelerators, job.providers)
    for gname, gen in s.training.generators.items():
        base = ("training", "generators", gname)
        yield from _trait_refs(s, base, gen.accelerators, gen.providers)
        for key in ("start", "end"):
            moment = getattr(gen, key)
            if moment is not None:
                yield from inside((*base, key), moment)
        if gen.start and gen.end and gen.end <= gen.start:
            yield (*base, "end"), "end must come after start"
        for key in ("units", "duration"):
            dist = getattr(gen, key)
            if dist.dist == "uniform" and dist.high < dist.low:
                yield (*base, key, "high"), "high must be at least low"
            if dist.dist == "choice" and dist.weights is not None:
                if len(dist.weights) != len(dist.values):
                    yield (*base, key, "weights"), "needs one weight per value"
                elif any(w < 0 for w in dist.weights) or sum(dist.weights) <= 0:
                    yield (*base, key, "weights"), "weights must be non-negative with a positive sum"
    for section in ("inference", "agents"):
        services: dict[str, Service] = getattr(s, section)
        for sname, svc in services.items():
            base = (section, sname)
            for j, prov in enumerate(svc.providers or []):
                if prov not in s.providers:
                    yield (*base, "providers", j), _unknown("provider", prov, s.providers)
            for j, spike in enumerate(svc.spikes):
                yield from inside((*base, "spikes", j, "at"), spike.at)
    if s.policy.default not in REGISTRY:
        yield ("policy", "default"), _unknown("policy", s.policy.default, REGISTRY)
    for pname, params in s.policy.params.items():
        if pname not in REGISTRY:
            yield ("policy", "params", pname), _unknown("policy", pname, REGISTRY)
            continue
        try:
            REGISTRY[pname].Params.model_validate(params)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
                yield ("policy", "params", pname, *err["loc"]), msg
        else:
            holder = params.get("provider")
            if isinstance(holder, str) and holder not in s.providers:
                yield ("policy", "params", pname, "provider"), _unknown("provider", holder,
                                                                        s.providers)


def _trait_refs(s: Scenario, base: PathT, accelerators: list[str] | None,
                providers: list[str] | None) -> Iterator[tuple[PathT, str]]:
    for j, acc in enumerate(accelerators or []):
        if acc not in s.accelerators:
            yield (*base, "accelerators", j), _unknown("accelerator", acc, s.accelerators)
    for j, prov in enumerate(providers or []):
        if prov not in s.providers:
            yield (*base, "providers", j), _unknown("provider", prov, s.providers)


def _unknown(what: str, name: object, known: Iterable[str]) -> str:
    return f"unknown {what} {name!r}; known: {', '.join(sorted(known))}"


def scenario_from_data(data: dict[str, Any], file: str = "<scenario>",
                       lines: dict[PathT, int] | None = None) -> Scenario:
    """Validate already-parsed scenario data (e.g. a dict built in a notebook)."""
    lines = lines or {}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_problems(exc, file, lines)) from None
    problems = [Problem(file, _line_for(path, lines), _dotted(path), msg)
                for path, msg in cross_check(scenario)]
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(source: str | Path) -> Scenario:
    """The validated scenario in a YAML file; ScenarioError lists each problem with its line."""
    data, lines = read_yaml(source)
    return scenario_from_data(data, str(source), lines)
