"""Read a scenario file into a validated `Scenario`, or report every problem with file and line.

YAML is composed into nodes (PyYAML) so every key and item keeps its line; pydantic errors and the
cross-checks below are mapped back to `file:line: field.path: what was expected`.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from sim.scenario.limits import (
    ALIAS_EXPANSION_LIMIT,
    SCENARIO_MAX_BYTES,
    YAML_VALUES_LIMIT,
    ReadError,
    read_capped,
    shorten,
    shown,
)
from sim.scenario.models import Service
from sim.scenario.paths import set_path
from sim.scenario.plan import purchase_keys
from sim.scenario.problems import Problem, ScenarioError
from sim.scenario.scenario import Scenario
from sim.scenario.traces import period_problem, read_trace
from sim.timeparse import format_hours, hours_between, parse_datetime

PathT = tuple[str | int, ...]
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that keeps the node tree (for line numbers); libyaml's C parser where PyYAML
    has it (the pure-Python scanner takes about 3 s a MB)."""


_VALUE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)


def _too_many_values(text: str) -> int | None:
    """The line of the first value beyond YAML_VALUES_LIMIT, or None if the text holds fewer."""
    count = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, _VALUE_EVENTS):
            count += 1
            if count > YAML_VALUES_LIMIT:
                return event.start_mark.line + 1
    return None


@dataclass
class _Walk:
    """State of one walk over a composed YAML document: where values are, what went wrong, and
    how many nodes aliases and merges have added (a billion-laughs file is refused early)."""

    loader: _Loader
    file: str
    lines: dict[PathT, int]
    problems: list[Problem]
    seen: set[int] = field(default_factory=set)
    merged: dict[int, int] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    expanded: int = 0

    def expand(self, path: PathT, n: int = 1) -> None:
        self.expanded += n
        if self.expanded > ALIAS_EXPANSION_LIMIT:
            raise _TooManyAliases(path)


class _TooManyAliases(Exception):
    def __init__(self, path: PathT) -> None:
        self.path = path


def _merged_size(node: yaml.Node, walk: _Walk, path: PathT, depth: int = 0) -> int:
    """Pairs a mapping holds once its `<<:` merges are flattened, without flattening it."""
    if not isinstance(node, yaml.MappingNode) or depth > 100:
        return 0
    if id(node) in walk.merged:
        return walk.merged[id(node)]
    walk.merged[id(node)] = 0  # a merge loop counts nothing; PyYAML reports it
    size = 0
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            for sub in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                size += _merged_size(sub, walk, path, depth + 1)
        else:
            size += 1
        if size > ALIAS_EXPANSION_LIMIT:
            raise _TooManyAliases(path)
    walk.merged[id(node)] = size
    return size


def _tree_size(node: yaml.Node, walk: _Walk, path: PathT) -> int:
    """Nodes under `node` with every alias in it expanded (counted once per distinct node)."""
    if id(node) in walk.sizes:
        return walk.sizes[id(node)]
    walk.sizes[id(node)] = 0  # an alias loop adds nothing; it is reported as a loop
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += _merged_size(node, walk, path)
        for key, value in node.value:
            size += _tree_size(key, walk, path) + _tree_size(value, walk, path)
            if size > ALIAS_EXPANSION_LIMIT:
                raise _TooManyAliases(path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _tree_size(item, walk, path)
            if size > ALIAS_EXPANSION_LIMIT:
                raise _TooManyAliases(path)
    walk.sizes[id(node)] = size
    return size


def _to_data(node: yaml.Node, walk: _Walk, path: PathT, _above: tuple[int, ...] = (),
             _repeated: bool = False) -> Any:
    file, problems, lines, loader = walk.file, walk.problems, walk.lines, walk.loader
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in _above:
        problems.append(Problem(file, node.start_mark.line + 1, _dotted(path),
                                "this alias refers to a value that contains it (a loop)"))
        return None
    if not _repeated and id(node) in walk.seen:
        # Met again, through an alias: charge its whole expansion before walking it.
        walk.expand(path, _tree_size(node, walk, path))
        _repeated = True
    walk.seen.add(id(node))
    above = (*_above, id(node))
    if isinstance(node, yaml.MappingNode):
        if not _repeated and any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
            walk.expand(path, max(0, _merged_size(node, walk, path) - len(node.value)))
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader, path, problems, file)
            if isinstance(key, list | dict):
                problems.append(Problem(file, key_node.start_mark.line + 1, _dotted(path),
                                        "a key must be a plain value"))
                continue
            key = key if isinstance(key, str) else str(key)
            if key in out:
                problems.append(Problem(file, key_node.start_mark.line + 1, _dotted((*path, key)),
                                        f"duplicate key {shown(key)} (first given on line "
                                        f"{lines.get((*path, key), '?')})"))
                continue
            if not key.isprintable():
                problems.append(Problem(file, key_node.start_mark.line + 1, _dotted((*path, key)),
                                        f"the key {shown(key)} holds a control character; names "
                                        "must be printable text"))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_data(value_node, walk, (*path, key), above, _repeated)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, walk, (*path, i), above, _repeated)
                for i, item in enumerate(node.value)]
    value = _scalar(node, loader, path, problems, file)
    if isinstance(value, str) and not value.replace("\n", "").replace("\t", "").isprintable():
        problems.append(Problem(file, node.start_mark.line + 1, _dotted(path),
                                f"the value {shown(value)} holds a control character (such as a "
                                "terminal escape); only printable text, new lines and tabs"))
    return value


