"""One-pass reporting: a scenario pydantic refused, with a stand-in for each refused value, so the
cross-checks can still report the problems elsewhere in the file."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError

from sim.scenario.messages import (
    bare_type,
    clean_loc,
    is_model,
    tags_at,
    type_at,
)
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_lines import PathT
from sim.timeparse import parse_datetime


def related(a: PathT, b: PathT) -> bool:
    """One path lies inside the other (or they are the same)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


_GIVE_UP = object()


def with_stand_ins(data: Any, exc: ValidationError, rounds: int = 4) -> tuple[Scenario | None, set[PathT]]:
    """`data` validated with a stand-in for every value pydantic refused (unknown keys dropped),
    and the paths replaced; None when no stand-in makes it valid."""
    data = copy.deepcopy(data)
    replaced: set[PathT] = set()
    for _ in range(rounds):
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            path = clean_loc(loc, data)
            if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
                value: Any = {"dist": "fixed", "value": 1}
            elif err["type"] == "extra_forbidden":
                if not _set_at(data, path, None, delete=True):
                    return None, replaced
                replaced.add(path)
                continue
            else:
                value = _stand_in(type_at(Scenario, loc), data)
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
    t = bare_type(t)
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
    if tags_at(t, ()):
        return {"dist": "fixed", "value": 1}
    if get_origin(t) is list:
        return []
    if get_origin(t) is dict or is_model(t):
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
