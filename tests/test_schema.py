"""`capsim schema`: valid JSON Schema that editors use, and the committed copy is never stale."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

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
    Draft202012Validator.check_schema(schema)  # a valid schema of that dialect
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
# Checked with jsonschema (Draft 2020-12, the dialect pydantic emits), optionally with the
# `format` of dates checked as VS Code's YAML extension does.

EDITOR_FORMATS = {"date": r"^\d{4}-\d{2}-\d{2}$"}  # vscode-json-languageservice's RFC 3339 date


def schema_problems(schema: dict[str, Any], value: Any, formats: bool = False) -> list[str]:
    """Every place `value` breaks `schema`, as `path: message`."""
    checker = None
    if formats:
        checker = FormatChecker(formats=())
        for name, pattern in EDITOR_FORMATS.items():
            checker.checks(name)(lambda v, p=pattern: not isinstance(v, str) or bool(re.match(p, v)))
    validator = Draft202012Validator(schema, format_checker=checker)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(value)]


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
    assert schema_problems(schema, data) == []


def test_editors_accept_date_times(schema: dict[str, Any]) -> None:
    data = as_editor_sees(yaml.safe_load((ROOT / "scenarios" / "tiny.yaml").read_text()))
    assert schema_problems(schema, data, formats=True) == []
    # the check can fail: a date-time where an editor expects a date
    assert schema_problems({"type": "string", "format": "date"}, "2025-01-06T06:00",
                           formats=True) != []


@pytest.mark.parametrize("name", [
    "string_for_number", "negative_price", "unknown_key_top", "unknown_key_nested",
    "unknown_key_in_flow_mapping", "missing_required", "missing_required_top", "bad_family",
    "bad_name", "bad_duration", "negative_duration", "bad_distribution_tag", "bad_distribution_field",
    "list_for_string", "share_out_of_range", "unknown_policy_default", "unknown_policy_params_name",
    "unknown_policy_parameter", "bad_policy_parameter", "wrong_indentation",
])
def test_schema_rejects_what_the_loader_rejects(name: str, schema: dict[str, Any]) -> None:
    data = as_editor_sees(yaml.safe_load((BAD / f"{name}.yaml").read_text()))
    assert schema_problems(schema, data) != []
