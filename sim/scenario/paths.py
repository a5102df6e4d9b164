"""Dotted paths into a scenario's data (`providers.azure.pools.gb200.units`): how changes,
sweeps and plan worlds name the field they set."""

from __future__ import annotations

from typing import Any


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.0.c` in nested dicts and lists; KeyError names the part that does not exist."""
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(f"{'.'.join(parts[:i + 1])}: no item {part!r} "
                               f"(the list has {len(node)} items)")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                known = ", ".join(str(k) for k in node) or "nothing"
                raise KeyError(f"{'.'.join(parts[:i + 1])}: no field {part!r} here; "
                               f"known: {known}")
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            raise KeyError(f"{'.'.join(parts[:i])} is a value, it has no field {part!r}")