def _scalar(node: yaml.Node, loader: _Loader, path: PathT, problems: list[Problem],
            file: str) -> Any:
    """A scalar's value; text that only looks like a date or number (`2025-13-01`) stays text."""
    if not isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError) as exc:
        loader.recursive_objects.pop(node, None)
        if loader.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag:
            return node.value  # implicit type guessed from the text; let validation judge it
        tag = node.tag.rsplit(":", 1)[-1]
        problems.append(Problem(file, node.start_mark.line + 1, _dotted(path),
                                f"{shown(node.value)} cannot be read as !!{tag}: {shorten(str(exc))}"))
        return None


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
    try:
        raw = read_capped(source, SCENARIO_MAX_BYTES, "a scenario YAML file")
    except ReadError as exc:
        raise ScenarioError([Problem(file, None, "", str(exc))]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ScenarioError([Problem(file, line, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                                     "cannot be decoded); save the file as UTF-8")]) from None
    problems: list[Problem] = []
    lines: dict[PathT, int] = {}
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # checks for characters YAML does not allow
        beyond = _too_many_values(text)
        if beyond is not None:
            raise ScenarioError([Problem(file, beyond, "", f"more than {YAML_VALUES_LIMIT:,} "
                                         "values (keys, numbers, dates, lists) in one scenario "
                                         "file; split it, or write long schedules as fewer "
                                         "steps")])
        node = loader.get_single_node()
        if node is None or node.tag == "tag:yaml.org,2002:null":  # nothing, or only `---` / `~`
            raise ScenarioError([Problem(file, 1, "", "the file is empty, expected a scenario "
                                         f"({_TOP_FIELDS}, ...)")])
        walk = _Walk(loader, file, lines, problems)
        data = _to_data(node, walk, ())
    except _TooManyAliases as exc:
        raise ScenarioError([Problem(file, _line_for(exc.path[:1], lines), _dotted(exc.path[:1]),
                                     f"aliases (`*name`) and merges (`<<:`) here expand to more "
                                     f"than {ALIAS_EXPANSION_LIMIT:,} repeated values; write "
                                     "the values out, or refer to fewer")]) from None
    except yaml.MarkedYAMLError as exc:
        raise ScenarioError([_yaml_problem(exc, file)]) from None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise ScenarioError([Problem(file, line, "", f"not valid YAML: character "
                                     f"{chr(exc.character)!r} is not allowed in YAML text")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(file, None, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ScenarioError([Problem(file, None, "", "lists or mappings are nested too deeply "
                                     "to read")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise ScenarioError(problems)
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, lines.get((), 1), "", "expected a mapping of scenario "
                                     f"fields ({_TOP_FIELDS}, ...) at the top level, "
                                     f"got {_show(data)}")])
    return data, lines


_TOP_FIELDS = "name: ..., start: ..., horizon: ..., accelerators: ..., providers: ..."

_YAML_TOKENS = {"'<stream end>'": "the end of the file", "'<scalar>'": "a value",
                "<block end>": "the end of the block",
                "'<block mapping start>'": "a more indented line",
                "'<block sequence start>'": "a more indented list", "'?'": "a new key",
                "'<tag>'": "a `!` tag", "'<alias>'": "a `*` alias", "'<anchor>'": "a `&` anchor",
                "'<document start>'": "`---`", "'<block entry>'": "a `- item`"}


def _yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A YAML syntax error in plain words, on the line where the mistake most likely is."""
    problem, context = exc.problem or "", exc.context or ""
    pmark, cmark = exc.problem_mark, exc.context_mark
    mark = pmark or cmark
    line = mark.line + 1 if mark else None
    for token, words in _YAML_TOKENS.items():
        problem = problem.replace(token, words)
    if "simple key" in context and cmark:
        line, message = cmark.line + 1, "expected `key: value`, but this line has no ':'"
    elif "quoted scalar" in context and cmark:
        line, message = cmark.line + 1, "a quoted value starts here but its closing quote is missing"
    elif "flow sequence" in context or "flow mapping" in context:
        pair = "[ ]" if "sequence" in context else "{ }"
        if cmark and pmark and cmark.line != pmark.line:  # the bracket was never closed
            line = cmark.line + 1
            message = (f"the `{pair[0]}` opened on this line is not closed with `{pair[-1]}` "
                       f"(the parser gave up on line {pmark.line + 1})")
        else:
            message = f"{problem} inside `{pair}`"
    elif "another document" in problem:
        message = "a second YAML document (after `---`); a scenario file holds one document"
    elif problem.startswith(("expected the end of the block", "expected `---`")):
        message = "the indentation does not line up with the lines above (or a `- item` is mixed " \
                  "in with `key: value` lines)"
    elif "mapping values are not allowed" in problem:
        message = "unexpected ':' (check the indentation, or put a value containing ': ' in quotes)"
    elif "'\\t'" in problem or "tab character" in problem:
        message = "a tab character; YAML needs spaces, not tabs, for indentation and after ':'"
    elif "cannot start any token" in problem:
        message = f"{problem.removeprefix('found ')}; put the value in quotes"
    elif "could not determine a constructor" in problem:
        tag = problem.rsplit(" ", 1)[-1].replace("tag:yaml.org,2002:", "!!")
        message = f"unsupported tag {tag}; scenario files hold plain values, lists and mappings"
    else:
        message = problem or context
    where = f" (column {pmark.column + 1})" if pmark and line == pmark.line + 1 else ""
    return Problem(file, line, "", f"not valid YAML: {message}{where}")


def _show(value: Any) -> str:
    """A value as the user wrote it, for messages."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping (key: value lines)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, date):
        return value.isoformat()
    return shown(value)


def _number(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:,.0f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _strip(t: Any) -> Any:
    while get_origin(t) is Annotated:
        t = get_args(t)[0]
    return t


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _union_options(t: Any) -> list[Any] | None:
    if get_origin(t) in (Union, types.UnionType):
        return [_strip(a) for a in get_args(t) if a is not type(None)]
    return None


def _tag_of(t: Any) -> str | None:
    """The `dist` tag of one member of a discriminated union."""
    field = t.model_fields.get("dist") if _is_model(t) else None
    args = get_args(field.annotation) if field else ()
    return args[0] if len(args) == 1 else None


def _type_at(root: Any, loc: tuple[str | int, ...]) -> Any:
    """The declared type at a pydantic error location (tags of unions included), or None."""
    t = root
    for part in loc:
        t = _strip(t)
        options = _union_options(t)
        if options is not None:
            tagged = [o for o in options if _tag_of(o) == part]
            if tagged:
                t = tagged[0]
                continue
            if len(options) != 1:
                return None
            t = options[0]
        if _is_model(t):
            field = t.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            t = field.annotation
        elif get_origin(t) is list and isinstance(part, int):
            t = get_args(t)[0]
        elif get_origin(t) is dict:
            t = get_args(t)[1]
        else:
            return None
    t = _strip(t)
    options = _union_options(t)
    return options[0] if options and len(options) == 1 else t


def _tags_at(root: Any, loc: tuple[str | int, ...]) -> list[str]:
    """The tags (`fixed`, `lognormal`, ...) if `loc` is a discriminated union, else []."""
    options = _union_options(_strip(_type_at(root, loc)))
    return [t for t in (_tag_of(o) for o in options or []) if t]


def _clean_loc(loc: tuple[str | int, ...], data: Any) -> PathT:
    """A pydantic location as a path in the file: union tags (`lognormal`) dropped."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            continue
        if isinstance(node, dict) and node.get("dist") == part:
            continue  # the tag a discriminated union adds to the location
        if isinstance(part, str) and part.startswith("function-"):
            continue
        out.append(part)
        node = None
    return tuple(out)


def _unknown_field(key: object, fields: list[str] | None) -> tuple[str, str | None]:
    """The message for a key no model has, and the field it most likely meant."""
    if not fields:
        return "unknown field (check its spelling and indentation)", None
    guess = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
    if guess:
        return f"unknown field; did you mean {guess[0]!r}?", guess[0]
    return f"unknown field; expected one of: {', '.join(fields)}", None


def _friendly(err: Any, root: Any = Scenario) -> str:
    """What pydantic found wrong, in the words of someone editing the file."""
    kind, ctx = err["type"], err.get("ctx") or {}
    got = f", got {_show(err['input'])}" if "input" in err else ""
    loc = tuple(err["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = _type_at(root, loc[:-1])
        return _unknown_field(loc[-1], list(parent.model_fields) if _is_model(parent) else None)[0]
    if kind in {"float_parsing", "float_type"}:
        return f"expected a number{got}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"expected a whole number{got}"
    value = err.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "not a number (NaN); expected a number"
        if kind in {"finite_number", "greater_than", "greater_than_equal", "less_than",
                    "less_than_equal"}:
            return (f"expected a finite number, got {value} (infinity is allowed only where a "
                    "field says it means no limit)")
    if kind == "finite_number":
        return f"expected a finite number{got}"
    if kind in {"bool_parsing", "bool_type"}:
        return f"expected true or false{got}"
    if kind == "string_type":
        return f"expected text{got}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        if _tags_at(root, loc):
            return f"expected a distribution such as {{dist: fixed, value: 8}}{got}"
        return f"expected a mapping of fields (key: value lines){got}"
    if kind == "list_type":
        return f"expected a list ([a, b] or `- item` lines){got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}{got}"
    if kind == "greater_than":
        return f"must be greater than {_number(ctx.get('gt'))}{got}"
    if kind == "greater_than_equal":
        ge = ctx.get("ge")
        return (f"cannot be negative{got}" if ge == 0 else f"must be at least {_number(ge)}{got}")
    if kind == "less_than":
        return f"must be less than {_number(ctx.get('lt'))}{got}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx.get('le'))}{got}"
    if kind in {"too_short", "too_long"}:
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        noun = "entry" if ctx.get("field_type") == "Dictionary" else "item"
        bound = "at least" if kind == "too_short" else "at most"
        return f"needs {bound} {n} {noun}{'' if n == 1 else 's'}, got {ctx.get('actual_length')}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == "^[A-Za-z0-9_.-]+$":
            return f"may only use letters, digits, '_', '.' and '-'{got}"
        return f"expected text matching {ctx.get('pattern')}{got}"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        tags = _tags_at(root, loc)
        known = f"one of {', '.join(tags)}" if tags else "a known kind"
        if kind == "union_tag_not_found":
            return f"required field is missing: which distribution, {known}"
        return f"expected {known}, got {shown(ctx.get('tag'))}"
    if kind == "value_error":
        return str(ctx.get("error") or err["msg"].removeprefix("Value error, "))
    return f"{err['msg']}{got}"


def _pydantic_problems(exc: ValidationError, file: str, lines: dict[PathT, int],
                       data: Any = None) -> list[Problem]:
    found = []
    meant: set[PathT] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = _clean_loc(loc, data)
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            path = (*path, "dist")
        if err["type"] == "extra_forbidden":
            parent = _type_at(Scenario, loc[:-1])
            guess = _unknown_field(loc[-1], list(parent.model_fields) if _is_model(parent) else None)[1]
            if guess:
                meant.add((*path[:-1], guess))
        found.append((err["type"], path, _friendly(err)))
    # A misspelt key (`arival`) also leaves the real one (`arrival`) missing: report it once.
    return [Problem(file, _line_for(path, lines), _dotted(path), message)
            for kind, path, message in found if not (kind == "missing" and path in meant)]


def _bools_as_numbers(raw: Any, value: Any, path: PathT = ()) -> Iterator[tuple[PathT, str]]:
    """Places where YAML's true/false (also written yes/no/on/off) was taken as a number."""
    if isinstance(raw, bool):
        if not isinstance(value, bool):
            yield path, ("expected a number, got true/false (YAML reads yes, no, on and off "
                         "as true/false)")
    elif isinstance(raw, dict):
        for key, item in raw.items():
            if isinstance(value, BaseModel):
                child = getattr(value, key, None) if key in type(value).model_fields else None
            else:
                child = value.get(key) if isinstance(value, dict) else None
            if child is not None:
                yield from _bools_as_numbers(item, child, (*path, key))
    elif isinstance(raw, list) and isinstance(value, list | tuple) and len(raw) == len(value):
        for i, (item, child) in enumerate(zip(raw, value, strict=True)):
            yield from _bools_as_numbers(item, child, (*path, i))


def cross_check(s: Scenario, dates: bool = True) -> Iterator[tuple[PathT, str]]:
    """Rules across fields: references exist, dates in the horizon, policies known and valid.

    `dates=False` leaves out the checks of dates against the start and horizon (when those are
    stand-ins for values already reported)."""
    from sim.policies import REGISTRY

    end = s.horizon
    if dates and (datetime.max - s.start).total_seconds() / 3600 < end:
        yield ("horizon",), (f"the scenario would end after the year 9999 ({end:g} h after "
                             f"{_moment(s.start)})")
        dates = False

    def inside(path: PathT, moment: datetime, what: str = "date") -> Iterator[tuple[PathT, str]]:
        # A date after the horizon is allowed: the run clips it and says so in its metadata,
        # so a shorter horizon (`--set horizon=180d`) works on any scenario.
        if not dates:
            return
        if hours_between(s.start, moment) < 0:
            yield path, (f"{what} {_moment(moment)} is before the scenario starts "
                         f"({_moment(s.start)}; it runs to "
                         f"{_moment(format_hours(s.start, end))})")

    if dates and s.step > s.horizon:
        yield ("step",), "the step is longer than the horizon"
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            base: PathT = ("providers", pname, "pools", poolname)
            if pool.accelerator not in s.accelerators:
                yield (*base, "accelerator"), _unknown("accelerator", pool.accelerator, s.accelerators)
            if not pool.capacity and pool.buildout is None and pool.blocks is None:
                yield base, "a pool needs `capacity`, `buildout` or `blocks`"
            yield from _procurement_checks(s, pname, poolname, inside)
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
    for i, outage in enumerate(s.outages):
        yield from _outage_refs(s, ("outages", i), outage)
        yield from inside(("outages", i, "start"), outage.start)
    if s.power:
        for i, p in enumerate(s.power.ceiling):
            yield from inside(("power", "ceiling", i, "at"), p.at)
        for name, steps in s.power.providers.items():
            if name not in s.providers:
                yield ("power", "providers", name), _unknown("provider", name, s.providers)
            for i, p in enumerate(steps):
                yield from inside(("power", "providers", name, i, "at"), p.at)
    names: set[str] = set()
    for i, job in enumerate(s.training.jobs):
        base = ("training", "jobs", i)
        if job.name in names:
            yield (*base, "name"), f"two jobs are named {shown(job.name)}"
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
            if svc.trace is not None:
                yield from _trace_checks(s, base, svc)
    if s.policy.default not in REGISTRY:
        yield ("policy", "default"), _unknown("policy", s.policy.default, REGISTRY)
    if s.plan is not None:
        yield from _plan_checks(s, inside)
    for pname, params in s.policy.params.items():
        if pname not in REGISTRY:
            yield ("policy", "params", pname), _unknown("policy", pname, REGISTRY)
            continue
        model = REGISTRY[pname].Params
        try:
            parsed = model.model_validate(params)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                if err["type"] == "extra_forbidden":
                    known = list(model.model_fields)
                    guess = difflib.get_close_matches(str(err["loc"][-1]), known, n=1, cutoff=0.6)
                    msg = (f"unknown parameter of {pname}; did you mean {guess[0]!r}?" if guess else
                           f"unknown parameter of {pname}; known: {', '.join(known) or 'none'}")
                else:
                    msg = _friendly(err, model)
                yield ("policy", "params", pname, *err["loc"]), msg
        else:
            for path, msg in _bools_as_numbers(params, parsed):
                yield ("policy", "params", pname, *path), msg
            holder = params.get("provider")
            if isinstance(holder, str) and holder not in s.providers:
                yield ("policy", "params", pname, "provider"), _unknown("provider", holder,
                                                                        s.providers)


def _plan_checks(s: Scenario, inside: Any) -> Iterator[tuple[PathT, str]]:
    """The `plan:` section: the pools it buys in exist (with a blocks offer for blocks), each
    decision is named once, the worlds' changes and outages fit the scenario, the policy is
    known."""
    from sim.policies import REGISTRY

    assert s.plan is not None
    first: dict[str, int] = {}
    for i, item in enumerate(s.plan.buy):
        base: PathT = ("plan", "buy", i)
        pname, poolname = item.provider_and_pool
        if not pname:
            yield (*base, "pool"), f"expected provider/pool, e.g. azure/gb200, got {shown(item.pool)}"
            continue
        if pname not in s.providers:
            yield (*base, "pool"), _unknown("provider", pname, s.providers)
            continue
        pools = s.providers[pname].pools
        if poolname not in pools:
            yield (*base, "pool"), _unknown(f"pool of {pname}", poolname, pools)
            continue
        if "." in pname or "." in poolname:
            yield (*base, "pool"), (f"{shown(item.pool)}: a plan cannot buy in a provider or "
                                    "pool whose name holds '.' (its purchases are set by dotted "
                                    "path); rename it")
            continue
        offer = pools[poolname].blocks
        if item.blocks is not None:
            if offer is None:
                yield (*base, "blocks"), (f"{item.pool} has no `blocks` offer to order from; add "
                                          "one to the pool, or buy a `commitment` instead")
                continue
            if item.blocks.term is not None and item.blocks.term < offer.min_term:
                yield (*base, "blocks", "term"), (
                    f"{item.blocks.term / 24:g} days is shorter than the offer's minimum term "
                    f"({offer.min_term / 24:g} days)")
            for j, moment in enumerate(item.blocks.at):
                yield from inside((*base, "blocks", "at", j), moment)
        for key in purchase_keys(s, item):
            if key in first:
                yield (*base, "pool"), (f"the decision {key!r} is also made by "
                                        f"plan.buy[{first[key]}]; give each purchase once")
            first.setdefault(key, i)
    yield from world_problems(s, s.plan.worlds, ("plan", "worlds"))
    if s.plan.policy is not None and s.plan.policy not in REGISTRY:
        yield ("plan", "policy"), _unknown("policy", s.plan.policy, REGISTRY)


def world_problems(s: Scenario, worlds: dict[str, Any],
                   base: PathT) -> Iterator[tuple[PathT, str]]:
    """What is wrong with what-if worlds (`PlanWorld`s) of `s`, at `base` + world name: a change
    path that does not exist or a value the field refuses, an outage of an unknown provider or
    pool or dated before the start. A `file` world is checked when it is read (sim/plan)."""
    dump: dict[str, Any] | None = None
    for name, world in worlds.items():
        at: PathT = (*base, name)
        if world.changes:
            if dump is None:
                dump = s.model_dump(mode="json")
                dump["plan"] = None
            data = copy.deepcopy(dump)
            bad = False
            for path, value in world.changes.items():
                try:
                    set_path(data, str(path), copy.deepcopy(value))
                except KeyError as exc:
                    bad = True
                    yield (*at, "changes", path), f"no such field: {exc.args[0]}"
            if not bad:
                try:
                    Scenario.model_validate(data)
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    where = _dotted(_clean_loc(tuple(err["loc"]), data))
                    yield (*at, "changes"), (f"the world's scenario is not valid: {where}: "
                                             f"{_friendly(err)}")
        for k, outage in enumerate(world.outages or []):
            yield from _outage_refs(s, (*at, "outages", k), outage)
            if hours_between(s.start, outage.start) < 0:
                yield (*at, "outages", k, "start"), (
                    f"date {_moment(outage.start)} is before the scenario starts "
                    f"({_moment(s.start)})")


def _dated_in_order(path: PathT, moments: list[datetime]) -> Iterator[tuple[PathT, str]]:
    if any(b < a for a, b in itertools.pairwise(moments)):
        yield path, "steps must be in date order"


def _procurement_checks(s: Scenario, pname: str, poolname: str,
                        inside: Any) -> Iterator[tuple[PathT, str]]:
    """Blocks, price schedules, availability, region and programme of one pool."""
    provider = s.providers[pname]
    pool = provider.pools[poolname]
    base: PathT = ("providers", pname, "pools", poolname)
    if pool.blocks is not None:
        b = pool.blocks
        for i, order in enumerate(b.orders):
            yield from inside((*base, "blocks", "orders", i, "at"), order.at)
            if order.term is not None and order.term < b.min_term:
                yield (*base, "blocks", "orders", i, "term"), (
                    f"{order.term / 24:g} days is shorter than the offer's minimum term "
                    f"({b.min_term / 24:g} days)")
        yield from _dated_in_order((*base, "blocks", "orders"), [o.at for o in b.orders])
    if pool.prices is not None:
        for i, step in enumerate(pool.prices.steps):
            yield from inside((*base, "prices", "steps", i, "at"), step.at)
        yield from _dated_in_order((*base, "prices", "steps"), [p.at for p in pool.prices.steps])
    if pool.availability is not None and pool.availability.series is not None:
        series = pool.availability.series
        for i, point in enumerate(series):
            yield from inside((*base, "availability", "series", i, "at"), point.at)
        yield from _dated_in_order((*base, "availability", "series"), [p.at for p in series])
    if pool.region is not None and pool.region not in provider.regions:
        known = ", ".join(sorted(provider.regions)) or f"none (add `regions:` to {pname})"
        yield (*base, "region"), f"unknown region {pool.region!r} of {pname}; known: {known}"
    programme = pool.buildout.programme if pool.buildout is not None else None
    if programme is not None and programme not in s.programmes:
        known = ", ".join(sorted(s.programmes)) or "none (add top-level `programmes:`)"
        yield (*base, "buildout", "programme"), f"unknown programme {programme!r}; known: {known}"


def _trait_refs(s: Scenario, base: PathT, accelerators: list[str] | None,
                providers: list[str] | None) -> Iterator[tuple[PathT, str]]:
    for j, acc in enumerate(accelerators or []):
        if acc not in s.accelerators:
            yield (*base, "accelerators", j), _unknown("accelerator", acc, s.accelerators)
    for j, prov in enumerate(providers or []):
        if prov not in s.providers:
            yield (*base, "providers", j), _unknown("provider", prov, s.providers)


def _moment(moment: datetime | str) -> str:
    """A date, with its time only when it is not midnight."""
    text = moment if isinstance(moment, str) else moment.isoformat(timespec="minutes")
    return text.removesuffix("T00:00")


def _outage_refs(s: Scenario, path: PathT, outage: Any) -> Iterator[tuple[PathT, str]]:
    """A scripted outage names a provider of `s` and, if it names a pool, one of its pools."""
    if outage.provider not in s.providers:
        yield (*path, "provider"), _unknown("provider", outage.provider, s.providers)
    elif outage.pool is not None and outage.pool not in s.providers[outage.provider].pools:
        yield (*path, "pool"), _unknown(f"pool of {outage.provider}", outage.pool,
                                        s.providers[outage.provider].pools)


def _unknown(what: str, name: object, known: Iterable[str]) -> str:
    names = sorted(known)
    listed = ", ".join(shown(n, 40, quote=False) for n in names[:20])
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"unknown {what} {shown(name)}; known: {listed}{more}"


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
        problems = _pydantic_problems(exc, file, lines, data)
        repaired, replaced = _repaired(data, exc)
        if repaired is not None:
            clock = {("start",), ("horizon",), ("step",)} & replaced
            problems += [Problem(file, _line_for(path, lines), _dotted(path), msg)
                         for path, msg in [*_bools_as_numbers(data, repaired),
                                           *cross_check(repaired, dates=not clock)]
                         if not any(_related(path, r) for r in replaced)]
        raise ScenarioError(_in_file_order(problems)) from None
    problems = [Problem(file, _line_for(path, lines), _dotted(path), msg)
                for path, msg in [*_bools_as_numbers(data, scenario), *cross_check(scenario)]]
    if problems:
        raise ScenarioError(_in_file_order(problems))
    if any(svc.trace for svc in (*scenario.inference.values(), *scenario.agents.values())):
        scenario = _resolve_traces(scenario, file, lines, Path(base_dir or "."))
    return scenario


def _related(a: PathT, b: PathT) -> bool:
    """One path lies inside the other (or they are the same)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


_GIVE_UP = object()


def _repaired(data: Any, exc: ValidationError, rounds: int = 4) -> tuple[Scenario | None, set[PathT]]:
    """`data` validated with a stand-in for every value pydantic refused (unknown keys dropped),
    and the paths replaced; None when no stand-in makes it valid."""
    data = copy.deepcopy(data)
    replaced: set[PathT] = set()
    for _ in range(rounds):
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            path = _clean_loc(loc, data)
            if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
                value: Any = {"dist": "fixed", "value": 1}
            elif err["type"] == "extra_forbidden":
                if not _set_at(data, path, None, delete=True):
                    return None, replaced
                replaced.add(path)
                continue
            else:
                value = _stand_in(_type_at(Scenario, loc), data)
            if value is _GIVE_UP or not path or not _set_at(data, path, value):
                return None, replaced
            replaced.add(path)
        try:
            return Scenario.model_validate(data), replaced
        except ValidationError as again:
            exc = again
    return None, replaced


def _stand_in(t: Any, data: Any) -> Any:
    """A value of type `t` that passes the usual bounds (0.5 for a number, the start for a date)."""
    t = _strip(t)
    if t is bool:
        return False
    if t is int:
        return 1
    if t is float:
        return 0.5
    if t is str:
        return "x"
    if t is datetime:
        try:  # the start, so that a stand-in date lies inside the horizon
            return parse_datetime(data.get("start") if isinstance(data, dict) else None)
        except ValueError:
            return "2000-01-01"
    if get_origin(t) is Literal:
        return get_args(t)[0]
    if _tags_at(t, ()):
        return {"dist": "fixed", "value": 1}
    if get_origin(t) is list:
        return []
    if get_origin(t) is dict or _is_model(t):
        return {}
    return _GIVE_UP


def _set_at(data: Any, path: PathT, value: Any, delete: bool = False) -> bool:
    """Put `value` at `path` in nested dicts and lists (or delete it); False if there is no such
    place."""
    node = data
    for part in path[:-1]:
        inside = (part in node if isinstance(node, dict) else isinstance(node, list)
                  and isinstance(part, int) and 0 <= part < len(node))
        if not inside:
            return False
        node = node[part]
    last = path[-1]
    if isinstance(node, dict):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value
        return True
    if isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node) and not delete:
        node[last] = value
        return True
    return False


def _trace_checks(s: Scenario, base: PathT, svc: Service) -> Iterator[tuple[PathT, str]]:
    """A service that replays a trace: fields the trace makes meaningless, and its timing."""
    assert svc.trace is not None
    if svc.base_units is not None:
        yield (*base, "base_units"), ("has no effect with a trace (demand comes from the trace); "
                                      "remove it, or use trace.scale to change the volume")
    if svc.trace.mode == "replace":
        for key in ("growth_per_month", "daily_amplitude", "weekly_amplitude", "noise", "spikes"):
            if getattr(svc, key):
                yield (*base, key), ("has no effect with trace mode replace; set `mode: on_top` "
                                     "in the trace to apply it to the trace, or remove it")
    if svc.trace.shift >= s.horizon:
        yield (*base, "trace", "shift"), (f"the trace would start {svc.trace.shift:g} h into the "
                                          f"scenario, beyond its horizon ({s.horizon:g} h)")


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
            at = {key: (file, _line_for((section, name, "trace", key), lines),
                        _dotted((section, name, "trace", key))) for key in ("file", "period")}
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


line_for = _line_for
dotted = _dotted
