"""Refactors and speed work change no number: every shipped scenario × policy × 2 seeds gives the
summary stored in tests/golden/summaries.json (made by scripts/make_goldens.py).

Figures must be equal to within 1e-12 relative (summation order may move the last bits when a loop
becomes an array operation); text, counts and structure must be identical. A change of the model
on purpose regenerates the goldens in the same commit and says why.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_goldens", ROOT / "scripts" / "make_goldens.py")
assert _spec and _spec.loader
goldens = importlib.util.module_from_spec(_spec)
sys.modules["make_goldens"] = goldens  # worker processes find summary_of by this name
_spec.loader.exec_module(goldens)

STORED: dict[str, Any] = json.loads(goldens.GOLDEN.read_text())
REL = 1e-12


def differences(want: Any, got: Any, where: str = "") -> list[str]:
    """Where `got` differs from `want`: numbers beyond REL, anything else at all."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}.{k}: missing" for k in want if k not in got]
        out += [f"{where}.{k}: new" for k in got if k not in want]
        for k in (k for k in want if k in got):
            out += differences(want[k], got[k], f"{where}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{where}: {len(want)} items, now {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(want, got, strict=True))
                for d in differences(a, b, f"{where}[{i}]")]
    numbers = (int, float)
    if (isinstance(want, numbers) and isinstance(got, numbers)
            and not isinstance(want, bool) and not isinstance(got, bool)):
        if math.isclose(want, got, rel_tol=REL, abs_tol=0.0) or (want == got):
            return []
        return [f"{where}: {want!r} -> {got!r}"]
    return [] if want == got else [f"{where}: {want!r} -> {got!r}"]


def test_goldens_cover_every_shipped_scenario_policy_and_seed() -> None:
    keys = {f"{p.stem}/{pol}/{seed}" for p in goldens.scenario_files()
            for pol in goldens.policy_names() for seed in goldens.SEEDS}
    assert set(STORED) == keys


def test_differences_sees_a_moved_figure() -> None:
    want = {"a": 1.0, "b": [1, "x"], "c": {"d": 2.5}}
    assert differences(want, json.loads(json.dumps(want))) == []
    assert differences(want, {"a": 1.0 + 1e-9, "b": [1, "x"], "c": {"d": 2.5}}) == [".a: 1.0 -> 1.000000001"]
    assert differences(want, {"a": 1.0, "b": [1, "y"], "c": {}}) == [".b[1]: 'x' -> 'y'", ".c.d: missing"]


@pytest.fixture(scope="module")
def summaries_now() -> dict[str, Any]:
    """Every golden's summary from today's code (all at once: two worker processes)."""
    cases = goldens.keys()
    return {f"{path.stem}/{policy}/{seed}": got
            for (path, policy, seed), got in zip(cases, goldens.summaries(cases), strict=True)}


@pytest.mark.parametrize("path", goldens.scenario_files(), ids=lambda p: p.stem)
def test_every_summary_figure_is_unchanged(path: Path, summaries_now: dict[str, Any]) -> None:
    problems = []
    for policy in goldens.policy_names():
        for seed in goldens.SEEDS:
            key = f"{path.stem}/{policy}/{seed}"
            problems += [f"{key}{d}" for d in differences(STORED[key], summaries_now[key])]
    assert not problems, "\n".join(problems[:40])
