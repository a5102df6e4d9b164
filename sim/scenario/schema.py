"""JSON Schema of scenario files, with each registered policy's parameters spelled out."""

from __future__ import annotations

from typing import Any

from sim.scenario.scenario import Scenario


def scenario_schema() -> dict[str, Any]:
    """The schema editors use to check and complete scenario files."""
    from sim.policies import REGISTRY

    schema = Scenario.model_json_schema()
    section = schema["$defs"]["PolicySection"]
    section["properties"]["default"]["enum"] = sorted(REGISTRY)
    params: dict[str, Any] = {}
    for name in sorted(REGISTRY):
        sub = REGISTRY[name].Params.model_json_schema()
        for key, definition in sub.pop("$defs", {}).items():
            schema["$defs"].setdefault(key, definition)
        params[name] = sub
    section["properties"]["params"] = {
        "type": "object",
        "description": section["properties"]["params"].get("description", ""),
        "properties": params,
        "additionalProperties": False,
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
