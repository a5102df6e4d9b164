"""`capsim schema`: valid JSON Schema that editors use, and the committed copy is never stale."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main
from sim.policies import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "scenarios" / "scenario.schema.json"
BAD = Path(__file__).resolve().parent / "bad_scenarios"
REGENERATE = "capsim schema --out scenarios/scenario.schema.json"


@pytest.fixture(scope="module")
def schema_text() -> str:
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["schema"]) == 0
    return buffer.getvalue()


@pytest.fixture(scope="module")
def schema(schema_text: str) -> dict[str, Any]:
    return json.loads(schema_text)


def test_schema_is_json_that_forbids_unknown_keys(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"name", "start", "horizon", "accelerators", "providers"} <= set(schema["required"])
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_schema_carries_field_descriptions(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    assert "length of the run" in schema["properties"]["horizon"]["description"]
    assert "date of simulation hour 0" in schema["properties"]["start"]["description"]
    assert "accelerators catalogue" in defs["Pool"]["properties"]["accelerator"]["description"]
    assert "30min, 6h, 90d" in defs["Fixed"]["properties"]["value"]["description"]
    assert defs["Pool"]["description"].startswith("One accelerator type at one provider")
    assert json.dumps(schema).count('"description"') > 100


def test_policy_section_names_every_policy_and_its_parameters(schema: dict[str, Any]) -> None:
    section = schema["$defs"]["PolicySection"]["properties"]
    assert section["default"]["enum"] == sorted(REGISTRY)
    params = section["params"]
    assert params["additionalProperties"] is False
    assert set(params["properties"]) == set(REGISTRY)
    assert "share_cap" in params["properties"]["diversified"]["properties"]


def test_schema_out_writes_what_stdout_prints(schema_text: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert out.read_text() == schema_text
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_committed_schema_is_up_to_date(schema: dict[str, Any]) -> None:
    assert SCHEMA_FILE.exists(), f"{SCHEMA_FILE} is missing; create it with `{REGENERATE}`"
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == schema, (
        f"{SCHEMA_FILE.relative_to(ROOT)} is stale (the models or policies changed since it was "
        f"written); regenerate it with `{REGENERATE}` and commit it")


# ------------------------------------------- the schema agrees with the loader on real files
# A small validator for the parts of JSON Schema that pydantic emits (jsonschema is not a
# dependency). It checks what an editor would: types, required and unknown keys, enums,
# patterns, minimums, and optionally the `format` of strings as VS Code's YAML extension does.

EDITOR_FORMATS = {"date": r"^\d{4}-\d{2}-\d{2}$"}  # vscode-json-languageservice's RFC 3339 date
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def schema_problems(node: dict[str, Any], value: Any, root: dict[str, Any], where: str = "",
                    formats: bool = False) -> list[str]:
    if "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_problems(target, value, root, where, formats)
    for key in ("anyOf", "oneOf"):
        if key in node:
            found = [schema_problems(b, value, root, where, formats) for b in node[key]]
            return [] if any(not f for f in found) else min(found, key=len)
    kind = node.get("type")
    if kind in ("number", "integer"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and (kind == "number" or isinstance(value, int))
    elif kind is not None:
        ok = isinstance(value, TYPES[kind])
    else:
        ok = True
    if not ok:
        return [f"{where}: not {kind}: {value!r}"]
    if "const" in node and value != node["const"]:
        return [f"{where}: not {node['const']!r}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{where}: {value!r} not in {node['enum']}"]
    out: list[str] = []
    if isinstance(value, str):
        if "pattern" in node and not re.search(node["pattern"], value):
            out.append(f"{where}: {value!r} does not match {node['pattern']}")
        if formats and node.get("format") in EDITOR_FORMATS and not re.match(
                EDITOR_FORMATS[node["format"]], value):
            out.append(f"{where}: {value!r} is not a {node['format']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            out.append(f"{where}: {value} < {node['minimum']}")
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            out.append(f"{where}: {value} <= {node['exclusiveMinimum']}")
        if "maximum" in node and value > node["maximum"]:
            out.append(f"{where}: {value} > {node['maximum']}")
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                out += schema_problems(properties[key], item, root, f"{where}.{key}", formats)
            elif extra is False:
                out.append(f"{where}: unknown key {key!r}")
            elif isinstance(extra, dict):
                out += schema_problems(extra, item, root, f"{where}.{key}", formats)
        out += [f"{where}: missing {key!r}" for key in node.get("required", []) if key not in value]
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            out += schema_problems(node["items"], item, root, f"{where}[{i}]", formats)
    return out


def as_editor_sees(value: Any) -> Any:
    """YAML as plain JSON: an editor's YAML 1.2 parser keeps dates as the text written."""
    if isinstance(value, dict):
        return {str(k): as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_editor_sees(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


SCENARIOS = [pytest.param(p, id=p.name) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]


@pytest.mark.parametrize("path", SCENARIOS)
def test_schema_accepts_every_scenario_file(path: Path, schema: dict[str, Any]) -> None:
    data = as_editor_sees(yaml.safe_load(path.read_text()))
    assert schema_problems(schema, data, schema) == []


def test_editors_accept_date_times(schema: dict[str, Any]) -> None:
    data = as_editor_sees(yaml.safe_load((ROOT / "scenarios" / "tiny.yaml").read_text()))
    assert schema_problems(schema, data, schema, formats=True) == []


@pytest.mark.parametrize("name", [
    "string_for_number", "negative_price", "unknown_key_top", "unknown_key_nested",
    "unknown_key_in_flow_mapping", "missing_required", "missing_required_top", "bad_family",
    "bad_name", "bad_duration", "negative_duration", "bad_distribution_tag", "bad_distribution_field",
    "list_for_string", "share_out_of_range", "unknown_policy_default", "unknown_policy_params_name",
    "unknown_policy_parameter", "bad_policy_parameter", "wrong_indentation",
])
def test_schema_rejects_what_the_loader_rejects(name: str, schema: dict[str, Any]) -> None:
    data = as_editor_sees(yaml.safe_load((BAD / f"{name}.yaml").read_text()))
    assert schema_problems(schema, data, schema) != []
