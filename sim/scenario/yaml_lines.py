"""YAML read into plain data with the line of every key and item (PyYAML nodes), refusing alias
bombs and oversized files before memory is spent; `line_for` and `dotted` locate a path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from sim.scenario.limits import (
    ALIAS_EXPANSION_LIMIT,
    SCENARIO_MAX_BYTES,
    YAML_VALUES_LIMIT,
    ReadError,
    read_capped,
    shorten,
    shown,
)
from sim.scenario.problems import Problem, ScenarioError, decoded


def show(value: Any) -> str:
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
        problems.append(Problem(file, node.start_mark.line + 1, dotted(path),
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
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted(path),
                                        "a key must be a plain value"))
                continue
            key = key if isinstance(key, str) else str(key)
            if key in out:
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted((*path, key)),
                                        f"duplicate key {shown(key)} (first given on line "
                                        f"{lines.get((*path, key), '?')})"))
                continue
            if not key.isprintable():
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted((*path, key)),
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
        problems.append(Problem(file, node.start_mark.line + 1, dotted(path),
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
        problems.append(Problem(file, node.start_mark.line + 1, dotted(path),
                                f"{shown(node.value)} cannot be read as !!{tag}: {shorten(str(exc))}"))
        return None


def dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def line_for(path: PathT, lines: dict[PathT, int]) -> int | None:
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
    text = decoded(raw, file, hint="; save the file as UTF-8")
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
        raise ScenarioError([Problem(file, line_for(exc.path[:1], lines), dotted(exc.path[:1]),
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
                                     f"got {show(data)}")])
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
