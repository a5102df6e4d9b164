"""Every scenario shipped in scenarios/ loads without a problem (new files are picked up by glob)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario import ScenarioError, load_scenario

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIOS = sorted(SCENARIOS_DIR.glob("*.yaml")) + sorted(SCENARIOS_DIR.glob("*.yml"))
CASES = [pytest.param(p, id=p.name) for p in SCENARIOS]


def test_there_are_scenarios() -> None:
    assert any(p.name == "tiny.yaml" for p in SCENARIOS)


@pytest.mark.parametrize("path", CASES)
def test_scenario_validates(path: Path) -> None:
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        pytest.fail(f"{path.name} does not validate:\n{exc}", pytrace=False)
    assert scenario.name


@pytest.mark.parametrize("path", CASES)
def test_schema_link_points_at_an_existing_file(path: Path) -> None:
    link = re.search(r"^# yaml-language-server: \$schema=(\S+)", path.read_text(), re.MULTILINE)
    if link is None or "://" in link[1]:
        return
    assert (path.parent / link[1]).resolve().exists(), f"{path.name} links a missing {link[1]}"


def test_capsim_validate_accepts_them_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, SCENARIOS)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split(": ok (")[0] for line in out.splitlines()] == [str(p) for p in SCENARIOS]
