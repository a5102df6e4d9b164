"""bench/mutation.py plants the change it names, and the tests it runs see the planted copy.

A mutation tool that calls a killed mutant a survivor (or the reverse) makes its score
meaningless; these check the two ways that happened or could: a dropped `return False` once
became `return None` (the same to a caller testing truth, so it "survived"), and a copy of the
checkout could import the installed package instead of its own mutated `sim`."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("capsim_mutation", ROOT / "bench" / "mutation.py")
assert _spec is not None and _spec.loader is not None
mutation = importlib.util.module_from_spec(_spec)
sys.modules["capsim_mutation"] = mutation  # dataclasses look their module up by name
_spec.loader.exec_module(mutation)

SOURCE = '''def f(x):
    if x:
        return False
    return 7
'''


def _mutants(tmp_path: Path) -> list:
    p = tmp_path / "m.py"
    p.write_text(SOURCE)
    old = mutation.ROOT
    mutation.ROOT = tmp_path
    try:
        return mutation.find_mutants(p)
    finally:
        mutation.ROOT = old


def _run(source: str, x: object) -> object:
    ns: dict[str, object] = {}
    exec(compile(source, "m.py", "exec"), ns)
    return ns["f"](x)  # type: ignore[operator]


def test_a_dropped_return_falls_through_to_the_code_after_it(tmp_path: Path) -> None:
    drop = [m for m in _mutants(tmp_path) if m.kind == "drop" and m.line == 3]
    assert len(drop) == 1
    mutated = mutation.apply(SOURCE, drop[0])
    ast.parse(mutated)
    # f(True) was False; with the return gone it goes on to `return 7`, not to `return None`.
    assert (_run(SOURCE, True), _run(mutated, True)) == (False, 7)


def test_every_mutant_changes_exactly_its_own_span(tmp_path: Path) -> None:
    for m in _mutants(tmp_path):
        mutated = mutation.apply(SOURCE, m)
        assert mutated != SOURCE, m
        ast.parse(mutated)
        before, after = SOURCE.splitlines(), mutated.splitlines()
        assert before[:m.line - 1] == after[:m.line - 1], m
        assert before[m.end_line:] == after[len(after) - (len(before) - m.end_line):], m


def test_the_copy_imports_its_own_sim_not_the_installed_one(tmp_path: Path) -> None:
    mutation.make_copy(tmp_path)
    probe = tmp_path / "tests" / "test_zz_where.py"
    probe.write_text("from pathlib import Path\nimport sim\n\n\ndef test_where():\n"
                     "    assert Path(sim.__file__).resolve().parent == Path.cwd().resolve() / 'sim'\n")
    status, _, tail = mutation.run_tests(tmp_path, ["tests/test_zz_where.py"], 120)
    assert status == "passed", tail


def test_a_test_that_hangs_is_stopped_by_the_per_test_limit(tmp_path: Path) -> None:
    mutation.make_copy(tmp_path)
    probe = tmp_path / "tests" / "test_zz_hang.py"
    probe.write_text("def test_forever():\n    while True:\n        pass\n")
    status, seconds, _ = mutation.run_tests(tmp_path, ["tests/test_zz_hang.py"], 120,
                                            test_seconds=2)
    assert status == "timeout" and seconds < 60


def test_a_mutant_runs_the_tests_that_reach_its_def_and_all_tests_outside_any_def() -> None:
    source = (ROOT / "sim/engine/rng.py").read_text()
    lines = source.splitlines()
    def_line = next(i for i, t in enumerate(lines, 1) if t.startswith("def stream("))
    ss_line = next(i for i, t in enumerate(lines, 1) if t.strip().startswith("ss = "))
    range_line = next(i for i, t in enumerate(lines, 1) if t.endswith("= range(6)"))
    ms = {(m.line, m.kind): m for m in mutation.find_mutants(ROOT / "sim/engine/rng.py")}
    in_stream = ms[(ss_line, "drop")]  # `ss = ...` inside def stream
    module_level = ms[(range_line, "arith")]  # range(6): run on import
    d = f"sim/engine/rng.py:{def_line}"
    calls = {"outside": ["sim/engine/rng.py:1"],
             "tests": {"t::a": [d], "t::b": f"sim/engine/other.py:{def_line}".split(),
                       "t::c": [d, "sim/api.py:3"]}}
    assert mutation.reaching_tests(in_stream, calls, source) == ["t::a", "t::c"]
    assert mutation.reaching_tests(module_level, calls, source) is None
    calls["outside"].append(d)  # also called on import: every test
    assert mutation.reaching_tests(in_stream, calls, source) is None


def test_strictness_is_not_flipped_against_a_tolerance() -> None:
    def flips(src: str) -> list[str]:
        return [d for _, d, _ in mutation._variants(ast.parse(src, mode="eval").body)]

    # `x <= y + TOL` and `x < y + TOL` differ only when x is that one float: no such mutant.
    assert flips("until <= now + TOL") == []
    assert flips("budget - overflow <= 1e-12") == []
    assert flips("free + 1e-9 < units") == ["< -> >"]
    assert flips("unmet > TOL * max(1.0, demand)") == ["> -> <"]
    assert flips("free < units") == ["< -> <=", "< -> >"]
    assert flips("x <= y + 0.5") == ["<= -> <"]


def test_a_hang_whose_timeout_is_caught_still_stops(tmp_path: Path) -> None:
    mutation.make_copy(tmp_path)
    probe = tmp_path / "tests" / "test_zz_catch.py"
    probe.write_text("def test_retries():\n    while True:\n        try:\n            while True:\n"
                     "                pass\n        except TimeoutError:\n            pass\n")
    status, seconds, _ = mutation.run_tests(tmp_path, ["tests/test_zz_catch.py"], 120,
                                            test_seconds=2)
    assert status == "timeout" and seconds < 60
