"""Hostile and implausible input: refused early with a clear line and exit code 2, never a
traceback, a hang or exhausted memory; implausible values warned about (issues 9 and 11).

Where exit codes and tracebacks matter the real command runs in a subprocess, with a memory cap
so that a file which used to take gigabytes fails the test instead of the machine.
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import EXIT_USER_ERROR, main
from sim.scenario import ScenarioError, load_scenario
from sim.scenario.limits import ReadError, gunzip_capped, read_capped, shown

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
MEMORY_CAP = 1536 << 20  # the old loader needed 3 GB for a 9^8 alias bomb


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def capsim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, memory-capped; a hang fails the test by timeout."""
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, preexec_fn=_cap_memory, env=env)


def refused(done: subprocess.CompletedProcess[str], *texts: str) -> str:
    """Exit code 2, no traceback, nothing on stdout, and each text on stderr; stderr returned."""
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    assert done.returncode == EXIT_USER_ERROR, done.stderr[-2000:]
    for text in texts:
        assert text in done.stderr, done.stderr[-2000:]
    return done.stderr


def tiny_with(tmp_path: Path, old: str, new: str, name: str = "s.yaml") -> Path:
    text = TINY.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


# ---------------------------------------------------------------- files that are not files


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    lines = ["a0: &a0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    lines += [f"a{i}: &a{i} {{<<: [" + ",".join([f"*a{i - 1}"] * 9) + "]}"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [alias_bomb(9), merge_bomb(9)], ids=["aliases", "merges"])
def test_a_yaml_bomb_is_refused_at_its_line_without_expanding_it(text: str, tmp_path: Path) -> None:
    # 9^8 values: the old loader took over 60 s and 3 GB, far past the memory cap here.
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    assert len(text) < 3000
    err = refused(capsim("validate", str(path)), "aliases (`*name`) and merges")
    assert err.startswith(f"error: {path}:5: a4: ")  # a4 is the first to expand past 20,000


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    text = TINY.read_text().replace("price_per_hour: 3.0", "price_per_hour: &p 3.0").replace(
        "price_per_hour: 2.2", "price_per_hour: *p")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    s = load_scenario(path)
    assert s.providers["gcp"].pools["tpu-v5"].price_per_hour == 3.0


def special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone.yaml")
    return {"fifo": (fifo, "is a named pipe (FIFO)"), "device": (Path("/dev/zero"), "is a device"),
            "loop": (loop, "is a symbolic link that loops"),
            "dangling": (dangling, "is a symbolic link to"),
            "folder": (tmp_path, "is a folder")}


def test_fifo_device_symlink_loop_and_folder_as_scenario(tmp_path: Path) -> None:
    cases = special_files(tmp_path)
    err = refused(capsim("validate", *(str(p) for p, _ in cases.values())))
    for path, text in cases.values():
        assert f"error: {path}: {text}" in err
    assert "no such file" not in err  # a loop or a dangling link is not "missing"


def test_a_scenario_over_5_mb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(TINY.read_text() + "#" * (5 << 20) + "\n")
    refused(capsim("validate", str(path)), "is 5.0 MB, more than the 5.0 MB allowed for a scenario YAML file")


def test_read_capped_stops_at_the_cap_even_when_the_size_lies(tmp_path: Path) -> None:
    # /proc files report size 0; the cap must hold while reading, not only from stat.
    with pytest.raises(ReadError, match="more than the 10 bytes"):
        read_capped("/proc/self/maps", 10, "a file")


def test_gunzip_is_capped_reads_every_member_and_refuses_binary() -> None:
    text = b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + b"0,1,1\n" * 1000
    assert gunzip_capped(gzip.compress(text[:100]) + gzip.compress(text[100:]), 1 << 20,
                         "t") == text
    with pytest.raises(ReadError, match="decompresses to more than the 1,000 bytes"):
        gunzip_capped(gzip.compress(text), 1000, "t")
    with pytest.raises(ReadError, match="binary data"):
        gunzip_capped(gzip.compress(b"\0" * (1 << 20)), 1 << 30, "t")
    with pytest.raises(ReadError, match="cut short"):
        gunzip_capped(gzip.compress(text)[:-20], 1 << 20, "t")


# ---------------------------------------------------------------- traces

TRACE_SERVICE = """inference:
  replay:
    trace: {file: TRACE, prefill_tokens_per_second: 5000, decode_tokens_per_second: 500}
  chat:"""
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def with_trace(tmp_path: Path, trace: Path | str) -> Path:
    return tiny_with(tmp_path, "inference:\n  chat:", TRACE_SERVICE.replace("TRACE", str(trace)),
                     name="with_trace.yaml")


@pytest.mark.parametrize(("rows", "message"), [
    ("0,100,10\n1,99999999999999999999999,5\n", "3: row 2: ContextTokens: 9999"),
    ("0,100,10\n1,9223372036854775807,5\n", "3: row 2: ContextTokens: 9223372036854775807 tokens"),
    ("0,100,10\n1e300,10,5\n", "3: row 2: TIMESTAMP: '1e300' is more than 100 years"),
    ("2023-01-01 00:00:00,100,10\n9999-01-01 00:00:00,1,1\n", "3: row 2: TIMESTAMP: "),
], ids=["above-int64", "int64-max", "1e300-seconds", "year-9999"])
def test_trace_values_that_used_to_crash_the_run_are_refused_at_validate(
        rows: str, message: str, tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + rows)
    refused(capsim("validate", str(with_trace(tmp_path, trace))), f"error: {trace}:{message}")


def test_a_trace_longer_than_the_horizon_counts_only_what_falls_inside(tmp_path: Path) -> None:
    # 3e9 s (95 years) is allowed; its second request falls far past the week, so demand is the
    # first request's alone, in step 0: 100/(5000*3600) + 10/(500*3600) units.
    from sim.scenario.traces import trace_steps

    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0,100,10\n3e9,10,5\n")
    steps = trace_steps(with_trace(tmp_path, trace), "replay")
    assert len(steps) == 168
    assert steps["demand"].iloc[0] == pytest.approx(100 / 18e6 + 10 / 1.8e6)
    assert (steps["demand"].iloc[1:] == 0).all()


def test_special_and_binary_files_as_trace(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.csv.gz"
    zeros.write_bytes(gzip.compress(b"\0" * (13 << 20)))  # 13 GB of zeros would be 13 KB per MB
    cases = {**special_files(tmp_path), "zeros": (zeros, "decompresses to binary data"),
             "environ": (Path("/proc/self/environ"), "holds NUL bytes")}
    del cases["folder"]
    env = {**os.environ, "CAPSIM_SECRET_MARKER": "do-not-print-me"}
    for name, (path, text) in cases.items():
        scenario = with_trace(tmp_path, path)
        err = refused(capsim("validate", str(scenario), env=env), text)
        assert "do-not-print-me" not in err, name
        assert len(err) < 2000, name


def test_a_broken_csv_line_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0,1," + "9" * 300_000 + "\n")
    err = refused(capsim("validate", str(with_trace(tmp_path, trace))), "not a readable CSV file")
    assert max(len(line) for line in err.splitlines()) < 1000


# ---------------------------------------------------------------- infinity and NaN

NUMBER_FIELDS = [
    ("units: 1000}]", "units: {}}}]", "providers.azure.pools.h100.capacity[0].units"),
    ("price_per_hour: 3.0", "price_per_hour: {}", "providers.azure.pools.h100.price_per_hour"),
    ("power_kw: 1.4", "power_kw: {}", "accelerators.h100.power_kw"),
    ("train_speed: 1.0", "train_speed: {}", "accelerators.h100.train_speed"),
    ("base_units: 200", "base_units: {}", "inference.chat.base_units"),
    ("arrivals_per_day: 6", "arrivals_per_day: {}", "training.generators.small.arrivals_per_day"),
    ("mw: 3.0", "mw: {}", "power.ceiling[0].mw"),
    ("duration: 3d", "duration: {}", "training.jobs[0].duration"),
]


@pytest.mark.parametrize(("old", "new", "field"), NUMBER_FIELDS, ids=[f[2] for f in NUMBER_FIELDS])
def test_inf_and_nan_are_refused_in_number_fields(old: str, new: str, field: str,
                                                   tmp_path: Path) -> None:
    for value, text in ((".inf", "finite"), (".nan", "not a number"), ("-.inf", "")):
        path = tiny_with(tmp_path, old, new.format(value))
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        [problem] = info.value.problems
        assert problem.path == field and text in problem.message, (value, str(problem))
        assert "cannot be negative, got nan" not in problem.message


@pytest.mark.parametrize(("old", "new", "field"), [
    ("price_per_hour: 3.0", "price_per_hour: 1.0e300", "providers.azure.pools.h100.price_per_hour"),
    ("units: 1000}]", "units: 1.0e300}]", "providers.azure.pools.h100.capacity[0].units"),
    ("base_units: 200", "base_units: 1.0e300", "inference.chat.base_units"),
])
def test_finite_but_absurd_sizes_are_refused_before_they_overflow(
        old: str, new: str, field: str, tmp_path: Path) -> None:
    # 1e300 dollars an hour summed over a week overflows to inf: spend_total would be null.
    with pytest.raises(ScenarioError) as info:
        load_scenario(tiny_with(tmp_path, old, new))
    [problem] = info.value.problems
    assert problem.path == field and "must be at most" in problem.message


def test_inf_tenant_cap_means_no_cap(tmp_path: Path) -> None:
    # gcp's TPU pool has 600 installed and a cap of 400; with the cap .inf it offers all 600
    # (no outage ever touches gcp in tiny).
    from sim.api import run

    path = tiny_with(tmp_path, "tenant_cap: [{at: 2025-01-06, units: 400}]",
                     "tenant_cap: [{at: 2025-01-06, units: .inf}]")
    steps = run(path).steps
    tpu = steps[(steps["provider"] == "gcp") & (steps["pool"] == "tpu-v5")]
    assert (tpu["capacity"] == 600).all()


# ---------------------------------------------------------------- size before work


@pytest.mark.parametrize(("old", "new", "field"), [
    ("horizon: 7d", "horizon: 1000y", "horizon"),
    ("step: 1h", "step: 0.000277778", "horizon"),  # one second over the week... times 52
    ("arrivals_per_day: 6", "arrivals_per_day: 1428572", "training.generators.small."
                                                          "arrivals_per_day"),
    ("mtbf: 60d, mttr: 6h", "mtbf: 0.000001, mttr: 0.000001",
     "providers.azure.pools.h100.outages.mtbf"),
])
def test_runs_too_big_for_memory_are_refused_naming_the_field(
        old: str, new: str, field: str, tmp_path: Path) -> None:
    path = tiny_with(tmp_path, old, new)
    if "0.000277778" in new:  # a 1 s step over a year
        path.write_text(path.read_text().replace("horizon: 7d", "horizon: 365d"))
    out = tmp_path / "out"
    err = refused(capsim("run", str(path), "--out", str(out)), f": {field}: ", "--force")
    assert "4.0 GB" in err
    assert not out.exists()


def test_expected_generated_jobs_are_rate_times_window(tmp_path: Path) -> None:
    # 1,000,000 a day over the 7-day horizon: 7,000,000 runs expected.
    from sim.engine.compile import size_problems

    s = load_scenario(tiny_with(tmp_path, "arrivals_per_day: 6", "arrivals_per_day: 1000000"))
    [problem] = size_problems(s)
    assert "about 7,000,000 generated training runs" in problem.message


def test_compare_with_too_many_replications_is_refused_before_running(tmp_path: Path) -> None:
    from sim.analysis.compare import DEFAULT_POLICIES

    runs = 100_000_000 * len(DEFAULT_POLICIES)  # every default policy, 10^8 times
    refused(capsim("compare", str(TINY), "-n", "100000000", "--out", str(tmp_path / "o")),
            f"error: --replications: {runs:,} runs")
    assert not (tmp_path / "o").exists()


def test_a_sweep_point_too_big_is_refused_naming_it(tmp_path: Path) -> None:
    refused(capsim("sweep", str(TINY), "--set", "horizon=7d,1000y", "--out", str(tmp_path / "o")),
            "error: --set horizon=1000y: horizon: 8,760,000 steps")
    assert not (tmp_path / "o").exists()


def test_force_skips_the_memory_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import sim.engine.compile

    monkeypatch.setattr(sim.engine.compile, "MEMORY_LIMIT_BYTES", 1000)
    assert main(["run", str(TINY), "--out", str(tmp_path / "a")]) == EXIT_USER_ERROR
    assert ": horizon: " in capsys.readouterr().err
    assert main(["run", str(TINY), "--out", str(tmp_path / "b"), "--force"]) == 0
    assert (tmp_path / "b" / "steps.parquet").exists()


# ---------------------------------------------------------------- messages


def test_long_values_are_cut_and_escape_codes_shown_escaped(tmp_path: Path) -> None:
    long = tiny_with(tmp_path, "name: tiny", "name: " + "a" * 1_000_000 + " b", name="long.yaml")
    escape = tiny_with(tmp_path, "  azure:\n", '  "\\e[31mazure\\e[0m":\n', name="escape.yaml")
    value = tiny_with(tmp_path, "description: Two providers, a gang job, a stream of small jobs, "
                      "inference and agents, one outage.", 'description: "\\e[2J wiped"',
                      name="value.yaml")
    err = refused(capsim("validate", str(long), str(escape), str(value)))
    assert "\x1b" not in err
    assert "\\x1b[31mazure" in err and "control character" in err
    for line in err.splitlines():
        assert len(line) < 1000
    assert "'aaaaaaaa" in err and "…" in err


def test_shown_names_nan_and_cuts_at_80() -> None:
    assert shown(float("nan")) == "nan (not a number)"
    assert len(shown("x" * 10_000)) == 80 and shown("x" * 10_000).endswith("…")
    assert shown("a\u202eb") == "'a\\u202eb'"  # a right-to-left override would reorder the line


# ---------------------------------------------------------------- one pass


def test_a_bad_start_still_reports_references_but_no_date_guesses(tmp_path: Path) -> None:
    # With no usable start, every date check would compare with a stand-in: none may appear.
    path = tiny_with(tmp_path, "start: 2025-01-06", "start: soon")
    path.write_text(path.read_text().replace("providers: [azure]", "providers: [oracle]"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [(p.path, p.message.split(";")[0]) for p in info.value.problems] == [
        ("start", "expected an ISO date such as 2025-03-01 or 2025-03-01T06:00, got 'soon'"),
        ("inference.api.providers[0]", "unknown provider 'oracle'"),
    ]


# ---------------------------------------------------------------- plausibility warnings


@pytest.mark.parametrize(("old", "new", "field", "text"), [
    ("commitments: [{units: 600", "commitments: [{units: 1001",
     "providers.azure.pools.h100.commitments[0].units", "at most 1,000 installed"),
    ("power_kw: 1.4", "power_kw: 1500", "accelerators.h100.power_kw", "watts written as kW"),
    ("power_kw: 0.01", "power_kw: 0.0005", "accelerators.cpu.power_kw", "outside the usual"),
    # base draw: (250 + 120) units × 0.9/1.1 kW (TPU, the most efficient) + 20,000 × 0.01 kW
    # = 502.7 kW
    ("mw: 3.0", "mw: 0.5", "power.ceiling[0].mw", "0.5027 MW"),
])
def test_implausible_values_warn_and_strict_refuses(old: str, new: str, field: str, text: str,
                                                    tmp_path: Path) -> None:
    path = tiny_with(tmp_path, old, new)
    done = capsim("validate", str(path))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"warning: {path}:") and f": {field}: " in line and text in line
    refused(capsim("validate", "--strict", str(path)), f"error: {path}:")


@pytest.mark.parametrize(("old", "new"), [
    ("commitments: [{units: 600", "commitments: [{units: 1000"),  # exactly what is installed
    ("mw: 3.0", "mw: 0.51"),  # just above the 502.7 kW base draw
])
def test_plausible_values_at_the_edge_do_not_warn(old: str, new: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--strict", str(tiny_with(tmp_path, old, new))]) == 0
    assert capsys.readouterr().err == ""


def test_shipped_scenarios_raise_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    assert main(["validate", "--strict", *files]) == 0
    assert capsys.readouterr().err == ""


def test_missing_value_of_service_warns_once_the_field_exists(tmp_path: Path) -> None:
    from sim.scenario.models import Service
    from sim.scenario.plausibility import plausibility

    assert "value_per_unit_hour" in Service.model_fields
    # tiny prices chat's unserved demand at 6 $/unit-h; without that line it is unpriced
    assert not [p for p, _ in plausibility(load_scenario(TINY)) if p == ("inference", "chat")]
    path = tiny_with(tmp_path, "    value_per_unit_hour: 6.0\n", "")
    found = [p for p, _ in plausibility(load_scenario(path))]
    assert ("inference", "chat") in found


def test_run_and_compare_take_strict(tmp_path: Path) -> None:
    path = tiny_with(tmp_path, "power_kw: 1.4", "power_kw: 1500")
    refused(capsim("run", "--strict", str(path), "--out", str(tmp_path / "o")), "watts")
    refused(capsim("compare", "--strict", str(path), "--out", str(tmp_path / "o")), "watts")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- any mutation: runs or exit 2

HOSTILE = [0, -1, 0.5, 1e300, -1e300, 1e-300, float("inf"), float("nan"), 2**63, 2**70, "",
           "x" * 200, "1e300h", "9999-12-31", "0001-01-01", True, None, [], {}, "\x1b[31m"]


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _leaves(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _leaves(v, (*path, i))]
    return [path]


@pytest.fixture(scope="module")
def tiny_data() -> dict[str, Any]:
    data = yaml.safe_load(TINY.read_text())
    data["horizon"] = "2d"  # keep each run short
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_hostile_value_anywhere_runs_or_exits_2(tiny_data: dict[str, Any], tmp_path: Path,
                                                   data: st.DataObject) -> None:
    import copy

    scenario = copy.deepcopy(tiny_data)
    leaves = _leaves(scenario)
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        path = data.draw(st.sampled_from(leaves), label="path")
        node = scenario
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = data.draw(st.sampled_from(HOSTILE), label="value")
    file = tmp_path / "mutated.yaml"
    file.write_text(yaml.safe_dump(scenario))
    out = tmp_path / "out"
    code = main(["run", str(file), "--out", str(out)])  # an exception here fails the test
    assert code in (0, EXIT_USER_ERROR)
    assert out.exists() == (code == 0)
    if out.exists():
        import shutil

        shutil.rmtree(out)


# ---------------------------------------------------------------- whole numbers that reach tables

BIG = 2**200


@pytest.mark.parametrize(("old", "new", "field"), [
    ("seed: 7", f"seed: {BIG}", "seed"),
    ("priority: 5", f"priority: {BIG}", "training.jobs[0].priority"),
    ("priority: 5", f"priority: -{BIG}", "training.jobs[0].priority"),
    ("slo: 0.99", f"slo: 0.99\n    priority: {BIG}", "inference.chat.priority"),
])
def test_a_whole_number_too_big_for_a_table_is_refused_at_validate(
        old: str, new: str, field: str, tmp_path: Path) -> None:
    # Parquet stores these as int64: 2^200 used to pass validation and the run, then crash the
    # write with an OverflowError traceback.
    path = tiny_with(tmp_path, old, new)
    refused(capsim("validate", str(path)), f"{path}:", f": {field}: must be at ")
    out = tmp_path / "out"
    refused(capsim("run", str(path), "--out", str(out)), f": {field}: ")
    assert not out.exists()


def test_a_seed_too_big_is_refused_on_the_command_line_and_in_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    refused(capsim("run", str(TINY), "--seed", str(BIG), "--out", str(out)), "--seed must be")
    refused(capsim("sweep", str(TINY), "--set", f"seed=1,{BIG}", "--out", str(out)),
            f"--set seed={BIG}: seed: must be at most 9,223,372,036,854,775,807")
    assert not out.exists()


def test_the_largest_seed_a_table_holds_runs_and_is_stored_exactly(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    out = tmp_path / "out"
    done = capsim("run", str(TINY), "--seed", str(2**63 - 1), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["seed"] == 2**63 - 1
    for table in out.glob("*.parquet"):
        assert set(pq.read_table(table, columns=["seed"]).column("seed").to_pylist()) == {2**63 - 1}


def test_a_commitment_longer_than_the_calendar_does_not_crash_the_run(tmp_path: Path) -> None:
    # 2^63 hours is a valid duration, but its end date has no calendar date to print.
    path = tiny_with(tmp_path, "term: 3y}]", f"term: {2**63}}}]")
    out = tmp_path / "out"
    done = capsim("run", str(path), "--out", str(out))
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------- files that hold too much


def _many_providers(n: int, steps: int) -> str:
    """tiny with `n` extra providers, each a pool with a capacity schedule of `steps` steps."""
    data = yaml.safe_load(TINY.read_text())
    for i in range(n):
        data["providers"][f"p{i}"] = {"pools": {"tpu-v5": {
            "accelerator": "tpu-v5", "price_per_hour": 2.0,
            "capacity": [{"at": f"2025-01-06T{h % 24:02d}:00", "units": 600} for h in range(steps)]}}}
    return yaml.safe_dump(data)


def test_a_file_with_more_values_than_the_limit_is_refused_at_the_first_one_beyond(
        tmp_path: Path) -> None:
    # 3,000 providers with 20-step schedules (3.6 MB, ~360,000 values) took 13 s to validate;
    # past the limit the file is refused once the parser has counted 250,000 values.
    from sim.scenario.limits import YAML_VALUES_LIMIT

    text = _many_providers(3000, 20)
    assert len(text.encode()) < 5 << 20 and YAML_VALUES_LIMIT == 250_000
    path = tmp_path / "big.yaml"
    path.write_text(text)
    err = refused(capsim("validate", str(path)), "more than 250,000 values")
    [line] = err.splitlines()
    where = int(line.split(":")[2])
    assert 1000 < where < text.count("\n")  # located where the limit was passed, not at line 1


def test_three_thousand_providers_within_the_limit_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(_many_providers(3000, 1))
    done = capsim("validate", str(path))
    assert done.returncode == 0 and "ok (3002 providers, 3003 pools" in done.stdout, done.stderr
