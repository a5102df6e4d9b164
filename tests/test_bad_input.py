"""Bad scenario files get one clear line per problem, exit code 2 and never a traceback.

Each file in `tests/bad_scenarios/` is tiny.yaml with a mistake or a few. Its header says what the
user must see, one line per problem:

    # expect: LINE: FIELD.PATH: text the message contains      (FIELD.PATH `-`: the whole file)

and the offending line carries a `# <-` marker, so a reader can check the line number by eye.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.api import load, with_changes
from sim.cli import EXIT_USER_ERROR, main
from sim.results import RunResult
from sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "bad_scenarios"
TINY = ROOT / "scenarios" / "tiny.yaml"
EXPECT = re.compile(r"^# expect: (\d+): (\S+): (.+)$")
NO_HEADER = {"empty.yaml": [(1, "-", "the file is empty")]}  # files that cannot hold a header

Expectation = tuple[int, str, str]


def expectations(path: Path) -> list[Expectation]:
    if path.name in NO_HEADER:
        return NO_HEADER[path.name]
    text = path.read_bytes().decode("latin-1")  # one of them is not UTF-8 on purpose
    found = [(int(m[1]), m[2], m[3]) for line in text.splitlines() if (m := EXPECT.match(line))]
    assert found, f"{path.name} has no `# expect:` header"
    return found


BAD_FILES = sorted(BAD.glob("*.yaml"))
CASES = [pytest.param(p, id=p.name) for p in BAD_FILES]


def assert_reported(stderr: str, file: Path | str, expected: list[Expectation]) -> None:
    """stderr has exactly one `error: file:line: path: message` line per expected problem."""
    lines = [line for line in stderr.splitlines() if line.startswith(f"error: {file}:")]
    shown = "\n".join(lines) or "(nothing)"
    assert len(lines) == len(expected), f"expected {len(expected)} error lines, got:\n{shown}"
    for line, (number, path, text) in zip(lines, expected, strict=True):
        prefix = f"error: {file}:{number}: " + ("" if path == "-" else f"{path}: ")
        assert line.startswith(prefix), f"expected a line starting {prefix!r}, got:\n{line}"
        message = line.removeprefix(prefix)
        assert text in message, f"expected {text!r} in the message, got:\n{line}"
        assert message and not message.startswith(" "), line


def test_the_corpus_covers_every_kind_of_mistake() -> None:
    names = {p.name for p in BAD_FILES}
    for must in ("string_for_number", "negative_units", "unknown_key_top", "unknown_key_nested",
                 "missing_required", "unknown_accelerator", "unknown_provider_outage",
                 "unknown_provider_service", "unknown_refs_job", "unknown_policy_default",
                 "unknown_policy_params_name", "unknown_policy_parameter", "date_before_start",
                 "bad_duration", "bad_distribution_tag", "duplicate_key", "invalid_yaml_missing_colon",
                 "empty", "top_level_list", "not_utf8"):
        assert f"{must}.yaml" in names


@pytest.mark.parametrize("path", CASES)
def test_header_points_at_the_marked_line(path: Path) -> None:
    lines = path.read_bytes().decode("latin-1").splitlines()
    if not any("# <-" in line for line in lines):
        return  # empty or comment-only: the whole file is the problem
    for number, _, _ in expectations(path):
        assert "# <-" in lines[number - 1], f"line {number} of {path.name} is not marked `# <-`"


@pytest.mark.parametrize("path", CASES)
def test_validate_reports_each_problem_with_file_line_and_path(
        path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert_reported(err, path, expectations(path))


@pytest.mark.parametrize("path", CASES)
def test_run_of_a_bad_file_reports_the_same_and_writes_nothing(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out_dir)]) == EXIT_USER_ERROR
    assert_reported(capsys.readouterr().err, path, expectations(path))
    assert list(tmp_path.iterdir()) == []


def test_loading_raises_scenario_error_with_one_problem_per_mistake() -> None:
    path = BAD / "several_reference_problems.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert [(p.line, p.path) for p in problems] == [(n, f) for n, f, _ in expectations(path)]
    assert str(info.value).count("\n") == len(problems) - 1


@pytest.mark.parametrize("name", ["several_type_problems.yaml", "several_reference_problems.yaml"])
def test_several_problems_each_on_its_own_line_in_file_order(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / name
    assert main(["validate", str(path)]) == EXIT_USER_ERROR
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 == len(set(lines))
    numbers = [int(line.split(":")[2]) for line in lines]
    assert numbers == sorted(numbers)
    assert_reported("\n".join(lines), path, expectations(path))


def test_a_misspelt_required_field_is_one_problem_not_two(capsys: pytest.CaptureFixture[str]) -> None:
    # `arrival_per_day` is unknown and so `arrivals_per_day` is missing: say it once, with the fix.
    main(["validate", str(BAD / "unknown_key_nested.yaml")])
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "did you mean 'arrivals_per_day'?" in err


def test_validate_checks_every_file_even_after_a_bad_one(capsys: pytest.CaptureFixture[str]) -> None:
    files = [BAD / "negative_units.yaml", TINY, BAD / "duplicate_key.yaml"]
    assert main(["validate", *map(str, files)]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert f"{TINY}: ok" in out
    assert_reported(err, files[0], expectations(files[0]))
    assert_reported(err, files[2], expectations(files[2]))
    assert "2 of 3 files have problems" in err


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_file_and_folder(command: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    folder = tmp_path / "a_folder"
    folder.mkdir()
    extra = ["--out", str(tmp_path / "out")] if command == "run" else []
    assert main([command, str(missing), *extra]) == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"error: {missing}: no such file\n"
    assert main([command, str(folder), *extra]) == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"error: {folder}: is a folder, expected a scenario YAML file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_folder"]


def test_unreadable_values_in_yaml_are_problems_not_crashes(tmp_path: Path) -> None:
    cases = {
        "start: 2025-13-01\n": (1, "start", "got '2025-13-01' (month must be in 1..12)"),
        "seed: !!int lots\n": (1, "seed", "'lots' cannot be read as !!int"),
        "a: &x [*x]\n": (1, "a[0]", "refers to a value that contains it"),
        "name: !!python/object:os.system x\n": (1, "", "not valid YAML: unsupported tag '!!python"),
        "name: tiny\n---\nname: other\n": (2, "", "a second YAML document"),
        "name: [tiny\nstart: 2025-01-01\n": (1, "", "the `[` opened on this line is not closed"),
        "name: tiny\n  start: 2025-01-01\n": (2, "", "unexpected ':'"),
        "name: tiny\x00\n": (1, "", "character '\\x00' is not allowed"),
        "---\n": (1, "", "the file is empty"),
        "a: " + "[" * 600 + "]" * 600 + "\n": (None, "", "nested too deeply"),
    }
    for text, (line, path, message) in cases.items():
        file = tmp_path / "s.yaml"
        file.write_text(text)
        with pytest.raises(ScenarioError) as info:
            load_scenario(file)
        found = [p for p in info.value.problems if p.path == path]
        assert found, f"{text!r}: {info.value}"
        assert found[0].line == line and message in found[0].message, f"{text!r}: {found[0]}"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "scenario.yaml"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_small_edit_of_a_good_file_loads_or_gives_clear_problems(
        scratch: Path, data: st.DataObject) -> None:
    lines = TINY.read_text().splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    edit = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "insert"]), label="edit")
    if edit == "delete":
        del lines[i]
    elif edit == "duplicate":
        lines.insert(i, lines[i])
    else:
        at = data.draw(st.integers(0, len(lines[i])), label="column")
        extra = "" if edit == "truncate" else data.draw(
            st.text(alphabet=":-[]{}#'\"\t &*!|>%@`,?~0a.\n", min_size=1, max_size=3), label="text")
        lines[i] = lines[i][:at] + extra + ("\n" if edit == "truncate" else lines[i][at:])
    scratch.write_text("".join(lines))
    try:
        load_scenario(scratch)
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            text = str(problem)
            assert text.startswith(f"{scratch}") and "\n" not in text and problem.message, text


def test_changes_made_in_python_are_checked_like_a_file() -> None:
    with pytest.raises(ScenarioError) as info:
        with_changes(load(TINY), {"seed": -1, "providers.azure.pools.h100.price_per_hour": "x"})
    assert sorted(str(p) for p in info.value.problems) == [
        "<tiny with changes>: providers.azure.pools.h100.price_per_hour: expected a number, got 'x'",
        "<tiny with changes>: seed: cannot be negative, got -1",
    ]


# ---------------------------------------------------------------- the real entry point


def capsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_real_command_validate_every_bad_file_at_once(tmp_path: Path) -> None:
    missing, folder = tmp_path / "missing.yaml", tmp_path
    done = capsim("validate", *map(str, BAD_FILES), str(missing), str(folder))
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_USER_ERROR, output
    assert "Traceback" not in output
    assert done.stdout == ""
    for path in BAD_FILES:
        assert_reported(done.stderr, path, expectations(path))
    assert f"error: {missing}: no such file" in done.stderr.splitlines()
    assert f"error: {folder}: is a folder, expected a scenario YAML file" in done.stderr.splitlines()
    problems = sum(len(expectations(p)) for p in BAD_FILES) + 2
    assert done.stderr.splitlines()[-1] == f"{len(BAD_FILES) + 2} of {len(BAD_FILES) + 2} files have problems"
    assert len(done.stderr.splitlines()) == problems + 1


@pytest.mark.parametrize("name", ["invalid_yaml_unclosed.yaml", "several_reference_problems.yaml"])
def test_real_command_run_of_a_bad_file(name: str, tmp_path: Path) -> None:
    path = BAD / name
    out = tmp_path / "results" / "x"
    done = capsim("run", str(path), "--out", str(out))
    assert done.returncode == EXIT_USER_ERROR
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    assert_reported(done.stderr, path, expectations(path))
    assert list(tmp_path.iterdir()) == []


def test_real_command_missing_file_and_unwritable_output(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    done = capsim("run", str(missing), "--out", str(tmp_path / "out"))
    assert (done.returncode, done.stderr) == (EXIT_USER_ERROR, f"error: {missing}: no such file\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = capsim("schema", "--out", str(blocker / "schema.json"))
    assert done.returncode == EXIT_USER_ERROR
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")


# ---------------------------------------------------------------- a failed run leaves nothing


@pytest.fixture(scope="module")
def tiny_result() -> RunResult:
    from sim.api import run

    return run(with_changes(load(TINY), {"horizon": "4d"}))


def _fail_on_second_table(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    import sim.results

    real = sim.results.write_table
    calls = []

    def write_table(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # one table already written into the temporary folder
            raise error
        real(*args, **kwargs)

    monkeypatch.setattr(sim.results, "write_table", write_table)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("bug"),
                                   KeyboardInterrupt()])
def test_a_save_that_fails_midway_leaves_no_folder(
        error: BaseException, tiny_result: RunResult, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results" / "tiny" / "run"
    _fail_on_second_table(monkeypatch, error)
    with pytest.raises(type(error)):
        tiny_result.save(target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary folder left behind


def test_a_failed_save_keeps_the_previous_complete_results(
        tiny_result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run"
    tiny_result.save(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    _fail_on_second_table(monkeypatch, OSError(28, "No space left on device"))
    with pytest.raises(OSError):
        tiny_result.save(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_capsim_run_whose_save_fails_exits_2_and_leaves_no_folder(
        tiny_result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sim.api

    monkeypatch.setattr(sim.api, "run", lambda *a, **k: tiny_result)
    _fail_on_second_table(monkeypatch, OSError(28, "No space left on device"))
    out = tmp_path / "out"
    assert main(["run", str(TINY), "--out", str(out)]) == EXIT_USER_ERROR
    out_text, err = capsys.readouterr()
    assert err == f"error: cannot write the results to {out}/: No space left on device\n"
    assert out_text == ""
    assert list(tmp_path.iterdir()) == []
