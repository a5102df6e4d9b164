"""pydantic's validation errors rewritten as located, readable messages: what was expected at
each field, in the file's own terms."""

from __future__ import annotations

import difflib
import math
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from sim.scenario.limits import (
    shown,
)
from sim.scenario.problems import Problem
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_lines import PathT, dotted, line_for, show


def _number(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:,.0f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def bare_type(t: Any) -> Any:
    while get_origin(t) is Annotated:
        t = get_args(t)[0]
    return t


def is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _union_options(t: Any) -> list[Any] | None:
    if get_origin(t) in (Union, types.UnionType):
        return [bare_type(a) for a in get_args(t) if a is not type(None)]
    return None


def _tag_of(t: Any) -> str | None:
    """The `dist` tag of one member of a discriminated union."""
    field = t.model_fields.get("dist") if is_model(t) else None
    args = get_args(field.annotation) if field else ()
    return args[0] if len(args) == 1 else None


def type_at(root: Any, loc: tuple[str | int, ...]) -> Any:
    """The declared type at a pydantic error location (tags of unions included), or None."""
    t = root
    for part in loc:
        t = bare_type(t)
        options = _union_options(t)
        if options is not None:
            tagged = [o for o in options if _tag_of(o) == part]
            if tagged:
                t = tagged[0]
                continue
            if len(options) != 1:
                return None
            t = options[0]
        if is_model(t):
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
    t = bare_type(t)
    options = _union_options(t)
    return options[0] if options and len(options) == 1 else t


def tags_at(root: Any, loc: tuple[str | int, ...]) -> list[str]:
    """The tags (`fixed`, `lognormal`, ...) if `loc` is a discriminated union, else []."""
    options = _union_options(bare_type(type_at(root, loc)))
    return [t for t in (_tag_of(o) for o in options or []) if t]


def clean_loc(loc: tuple[str | int, ...], data: Any) -> PathT:
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


def friendly(err: Any, root: Any = Scenario) -> str:
    """What pydantic found wrong, in the words of someone editing the file."""
    kind, ctx = err["type"], err.get("ctx") or {}
    got = f", got {show(err['input'])}" if "input" in err else ""
    loc = tuple(err["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = type_at(root, loc[:-1])
        return _unknown_field(loc[-1], list(parent.model_fields) if is_model(parent) else None)[0]
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
        if tags_at(root, loc):
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
        tags = tags_at(root, loc)
        known = f"one of {', '.join(tags)}" if tags else "a known kind"
        if kind == "union_tag_not_found":
            return f"required field is missing: which distribution, {known}"
        return f"expected {known}, got {shown(ctx.get('tag'))}"
    if kind == "value_error":
        return str(ctx.get("error") or err["msg"].removeprefix("Value error, "))
    return f"{err['msg']}{got}"


def pydantic_problems(exc: ValidationError, file: str, lines: dict[PathT, int],
                       data: Any = None) -> list[Problem]:
    found = []
    meant: set[PathT] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = clean_loc(loc, data)
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            path = (*path, "dist")
        if err["type"] == "extra_forbidden":
            parent = type_at(Scenario, loc[:-1])
            guess = _unknown_field(loc[-1], list(parent.model_fields) if is_model(parent) else None)[1]
            if guess:
                meant.add((*path[:-1], guess))
        found.append((err["type"], path, friendly(err)))
    # A misspelt key (`arival`) also leaves the real one (`arrival`) missing: report it once.
    return [Problem(file, line_for(path, lines), dotted(path), message)
            for kind, path, message in found if not (kind == "missing" and path in meant)]
